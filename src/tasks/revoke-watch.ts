// How an in-process attempt learns that its task was revoked without a Redis read per attempt (the read was a
// round trip per task: the drain of echo tasks ran 1.4x faster without it).
//
// A revoke (service.ts revoke()) writes the tombstone, tries to remove the job, and only then publishes the job id
// on the (tenant, type) revokes channel. So a job that a worker holds was fetched before that message was
// published, and one listener per (tenant, type) hears every revoke that matters:
// - an attempt already running is stopped at once;
// - an attempt that starts after the message came finds the id among those heard.
// That is complete only if the subscription and the listener have been up since before the job was fetched.
// Otherwise (just subscribed, the subscriber down, Redis Cluster, too many revokes to remember) the attempt is
// 'unsure' and reads the tombstone itself. After a resubscribe (messages may have been lost meanwhile) every
// running attempt reads its tombstone once.
import { RESYNC, type Notifier } from '../redis/notifier.js';

export type Verdict = 'revoked' | 'clear' | 'unsure';

export interface RevokeWatch {
  /**
   * Watch an attempt of `jobId`, fetched at `fetchedAt` (Date.now() of the fetch, BullMQ's processedOn) until
   * stop(). `onRevoked` runs when a revoke of it is heard (or found after a resubscribe) while it runs.
   */
  attend(jobId: string, fetchedAt: number | undefined, onRevoked: () => void): { verdict: Verdict; stop(): void };
  close(): void;
}

export interface RevokeWatchOptions {
  /** Reads the tombstone: true when the job was revoked. */
  isRevoked(jobId: string): Promise<boolean>;
  /** How long a heard revoke is remembered for an attempt that has not started yet. */
  rememberMs?: number;
  /** At most this many remembered; beyond, the oldest is forgotten and attempts are unsure for rememberMs. */
  maxRemembered?: number;
  now?: () => number;
}

/**
 * Clocks may step back a little (NTP): the subscription must predate the fetch by this much to count. Attempts
 * fetched in the first second after a (re)subscribe read the tombstone.
 */
const CLOCK_MARGIN_MS = 1_000;

export function watchRevokes(notifier: Notifier, channel: string, o: RevokeWatchOptions): RevokeWatch {
  const rememberMs = o.rememberMs ?? 60_000;
  const maxRemembered = o.maxRemembered ?? 10_000;
  const now = o.now ?? Date.now;
  /** Job ids heard, with when; oldest first (a Map keeps insertion order). */
  const heard = new Map<string, number>();
  let forgotAt = -Infinity;
  const running = new Map<string, () => void>();
  const listeningSince = now();

  const remember = (jobId: string, at: number) => {
    for (const [id, when] of heard) {
      if (at - when < rememberMs) break;
      heard.delete(id);
    }
    heard.delete(jobId);
    heard.set(jobId, at);
    if (heard.size > maxRemembered) {
      for (const [oldest] of heard) {
        heard.delete(oldest);
        break;
      }
      forgotAt = at;
    }
  };

  const stopListening = notifier.listen(channel, (message) => {
    if (message === RESYNC) {
      for (const [jobId, onRevoked] of running) {
        o.isRevoked(jobId).then((revoked) => revoked && running.get(jobId) === onRevoked && onRevoked(), () => undefined);
      }
      return;
    }
    remember(message, now());
    running.get(message)?.();
  });

  return {
    attend(jobId, fetchedAt, onRevoked) {
      running.set(jobId, onRevoked);
      const stop = () => {
        if (running.get(jobId) === onRevoked) running.delete(jobId);
      };
      if (heard.has(jobId)) return { verdict: 'revoked', stop };
      const t = now();
      const since = notifier.subscribedSince();
      const sure =
        since !== undefined &&
        fetchedAt !== undefined &&
        Math.max(since, listeningSince) <= fetchedAt - CLOCK_MARGIN_MS &&
        t - fetchedAt < rememberMs &&
        t - forgotAt >= rememberMs;
      return { verdict: sure ? 'clear' : 'unsure', stop };
    },
    close() {
      stopListening();
      running.clear();
      heard.clear();
    },
  };
}
