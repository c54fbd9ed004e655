import t from 'tap';
import { Redis } from 'ioredis';
import { createNotifier } from '../../src/redis/notifier.js';
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

t.end();
