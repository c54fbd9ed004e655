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
  /** A task type's Cluster hash tag, the BullMQ queue name: the type in braces, ':' → '~' (BullMQ forbids ':'). */
  const typeTag = (type: string) => `{${type.replace(/:/g, '~')}}`;
  return {
    prefix,
    /** Channel pattern the process-wide notifier subscribes to once (src/redis/notifier.ts). */
    eventPattern: `${prefix}:ev:*`,
    /** Pub/sub channel for wake-ups of one named thing (lock release, lease fill, enqueue, ...). */
    event: (tenant: string, area: string, name: string) => `${prefix}:ev:${tenant}:${area}:${name}`,

    cache: {
      // Value and lease of one key: "<p>:<t>:c:v{=<key>}" and "<p>:<t>:c:l{=<key>}". The hash tag starts with a
      // fixed "=" so it is never empty (a key beginning with "}" would otherwise hash the whole name and put
      // value and lease in different Cluster slots); both always land in the same slot. One SCAN MATCH
      // (cache.match) finds values and leases alike, with the key text at a fixed position.
      /** The value (version, ETag, content type and bytes packed in one string). */
      value: (tenant: string, key: string) => `${t(tenant)}:c:v{=${key}}`,
      /** The current lease token for a key; same slot as the value so fill-under-lease is one script. */
      lease: (tenant: string, key: string) => `${t(tenant)}:c:l{=${key}}`,
      /** Offset of the "v"/"l" kind letter in the tenant's cache keys (tells values from leases in a SCAN). */
      kindOffset: (tenant: string) => `${t(tenant)}:c:`.length,
      /**
       * SCAN MATCH pattern for the tenant's values and leases whose key matches the client's glob: an escaped,
       * fixed tenant prefix (glob characters there can never widen it), then the glob, then the closing brace.
       */
      match: (tenant: string, glob: string) => `${escapeGlob(`${t(tenant)}:c:`)}[vl]{=${glob}}`,
    },

    locks: {
      // The hash tag starts with a fixed "=" so it is never empty (a name beginning with "}" would otherwise
      // hash the whole key): a lock and its fence, a semaphore and its limit, always share one Cluster slot.
      /** The lock: HASH token, owner, count (re-entry), fence; PEXPIRE = the lease. */
      lock: (tenant: string, name: string) => `${t(tenant)}:l:{=${name}}`,
      /** The fence counter of a lock name: INCR on every acquisition, never expires. */
      fence: (tenant: string, name: string) => `${t(tenant)}:lf:{=${name}}`,
      /**
       * Set (PX = the longest wait) by an acquisition that failed and will wait: the release publishes only
       * while it exists, since every PUBLISH wakes every Baton instance's subscriber.
       */
      lockWaiting: (tenant: string, name: string) => `${t(tenant)}:lw:{=${name}}`,
      /** A semaphore's holders: ZSET token → expiry (ms, Redis server time). */
      semaphore: (tenant: string, name: string) => `${t(tenant)}:s:{=${name}}`,
      /** The limit in force while the semaphore has holders; expires with the last holder. */
      semaphoreLimit: (tenant: string, name: string) => `${t(tenant)}:sl:{=${name}}`,
      /** As lockWaiting, for a semaphore's waiters. */
      semaphoreWaiting: (tenant: string, name: string) => `${t(tenant)}:sw:{=${name}}`,
    },

    queues: {
      /** All keys of one queue share the tag {tenant/queue}. */
      tag: (tenant: string, queue: string) => `${t(tenant)}:q:{${queue}}`,
      /** The tenant's queue registry (a set of names); its own slot. */
      registry: (tenant: string) => `${t(tenant)}:queues`,
      /** Every queue of every tenant ("tenant/queue"), read by the metrics scrape; its own slot. */
      all: `${prefix}:queues:all`,
      /** The keys of one queue, all under its tag (one slot, so every queue script runs on Cluster). */
      of: (tenant: string, queue: string) => {
        const tag = `${t(tenant)}:q:{${queue}}`;
        return {
          ready: `${tag}:ready`, // ZSET id → (9 - priority) * 2^40 + sequence
          delayed: `${tag}:delayed`, // ZSET id → due time (ms)
          inflight: `${tag}:inflight`, // ZSET id → visibility deadline (ms)
          dead: `${tag}:dead`, // ZSET id → time of death (ms)
          body: `${tag}:body`, // HASH id → body (JSON text)
          meta: `${tag}:meta`, // HASH id → JSON record (priority, score, attempts, receipt, last error, ...)
          stats: `${tag}:stats`, // HASH createdAt, seq, enqueued, acked, dead, redriven
          policy: `${tag}:policy`, // HASH the queue policy (PUT /v1/queues/{queue})
          dedup: `${tag}:dedup`, // HASH dedupId → first id
          dedupExp: `${tag}:dedupexp`, // ZSET dedupId → end of its window (ms)
          // STRING set (PX = the longest wait) by a long poll that found nothing: an enqueue publishes only
          // while it exists (every PUBLISH wakes every Baton instance's subscriber). Purge leaves it: it expires.
          polling: `${tag}:polling`,
        };
      },
    },

    tasks: {
      /** BullMQ prefix per tenant; BullMQ appends :<queueName>:... so the tag keeps one queue in one slot. */
      bullPrefix: (tenant: string) => `${t(tenant)}:t`,
      /** BullMQ queue name of a task type: the type in braces (its Cluster hash tag); ':' → '~' (BullMQ forbids ':'). */
      queueName: typeTag,
      /** Revocation tombstone/flag of one task (JSON, PX = retention). Same tag as the task's queue. */
      revoked: (tenant: string, type: string, jobId: string) => `${t(tenant)}:tr:${typeTag(type)}:${jobId}`,
      /** Tasks of a type revoked before they ran (their jobs are removed): job id scored by revocation time. Same tag. */
      revokedIndex: (tenant: string, type: string) => `${t(tenant)}:tri:${typeTag(type)}`,
      /**
       * Set while an event stream (SSE) watches the task (PX = a few keep-alives): state changes publish only then.
       * Same tag as the task's queue, so one script checks it with the revocation flag (lua/task-start.lua).
       */
      watched: (tenant: string, type: string, jobId: string) => `${t(tenant)}:tw:${typeTag(type)}:${jobId}`,
      /**
       * Set with `watched`, by the same stream and as long: some task of the type is watched. A state change
       * asks for it first (one EXISTS per type per turn), so tasks of a type nobody streams build no marker
       * (src/tasks/state-publisher.ts).
       */
      watchedType: (tenant: string, type: string) => `${t(tenant)}:twt:${typeTag(type)}`,
      /**
       * Set (PX = longer than any claim's wait) by a claim that found nothing and will wait, before its last
       * look: a submit, retry or stalled task announces itself over pub/sub only while it exists.
       */
      claiming: (tenant: string, type: string) => `${t(tenant)}:tc:${typeTag(type)}`,
      /** idempotencyKey → task id (PX = retention); its own slot. */
      idempotency: (tenant: string, digest: string) => `${t(tenant)}:ti:${digest}`,
      /** Set of the tenant's task types ever submitted (lists, metrics). */
      types: (tenant: string) => `${t(tenant)}:tasks:types`,
      /** Hash schedule id → task type (the scheduler itself lives in that type's BullMQ queue). */
      schedules: (tenant: string) => `${t(tenant)}:tasks:schedules`,
    },

    rateLimit: `${prefix}:rl:`,
  };
}

export type Keys = ReturnType<typeof createKeys>;
