// Every Redis key and pub/sub channel name Baton uses, built here and nowhere else.
// Layout: <prefix>:<tenant>:<area>:... Keys that one script touches together share a hash tag ({...}) so
// every script runs on Redis Cluster. Tenants are [A-Za-z0-9_-] (config.ts), so they hold no glob or
// hash-tag characters; user-supplied names are appended verbatim after a fixed, tenant-owned prefix.

/** Escape Redis glob metacharacters so a literal string can be used as a SCAN MATCH prefix. */
export function escapeGlob(literal: string): string {
  return literal.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

export function createKeys(prefix: string) {
  const t = (tenant: string) => `${prefix}:${tenant}`;
  return {
    prefix,
    /** Channel pattern the process-wide notifier subscribes to once (src/redis/notifier.ts). */
    eventPattern: `${prefix}:ev:*`,
    /** Pub/sub channel for wake-ups of one named thing (lock release, lease fill, enqueue, ...). */
    event: (tenant: string, area: string, name: string) => `${prefix}:ev:${tenant}:${area}:${name}`,

    cache: {
      /** The value (content type + bytes in one string). Tagged by the user key: spreads over slots. */
      value: (tenant: string, key: string) => `${t(tenant)}:c:{${key}}`,
      /** The current lease token for a key; same tag as the value so fill-under-lease is one script. */
      lease: (tenant: string, key: string) => `${t(tenant)}:cl:{${key}}`,
      /** SCAN MATCH pattern for the tenant's values: a fixed escaped prefix, then the client's glob. */
      valueMatch: (tenant: string, glob: string) => `${escapeGlob(`${t(tenant)}:c:{`)}${glob}}`,
    },

    locks: {
      lock: (tenant: string, name: string) => `${t(tenant)}:l:{${name}}`,
      fence: (tenant: string, name: string) => `${t(tenant)}:lf:{${name}}`,
      semaphore: (tenant: string, name: string) => `${t(tenant)}:s:{${name}}`,
      semaphoreLimit: (tenant: string, name: string) => `${t(tenant)}:sl:{${name}}`,
    },

    queues: {
      /** All keys of one queue share the tag {tenant/queue}. */
      tag: (tenant: string, queue: string) => `${t(tenant)}:q:{${queue}}`,
      /** The tenant's queue registry (a set of names); its own slot. */
      registry: (tenant: string) => `${t(tenant)}:queues`,
    },

    tasks: {
      /** BullMQ prefix per tenant; BullMQ appends :<queueName>:... so the tag keeps one queue in one slot. */
      bullPrefix: (tenant: string) => `${t(tenant)}:t`,
    },

    rateLimit: `${prefix}:rl:`,
  };
}

export type Keys = ReturnType<typeof createKeys>;
