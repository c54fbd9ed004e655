// The only reader of the environment. One zod schema describes every variable (names, defaults, limits);
// loadConfig() turns an env-like record into a typed, frozen Config or throws ConfigError naming each bad
// variable. Tests pass an explicit record instead of process.env.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export const SCOPES = ['cache:read', 'cache:write', 'locks', 'queues', 'tasks', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(def);
const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));
const csv = z
  .string()
  .default('')
  .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean));

/** Every environment variable Baton reads. `.env.example` lists exactly these names (a test checks). */
export const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: int(3000, 0, 65535),
  HOST: optionalString,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  BATON_ROLE: z.enum(['all', 'api', 'worker']).default('all'),
  BATON_SHUTDOWN_GRACE_MS: int(10_000, 0),

  REDIS_URL: optionalString,
  REDIS_SENTINELS: csv,
  REDIS_SENTINEL_MASTER: z.string().default('mymaster'),
  REDIS_CLUSTER_NODES: csv,
  REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'letters, digits, _ or -, at most 32').default('baton'),
  REDIS_DATA_DIR: z.string().default('.data/redis'),
  REDIS_CONNECT_TIMEOUT_MS: int(5_000, 100),
  REDIS_COMMAND_TIMEOUT_MS: int(5_000, 100),
  REDIS_AUTO_PIPELINING: bool(false),
  REDIS_COALESCE_WRITES: bool(true),
  REDIS_COALESCE_MAX_WRITES: int(16, 1),

  BATON_API_KEYS: optionalString,
  BATON_API_KEYS_FILE: optionalString,
  BATON_PUBLIC_OPS: bool(true),

  BATON_RATE_LIMIT_MAX: int(0, 0),
  BATON_RATE_LIMIT_WINDOW_MS: int(1_000, 1),

  BATON_BODY_LIMIT_BYTES: int(2 * 1024 * 1024, 1024),
  BATON_MAX_NAME_BYTES: int(512, 1, 4096),
  BATON_MAX_VALUE_BYTES: int(1024 * 1024, 1),
  BATON_MAX_MESSAGE_BYTES: int(256 * 1024, 1),
  BATON_MAX_PAYLOAD_BYTES: int(256 * 1024, 1),

  BATON_CACHE_DEFAULT_TTL_MS: int(0, 0),
  BATON_CACHE_LEASE_TTL_MS: int(10_000, 1),
  BATON_CACHE_MAX_WAIT_MS: int(30_000, 0),

  BATON_LOCK_MIN_TTL_MS: int(100, 1),
  BATON_LOCK_MAX_TTL_MS: int(3_600_000, 1),
  BATON_LOCK_MAX_WAIT_MS: int(60_000, 0),

  BATON_QUEUE_DEFAULT_VISIBILITY_MS: int(30_000, 1),
  BATON_QUEUE_MAX_VISIBILITY_MS: int(12 * 3_600_000, 1),
  BATON_QUEUE_DEFAULT_MAX_ATTEMPTS: int(5, 1, 1000),
  BATON_QUEUE_DEDUP_WINDOW_MS: int(300_000, 0),
  BATON_QUEUE_METRICS_TOP_N: int(20, 0, 1000),

  BATON_TASK_RETENTION_MS: int(86_400_000, 1_000),
  BATON_TASK_CONCURRENCY: int(4, 1, 1000),
  BATON_WEBHOOK_TASK_TYPE: z.string().default('webhook'),
  BATON_WEBHOOK_ALLOWED_HOSTS: csv,
  BATON_WEBHOOK_TIMEOUT_MS: int(10_000, 1),
  BATON_DASHBOARD_READONLY: bool(true),
});
export type Env = z.input<typeof EnvSchema>;

const ApiKeyEntry = z
  .object({
    key: z.string().min(16, 'a key must have at least 16 characters').optional(),
    keySha256: z.string().regex(/^[0-9a-f]{64}$/i, 'keySha256 must be 64 hex digits').optional(),
    tenant: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'tenant must be 1-64 of A-Z a-z 0-9 _ -'),
    scopes: z.array(z.enum([...SCOPES, '*'])).min(1),
  })
  .strict()
  .refine((e) => (e.key === undefined) !== (e.keySha256 === undefined), 'give exactly one of key or keySha256');

export interface ApiKey {
  /** sha256 of the key as lowercase hex: the plain key is never kept. */
  sha256: string;
  tenant: string;
  scopes: ReadonlySet<Scope>;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export type RedisTopology =
  | { kind: 'standalone'; url: string }
  | { kind: 'sentinel'; sentinels: { host: string; port: number }[]; masterName: string; url?: string }
  | { kind: 'cluster'; nodes: { host: string; port: number }[]; url?: string }
  | { kind: 'embedded'; dataDir: string };

function hostPort(s: string, variable: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(s);
  if (!m) throw new ConfigError(`${variable}: "${s}" is not host:port`);
  return { host: m[1] as string, port: Number(m[2]) };
}

function parseApiKeys(raw: string, source: string): ApiKey[] {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (e) {
    throw new ConfigError(`${source}: not valid JSON (${(e as Error).message})`);
  }
  const parsed = z.array(ApiKeyEntry).safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`${source}: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  return parsed.data.map((e) => ({
    sha256: (e.keySha256 ?? createHash('sha256').update(e.key as string).digest('hex')).toLowerCase(),
    tenant: e.tenant,
    scopes: new Set(e.scopes.includes('*') ? SCOPES : (e.scopes as Scope[])),
  }));
}

export function loadConfig(env: Record<string, string | undefined>) {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';

  let apiKeys: ApiKey[] | undefined;
  if (e.BATON_API_KEYS !== undefined && e.BATON_API_KEYS_FILE !== undefined) {
    throw new ConfigError('BATON_API_KEYS and BATON_API_KEYS_FILE: set one, not both');
  } else if (e.BATON_API_KEYS !== undefined) {
    apiKeys = parseApiKeys(e.BATON_API_KEYS, 'BATON_API_KEYS');
  } else if (e.BATON_API_KEYS_FILE !== undefined) {
    let raw: string;
    try {
      raw = readFileSync(e.BATON_API_KEYS_FILE, 'utf8');
    } catch (err) {
      throw new ConfigError(`BATON_API_KEYS_FILE: cannot read ${e.BATON_API_KEYS_FILE} (${(err as Error).message})`);
    }
    apiKeys = parseApiKeys(raw, 'BATON_API_KEYS_FILE');
  }
  if (production && !apiKeys) {
    throw new ConfigError('BATON_API_KEYS: required in production (auth cannot be off); or set BATON_API_KEYS_FILE');
  }

  let redis: RedisTopology;
  if (e.REDIS_CLUSTER_NODES.length > 0) {
    redis = { kind: 'cluster', nodes: e.REDIS_CLUSTER_NODES.map((n) => hostPort(n, 'REDIS_CLUSTER_NODES')), url: e.REDIS_URL };
  } else if (e.REDIS_SENTINELS.length > 0) {
    redis = {
      kind: 'sentinel',
      sentinels: e.REDIS_SENTINELS.map((n) => hostPort(n, 'REDIS_SENTINELS')),
      masterName: e.REDIS_SENTINEL_MASTER,
      url: e.REDIS_URL,
    };
  } else if (e.REDIS_URL !== undefined) {
    if (!/^rediss?:\/\//.test(e.REDIS_URL)) throw new ConfigError('REDIS_URL: must start with redis:// or rediss://');
    redis = { kind: 'standalone', url: e.REDIS_URL };
  } else if (production) {
    throw new ConfigError('REDIS_URL: required in production (or REDIS_SENTINELS / REDIS_CLUSTER_NODES)');
  } else {
    redis = { kind: 'embedded', dataDir: e.REDIS_DATA_DIR };
  }
  if (e.BATON_LOCK_MIN_TTL_MS > e.BATON_LOCK_MAX_TTL_MS) {
    throw new ConfigError('BATON_LOCK_MIN_TTL_MS: must not exceed BATON_LOCK_MAX_TTL_MS');
  }

  return Object.freeze({
    env: e.NODE_ENV,
    production,
    port: e.PORT,
    host: e.HOST ?? (production ? '0.0.0.0' : '127.0.0.1'),
    logLevel: e.LOG_LEVEL,
    role: e.BATON_ROLE,
    shutdownGraceMs: e.BATON_SHUTDOWN_GRACE_MS,
    redis,
    redisOptions: {
      keyPrefix: e.REDIS_KEY_PREFIX,
      connectTimeoutMs: e.REDIS_CONNECT_TIMEOUT_MS,
      commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
      autoPipelining: e.REDIS_AUTO_PIPELINING,
      coalesceWrites: e.REDIS_COALESCE_WRITES,
      coalesceMaxWrites: e.REDIS_COALESCE_MAX_WRITES,
    },
    /** undefined = auth off (development only): every request is tenant "default" with all scopes. */
    apiKeys,
    publicOps: e.BATON_PUBLIC_OPS,
    rateLimit: { max: e.BATON_RATE_LIMIT_MAX, windowMs: e.BATON_RATE_LIMIT_WINDOW_MS },
    limits: {
      bodyBytes: e.BATON_BODY_LIMIT_BYTES,
      nameBytes: e.BATON_MAX_NAME_BYTES,
      valueBytes: e.BATON_MAX_VALUE_BYTES,
      messageBytes: e.BATON_MAX_MESSAGE_BYTES,
      payloadBytes: e.BATON_MAX_PAYLOAD_BYTES,
    },
    cache: {
      defaultTtlMs: e.BATON_CACHE_DEFAULT_TTL_MS,
      leaseTtlMs: e.BATON_CACHE_LEASE_TTL_MS,
      maxWaitMs: e.BATON_CACHE_MAX_WAIT_MS,
    },
    locks: { minTtlMs: e.BATON_LOCK_MIN_TTL_MS, maxTtlMs: e.BATON_LOCK_MAX_TTL_MS, maxWaitMs: e.BATON_LOCK_MAX_WAIT_MS },
    queues: {
      defaultVisibilityMs: e.BATON_QUEUE_DEFAULT_VISIBILITY_MS,
      maxVisibilityMs: e.BATON_QUEUE_MAX_VISIBILITY_MS,
      defaultMaxAttempts: e.BATON_QUEUE_DEFAULT_MAX_ATTEMPTS,
      dedupWindowMs: e.BATON_QUEUE_DEDUP_WINDOW_MS,
      metricsTopN: e.BATON_QUEUE_METRICS_TOP_N,
    },
    tasks: {
      retentionMs: e.BATON_TASK_RETENTION_MS,
      concurrency: e.BATON_TASK_CONCURRENCY,
      webhookType: e.BATON_WEBHOOK_TASK_TYPE,
      webhookAllowedHosts: e.BATON_WEBHOOK_ALLOWED_HOSTS,
      webhookTimeoutMs: e.BATON_WEBHOOK_TIMEOUT_MS,
      dashboardReadOnly: e.BATON_DASHBOARD_READONLY,
    },
  });
}

export type Config = ReturnType<typeof loadConfig>;
