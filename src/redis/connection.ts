// One factory for every Redis connection Baton opens (commands, the pub/sub subscriber, BullMQ), for every
// topology: standalone (redis:// or rediss:// with user/password), Sentinel and Cluster.
// Commands fail fast while Redis is down (no offline queue): a request gets 503 at once instead of hanging,
// and the client keeps reconnecting by itself in the background.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisTopology } from '../config.js';
import { coalesceWrites } from './coalesce.js';
import { watchCommandTimeouts } from './command-timeout.js';
import { useFastCommandEncoding } from './fast-writable.js';
import { useSharedScriptCommand } from './shared-script-command.js';

export type RedisClient = Redis | Cluster;

export interface ConnectionOptions {
  topology: Exclude<RedisTopology, { kind: 'embedded' }>;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  /** Connection name shown by CLIENT LIST, e.g. "baton:cmd". */
  name: string;
  /**
   * 'command': fail fast while disconnected (the HTTP path). 'blocking': BullMQ workers and anything that
   * must wait for Redis instead of failing (maxRetriesPerRequest null, offline queue on, no command timeout).
   */
  mode?: 'command' | 'subscriber' | 'blocking';
  /** ioredis auto-pipelining (measured by npm run bench; off by default: README says why). */
  autoPipelining?: boolean;
  /**
   * 'command' and 'blocking' mode: one writev per event-loop turn instead of one write per command (coalesce.ts).
   * The in-process handlers' connection ('blocking') carries BullMQ's per-job scripts; BullMQ's own BZPOPMIN
   * runs on a duplicate it makes, which is not coalesced.
   */
  coalesceWrites?: boolean;
  /** With coalesceWrites: flush as soon as a batch holds this many writes (coalesce.ts says why). */
  coalesceMaxWrites?: number;
}

/** Back off 50 ms, 100 ms, … up to 1 s between reconnection attempts, forever. */
const retryStrategy = (attempt: number) => Math.min(attempt * 50, 1000);

function urlOptions(url: string | undefined): RedisOptions {
  if (!url) return {};
  const u = new URL(url);
  const opts: RedisOptions = {};
  if (u.username) opts.username = decodeURIComponent(u.username);
  if (u.password) opts.password = decodeURIComponent(u.password);
  if (u.protocol === 'rediss:') opts.tls = {};
  const db = u.pathname.replace(/^\//, '');
  if (db) opts.db = Number(db);
  return opts;
}

export function createRedis(o: ConnectionOptions): RedisClient {
  useFastCommandEncoding();
  useSharedScriptCommand();
  const mode = o.mode ?? 'command';
  const base: RedisOptions = {
    connectionName: o.name,
    // RESP2: replies have the same shapes everywhere (Lua tables → arrays) and BullMQ expects them.
    protocol: 2,
    connectTimeout: o.connectTimeoutMs,
    lazyConnect: true,
    retryStrategy,
    enableOfflineQueue: mode !== 'command',
    maxRetriesPerRequest: mode === 'blocking' ? null : 1,
    // The command timeout is command-timeout.ts' watchdog, not ioredis' `commandTimeout` (a timer per command).
    ...(mode === 'command' ? { enableAutoPipelining: o.autoPipelining ?? false } : {}),
    // A failover makes the old master read-only: reconnect so the next command goes to the new master.
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
    // ioredis' own re-subscribe after a reconnect leaves its promise unhandled: a second drop during it
    // would be an unhandled rejection (a crash). The notifier re-subscribes itself, with a catch.
    ...(mode === 'subscriber' ? { autoResubscribe: false } : {}),
  };
  const client = newClient(o, base, mode);
  if (mode !== 'subscriber' && o.coalesceWrites) coalesceWrites(client, o.coalesceMaxWrites);
  if (mode === 'command') watchCommandTimeouts(client, o.commandTimeoutMs);
  return client;
}

function newClient(o: ConnectionOptions, base: RedisOptions, mode: NonNullable<ConnectionOptions['mode']>): RedisClient {
  const t = o.topology;
  if (t.kind === 'standalone') {
    return new Redis(t.url, base);
  }
  if (t.kind === 'sentinel') {
    const auth = urlOptions(t.url);
    return new Redis({
      ...base,
      ...auth,
      sentinels: t.sentinels,
      name: t.masterName,
      sentinelRetryStrategy: retryStrategy,
      sentinelPassword: auth.password,
    });
  }
  const clusterOptions: ClusterOptions = {
    lazyConnect: true,
    enableOfflineQueue: mode !== 'command',
    clusterRetryStrategy: retryStrategy,
    redisOptions: { ...base, ...urlOptions(t.url) },
    slotsRefreshTimeout: o.connectTimeoutMs,
    ...(mode === 'blocking' ? { maxRedirections: 16 } : {}),
  };
  return new Cluster(t.nodes, clusterOptions);
}

/** Connect a lazy client; resolves once it is ready or rejects after the first failed attempt (it keeps retrying). */
export async function connect(client: RedisClient): Promise<void> {
  if (client.status === 'ready') return;
  if (client.status === 'wait') {
    await client.connect();
    return;
  }
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve);
    client.once('error', reject);
  });
}
