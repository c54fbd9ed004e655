// Distributed locks (fenced, re-entrant, renewable leases) and counting semaphores over Redis.
// Every state change is one Lua script (src/locks/lua/); waiting parks in an in-process FIFO that wakes on
// the release message from pub/sub or at the holder's expiry (src/locks/waiters.ts). No Fastify in here.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { fastCounter, rememberPairs } from '../metrics/fast.js';
import { randomToken } from '../ids.js';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { RedisClient } from '../redis/connection.js';
import type { Keys } from '../redis/keys.js';
import type { Notifier } from '../redis/notifier.js';
import { defineScript } from '../redis/scripts.js';
import { createWaitQueues, type Attempt, type AttemptMode, type WaitResult } from './waiters.js';

const lua = (file: string) => new URL(`./lua/${file}`, import.meta.url);

type LockAcquireReply = [1 | 2, string, number, number, number] | [0, number];
const lockAcquire = defineScript<LockAcquireReply>({
  name: 'batonLockAcquire',
  file: lua('acquire.lua'),
  keys: ['lock', 'fence', 'waiting'] as const,
  args: ['token', 'ttlMs', 'owner', 'mode', 'waitMs'] as const,
});
const lockRenew = defineScript<[1, number, number] | [0] | [-1]>({
  name: 'batonLockRenew',
  file: lua('renew.lua'),
  keys: ['lock'] as const,
  args: ['token', 'ttlMs'] as const,
});
const lockRelease = defineScript<[1, number] | [0] | [-1]>({
  name: 'batonLockRelease',
  file: lua('release.lua'),
  keys: ['lock', 'waiting'] as const,
  args: ['token', 'channel'] as const,
});
const lockInspect = defineScript<[number, number]>({
  name: 'batonLockInspect',
  file: lua('inspect.lua'),
  keys: ['lock', 'fence'] as const,
  args: [] as const,
});

type SemAcquireReply = [1, number] | [0, number, number, number] | [-1, number, number];
const semAcquire = defineScript<SemAcquireReply>({
  name: 'batonSemaphoreAcquire',
  file: lua('sem-acquire.lua'),
  keys: ['holders', 'limit', 'waiting'] as const,
  args: ['token', 'limit', 'ttlMs', 'mode', 'waitMs'] as const,
});
const semRenew = defineScript<[1, number] | [0]>({
  name: 'batonSemaphoreRenew',
  file: lua('sem-renew.lua'),
  keys: ['holders', 'limit'] as const,
  args: ['token', 'ttlMs'] as const,
});
const semRelease = defineScript<[1, number] | [0]>({
  name: 'batonSemaphoreRelease',
  file: lua('sem-release.lua'),
  keys: ['holders', 'limit', 'waiting'] as const,
  args: ['token', 'channel'] as const,
});
const semInspect = defineScript<[number, number]>({
  name: 'batonSemaphoreInspect',
  file: lua('sem-inspect.lua'),
  keys: ['holders', 'limit'] as const,
  args: [] as const,
});

export interface LockGrant {
  name: string;
  token: string;
  fence: number;
  ttlMs: number;
  expiresAt: string;
}

export interface LockState {
  name: string;
  held: boolean;
  ttlMs?: number;
  fence: number;
}

export interface PermitGrant {
  name: string;
  token: string;
  ttlMs: number;
  expiresAt: string;
}

export interface SemaphoreState {
  name: string;
  holders: number;
  limit?: number;
}

export interface LocksDeps {
  redis: RedisClient;
  keys: Keys;
  notifier: Notifier;
  config: Pick<Config, 'locks'>;
  /** The app's prom-client registry. */
  metrics: Registry;
}

type Kind = 'lock' | 'semaphore';
type AcquireResult = 'acquired' | 'reentered' | 'busy' | 'timeout' | 'aborted';

/** Tokens: 128 random bits as 22 base64url characters (src/ids.ts). */
const newToken = () => randomToken(16);
const iso = (ms: number) => new Date(ms).toISOString();

export function createLocksService(deps: LocksDeps) {
  const { redis, keys, notifier, metrics, config } = deps;
  const queues = createWaitQueues(notifier);

  const acquireTotal = new Counter({
    name: 'baton_lock_acquire_total',
    help: 'Lock and semaphore acquisitions by kind and result (acquired, reentered, busy = refused without waiting, timeout = the wait ran out, aborted = the client went away)',
    labelNames: ['kind', 'result'] as const,
    registers: [metrics],
  });
  const acquiredCounter = fastCounter(acquireTotal);
  const acquired = rememberPairs((kind: string, result: string) => acquiredCounter({ kind, result }));
  const waitSeconds = new Histogram({
    name: 'baton_lock_wait_seconds',
    help: 'Time acquisitions with waitMs > 0 spent waiting, by kind and result',
    labelNames: ['kind', 'result'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [metrics],
  });
  const lostTotal = new Counter({
    name: 'baton_lock_lost_total',
    help: 'Renewals and releases refused because the lock or permit had expired (or was taken by another)',
    labelNames: ['kind', 'op', 'reason'] as const,
    registers: [metrics],
  });
  new Gauge({
    name: 'baton_lock_waiters',
    help: 'Lock and semaphore acquisitions parked waiting in this process',
    registers: [metrics],
    collect() {
      this.set(queues.size());
    },
  });

  /**
   * Try once (waitMs 0) or wait in the name's FIFO. Returns the grant, or throws the busy/timeout error built
   * by `refuse` from the last attempt. A grant won after the client went away is undone at once. `waitMs` comes
   * capped by BATON_LOCK_MAX_WAIT_MS (the caller's attempts mark the name as waited on for that long).
   */
  async function obtain<T extends { result: 'acquired' | 'reentered' }>(
    kind: Kind,
    queueKey: string,
    channel: string,
    waitMs: number,
    signal: AbortSignal | undefined,
    attempt: (mode: AttemptMode) => Promise<Attempt<T>>,
    undo: (value: T) => Promise<unknown>,
    refuse: (last: Attempt<T> & { ok: false }, waited: boolean) => AppError,
  ): Promise<T> {
    if (waitMs <= 0) {
      const r = await attempt('take');
      if (r.ok) {
        acquired(kind, r.value.result).inc();
        return r.value;
      }
      acquired(kind, 'busy').inc();
      throw refuse(r, false);
    }
    const started = performance.now();
    let outcome: WaitResult<T>;
    try {
      outcome = await queues.wait(queueKey, channel, waitMs, signal, attempt);
    } catch (err) {
      waitSeconds.observe({ kind, result: 'error' }, (performance.now() - started) / 1000);
      throw err;
    }
    const result: AcquireResult = outcome.status === 'acquired' ? outcome.value.result : outcome.status;
    acquired(kind, result).inc();
    waitSeconds.observe({ kind, result }, (performance.now() - started) / 1000);
    if (outcome.status === 'acquired') return outcome.value;
    if (outcome.status === 'timeout') throw refuse(outcome.last, true);
    if (outcome.won) await undo(outcome.won).catch(() => undefined); // expires by itself if Redis is gone
    throw new AppError('lock_not_acquired', 'The client went away while waiting; nothing was acquired');
  }

  const locks = {
    async acquire(tenant: string, name: string, opts: { ttlMs: number; waitMs?: number; owner?: string }, signal?: AbortSignal): Promise<LockGrant> {
      const lockKey = keys.locks.lock(tenant, name);
      const fenceKey = keys.locks.fence(tenant, name);
      const waitingKey = keys.locks.lockWaiting(tenant, name);
      // How long a refused attempt marks the name as waited on (0 = this caller does not wait).
      const waitMs = Math.min(opts.waitMs ?? 0, config.locks.maxWaitMs);
      const channel = keys.event(tenant, 'locks', name);
      const queueKey = `lock\u0000${tenant}\u0000${name}`;
      const token = newToken();
      const owner = opts.owner ?? '';
      type Won = LockGrant & { result: 'acquired' | 'reentered' };
      const attempt = async (mode: AttemptMode): Promise<Attempt<Won>> => {
        const r = await lockAcquire.run(redis, [lockKey, fenceKey, waitingKey], [token, opts.ttlMs, owner, mode === 'take' ? 'take' : 'reenter', waitMs]);
        if (r[0] === 0) return { ok: false, retryInMs: r[1], free: r[1] === -2 };
        const [code, heldToken, fence, , expiresAtMs] = r;
        return {
          ok: true,
          value: { name, token: heldToken, fence, ttlMs: opts.ttlMs, expiresAt: iso(expiresAtMs), result: code === 2 ? 'reentered' : 'acquired' },
        };
      };
      // With waitMs the request queues behind this process's waiters (FIFO); without, it just tries once.
      const won = await obtain<Won>(
        'lock', queueKey, channel, waitMs, signal, attempt,
        (v) => lockRelease.run(redis, [lockKey, waitingKey], [v.token, channel]),
        (last, waited) => new AppError(
          'lock_not_acquired',
          waited ? `The lock "${name}" is still held after waiting ${opts.waitMs} ms` : `The lock "${name}" is held by someone else`,
          { fields: { ttlMs: Math.max(0, last.retryInMs) } },
        ),
      );
      const { result: _result, ...grant } = won;
      return grant;
    },

    async renew(tenant: string, name: string, token: string, ttlMs: number): Promise<LockGrant> {
      const r = await lockRenew.run(redis, [keys.locks.lock(tenant, name)], [token, ttlMs]);
      if (r[0] !== 1) throw notOwner('renew', name, r[0]);
      return { name, token, fence: r[1], ttlMs, expiresAt: iso(r[2]) };
    },

    async release(tenant: string, name: string, token: string): Promise<{ released: true; remaining: number }> {
      const r = await lockRelease.run(redis, [keys.locks.lock(tenant, name), keys.locks.lockWaiting(tenant, name)], [token, keys.event(tenant, 'locks', name)]);
      if (r[0] !== 1) throw notOwner('release', name, r[0]);
      return { released: true, remaining: r[1] };
    },

    async inspect(tenant: string, name: string): Promise<LockState> {
      const [pttl, fence] = await lockInspect.run(redis, [keys.locks.lock(tenant, name), keys.locks.fence(tenant, name)], []);
      // pttl -2 = absent; -1 cannot happen (every lock has a TTL) but would mean held without expiry.
      if (pttl === -2) return { name, held: false, fence };
      return pttl >= 0 ? { name, held: true, ttlMs: pttl, fence } : { name, held: true, fence };
    },
  };

  function notOwner(op: 'renew' | 'release', name: string, code: 0 | -1): AppError {
    const reason = code === 0 ? 'expired' : 'taken';
    lostTotal.inc({ kind: 'lock', op, reason });
    const detail = code === 0
      ? `Cannot ${op}: the lock "${name}" expired (it has no holder now); acquire it again`
      : `Cannot ${op}: the lock "${name}" is held by another token (yours expired or was never valid)`;
    return new AppError('lock_not_owner', detail, { fields: { reason } });
  }

  const semaphores = {
    async acquire(tenant: string, name: string, opts: { limit: number; ttlMs: number; waitMs?: number }, signal?: AbortSignal): Promise<PermitGrant> {
      const holdersKey = keys.locks.semaphore(tenant, name);
      const limitKey = keys.locks.semaphoreLimit(tenant, name);
      const waitingKey = keys.locks.semaphoreWaiting(tenant, name);
      const waitMs = Math.min(opts.waitMs ?? 0, config.locks.maxWaitMs);
      const channel = keys.event(tenant, 'semaphores', name);
      const queueKey = `semaphore\u0000${tenant}\u0000${name}`;
      const token = newToken();
      type Won = PermitGrant & { result: 'acquired' };
      let full: { holders: number; limit: number } = { holders: 0, limit: opts.limit };
      const attempt = async (mode: AttemptMode): Promise<Attempt<Won>> => {
        const r = await semAcquire.run(redis, [holdersKey, limitKey, waitingKey], [token, opts.limit, opts.ttlMs, mode, waitMs]);
        if (r[0] === -1) {
          throw new AppError(
            'semaphore_limit_mismatch',
            `The semaphore "${name}" is in force with limit ${r[1]} (${r[2]} holders); a different limit applies only once it is empty`,
            { fields: { limit: r[1], holders: r[2] } },
          );
        }
        if (r[0] === 0) {
          full = { holders: r[2], limit: r[3] };
          return { ok: false, retryInMs: r[1], free: r[1] === -2 };
        }
        return { ok: true, value: { name, token, ttlMs: opts.ttlMs, expiresAt: iso(r[1]), result: 'acquired' } };
      };
      const won = await obtain<Won>(
        'semaphore', queueKey, channel, waitMs, signal, attempt,
        (v) => semRelease.run(redis, [holdersKey, limitKey, waitingKey], [v.token, channel]),
        (last, waited) => new AppError(
          'semaphore_full',
          waited
            ? `The semaphore "${name}" still has all ${full.limit} permits taken after waiting ${opts.waitMs} ms`
            : `The semaphore "${name}" has all ${full.limit} permits taken`,
          { fields: { ttlMs: Math.max(0, last.retryInMs), holders: full.holders, limit: full.limit } },
        ),
      );
      const { result: _result, ...grant } = won;
      return grant;
    },

    async renew(tenant: string, name: string, token: string, ttlMs: number): Promise<PermitGrant> {
      const r = await semRenew.run(redis, [keys.locks.semaphore(tenant, name), keys.locks.semaphoreLimit(tenant, name)], [token, ttlMs]);
      if (r[0] !== 1) throw notHolder('renew', name);
      return { name, token, ttlMs, expiresAt: iso(r[1]) };
    },

    async release(tenant: string, name: string, token: string): Promise<{ released: true; holders: number }> {
      const r = await semRelease.run(
        redis,
        [keys.locks.semaphore(tenant, name), keys.locks.semaphoreLimit(tenant, name), keys.locks.semaphoreWaiting(tenant, name)],
        [token, keys.event(tenant, 'semaphores', name)],
      );
      if (r[0] !== 1) throw notHolder('release', name);
      return { released: true, holders: r[1] };
    },

    async inspect(tenant: string, name: string): Promise<SemaphoreState> {
      const [holders, limit] = await semInspect.run(redis, [keys.locks.semaphore(tenant, name), keys.locks.semaphoreLimit(tenant, name)], []);
      return holders > 0 && limit > 0 ? { name, holders, limit } : { name, holders };
    },
  };

  function notHolder(op: 'renew' | 'release', name: string): AppError {
    lostTotal.inc({ kind: 'semaphore', op, reason: 'expired' });
    return new AppError(
      'semaphore_not_holder',
      `Cannot ${op}: the token holds no permit of the semaphore "${name}" (it expired, was released, or is unknown)`,
    );
  }

  return { locks, semaphores, waiting: () => queues.size() };
}

export type LocksService = ReturnType<typeof createLocksService>;
