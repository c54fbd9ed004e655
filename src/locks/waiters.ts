// Parking for lock and semaphore acquisitions that may wait (waitMs > 0), without polling.
//
// Per name (tenant + kind + name) one in-process FIFO queue. While a queue has waiters it listens to the
// name's pub/sub channel (the release scripts PUBLISH there, from any Baton instance). Only the head of the
// queue takes: it tries, and when the lock is busy it sleeps until a release message, a timer at the holder's
// remaining TTL (expiry is silent), its deadline, or its client going away. When the head gets the lock (or
// gives up) it leaves the queue and the next waiter becomes head and tries at once (chained wake-ups).
// Waiters behind the head only "peek" (a lock's owner may re-enter; a free permit kicks the head) and sleep
// until they are promoted or their deadline passes. So waiters in one process are served in arrival order;
// across processes the release message wakes every process's head and Redis decides.
import type { Notifier } from '../redis/notifier.js';

/** take: the head may take a free lock/permit; peek: only re-enter or report (behind the head). */
export type AttemptMode = 'take' | 'peek';

export type Attempt<T> =
  | { ok: true; value: T }
  /** busy; retryInMs = when the current holder (or the earliest holder) expires, -1 if unknown; free = nothing held but we may not take it. */
  | { ok: false; retryInMs: number; free: boolean };

export type WaitResult<T> =
  | { status: 'acquired'; value: T }
  | { status: 'timeout'; last: Attempt<T> & { ok: false } }
  | { status: 'aborted'; won?: T };

interface Waiter {
  kicked: boolean;
  wake: (() => void) | undefined;
}

interface Queue {
  waiters: Waiter[];
  unlisten: () => void;
}

export interface WaitQueues {
  /**
   * Wait in the name's queue until `attempt` succeeds, `waitMs` passes, or `signal` aborts. The caller is
   * enqueued synchronously (before any await), so call order is queue order. An attempt that succeeds after
   * the signal aborted is handed back as `won` (the caller must undo it).
   */
  wait<T>(key: string, channel: string, waitMs: number, signal: AbortSignal | undefined, attempt: (mode: AttemptMode) => Promise<Attempt<T>>): Promise<WaitResult<T>>;
  /** Number of parked waiters (all names), for the waiters gauge. */
  size(): number;
}

export function createWaitQueues(notifier: Notifier): WaitQueues {
  const queues = new Map<string, Queue>();
  let total = 0;

  const kick = (w: Waiter | undefined) => {
    if (!w) return;
    w.kicked = true;
    w.wake?.();
  };

  function enqueue(key: string, channel: string, w: Waiter): Queue {
    let q = queues.get(key);
    if (!q) {
      const created: Queue = { waiters: [], unlisten: () => undefined };
      created.unlisten = notifier.listen(channel, () => kick(created.waiters[0]));
      queues.set(key, created);
      q = created;
    }
    q.waiters.push(w);
    total++;
    return q;
  }

  function dequeue(key: string, q: Queue, w: Waiter) {
    const i = q.waiters.indexOf(w);
    if (i < 0) return;
    q.waiters.splice(i, 1);
    total--;
    if (q.waiters.length === 0) {
      q.unlisten();
      queues.delete(key);
    } else if (i === 0) {
      kick(q.waiters[0]); // promoted: the new head tries at once
    }
  }

  /** Sleep until kicked, `ms` passes, or the signal aborts. */
  function sleep(w: Waiter, ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      if (w.kicked || signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        w.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, ms));
      signal?.addEventListener('abort', done, { once: true });
      w.wake = done;
    });
  }

  return {
    size: () => total,
    async wait<T>(key: string, channel: string, waitMs: number, signal: AbortSignal | undefined, attempt: (mode: AttemptMode) => Promise<Attempt<T>>): Promise<WaitResult<T>> {
      if (signal?.aborted) return { status: 'aborted' };
      const deadline = performance.now() + waitMs;
      const w: Waiter = { kicked: false, wake: undefined };
      const q = enqueue(key, channel, w);
      try {
        for (;;) {
          const head = q.waiters[0] === w;
          w.kicked = false;
          const r = await attempt(head ? 'take' : 'peek');
          if (r.ok) {
            if (signal?.aborted) return { status: 'aborted', won: r.value };
            return { status: 'acquired', value: r.value };
          }
          if (signal?.aborted) return { status: 'aborted' };
          // Nothing held but we are behind the head (a silent expiry): let the head try now.
          if (!head && r.free) kick(q.waiters[0]);
          const left = deadline - performance.now();
          if (left <= 0) return { status: 'timeout', last: r };
          // The head also wakes when the holder's TTL runs out (+1 ms: PTTL rounds down); the others
          // sleep until promoted or until their deadline, when they peek once more to report the TTL.
          const ms = q.waiters[0] === w && r.retryInMs >= 0 ? Math.min(left, r.retryInMs + 1) : left;
          await sleep(w, ms, signal);
          if (signal?.aborted) return { status: 'aborted' };
        }
      } finally {
        dequeue(key, q, w);
      }
    },
  };
}
