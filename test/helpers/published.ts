// What an operation published on a pub/sub channel, for tests that prove a PUBLISH happened or did not.
import type { RedisClient } from '../../src/redis/connection.js';
import type { Notifier } from '../../src/redis/notifier.js';

/**
 * The messages published on `channel` while `act` ran, in order. After `act`, a probe is published from a
 * script on `slotKey`'s node: give a key of the same hash tag as the keys of the script that publishes. On
 * one Redis a probe arrives after everything published before it; on Cluster, PUBLISH goes to any node and
 * reaches the subscriber's node over the cluster bus, so only a probe from the same node keeps that order
 * (a plain client.publish may overtake a message the operation published, and the test would miss it).
 */
export async function publishedDuring(
  deps: { redis: RedisClient; notifier: Notifier },
  channel: string,
  slotKey: string,
  act: () => Promise<unknown>,
): Promise<string[]> {
  const seen: string[] = [];
  let probed: () => void = () => undefined;
  const probe = new Promise<void>((r) => (probed = r));
  const stop = deps.notifier.listen(channel, (m) => (m === 'probe' ? probed() : seen.push(m)));
  try {
    await act();
    // Publishes of a marker (src/tasks/marked-publisher.ts) go out in the check phase of the turn that asked
    // for them; a task's state change first asks for its type's gate in that phase and goes to the marked
    // publisher on the answer (src/tasks/state-publisher.ts). Let both pass, so the probe queues behind them.
    await new Promise((r) => setImmediate(r));
    await deps.redis.ping();
    await new Promise((r) => setImmediate(r));
    await deps.redis.eval("return redis.call('PUBLISH', ARGV[1], ARGV[2])", 1, slotKey, channel, 'probe');
    await probe;
    return seen;
  } finally {
    stop();
  }
}
