// Parked claims of one Baton instance, per (tenant, type): FIFO, one wake-up per announced task. A submit
// (or a retry, a stalled task put back) publishes one message while a claim of the type may be parked (the
// claiming marker, src/tasks/README.md); it wakes the longest-parked claim only, not
// every claim of the type (no thundering herd on Redis). A submit made on this instance wakes a local claim
// directly, without the pub/sub round trip. One notifier listener per (tenant, type) while claims are
// parked; no Redis connection per claim. A resync (the subscriber reconnected) wakes them all, and so does
// release() when the app closes (one pass over the parked set, no shutdown listener per claim).
import { RESYNC, type Notifier, type WaitOutcome } from '../redis/notifier.js';

interface Waiter {
  wake(outcome: WaitOutcome): void;
}

/** `self`: this instance's id; messages it published itself were already delivered locally and are skipped. */
export function createClaimWaiters(notifier: Notifier, self?: string) {
  const parked = new Map<string, { waiters: Set<Waiter>; stop: () => void }>();
  let count = 0;
  let released = false;

  const wakeOne = (channel: string) => {
    const group = parked.get(channel);
    const first = group?.waiters.values().next().value;
    first?.wake('event');
  };

  return {
    /**
     * Park on `channel` (the type's event channel) until woken, `timeoutMs`, `signal` aborts (the client
     * left) or release(). Call it BEFORE trying to claim, then await `outcome` only if the try found nothing
     * (else `cancel()`).
     */
    park(channel: string, timeoutMs: number, signal?: AbortSignal): { outcome: Promise<WaitOutcome>; cancel(): void } {
      let cancel: () => void = () => undefined;
      const outcome = new Promise<WaitOutcome>((resolve) => {
        if (released || signal?.aborted) return resolve('aborted');
        let group = parked.get(channel);
        if (!group) {
          const waiters = new Set<Waiter>();
          const stop = notifier.listen(channel, (message) => {
            if (message === RESYNC) for (const w of [...waiters]) w.wake('event');
            else if (message !== self) wakeOne(channel);
          });
          group = { waiters, stop };
          parked.set(channel, group);
        }
        const g = group;
        count++;
        let done = false;
        const waiter: Waiter = {
          wake: (o) => {
            if (done) return;
            done = true;
            count--;
            clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
            g.waiters.delete(waiter);
            if (g.waiters.size === 0 && parked.get(channel) === g) {
              g.stop();
              parked.delete(channel);
            }
            resolve(o);
          },
        };
        const onAbort = () => waiter.wake('aborted');
        const timer = setTimeout(() => waiter.wake('timeout'), Math.max(0, timeoutMs));
        signal?.addEventListener('abort', onAbort, { once: true });
        g.waiters.add(waiter);
        cancel = () => waiter.wake('aborted');
      });
      return { outcome, cancel: () => cancel() };
    },
    /** Wake the longest-parked local claim of `channel` (a task just became claimable on this instance). */
    wakeOne,
    /** Claims parked now. */
    parked: () => count,
    /** The app is closing: wake every parked claim ('aborted'), and answer later parks at once. */
    release() {
      released = true;
      for (const group of [...parked.values()]) for (const w of [...group.waiters]) w.wake('aborted');
    },
    /** Whether release() was called. */
    released: () => released,
  };
}
