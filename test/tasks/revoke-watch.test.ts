// What an in-process attempt hears of revokes (src/tasks/revoke-watch.ts), on a real notifier: a revoke heard
// before the attempt starts refuses it, one heard while it runs stops it, and whenever the subscription may have
// missed a message the attempt is 'unsure' (it then reads the tombstone). On Redis Cluster it is always unsure.
import t from 'tap';
import { createRedis } from '../../src/redis/connection.js';
import { createNotifier, type Notifier } from '../../src/redis/notifier.js';
import { watchRevokes, type RevokeWatchOptions } from '../../src/tasks/revoke-watch.js';
import { startRedis } from '../helpers/redis.js';
import { TOPOLOGY } from '../helpers/topology.js';

const redis = await startRedis(t);
const CHANNEL = 'p:ev:t1:revokes:echo';
const trusted = TOPOLOGY !== 'cluster';

async function notifier(t: { teardown(fn: () => unknown): void }) {
  const sub = createRedis({ topology: redis.topology, name: 'test:sub', mode: 'subscriber', connectTimeoutMs: 2000, commandTimeoutMs: 5000 });
  sub.on('error', () => undefined);
  const n = await createNotifier(sub, 'p:ev:*');
  t.teardown(() => n.close());
  return { n, sub };
}

/** Publishes a revoke of `jobId` and resolves once the notifier has delivered it. */
async function revokeHeard(n: Notifier, jobId: string) {
  const heard = n.wait(CHANNEL, 5_000);
  await redis.client.publish(CHANNEL, jobId);
  t.equal(await heard.outcome, 'event');
}

const noTombstone: RevokeWatchOptions = { isRevoked: async () => false };

t.test('an attempt fetched after the subscription is clear; a revoke heard before it starts refuses it', async (t) => {
  const { n } = await notifier(t);
  const w = watchRevokes(n, CHANNEL, noTombstone);
  t.teardown(() => w.close());
  const fetched = Date.now() + 1_000;
  const a = w.attend('j1', fetched, () => t.fail('not running'));
  t.equal(a.verdict, trusted ? 'clear' : 'unsure', trusted ? 'nothing heard, nothing missed' : 'Cluster: the subscriber connection is not visible');
  a.stop();
  await revokeHeard(n, 'j2');
  const b = w.attend('j2', fetched, () => undefined);
  t.equal(b.verdict, 'revoked', 'heard before the start (the revoke published after the fetch, before the processor ran)');
  b.stop();
  t.equal(w.attend('j3', fetched, () => undefined).verdict, trusted ? 'clear' : 'unsure', 'other jobs are not affected');
});

t.test('a revoke heard while the attempt runs stops it, once; after stop() nothing is called', async (t) => {
  const { n } = await notifier(t);
  const w = watchRevokes(n, CHANNEL, noTombstone);
  t.teardown(() => w.close());
  let stopped = 0;
  const a = w.attend('run1', Date.now() + 1_000, () => stopped++);
  await revokeHeard(n, 'run1');
  t.equal(stopped, 1);
  a.stop();
  let late = 0;
  const b = w.attend('run2', Date.now() + 1_000, () => late++);
  b.stop();
  await revokeHeard(n, 'run2');
  t.equal(late, 0, 'an attempt that ended is not called');
});

t.test('unsure whenever a message may have been missed', async (t) => {
  const { n } = await notifier(t);
  const since = n.subscribedSince();
  if (!trusted) {
    t.equal(since, undefined, 'never known on a Cluster');
    return;
  }
  t.type(since, 'number');
  // The watch's clock, 10 s ahead of the subscription: the listener is the later of the two.
  const listening = Date.now() + 10_000;
  let clock = listening;
  const w = watchRevokes(n, CHANNEL, { ...noTombstone, now: () => clock });
  t.teardown(() => w.close());
  t.equal(w.attend('a', undefined, () => undefined).verdict, 'unsure', 'no fetch time');
  t.equal(w.attend('b', listening + 999, () => undefined).verdict, 'unsure', 'fetched within the clock margin of the listener');
  t.equal(w.attend('c', listening + 1_000, () => undefined).verdict, 'clear');
  clock = listening + 70_000;
  t.equal(w.attend('d', listening + 5_000, () => undefined).verdict, 'unsure', 'fetched longer ago than heard revokes are remembered');
  t.equal(w.attend('e', listening + 15_000, () => undefined).verdict, 'clear');
});

t.test('forgetting a revoke (too many to remember) makes attempts unsure for the memory span', async (t) => {
  const { n } = await notifier(t);
  const start = Date.now() + 10_000;
  let clock = start;
  const w = watchRevokes(n, CHANNEL, { ...noTombstone, maxRemembered: 2, rememberMs: 5_000, now: () => clock });
  t.teardown(() => w.close());
  clock = start + 2_000; // past the listener's clock margin
  const fetched = () => clock - 100;
  const expectClear = trusted ? 'clear' : 'unsure';
  await revokeHeard(n, 'x1');
  await revokeHeard(n, 'x2');
  t.equal(w.attend('y', fetched(), () => undefined).verdict, expectClear, 'two remembered: nothing forgotten');
  await revokeHeard(n, 'x3');
  t.equal(w.attend('x1', fetched(), () => undefined).verdict, 'unsure', 'x1 was forgotten: unsure, not clear');
  t.equal(w.attend('x3', fetched(), () => undefined).verdict, 'revoked');
  t.equal(w.attend('z', fetched(), () => undefined).verdict, 'unsure', 'any attempt, while a forgotten revoke may concern it');
  clock += 5_000;
  t.equal(w.attend('z', fetched(), () => undefined).verdict, expectClear, 'after the memory span, clear again');
});

// A Cluster client shows neither the close nor the resubscribe of its subscriber connection (attempts there are
// always unsure and read the tombstone at the start).
const reconnectVisible = trusted ? false : 'the Cluster client does not show its subscriber reconnecting';
t.test('after the subscriber reconnects, running attempts read their tombstones; unsure while it is down', { skip: reconnectVisible }, async (t) => {
  const { n, sub } = await notifier(t);
  const revoked = new Set(['gone']);
  const w = watchRevokes(n, CHANNEL, { isRevoked: async (jobId) => revoked.has(jobId) });
  t.teardown(() => w.close());
  let goneStopped = 0;
  let keptStopped = 0;
  w.attend('gone', Date.now() + 1_000, () => goneStopped++);
  w.attend('kept', Date.now() + 1_000, () => keptStopped++);
  // A message lost in the outage is what the resync makes up for: the tombstone of 'gone' was written meanwhile.
  const resync = n.wait(CHANNEL, 10_000);
  const closed = new Promise((ok) => sub.once('close', ok));
  await redis.stop();
  await closed;
  t.equal(n.subscribedSince(), undefined, 'not subscribed while Redis is down');
  t.equal(w.attend('during', Date.now() + 1_000, () => undefined).verdict, 'unsure');
  await redis.start();
  t.equal(await resync.outcome, 'event', 'resync after the PSUBSCRIBE');
  await new Promise((ok) => setImmediate(ok));
  t.equal(goneStopped, 1, 'the revoked attempt is stopped');
  t.equal(keptStopped, 0);
  t.ok((n.subscribedSince() as number) > Date.now() - 10_000, 'subscribed again, since the reconnect');
});
