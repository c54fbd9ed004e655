// The cache: values are bytes with a content type, packed with their ETag into one Redis string so every
// single-key operation is one command (a small Lua script where a read needs the TTL too, or a write must
// also invalidate a lease). Leases (memcache style) protect against stampedes: on a miss one caller gets a
// lease token and fills the key; the others park on the key's pub/sub channel until the fill (or the lease
// expiry) and read again. Pattern deletes walk SCAN with a bounded COUNT and UNLINK each batch.
import { hash, randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { RedisClient } from '../redis/connection.js';
import type { Keys } from '../redis/keys.js';
import type { Notifier } from '../redis/notifier.js';
import { defineScript } from '../redis/scripts.js';
import { fastCounter, rememberPairs } from '../metrics/fast.js';

// ---------------------------------------------------------------------------------------------------------
// Scripts. They are registered on the client once (defineCommand) and called directly: the read paths need
// ioredis' Buffer variant (values are bytes), and the hot path saves the wrapper's per-call lookups.

const scripts = [
  defineScript<[1, Buffer] | [2] | [3, Buffer, number]>({
    name: 'cacheLease',
    file: new URL('./lua/lease.lua', import.meta.url),
    keys: ['value', 'lease'] as const,
    args: ['token', 'leaseTtlMs'] as const,
  }),
  defineScript<0 | 1>({
    name: 'cacheSet',
    file: new URL('./lua/set.lua', import.meta.url),
    keys: ['value', 'lease'] as const,
    args: ['packed', 'ttlMs', 'condition', 'channel'] as const,
  }),
  defineScript<0 | 1>({
    name: 'cacheFill',
    file: new URL('./lua/fill.lua', import.meta.url),
    keys: ['value', 'lease'] as const,
    args: ['token', 'packed', 'ttlMs', 'channel'] as const,
  }),
  defineScript<0 | 1>({
    name: 'cacheDelete',
    file: new URL('./lua/delete.lua', import.meta.url),
    keys: ['value', 'lease'] as const,
    args: ['channel'] as const,
  }),
];

type LeaseReply = [1, Buffer] | [2] | [3, Buffer, number];

/** The script commands as ioredis defines them on a client or pipeline (name + "Buffer" = raw replies). */
interface CacheCommands {
  cacheLeaseBuffer(value: string, lease: string, token: string, leaseTtlMs: number): Promise<LeaseReply>;
  cacheSet(value: string, lease: string, packed: Buffer, ttlMs: number, condition: string, channel: string): Promise<0 | 1>;
  cacheFill(value: string, lease: string, token: string, packed: Buffer, ttlMs: number, channel: string): Promise<0 | 1>;
  cacheDelete(value: string, lease: string, channel: string): Promise<0 | 1>;
}

// ---------------------------------------------------------------------------------------------------------
// The packed value: "2" (format version), the quoted strong ETag (24 bytes: '"' + 22 base64url md5 + '"'),
// the expiry as epoch ms in decimal (0 = none) and ";", the content type, "\n", then the body bytes untouched.
// The expiry rides in the value so a read is one plain GET (no script, no PTTL): X-TTL-Ms is then computed
// from this instance's clock, off by the clock skew between the Baton instance that wrote and the one that
// reads (NTP: milliseconds). Redis itself expires the key by its own PX, as before.

const FORMAT = 0x32; // "2"
const ETAG_END = 25;
const NEWLINE = 0x0a;
const SEMICOLON = 0x3b;

export interface CacheEntry {
  /** The stored bytes (a view into the Redis reply, not a copy). */
  body: Buffer;
  contentType: string;
  /** Strong ETag, quoted, ready for the header. */
  etag: string;
  /** Remaining time to live; undefined = no expiry (or unknown: a value written by something else). */
  ttlMs: number | undefined;
}

export function etagOf(body: Buffer): string {
  return `"${hash('md5', body, 'base64url')}"`;
}

/** `ttlMs` 0 = no expiry. */
export function pack(body: Buffer, contentType: string, ttlMs: number, now = Date.now()): Buffer {
  const head = `2${etagOf(body)}${ttlMs > 0 ? now + ttlMs : 0};${contentType}\n`;
  const out = Buffer.allocUnsafe(head.length + body.length);
  out.write(head, 0, 'latin1');
  body.copy(out, head.length);
  return out;
}

export function unpack(packed: Buffer, now = Date.now()): CacheEntry {
  const semi = packed[0] === FORMAT ? packed.indexOf(SEMICOLON, ETAG_END) : -1;
  const nl = semi > 0 ? packed.indexOf(NEWLINE, semi) : -1;
  if (nl < 0) {
    // Written by something other than Baton: serve the bytes as they are (TTL unknown).
    return { body: packed, contentType: 'application/octet-stream', etag: etagOf(packed), ttlMs: undefined };
  }
  const expiresAt = Number(packed.toString('latin1', ETAG_END, semi));
  return {
    body: packed.subarray(nl + 1),
    contentType: packed.toString('latin1', semi + 1, nl),
    etag: packed.toString('latin1', 1, ETAG_END),
    ttlMs: expiresAt > 0 ? Math.max(0, expiresAt - now) : undefined,
  };
}

/** application/json and any structured "+json" type (application/problem+json, ...). */
export function isJsonType(contentType: string): boolean {
  const semi = contentType.indexOf(';');
  const media = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return media === 'application/json' || media.endsWith('+json');
}

// ---------------------------------------------------------------------------------------------------------
// Redis Cluster slot of a key (CRC16/XMODEM of the hash tag, or of the whole key), for grouping multi-key
// reads and writes into one round trip per slot.

const CRC_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let j = 0; j < 8; j++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

export function keySlot(key: string): number {
  let bytes = Buffer.from(key);
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  }
  let crc = 0;
  for (const b of bytes) crc = ((crc << 8) & 0xffff) ^ (CRC_TABLE[((crc >> 8) ^ b) & 0xff] as number);
  return crc & 0x3fff;
}

function groupBySlot<T>(items: readonly T[], keyOf: (item: T) => string): T[][] {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const slot = keySlot(keyOf(item));
    const group = groups.get(slot);
    if (group) group.push(item);
    else groups.set(slot, [item]);
  }
  return [...groups.values()];
}

// ---------------------------------------------------------------------------------------------------------
// Patterns

/** Why a client glob is unusable (empty, a dangling escape, an unclosed class), or undefined when fine. */
export function globProblem(glob: string): string | undefined {
  if (glob.length === 0) return 'pattern must not be empty';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '\\') {
      if (i + 1 >= glob.length) return 'pattern must not end with a lone "\\"';
      i++;
    } else if (c === '[') {
      let j = i + 1;
      let closed = false;
      for (; j < glob.length; j++) {
        if (glob[j] === '\\') j++;
        else if (glob[j] === ']') {
          closed = true;
          break;
        }
      }
      if (!closed) return 'pattern has a "[" without its "]"';
      i = j;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Metrics

export interface CacheMetrics {
  requests: Counter<'op' | 'result'>;
  waitsCollapsed: Counter;
  bytesStored: Counter<'op'>;
  patternDeleted: Counter;
}

export function createCacheMetrics(registry: Registry): CacheMetrics {
  return {
    requests: new Counter({
      name: 'baton_cache_requests_total',
      help: 'Cache operations by op and result (hit, miss, lease_granted, lease_busy, lease_wait_hit, lease_wait_timeout, stored, filled, stale_lease, precondition_failed, deleted)',
      labelNames: ['op', 'result'] as const,
      registers: [registry],
    }),
    waitsCollapsed: new Counter({
      name: 'baton_cache_lease_waits_collapsed_total',
      help: 'Readers that waited on another caller\'s lease and were served its fill instead of recomputing',
      registers: [registry],
    }),
    bytesStored: new Counter({
      name: 'baton_cache_bytes_stored_total',
      help: 'Value bytes written, by op (put, fill, mset)',
      labelNames: ['op'] as const,
      registers: [registry],
    }),
    patternDeleted: new Counter({
      name: 'baton_cache_pattern_deleted_total',
      help: 'Values removed by pattern deletes',
      registers: [registry],
    }),
  };
}

// ---------------------------------------------------------------------------------------------------------
// The service

export interface SetOptions {
  ttlMs?: number | undefined;
  jitter?: number | undefined;
  nx?: boolean | undefined;
  xx?: boolean | undefined;
  /** Fill under this lease token (409 lease_invalid unless it is still the key's current lease). */
  lease?: string | undefined;
}

export interface BulkEntry {
  key: string;
  body: Buffer;
  contentType: string;
  ttlMs?: number | undefined;
}

export type LeaseResult =
  | { kind: 'hit'; entry: CacheEntry }
  /** A miss and the caller now holds the lease: it must compute and PUT with this token. */
  | { kind: 'lease'; token: string }
  /** A miss, someone else holds the lease, and the wait (if any) ran out. */
  | { kind: 'miss' }
  /** The client went away while waiting. */
  | { kind: 'aborted' };

export interface CacheServiceDeps {
  redis: RedisClient;
  keys: Keys;
  notifier: Notifier;
  config: Pick<Config, 'cache' | 'limits'>;
  metrics: CacheMetrics;
}

const SCAN_COUNT = 500;

export function createCacheService({ redis, keys, notifier, config, metrics }: CacheServiceDeps) {
  for (const s of scripts) {
    redis.defineCommand(s.definition.name, { numberOfKeys: s.definition.keys.length, lua: s.source });
  }
  const cmd = redis as unknown as CacheCommands;
  const isCluster = (redis as Cluster).isCluster === true;
  const ck = keys.cache;
  const channelOf = (tenant: string, key: string) => keys.event(tenant, 'cache', key);

  const requests = fastCounter(metrics.requests);
  const requestsOf = rememberPairs((op: string, result: string) => requests({ op, result }));
  const bytesOf = fastCounter(metrics.bytesStored);
  const count = (op: string, result: string, n = 1) => requestsOf(op, result).inc(n);
  const getHit = requestsOf('get', 'hit');
  const getMiss = requestsOf('get', 'miss');
  const putStored = requestsOf('put', 'stored');
  const putBytes = bytesOf({ op: 'put' });

  const { defaultTtlMs, leaseTtlMs } = config.cache;

  /** The TTL to store with: the given or default TTL, spread uniformly by ±jitter; 0 = no expiry. */
  function ttlFor(ttlMs: number | undefined, jitter: number | undefined): number {
    const base = ttlMs ?? defaultTtlMs;
    if (base <= 0 || !jitter) return base;
    const spread = base * jitter;
    return Math.max(1, Math.round(base - spread + Math.random() * 2 * spread));
  }

  async function waitForFill(
    tenant: string,
    key: string,
    waitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<LeaseResult> {
    const valueKey = ck.value(tenant, key);
    const leaseKey = ck.lease(tenant, key);
    const channel = channelOf(tenant, key);
    const deadline = Date.now() + waitMs;
    let waited = false;
    for (;;) {
      const remaining = deadline - Date.now();
      // Listen before looking, so a fill published between the look and the wait is not missed.
      const wait = remaining > 0 ? notifier.wait(channel, remaining, signal) : undefined;
      const token = randomUUID();
      let reply: LeaseReply;
      try {
        reply = await cmd.cacheLeaseBuffer(valueKey, leaseKey, token, leaseTtlMs);
      } catch (err) {
        wait?.cancel();
        throw err;
      }
      if (reply[0] === 1) {
        wait?.cancel();
        if (waited) {
          count('get', 'lease_wait_hit');
          metrics.waitsCollapsed.inc();
        } else getHit.inc();
        return { kind: 'hit', entry: unpack(reply[1]) };
      }
      if (reply[0] === 2) {
        wait?.cancel();
        count('get', 'lease_granted');
        return { kind: 'lease', token };
      }
      if (!wait) {
        count('get', waited ? 'lease_wait_timeout' : 'lease_busy');
        return { kind: 'miss' };
      }
      waited = true;
      // Wake on the fill (or a delete / overwrite), and at the latest when the holder's lease expires: then
      // look again, and the next reader takes a fresh lease.
      const leaseLeftMs = Math.max(1, reply[2] + 1);
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<'expired'>((resolve) => {
        timer = setTimeout(resolve, leaseLeftMs, 'expired');
      });
      const outcome = await Promise.race([wait.outcome, expired]);
      clearTimeout(timer);
      wait.cancel();
      if (outcome === 'aborted' || signal?.aborted) {
        count('get', 'lease_wait_aborted');
        return { kind: 'aborted' };
      }
    }
  }

  return {
    /** One key, or null on a miss. One plain GET (the expiry is inside the value). */
    async get(tenant: string, key: string): Promise<CacheEntry | null> {
      const reply = await redis.getBuffer(ck.value(tenant, key));
      if (reply === null) {
        getMiss.inc();
        return null;
      }
      getHit.inc();
      return unpack(reply);
    },

    /**
     * Read with stampede protection: a hit, or on a miss the lease (when free), or — with waitMs — wait for
     * the lease holder's fill (woken over pub/sub, across instances), re-checking when the lease expires.
     */
    getWithLease(tenant: string, key: string, waitMs: number, signal?: AbortSignal): Promise<LeaseResult> {
      return waitForFill(tenant, key, waitMs, signal);
    },

    /** Store bytes + content type. Throws 412 when nx/xx fails, 409 when the lease is no longer valid. */
    async set(tenant: string, key: string, body: Buffer, contentType: string, opts: SetOptions = {}): Promise<void> {
      if (opts.nx && opts.xx) throw new AppError('validation_failed', 'nx and xx exclude each other', { errors: [{ path: 'querystring', message: 'nx and xx exclude each other' }] });
      if (opts.lease !== undefined && (opts.nx || opts.xx)) {
        throw new AppError('validation_failed', 'a fill under a lease takes neither nx nor xx', { errors: [{ path: 'querystring', message: 'nx/xx cannot be combined with Cache-Lease' }] });
      }
      const ttlMs = ttlFor(opts.ttlMs, opts.jitter);
      const packed = pack(body, contentType, ttlMs);
      const valueKey = ck.value(tenant, key);
      const leaseKey = ck.lease(tenant, key);
      if (opts.lease !== undefined) {
        const filled = await cmd.cacheFill(valueKey, leaseKey, opts.lease, packed, ttlMs, channelOf(tenant, key));
        if (filled !== 1) {
          count('put', 'stale_lease');
          throw new AppError('lease_invalid', `The lease on "${key}" is no longer valid (the key was deleted, overwritten or re-leased, or the lease expired); nothing was written`);
        }
        count('put', 'filled');
        bytesOf({ op: 'fill' }).inc(body.length);
        return;
      }
      const condition = opts.nx ? 'NX' : opts.xx ? 'XX' : '';
      const stored = await cmd.cacheSet(valueKey, leaseKey, packed, ttlMs, condition, channelOf(tenant, key));
      if (stored !== 1) {
        count('put', 'precondition_failed');
        throw new AppError('precondition_failed', opts.nx ? `"${key}" already exists (nx)` : `"${key}" does not exist (xx)`);
      }
      putStored.inc();
      putBytes.inc(body.length);
    },

    /** Remove the value and its lease (a slow filler's PUT is then refused). Idempotent. */
    async delete(tenant: string, key: string): Promise<void> {
      const removed = await cmd.cacheDelete(ck.value(tenant, key), ck.lease(tenant, key), channelOf(tenant, key));
      count('delete', removed === 1 ? 'deleted' : 'absent');
    },

    /** Many keys; null for misses. One MGET per slot (one in all on a standalone Redis). No TTLs. */
    async getMany(tenant: string, list: readonly string[]): Promise<(CacheEntry | null)[]> {
      const redisKeys = list.map((k) => ck.value(tenant, k));
      let raw: (Buffer | null)[];
      if (!isCluster) {
        raw = await (redis as Redis).mgetBuffer(redisKeys);
      } else {
        raw = new Array<Buffer | null>(redisKeys.length).fill(null);
        const indexed = redisKeys.map((k, i) => ({ k, i }));
        await Promise.all(
          groupBySlot(indexed, (e) => e.k).map(async (group) => {
            const values = await redis.mgetBuffer(group.map((e) => e.k));
            group.forEach((e, j) => (raw[e.i] = values[j] ?? null));
          }),
        );
      }
      let hits = 0;
      const out = raw.map((b) => {
        if (b === null) return null;
        hits++;
        return unpack(b);
      });
      if (hits > 0) count('mget', 'hit', hits);
      if (hits < out.length) count('mget', 'miss', out.length - hits);
      return out;
    },

    /** Store many values in one pipelined round trip (one per slot on Cluster); each invalidates its lease. */
    async setMany(tenant: string, entries: readonly BulkEntry[], opts: { ttlMs?: number | undefined; jitter?: number | undefined } = {}) {
      if (entries.length === 0) return;
      const now = Date.now();
      const prepared = entries.map((e) => {
        const ttlMs = ttlFor(e.ttlMs ?? opts.ttlMs, opts.jitter);
        return {
          value: ck.value(tenant, e.key),
          lease: ck.lease(tenant, e.key),
          packed: pack(e.body, e.contentType, ttlMs, now),
          ttlMs,
          channel: channelOf(tenant, e.key),
        };
      });
      const groups = isCluster ? groupBySlot(prepared, (p) => p.value) : [prepared];
      await Promise.all(
        groups.map(async (group) => {
          const pipeline = redis.pipeline() as unknown as CacheCommands & { exec(): Promise<[Error | null, unknown][] | null> };
          for (const p of group) void pipeline.cacheSet(p.value, p.lease, p.packed, p.ttlMs, '', p.channel);
          const results = await pipeline.exec();
          const failed = results?.find(([err]) => err !== null);
          if (failed) throw failed[0];
        }),
      );
      let bytes = 0;
      for (const e of entries) bytes += e.body.length;
      count('mset', 'stored', entries.length);
      bytesOf({ op: 'mset' }).inc(bytes);
    },

    /**
     * Delete every value (and lease) of the tenant whose key matches the glob: SCAN MATCH with a bounded
     * COUNT on every master, UNLINK per batch. Returns the exact number of values removed by this call.
     */
    async deletePattern(tenant: string, glob: string): Promise<number> {
      const problem = globProblem(glob);
      if (problem) throw new AppError('validation_failed', problem, { errors: [{ path: 'querystring/pattern', message: problem }] });
      const match = ck.match(tenant, glob);
      const kindAt = ck.kindOffset(tenant);
      const nodes: Redis[] = isCluster ? (redis as Cluster).nodes('master') : [redis as Redis];
      // A Cluster that is down knows no master: an empty scan would answer "deleted 0" as if it had worked.
      if (isCluster && (redis.status !== 'ready' || nodes.length === 0)) {
        throw new AppError('backend_unavailable', 'Redis is unreachable; retry shortly', { headers: { 'retry-after': '1' } });
      }
      let deleted = 0;
      await Promise.all(
        nodes.map(async (node) => {
          let cursor = '0';
          do {
            const [next, batch] = await node.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
            cursor = next;
            if (batch.length === 0) continue;
            const values: string[] = [];
            const leases: string[] = [];
            for (const k of batch) (k.charCodeAt(kindAt) === 0x76 /* v */ ? values : leases).push(k);
            if (!isCluster) {
              const pipeline = node.pipeline();
              if (values.length > 0) pipeline.unlink(...values);
              if (leases.length > 0) pipeline.unlink(...leases);
              const results = (await pipeline.exec()) ?? [];
              for (const [err] of results) if (err) throw err;
              if (values.length > 0) deleted += Number(results[0]?.[1] ?? 0);
            } else {
              // Keys of one batch live in many slots: UNLINK them one by one, pipelined on the node that has them.
              const pipeline = node.pipeline();
              for (const k of values) pipeline.unlink(k);
              for (const k of leases) pipeline.unlink(k);
              const results = (await pipeline.exec()) ?? [];
              for (const [err] of results) if (err) throw err;
              for (let i = 0; i < values.length; i++) deleted += Number(results[i]?.[1] ?? 0);
            }
          } while (cursor !== '0');
        }),
      );
      metrics.patternDeleted.inc(deleted);
      count('delete_pattern', 'done');
      return deleted;
    },
  };
}

export type CacheService = ReturnType<typeof createCacheService>;
