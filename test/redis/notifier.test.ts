import t from 'tap';
import { Redis } from 'ioredis';
import { createRedis } from '../../src/redis/connection.js';
import { createNotifier } from '../../src/redis/notifier.js';
import { startCluster } from '../helpers/cluster.js';
import { startRedis } from '../helpers/redis.js';

const redis = await startRedis(t);

async function notifier(t: { teardown(fn: () => unknown): void }) {
  const sub = new Redis(redis.url, { lazyConnect: true });
  sub.on('error', () => undefined);
  const n = await createNotifier(sub, 'p:ev:*');
  t.teardown(() => n.close());
  return n;
}

t.test('a published message wakes every waiter of its channel, and only of its channel', async (t) => {
  const n = await notifier(t);
  const a = n.wait('p:ev:x', 10_000);
  const b = n.wait('p:ev:x', 10_000);
  const other = n.wait('p:ev:y', 300);
  t.equal(n.waiting(), 3);
  await redis.client.publish('p:ev:x', 'hi');
  t.equal(await a.outcome, 'event');
  t.equal(await b.outcome, 'event');
  t.equal(await other.outcome, 'timeout');
  t.equal(n.waiting(), 0);
});

t.test('abort and cancel end a wait at once', async (t) => {
  const n = await notifier(t);
  const ac = new AbortController();
  const w = n.wait('p:ev:z', 10_000, ac.signal);
  ac.abort();
  t.equal(await w.outcome, 'aborted');
  const c = n.wait('p:ev:z', 10_000);
  c.cancel();
  t.equal(await c.outcome, 'aborted');
  const pre = n.wait('p:ev:z', 10_000, AbortSignal.abort());
  t.equal(await pre.outcome, 'aborted');
});

t.test('listen() delivers messages until stopped', async (t) => {
  const n = await notifier(t);
  const got: string[] = [];
  let resolveTwo: () => void = () => undefined;
  const two = new Promise<void>((r) => (resolveTwo = r));
  const stop = n.listen('p:ev:l', (m) => {
    got.push(m);
    if (got.length === 2) resolveTwo();
  });
  await redis.client.publish('p:ev:l', '1');
  await redis.client.publish('p:ev:l', '2');
  await two;
  stop();
  t.same(got, ['1', '2']);
});

t.test('waiters are woken (resync) when the subscriber reconnects after an outage', async (t) => {
  const n = await notifier(t);
  const w = n.wait('p:ev:r', 30_000);
  await redis.stop();
  await redis.start();
  t.equal(await w.outcome, 'event', 'woken by the resync, not left to its 30 s timer');
});

t.test('on a Redis Cluster, the notifier is subscribed when createNotifier returns', async (t) => {
  // A Cluster client resolves connect() before it emits 'ready': the first PSUBSCRIBE used to be still on its way,
  // and a wake-up published right after the start was lost (waiters slept until their timers).
  const cluster = await startCluster(t, { masters: 3 });
  const topology = { kind: 'cluster' as const, nodes: cluster.masters.map((a) => ({ host: '127.0.0.1', port: Number(a.split(':')[1]) })) };
  for (let i = 0; i < 3; i++) {
    const sub = createRedis({ topology, name: 'test:sub', mode: 'subscriber', connectTimeoutMs: 2000, commandTimeoutMs: 5000 });
    sub.on('error', () => undefined);
    const n = await createNotifier(sub, 'p:ev:*');
    const w = n.wait('p:ev:early', 10_000);
    await cluster.client.publish('p:ev:early', 'now');
    t.equal(await w.outcome, 'event', `start ${i + 1}: the first message is delivered`);
    await n.close();
  }
});

t.end();
