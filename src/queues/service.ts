// Message queues with SQS semantics (visibility timeout, receipts, long polling, dead letters, dedup window)
// plus priorities and exponential backoff. Every operation is one Lua script on the queue's keys, which all
// share one hash tag (Redis Cluster); the scripts read Redis server time. Long polls park on the process
// notifier (woken by the PUBLISH of an enqueue, nack or redrive) or at the next due time the dequeue script
// reports (earliest delayed message or visibility deadline); there is no polling loop.
//
// Registries: `keys.queues.registry(tenant)` (the tenant's queue names) and `keys.queues.all` (every queue,
// for the metrics scrape) live in other slots than the queues, so the scripts never touch them: a script
// that creates a queue (first enqueue or policy) says so and the service then SADDs the name; DELETE removes
// the name first and the keys after, so a concurrent enqueue can leave at worst a listed empty queue, never
// an unlisted live one. The same code runs unchanged on a standalone Redis and on Cluster.
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { randomToken, sequentialIds } from '../ids.js';
import type { RedisClient } from '../redis/connection.js';
import type { Keys } from '../redis/keys.js';
import type { Notifier } from '../redis/notifier.js';
import { defineScript } from '../redis/scripts.js';

export const MAX_BATCH = 100;
export const MAX_PRIORITY = 9;
export const DEFAULT_PRIORITY = 0;
export const DEFAULT_BACKOFF_BASE_MS = 1_000;
export const DEFAULT_BACKOFF_MAX_MS = 300_000;
/** Maintenance batches of redrive-all and purge-dead (each batch is one atomic script). */
const SWEEP_BATCH = 500;
/** The metrics scrape looks at no more than this many queues. */
const SCRAPE_QUEUES = 10_000;

type Str = string;
type Num = number;

const enqueueScript = defineScript<(Str | Num)[]>({
  name: 'queueEnqueue',
  file: new URL('./lua/enqueue.lua', import.meta.url),
  keys: ['ready', 'delayed', 'body', 'meta', 'stats', 'policy', 'dedup', 'dedupExp', 'polling'] as const,
  args: ['defaultMaxAttempts', 'defaultDedupWindowMs', 'specs', 'bodies', 'channel'] as const,
});
const dequeueScript = defineScript<(Str | Num | null)[]>({
  name: 'queueDequeue',
  file: new URL('./lua/dequeue.lua', import.meta.url),
  keys: ['ready', 'delayed', 'inflight', 'dead', 'body', 'meta', 'stats', 'policy', 'polling'] as const,
  args: ['max', 'visibilityMs', 'defaultVisibilityMs', 'maxVisibilityMs', 'nonce', 'waitMs'] as const,
});
const ackScript = defineScript<Num[]>({
  name: 'queueAck',
  file: new URL('./lua/ack.lua', import.meta.url),
  keys: ['ready', 'delayed', 'inflight', 'body', 'meta', 'stats'] as const,
  args: ['receipts'] as const,
});
const nackScript = defineScript<[Str, Num?]>({
  name: 'queueNack',
  file: new URL('./lua/nack.lua', import.meta.url),
  keys: ['ready', 'delayed', 'inflight', 'dead', 'meta', 'stats', 'policy', 'polling'] as const,
  args: ['receipt', 'delayMs', 'error', 'defaultBackoffBaseMs', 'defaultBackoffMaxMs', 'jitter', 'channel'] as const,
});
const extendScript = defineScript<Num>({
  name: 'queueExtend',
  file: new URL('./lua/extend.lua', import.meta.url),
  keys: ['ready', 'inflight', 'meta'] as const,
  args: ['receipt', 'visibilityMs'] as const,
});
const releaseScript = defineScript<Num>({
  name: 'queueRelease',
  file: new URL('./lua/release.lua', import.meta.url),
  keys: ['ready', 'inflight', 'meta', 'polling'] as const,
  args: ['receipts', 'channel'] as const,
});
const infoScript = defineScript<[] | [Num, Num, Num, Num, Num, Num, Str[], Str[]]>({
  name: 'queueInfo',
  file: new URL('./lua/info.lua', import.meta.url),
  keys: ['ready', 'delayed', 'inflight', 'dead', 'meta', 'stats', 'policy'] as const,
  args: [] as const,
});
const depthsScript = defineScript<[Num, Num, Num, Num, Num]>({
  name: 'queueDepths',
  file: new URL('./lua/depths.lua', import.meta.url),
  keys: ['ready', 'delayed', 'inflight', 'dead', 'stats'] as const,
  args: [] as const,
});
const policyScript = defineScript<Num>({
  name: 'queuePolicy',
  file: new URL('./lua/policy.lua', import.meta.url),
  keys: ['policy', 'stats'] as const,
  args: ['fields'] as const,
});
const deadPageScript = defineScript<(Str | Num)[]>({
  name: 'queueDeadPage',
  file: new URL('./lua/dead-page.lua', import.meta.url),
  keys: ['dead', 'body', 'meta'] as const,
  args: ['limit', 'afterId', 'afterScore'] as const,
});
const redriveScript = defineScript<[Num, Num]>({
  name: 'queueRedrive',
  file: new URL('./lua/redrive.lua', import.meta.url),
  keys: ['ready', 'dead', 'meta', 'stats', 'polling'] as const,
  args: ['ids', 'batch', 'channel'] as const,
});
const purgeDeadScript = defineScript<[Num, Num]>({
  name: 'queuePurgeDead',
  file: new URL('./lua/purge-dead.lua', import.meta.url),
  keys: ['dead', 'body', 'meta'] as const,
  args: ['batch'] as const,
});

export type MessageOp = 'enqueued' | 'delivered' | 'acked' | 'nacked' | 'dead' | 'redriven' | 'visibility_expired' | 'released' | 'dropped';

export interface QueueMetrics {
  /** Count messages by operation. */
  messages(op: MessageOp, n: number): void;
}

export interface EnqueueInput {
  body: unknown;
  priority?: number;
  delayMs?: number;
  maxAttempts?: number;
  dedupId?: string;
}

/**
 * A delivered message. The body stays the JSON text Redis holds (`bodyJson`) so a response can embed it
 * without a parse + stringify round (see messagesJson); `body` parses it on demand.
 */
export class DeliveredMessage {
  constructor(
    readonly id: string,
    readonly receipt: string,
    readonly bodyJson: string,
    readonly attempts: number,
    readonly priority: number,
    readonly enqueuedAt: string,
  ) {}
  get body(): unknown {
    return JSON.parse(this.bodyJson) as unknown;
  }
  toJSON() {
    return { id: this.id, receipt: this.receipt, body: this.body, attempts: this.attempts, priority: this.priority, enqueuedAt: this.enqueuedAt };
  }
}

/** `{ "messages": [...] }` as JSON text, with each stored body embedded verbatim (it is valid JSON by construction). */
export function messagesJson(messages: readonly DeliveredMessage[]): string {
  const parts = messages.map(
    (m) =>
      `{"id":${JSON.stringify(m.id)},"receipt":${JSON.stringify(m.receipt)},"body":${m.bodyJson},"attempts":${m.attempts},"priority":${m.priority},"enqueuedAt":"${m.enqueuedAt}"}`,
  );
  return `{"messages":[${parts.join(',')}]}`;
}

export interface QueuePolicy {
  visibilityMs?: number;
  maxAttempts?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  retentionMs?: number;
  dedupWindowMs?: number;
}
export const POLICY_FIELDS = ['visibilityMs', 'maxAttempts', 'backoffBaseMs', 'backoffMaxMs', 'retentionMs', 'dedupWindowMs'] as const;

export interface EffectivePolicy {
  visibilityMs: number;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** null = messages and dead letters are kept until acked or purged. */
  retentionMs: number | null;
  dedupWindowMs: number;
}

export interface Depths {
  ready: number;
  delayed: number;
  inflight: number;
  dead: number;
}

export interface QueueInfo extends Depths {
  name: string;
  oldestReadyAgeMs: number | null;
  enqueued: number;
  acked: number;
  deadLettered: number;
  redriven: number;
  createdAt: string;
  policy: EffectivePolicy;
}

export interface DeadLetter {
  id: string;
  body: unknown;
  attempts: number;
  maxAttempts: number;
  priority: number;
  enqueuedAt: string;
  deadAt: string;
  lastError: string | null;
  reason: string | null;
}

export interface QueueServiceDeps {
  redis: RedisClient;
  keys: Keys;
  notifier: Notifier;
  config: Config;
  metrics?: QueueMetrics;
}

interface MessageMeta {
  p: number;
  a: number;
  m: number;
  t: number;
  e?: string;
  w?: string;
}

/** ISO time of a timestamp; the last one is kept, since the messages of a batch share their enqueue time. */
let lastIsoMs = NaN;
let lastIso = '';
const iso = (ms: number) => {
  if (ms !== lastIsoMs) {
    lastIso = new Date(ms).toISOString();
    lastIsoMs = ms;
  }
  return lastIso;
};
const num = (v: unknown) => Number(v ?? 0);

/** The messages of a dequeue script's reply (dequeue.lua: five counters, then six fields per message). */
export function deliveredFrom(res: readonly unknown[]): DeliveredMessage[] {
  const messages: DeliveredMessage[] = [];
  for (let i = 5; i + 5 < res.length; i += 6) {
    messages.push(
      new DeliveredMessage(String(res[i]), String(res[i + 1]), String(res[i + 2] ?? 'null'), num(res[i + 3]), num(res[i + 4]), iso(num(res[i + 5]))),
    );
  }
  return messages;
}

function flatToRecord(flat: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i] as string] = flat[i + 1] as string;
  return out;
}

export function receiptId(receipt: string): string | undefined {
  const dot = receipt.indexOf('.');
  return dot > 0 ? receipt.slice(0, dot) : undefined;
}

export function createQueueService({ redis, keys, notifier, config, metrics }: QueueServiceDeps) {
  const cfg = config.queues;
  const count = (op: MessageOp, n: number) => {
    if (n > 0) metrics?.messages(op, n);
  };
  const channelOf = (tenant: string, queue: string) => keys.event(tenant, 'queues', queue);
  // Ids: a random per-process prefix and a counter (unique across processes and restarts, cheap to make).
  const newId = sequentialIds('', 6);
  let longPollWaiters = 0;

  async function register(tenant: string, queue: string) {
    await Promise.all([redis.sadd(keys.queues.registry(tenant), queue), redis.sadd(keys.queues.all, `${tenant}/${queue}`)]);
  }

  function defaults(policy: Record<string, string>): EffectivePolicy {
    const n = (name: string) => (policy[name] === undefined ? undefined : Number(policy[name]));
    return {
      visibilityMs: Math.min(n('visibilityMs') ?? cfg.defaultVisibilityMs, cfg.maxVisibilityMs),
      maxAttempts: n('maxAttempts') ?? cfg.defaultMaxAttempts,
      backoffBaseMs: n('backoffBaseMs') ?? DEFAULT_BACKOFF_BASE_MS,
      backoffMaxMs: n('backoffMaxMs') ?? DEFAULT_BACKOFF_MAX_MS,
      retentionMs: n('retentionMs') ?? null,
      dedupWindowMs: n('dedupWindowMs') ?? cfg.dedupWindowMs,
    };
  }

  /** Enqueue one batch atomically; ids in input order (a deduplicated message gets the first one's id). */
  async function enqueue(tenant: string, queue: string, messages: readonly EnqueueInput[]): Promise<{ ids: string[]; enqueued: number }> {
    if (messages.length === 0 || messages.length > MAX_BATCH) {
      throw new AppError('validation_failed', `a batch holds 1-${MAX_BATCH} messages`, { errors: [{ path: 'body/messages', message: `1-${MAX_BATCH} messages` }] });
    }
    const specs: (string | number)[][] = [];
    const bodies: string[] = [];
    messages.forEach((m, i) => {
      if (m.body === undefined) {
        throw new AppError('validation_failed', 'body is required', { errors: [{ path: `body/messages/${i}/body`, message: 'required' }] });
      }
      const text = JSON.stringify(m.body);
      const bytes = Buffer.byteLength(text);
      if (bytes > config.limits.messageBytes) {
        const which = messages.length > 1 ? `message ${i}: ` : '';
        throw new AppError('payload_too_large', `${which}the body is ${bytes} bytes of JSON; the limit is ${config.limits.messageBytes} bytes (BATON_MAX_MESSAGE_BYTES)`);
      }
      specs.push([newId(), m.priority ?? DEFAULT_PRIORITY, m.delayMs ?? 0, m.maxAttempts ?? 0, m.dedupId ?? '', bytes]);
      bodies.push(text);
    });
    const k = keys.queues.of(tenant, queue);
    const res = await enqueueScript.run(
      redis,
      [k.ready, k.delayed, k.body, k.meta, k.stats, k.policy, k.dedup, k.dedupExp, k.polling],
      [cfg.defaultMaxAttempts, cfg.dedupWindowMs, JSON.stringify(specs), bodies.join(''), channelOf(tenant, queue)],
    );
    if (res[0] === 1) await register(tenant, queue);
    const enqueued = num(res[1]);
    count('enqueued', enqueued);
    return { ids: res.slice(2).map(String), enqueued };
  }

  /** One dequeue script call; `waitMs` > 0: the caller parks if it gets nothing (enqueues then publish). */
  async function takeOnce(tenant: string, queue: string, max: number, visibilityMs: number, waitMs = 0) {
    const k = keys.queues.of(tenant, queue);
    const res = await dequeueScript.run(
      redis,
      [k.ready, k.delayed, k.inflight, k.dead, k.body, k.meta, k.stats, k.policy, k.polling],
      [max, visibilityMs, cfg.defaultVisibilityMs, cfg.maxVisibilityMs, randomToken(9), Math.ceil(waitMs)],
    );
    const now = num(res[0]);
    const nextAt = num(res[1]);
    const expired = num(res[2]);
    const expiredDead = num(res[3]);
    const dropped = num(res[4]);
    count('visibility_expired', expired + expiredDead);
    count('dead', expiredDead);
    count('dropped', dropped);
    const messages = deliveredFrom(res);
    count('delivered', messages.length);
    return { now, nextAt, dropped, messages };
  }

  async function release(tenant: string, queue: string, receipts: string[]) {
    const k = keys.queues.of(tenant, queue);
    const n = await releaseScript.run(redis, [k.ready, k.inflight, k.meta, k.polling], [receipts.join(' '), channelOf(tenant, queue)]);
    count('released', n);
  }

  /**
   * Take up to `max` messages. With waitMs > 0 and nothing ready, park until an enqueue (or nack/redrive)
   * is announced, the next delayed message is due or an in-flight message's visibility runs out, or the
   * wait ends. When `signal` aborts (the client left) the call takes nothing: messages a script handed out
   * meanwhile are given back at once.
   */
  async function dequeue(
    tenant: string,
    queue: string,
    opts: { max?: number; visibilityMs?: number; waitMs?: number },
    signal?: AbortSignal,
  ): Promise<DeliveredMessage[]> {
    const max = opts.max ?? 1;
    const visibilityMs = opts.visibilityMs === undefined ? 0 : Math.min(opts.visibilityMs, cfg.maxVisibilityMs);
    const waitMs = opts.waitMs ?? 0;
    const endAt = performance.now() + waitMs;
    const channel = channelOf(tenant, queue);
    for (;;) {
      if (signal?.aborted) return [];
      const remaining = endAt - performance.now();
      // Listen before looking, so an enqueue between the look and the park is not missed.
      const parked = remaining > 0 ? notifier.wait(channel, remaining, signal) : undefined;
      let taken: Awaited<ReturnType<typeof takeOnce>>;
      try {
        taken = await takeOnce(tenant, queue, max, visibilityMs, parked ? remaining : 0);
      } catch (err) {
        parked?.cancel();
        throw err;
      }
      if (taken.messages.length > 0) {
        parked?.cancel();
        if (signal?.aborted) {
          await release(tenant, queue, taken.messages.map((m) => m.receipt));
          return [];
        }
        return taken.messages;
      }
      if (!parked) return [];
      if (taken.dropped > 0) {
        parked.cancel();
        continue;
      }
      const dueInMs = taken.nextAt >= 0 ? Math.max(1, taken.nextAt - taken.now + 1) : Number.POSITIVE_INFINITY;
      let timer: NodeJS.Timeout | undefined;
      longPollWaiters++;
      try {
        const outcome =
          dueInMs < remaining
            ? await Promise.race([parked.outcome, new Promise<'due'>((ok) => (timer = setTimeout(() => ok('due'), dueInMs)))])
            : await parked.outcome;
        if (outcome === 'aborted') return [];
      } finally {
        longPollWaiters--;
        clearTimeout(timer);
        parked.cancel();
      }
    }
  }

  /** Ack by receipts: true = deleted for good, false = stale or unknown (nothing changed). */
  async function ack(tenant: string, queue: string, receipts: readonly string[]): Promise<boolean[]> {
    const k = keys.queues.of(tenant, queue);
    // A receipt holds no whitespace (ids and nonces are base64url); one that does cannot be valid.
    const clean = receipts.map((r) => (/^\S+$/.test(r) ? r : '-'));
    const res = await ackScript.run(redis, [k.ready, k.delayed, k.inflight, k.body, k.meta, k.stats], [clean.join(' ')]);
    const out = clean.map((_, i) => res[i] === 1);
    count('acked', out.filter(Boolean).length);
    return out;
  }

  function checkReceipt(id: string, receipt: string) {
    if (receiptId(receipt) !== id || /\s/.test(receipt)) {
      throw new AppError('receipt_invalid', `the receipt does not belong to message ${id}`);
    }
  }

  async function ackOne(tenant: string, queue: string, id: string, receipt: string): Promise<void> {
    checkReceipt(id, receipt);
    const [ok] = await ack(tenant, queue, [receipt]);
    if (!ok) throw new AppError('receipt_invalid', `the receipt of message ${id} is stale (the message was redelivered, nacked, acked or purged since) or unknown`);
  }

  async function nack(
    tenant: string,
    queue: string,
    id: string,
    opts: { receipt: string; delayMs?: number; error?: string },
  ): Promise<{ outcome: 'retry' | 'dead'; nextAttemptAt?: string }> {
    checkReceipt(id, opts.receipt);
    const k = keys.queues.of(tenant, queue);
    const res = await nackScript.run(
      redis,
      [k.ready, k.delayed, k.inflight, k.dead, k.meta, k.stats, k.policy, k.polling],
      [opts.receipt, opts.delayMs ?? -1, opts.error ?? '', DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_MAX_MS, Math.random(), channelOf(tenant, queue)],
    );
    if (res[0] === 'invalid') throw new AppError('receipt_invalid', `the receipt of message ${id} is stale or unknown`);
    count('nacked', 1);
    if (res[0] === 'dead') {
      count('dead', 1);
      return { outcome: 'dead' };
    }
    return { outcome: 'retry', nextAttemptAt: iso(num(res[1])) };
  }

  async function extend(tenant: string, queue: string, id: string, receipt: string, visibilityMs: number): Promise<{ id: string; visibleAt: string }> {
    checkReceipt(id, receipt);
    const k = keys.queues.of(tenant, queue);
    const at = await extendScript.run(redis, [k.ready, k.inflight, k.meta], [receipt, Math.min(visibilityMs, cfg.maxVisibilityMs)]);
    if (at < 0) throw new AppError('receipt_invalid', `the receipt of message ${id} is stale or unknown`);
    return { id, visibleAt: iso(at) };
  }

  async function info(tenant: string, queue: string): Promise<QueueInfo> {
    const k = keys.queues.of(tenant, queue);
    const res = await infoScript.run(redis, [k.ready, k.delayed, k.inflight, k.dead, k.meta, k.stats, k.policy], []);
    if (res.length === 0) throw new AppError('not_found', `queue ${queue} does not exist (never used, or deleted)`);
    const [now, ready, delayed, inflight, dead, oldest, statsFlat, policyFlat] = res;
    const stats = flatToRecord(statsFlat);
    return {
      name: queue,
      ready,
      delayed,
      inflight,
      dead,
      oldestReadyAgeMs: oldest < 0 ? null : Math.max(0, now - oldest),
      enqueued: num(stats.enqueued),
      acked: num(stats.acked),
      deadLettered: num(stats.dead),
      redriven: num(stats.redriven),
      createdAt: iso(num(stats.createdAt)),
      policy: defaults(flatToRecord(policyFlat)),
    };
  }

  async function depths(tenant: string, queue: string): Promise<(Depths & { exists: boolean })> {
    const k = keys.queues.of(tenant, queue);
    const [exists, ready, delayed, inflight, dead] = await depthsScript.run(redis, [k.ready, k.delayed, k.inflight, k.dead, k.stats], []);
    return { exists: exists === 1, ready, delayed, inflight, dead };
  }

  /** The tenant's queues in name order, with depths; `cursor` = the last name of the previous page. */
  async function list(tenant: string, opts: { limit: number; cursor?: string }) {
    const names = (await redis.smembers(keys.queues.registry(tenant))).sort();
    const from = opts.cursor === undefined ? 0 : names.findIndex((n) => n > (opts.cursor as string));
    const page = from < 0 ? [] : names.slice(from, from + opts.limit);
    const queues = await Promise.all(
      page.map(async (name) => {
        const d = await depths(tenant, name);
        return { name, ready: d.ready, delayed: d.delayed, inflight: d.inflight, dead: d.dead };
      }),
    );
    const more = from >= 0 && from + opts.limit < names.length;
    return { queues, ...(more && page.length > 0 ? { nextCursor: page[page.length - 1] as string } : {}) };
  }

  async function setPolicy(tenant: string, queue: string, policy: QueuePolicy): Promise<EffectivePolicy> {
    const backoffBase = policy.backoffBaseMs ?? DEFAULT_BACKOFF_BASE_MS;
    const backoffMax = policy.backoffMaxMs ?? DEFAULT_BACKOFF_MAX_MS;
    if (backoffMax < backoffBase) {
      throw new AppError('validation_failed', `backoffMaxMs (${backoffMax}) must not be below backoffBaseMs (${backoffBase})`, {
        errors: [{ path: 'body/backoffMaxMs', message: 'must not be below backoffBaseMs' }],
      });
    }
    if (policy.visibilityMs !== undefined && policy.visibilityMs > cfg.maxVisibilityMs) {
      throw new AppError('validation_failed', `visibilityMs exceeds the limit of ${cfg.maxVisibilityMs} ms (BATON_QUEUE_MAX_VISIBILITY_MS)`, {
        errors: [{ path: 'body/visibilityMs', message: `at most ${cfg.maxVisibilityMs}` }],
      });
    }
    const fields: Record<string, number> = {};
    for (const f of POLICY_FIELDS) if (policy[f] !== undefined) fields[f] = policy[f] as number;
    const k = keys.queues.of(tenant, queue);
    const created = await policyScript.run(redis, [k.policy, k.stats], [JSON.stringify(fields)]);
    if (created === 1) await register(tenant, queue);
    return defaults(Object.fromEntries(Object.entries(fields).map(([n, v]) => [n, String(v)])));
  }

  async function deadLetters(tenant: string, queue: string, opts: { limit: number; cursor?: string }) {
    let afterId = '';
    let afterScore = '';
    if (opts.cursor !== undefined) {
      const m = /^(\d+)~(.+)$/.exec(opts.cursor);
      if (!m) throw new AppError('validation_failed', 'cursor is not one this server gave out', { errors: [{ path: 'querystring/cursor', message: 'unknown cursor' }] });
      afterScore = m[1] as string;
      afterId = m[2] as string;
    }
    const k = keys.queues.of(tenant, queue);
    const res = await deadPageScript.run(redis, [k.dead, k.body, k.meta], [opts.limit, afterId, afterScore]);
    const letters: DeadLetter[] = [];
    let last: { id: string; score: string } | undefined;
    for (let i = 1; i + 3 < res.length; i += 4) {
      const id = String(res[i]);
      const score = String(res[i + 1]);
      const meta = JSON.parse(String(res[i + 2])) as Partial<MessageMeta>;
      letters.push({
        id,
        body: JSON.parse(String(res[i + 3])) as unknown,
        attempts: num(meta.a),
        maxAttempts: num(meta.m),
        priority: num(meta.p),
        enqueuedAt: iso(num(meta.t)),
        deadAt: iso(Number(score)),
        lastError: meta.e ?? null,
        reason: meta.w ?? null,
      });
      last = { id, score };
    }
    return { messages: letters, ...(res[0] === 1 && last ? { nextCursor: `${last.score}~${last.id}` } : {}) };
  }

  async function redrive(tenant: string, queue: string, ids?: readonly string[]): Promise<number> {
    const k = keys.queues.of(tenant, queue);
    const run = (list: string) => redriveScript.run(redis, [k.ready, k.dead, k.meta, k.stats, k.polling], [list, SWEEP_BATCH, channelOf(tenant, queue)]);
    let moved = 0;
    if (ids !== undefined) {
      if (ids.length > 0) moved = (await run(ids.join(' ')))[0];
    } else {
      // All dead letters, in atomic batches (a letter that dies meanwhile may or may not be included).
      for (;;) {
        const [n, remaining] = await run('');
        moved += n;
        if (n === 0 || remaining === 0) break;
      }
    }
    count('redriven', moved);
    return moved;
  }

  async function purgeDead(tenant: string, queue: string): Promise<number> {
    const k = keys.queues.of(tenant, queue);
    let purged = 0;
    for (;;) {
      const [n, remaining] = await purgeDeadScript.run(redis, [k.dead, k.body, k.meta], [SWEEP_BATCH]);
      purged += n;
      if (n === 0 || remaining === 0) break;
    }
    return purged;
  }

  /** Delete the queue and everything in it (UNLINK: freed in the background), registry entry included. */
  async function purge(tenant: string, queue: string): Promise<void> {
    await Promise.all([redis.srem(keys.queues.registry(tenant), queue), redis.srem(keys.queues.all, `${tenant}/${queue}`)]);
    const k = keys.queues.of(tenant, queue);
    await redis.unlink(k.ready, k.delayed, k.inflight, k.dead, k.body, k.meta, k.stats, k.policy, k.dedup, k.dedupExp);
  }

  /** The `n` deepest queues of all tenants (ready + delayed + in flight), for the metrics scrape. */
  async function topDepths(n: number): Promise<(Depths & { tenant: string; queue: string })[]> {
    if (n <= 0) return [];
    const members: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.sscan(keys.queues.all, cursor, 'COUNT', 1000);
      members.push(...batch);
      cursor = next;
    } while (cursor !== '0' && members.length < SCRAPE_QUEUES);
    const rows = await Promise.all(
      members.slice(0, SCRAPE_QUEUES).map(async (m) => {
        const slash = m.indexOf('/');
        const tenant = m.slice(0, slash);
        const queue = m.slice(slash + 1);
        return { tenant, queue, ...(await depths(tenant, queue)) };
      }),
    );
    const total = (d: Depths) => d.ready + d.delayed + d.inflight;
    return rows
      .filter((r) => r.exists)
      .sort((a, b) => total(b) - total(a))
      .slice(0, n)
      .map(({ exists: _exists, ...r }) => r);
  }

  return {
    enqueue,
    dequeue,
    ack,
    ackOne,
    nack,
    extend,
    info,
    list,
    setPolicy,
    deadLetters,
    redrive,
    purgeDead,
    purge,
    topDepths,
    longPollWaiters: () => longPollWaiters,
  };
}

export type QueueService = ReturnType<typeof createQueueService>;
