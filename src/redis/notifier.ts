// Process-wide wake-ups over Redis pub/sub: one subscriber connection per app instance, one PSUBSCRIBE to
// <prefix>:ev:*, and an in-memory fan-out to whoever waits on a channel (lock waiters, lease waiters, long
// polls, claims). Scripts PUBLISH to keys.event(...) when something a waiter may want happens, so waiting
// costs no Redis connection and no polling, and works across Baton instances on one Redis.
// When the subscriber reconnects, every waiter is woken once ("resync") so nothing sleeps on a lost message.
import type { RedisClient } from './connection.js';

export const RESYNC = '\u0000resync';

/** Longest the start waits for the first PSUBSCRIBE once connected. */
const SUBSCRIBE_WAIT_MS = 5_000;

export type WaitOutcome = 'event' | 'timeout' | 'aborted';

export interface Notifier {
  /** Listen to one channel; returns the function that stops listening. */
  listen(channel: string, listener: (message: string) => void): () => void;
  /**
   * Resolve on the next message on `channel`, after `timeoutMs`, or when `signal` aborts, whichever comes
   * first. Callers subscribe-then-check: call wait() (it listens synchronously), then try the operation,
   * then await the promise, so a message published between the try and the await is not missed.
   */
  wait(channel: string, timeoutMs: number, signal?: AbortSignal): { outcome: Promise<WaitOutcome>; cancel(): void };
  /** Number of parked waiters (all channels). */
  waiting(): number;
  /**
   * When (Date.now()) the pattern subscription in force now began: every message published after it has been
   * or will be delivered. Undefined while it is down, and always on Redis Cluster, whose subscriber connection
   * the client does not show (src/tasks/revoke-watch.ts then reads Redis instead of trusting what it heard).
   */
  subscribedSince(): number | undefined;
  close(): Promise<void>;
}

export async function createNotifier(subscriber: RedisClient, pattern: string): Promise<Notifier> {
  // channel → its listeners. A Map, not an EventEmitter: channels are mostly used once (one task, one lock
  // wait), and adding then deleting a fresh event name on an emitter object cost a visible share of a task.
  const channels = new Map<string, Set<(message: string) => void>>();
  const on = (channel: string, listener: (message: string) => void) => {
    let set = channels.get(channel);
    if (set === undefined) channels.set(channel, (set = new Set()));
    set.add(listener);
  };
  const off = (channel: string, listener: (message: string) => void) => {
    const set = channels.get(channel);
    if (set?.delete(listener) && set.size === 0) channels.delete(channel);
  };
  const emit = (channel: string, message: string) => {
    const set = channels.get(channel);
    if (set === undefined) return;
    // The listeners as they were when the message came (a listener may stop listening, or add one, meanwhile),
    // as an EventEmitter does; without a copy in the common case of one.
    if (set.size === 1) (set.values().next().value as (message: string) => void)(message);
    else for (const l of [...set]) l(message);
  };
  let parked = 0;
  let everReady = false;
  let since: number | undefined;
  const trackable = (subscriber as { isCluster?: boolean }).isCluster !== true;

  subscriber.on('pmessage', (_pattern: string, channel: string, message: string) => {
    emit(channel, message);
  });
  let firstSubscribed: () => void = () => undefined;
  const subscribedOnce = new Promise<void>((resolve) => (firstSubscribed = resolve));
  subscriber.on('ready', () => {
    // (Re-)subscribe on every connection (autoResubscribe is off, see connection.ts). Messages sent while we
    // were away are lost, so once subscribed again, wake every waiter to re-check ("resync").
    const wasReady = everReady;
    everReady = true;
    subscriber.psubscribe(pattern).then(
      () => {
        if (trackable && subscriber.status === 'ready') since = Date.now();
        firstSubscribed();
        if (wasReady) for (const name of Array.from(channels, ([channel]) => channel)) emit(name, RESYNC);
      },
      () => undefined,
    );
  });
  // The connection closed: messages published from now on are lost until the next PSUBSCRIBE.
  subscriber.on('close', () => (since = undefined));
  try {
    await subscriber.connect();
    // A Cluster client resolves connect() before it emits 'ready' (a standalone one after): wait for the
    // PSUBSCRIBE itself, or a wake-up published just after start would be lost. Bounded: if the subscriber
    // drops meanwhile, it subscribes on its next 'ready' and waiters fall back to their timers until then.
    let bound: NodeJS.Timeout | undefined;
    await Promise.race([subscribedOnce, new Promise((r) => (bound = setTimeout(r, SUBSCRIBE_WAIT_MS)))]);
    clearTimeout(bound);
  } catch {
    // Redis is down at start: ioredis keeps reconnecting and subscribes on 'ready'; waiters fall back to timers.
  }

  return {
    listen(channel, listener) {
      on(channel, listener);
      return () => off(channel, listener);
    },
    wait(channel, timeoutMs, signal) {
      let cancel: () => void = () => undefined;
      const outcome = new Promise<WaitOutcome>((resolve) => {
        if (signal?.aborted) return resolve('aborted');
        parked++;
        let done = false;
        const finish = (o: WaitOutcome) => {
          if (done) return;
          done = true;
          parked--;
          clearTimeout(timer);
          off(channel, onMessage);
          signal?.removeEventListener('abort', onAbort);
          resolve(o);
        };
        const onMessage = () => finish('event');
        const onAbort = () => finish('aborted');
        const timer = setTimeout(() => finish('timeout'), Math.max(0, timeoutMs));
        on(channel, onMessage);
        signal?.addEventListener('abort', onAbort, { once: true });
        cancel = () => finish('aborted');
      });
      return { outcome, cancel: () => cancel() };
    },
    waiting: () => parked,
    subscribedSince: () => since,
    async close() {
      since = undefined;
      channels.clear();
      subscriber.disconnect();
    },
  };
}
