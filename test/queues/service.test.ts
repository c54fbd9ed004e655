// Service-level queue tests against a real redis-server: ordering, delays, visibility, extend, nack/backoff,
// dead letters, redrive, dedup, long polls woken by each kind of event, and aborted long polls.
import t from 'tap';
import { build } from '../helpers/build.js';
import { publishedDuring } from '../helpers/published.js';
import { startRedis } from '../helpers/redis.js';
import { serviceOf, until } from './helpers.js';

const redis = await startRedis(t);
const app = await build(t, redis.url);
const q = serviceOf(app);
t.beforeEach(() => redis.flush());

t.test('1000 mixed messages come out by priority, FIFO within a priority', async (t) => {
  const sent: { i: number; priority: number }[] = [];
  for (let batch = 0; batch < 10; batch++) {
    const msgs = Array.from({ length: 100 }, (_, j) => {
      const i = batch * 100 + j;
      // a deterministic but well mixed priority sequence
      const priority = (i * 7 + (i >> 3)) % 10;
      sent.push({ i, priority });
      return { body: { i }, priority };
    });
    await q.enqueue('t1', 'prio', msgs);
  }
  const got: { i: number; priority: number }[] = [];
  for (;;) {
    const batch = await q.dequeue('t1', 'prio', { max: 100 });
    if (batch.length === 0) break;
    for (const m of batch) got.push({ i: (m.body as { i: number }).i, priority: m.priority });
  }
  const expected = [...sent].sort((a, b) => b.priority - a.priority || a.i - b.i);
  t.equal(got.length, 1000);
  t.same(got, expected, 'priority descending, then enqueue order');
  t.ok(new Set(sent.map((s) => s.priority)).size === 10, 'all ten priorities were used');
});

t.test('a delayed message is invisible until due; a long poll is woken when it comes due', async (t) => {
  const { ids } = await q.enqueue('t1', 'd', [{ body: 'later', delayMs: 300 }]);
  t.same(await q.dequeue('t1', 'd', { max: 10 }), [], 'not yet');
  t.equal((await q.info('t1', 'd')).delayed, 1);
  const started = Date.now();
  const got = await q.dequeue('t1', 'd', { max: 10, waitMs: 20_000 });
  t.equal(got.length, 1);
  t.equal(got[0]?.id, ids[0]);
  t.ok(Date.now() - started < 10_000, 'woken at the due time, not at the end of the wait');
});

t.test('visibility expiry redelivers with attempts + 1 and a new receipt; the old receipt is refused', async (t) => {
  await q.enqueue('t1', 'v', [{ body: 1 }]);
  const [first] = await q.dequeue('t1', 'v', { visibilityMs: 200 });
  t.equal(first?.attempts, 1);
  t.same(await q.dequeue('t1', 'v', {}), [], 'invisible while in flight');
  const started = Date.now();
  const [second] = await q.dequeue('t1', 'v', { waitMs: 20_000, visibilityMs: 30_000 });
  t.ok(Date.now() - started < 10_000, 'the long poll was woken by the visibility deadline');
  t.equal(second?.id, first?.id);
  t.equal(second?.attempts, 2);
  t.not(second?.receipt, first?.receipt);
  t.same(await q.ack('t1', 'v', [first!.receipt]), [false], 'stale receipt refused');
  await t.rejects(q.ackOne('t1', 'v', first!.id, first!.receipt), { code: 'receipt_invalid' });
  await t.rejects(q.extend('t1', 'v', first!.id, first!.receipt, 1000), { code: 'receipt_invalid' });
  await t.rejects(q.nack('t1', 'v', first!.id, { receipt: first!.receipt }), { code: 'receipt_invalid' });
  t.equal((await q.info('t1', 'v')).inflight, 1, 'the stale calls changed nothing');
  await q.ackOne('t1', 'v', second!.id, second!.receipt);
  const info = await q.info('t1', 'v');
  t.match(info, { ready: 0, inflight: 0, delayed: 0, dead: 0, acked: 1, enqueued: 1 });
});

t.test('a late ack still counts while nobody else received the message', async (t) => {
  await q.enqueue('t1', 'late', [{ body: 'low' }]);
  const [m] = await q.dequeue('t1', 'late', { visibilityMs: 100 });
  await q.enqueue('t1', 'late', [{ body: 'high', priority: 9 }]);
  await new Promise((r) => setTimeout(r, 200)); // let the visibility run out (real time is what is tested)
  // this dequeue moves the expired message back to ready and takes the higher-priority one instead
  const [n] = await q.dequeue('t1', 'late', { max: 1 });
  t.same(n?.body, 'high');
  t.equal((await q.info('t1', 'late')).ready, 1, 'the expired one is back in ready');
  await q.ackOne('t1', 'late', m!.id, m!.receipt);
  t.match(await q.info('t1', 'late'), { ready: 0, inflight: 1, acked: 1 });
});

t.test('extend keeps a message invisible past its first deadline', async (t) => {
  await q.enqueue('t1', 'x', [{ body: 1 }]);
  const [m] = await q.dequeue('t1', 'x', { visibilityMs: 200 });
  const r = await q.extend('t1', 'x', m!.id, m!.receipt, 60_000);
  t.equal(r.id, m!.id);
  t.ok(Date.parse(r.visibleAt) > Date.now() + 50_000, 'visibleAt is about a minute away');
  t.same(await q.dequeue('t1', 'x', { waitMs: 600 }), [], 'not redelivered after the original deadline');
  await q.ackOne('t1', 'x', m!.id, m!.receipt);
  // extend is capped by BATON_QUEUE_MAX_VISIBILITY_MS (default 12 h)
  await q.enqueue('t1', 'x', [{ body: 2 }]);
  const [n] = await q.dequeue('t1', 'x', {});
  const capped = await q.extend('t1', 'x', n!.id, n!.receipt, 100 * 3_600_000);
  t.ok(Date.parse(capped.visibleAt) <= Date.now() + 12 * 3_600_000 + 5_000, 'capped at the configured maximum');
});

t.test('nack: backoff, retry, dead after maxAttempts, dead list, redrive', async (t) => {
  await q.setPolicy('t1', 'n', { backoffBaseMs: 100, backoffMaxMs: 150, maxAttempts: 3 });
  const { ids } = await q.enqueue('t1', 'n', [{ body: { job: 1 } }]);
  const [a1] = await q.dequeue('t1', 'n', {});
  t.equal(a1?.attempts, 1);
  const r1 = await q.nack('t1', 'n', a1!.id, { receipt: a1!.receipt, error: 'first failure' });
  t.equal(r1.outcome, 'retry');
  t.ok(r1.nextAttemptAt, 'nextAttemptAt given');
  t.equal((await q.info('t1', 'n')).delayed, 1, 'waiting out its backoff');
  t.same(await q.dequeue('t1', 'n', {}), [], 'not before the backoff');
  const [a2] = await q.dequeue('t1', 'n', { waitMs: 20_000 });
  t.equal(a2?.attempts, 2);
  await t.rejects(q.nack('t1', 'n', a1!.id, { receipt: a1!.receipt }), { code: 'receipt_invalid' }, 'a nacked receipt is spent');
  const r2 = await q.nack('t1', 'n', a2!.id, { receipt: a2!.receipt, delayMs: 0, error: 'second failure' });
  t.equal(r2.outcome, 'retry');
  const [a3] = await q.dequeue('t1', 'n', {});
  t.equal(a3?.attempts, 3, 'delayMs 0 makes it ready at once');
  const r3 = await q.nack('t1', 'n', a3!.id, { receipt: a3!.receipt, error: 'third failure' });
  t.same(r3, { outcome: 'dead' });
  const info = await q.info('t1', 'n');
  t.match(info, { ready: 0, delayed: 0, inflight: 0, dead: 1, deadLettered: 1 });
  const dead = await q.deadLetters('t1', 'n', { limit: 10 });
  t.equal(dead.messages.length, 1);
  t.match(dead.messages[0], { id: ids[0], body: { job: 1 }, attempts: 3, maxAttempts: 3, lastError: 'third failure', reason: /nacked on attempt 3 of 3/ });
  t.equal(await q.redrive('t1', 'n'), 1);
  t.match(await q.info('t1', 'n'), { ready: 1, dead: 0, redriven: 1 });
  const [again] = await q.dequeue('t1', 'n', {});
  t.equal(again?.id, ids[0]);
  t.equal(again?.attempts, 1, 'attempts start again');
});

t.test('the backoff grows exponentially and is capped', async (t) => {
  await q.setPolicy('t1', 'b', { backoffBaseMs: 10_000, backoffMaxMs: 40_000, maxAttempts: 10 });
  await q.enqueue('t1', 'b', [{ body: 1 }]);
  const delays: number[] = [];
  for (let i = 0; i < 4; i++) {
    const [m] = await q.dequeue('t1', 'b', {});
    const before = Date.now();
    const r = await q.nack('t1', 'b', m!.id, { receipt: m!.receipt });
    delays.push(Date.parse(r.nextAttemptAt!) - before);
    // bring it back at once for the next round
    const k = app.keys.queues.of('t1', 'b');
    const [id] = await redis.client.zrange(k.delayed, '0', '0');
    await redis.client.zadd(k.delayed, '0', id!);
  }
  // attempt n: full = min(40 s, 10 s * 2^(n-1)); delay in [full/2, full]
  const fulls = [10_000, 20_000, 40_000, 40_000];
  delays.forEach((d, i) => {
    t.ok(d >= fulls[i]! / 2 - 1_000 && d <= fulls[i]! + 1_000, `attempt ${i + 1}: ${d} ms within [${fulls[i]! / 2}, ${fulls[i]}]`);
  });
});

t.test('in-flight messages whose attempts are spent land in dead when their visibility runs out', async (t) => {
  await q.enqueue('t1', 'e', [{ body: 1, maxAttempts: 1 }, { body: 2, maxAttempts: 2 }]);
  const got = await q.dequeue('t1', 'e', { max: 2, visibilityMs: 100 });
  t.equal(got.length, 2);
  // the long poll wakes at the deadline, runs the expiry, and finds the second message ready again
  const [again] = await q.dequeue('t1', 'e', { waitMs: 20_000, visibilityMs: 100 });
  t.same(again?.body, 2);
  t.equal(again?.attempts, 2);
  await q.dequeue('t1', 'e', { waitMs: 400 });
  const info = await q.info('t1', 'e');
  t.match(info, { ready: 0, inflight: 0, dead: 2, deadLettered: 2 });
  const dead = await q.deadLetters('t1', 'e', { limit: 10 });
  t.same(dead.messages.map((m) => m.body).sort(), [1, 2]);
  t.match(dead.messages[0]?.reason, /visibility timeout expired/);
});

t.test('dead letters page with a cursor; redrive of listed ids; purge', async (t) => {
  await q.enqueue('t1', 'p', Array.from({ length: 25 }, (_, i) => ({ body: i, maxAttempts: 1 })));
  const got = await q.dequeue('t1', 'p', { max: 100 });
  for (const m of got) await q.nack('t1', 'p', m.id, { receipt: m.receipt, error: `e${m.body}` });
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await q.deadLetters('t1', 'p', { limit: 10, cursor });
    seen.push(...page.messages.map((m) => m.id));
    cursor = page.nextCursor;
    pages++;
  } while (cursor);
  t.equal(pages, 3);
  t.equal(new Set(seen).size, 25, 'every dead letter exactly once');
  t.equal(await q.redrive('t1', 'p', [seen[0]!, seen[1]!, 'not-there']), 2);
  t.match(await q.info('t1', 'p'), { ready: 2, dead: 23 });
  t.equal(await q.purgeDead('t1', 'p'), 23);
  t.match(await q.info('t1', 'p'), { ready: 2, dead: 0 });
});

t.test('retention: old messages are dropped instead of delivered, old dead letters are forgotten', async (t) => {
  await q.setPolicy('t1', 'ret', { retentionMs: 1000, maxAttempts: 1 });
  await q.enqueue('t1', 'ret', [{ body: 'doomed' }, { body: 'dead soon' }]);
  const [d] = await q.dequeue('t1', 'ret', {});
  await q.nack('t1', 'ret', d!.id, { receipt: d!.receipt });
  t.match(await q.info('t1', 'ret'), { ready: 1, dead: 1 });
  await new Promise((r) => setTimeout(r, 1200)); // retention itself is what is tested
  await q.enqueue('t1', 'ret', [{ body: 'fresh' }]);
  const got = await q.dequeue('t1', 'ret', { max: 10 });
  t.same(got.map((m) => m.body), ['fresh'], 'the old message was dropped, the fresh one delivered');
  t.match(await q.info('t1', 'ret'), { ready: 0, dead: 0, inflight: 1 });
});

t.test('dedup: a repeat within the window returns the first id and stores nothing', async (t) => {
  const a = await q.enqueue('t1', 'dd', [{ body: 1, dedupId: 'order-1' }]);
  const b = await q.enqueue('t1', 'dd', [{ body: 'other', dedupId: 'order-1' }]);
  t.same(b.ids, a.ids);
  t.equal(b.enqueued, 0);
  const c = await q.enqueue('t1', 'dd', [{ body: 2, dedupId: 'order-2' }, { body: 3, dedupId: 'order-2' }, { body: 4 }]);
  t.equal(c.ids[0], c.ids[1], 'a repeat inside one batch too');
  t.equal(c.enqueued, 2);
  t.match(await q.info('t1', 'dd'), { ready: 3, enqueued: 3 });
  // the window runs out (policy window of 200 ms)
  await q.setPolicy('t1', 'dd2', { dedupWindowMs: 200 });
  const first = await q.enqueue('t1', 'dd2', [{ body: 1, dedupId: 'x' }]);
  t.same((await q.enqueue('t1', 'dd2', [{ body: 1, dedupId: 'x' }])).ids, first.ids);
  await new Promise((r) => setTimeout(r, 300));
  const later = await q.enqueue('t1', 'dd2', [{ body: 1, dedupId: 'x' }]);
  t.not(later.ids[0], first.ids[0], 'a new message after the window');
  t.equal((await q.info('t1', 'dd2')).ready, 2);
});

t.test('batches: one enqueue mixes ready, delayed and repeated messages; one ack answers each receipt in order', async (t) => {
  // The scripts store, deliver and delete a batch with one Redis call per key, so each message's fate is checked.
  const { ids, enqueued } = await q.enqueue('t1', 'mix', [
    { body: 'a', priority: 1 },
    { body: 'b', delayMs: 60_000 },
    { body: 'c', priority: 9, dedupId: 'k' },
    { body: 'd', dedupId: 'k' },
    { body: 'e', priority: 1 },
    { body: 'f', delayMs: 1, priority: 9 },
  ]);
  t.equal(enqueued, 5);
  t.equal(ids[3], ids[2], 'a repeat within the batch gets the first one\'s id');
  t.equal(new Set(ids).size, 5);
  t.match(await q.info('t1', 'mix'), { ready: 3, delayed: 2, enqueued: 5 });
  await new Promise((r) => setTimeout(r, 20)); // f's 1 ms delay runs out (time is what is tested)
  const got = await q.dequeue('t1', 'mix', { max: 10 });
  t.same(got.map((m) => m.body), ['c', 'f', 'a', 'e'], 'the due message joins its priority in enqueue order');
  t.same(got.map((m) => m.attempts), [1, 1, 1, 1]);
  t.equal(new Set(got.map((m) => m.receipt)).size, 4);
  const [c, f, a, e] = got;
  const res = await q.ack('t1', 'mix', [a!.receipt, a!.receipt, 'nonsense', `${e!.id}.1.wrong`, c!.receipt, f!.receipt]);
  t.same(res, [true, false, false, false, true, true], 'a repeated, malformed or wrong receipt is refused');
  t.match(await q.info('t1', 'mix'), { ready: 0, inflight: 1, delayed: 1, acked: 3 });
  t.same(await q.ack('t1', 'mix', [e!.receipt]), [true], 'the wrong receipt for e changed nothing');
});

t.test('one dequeue returns at most 1000 expired messages to ready; the next call takes the rest', async (t) => {
  // 1 500 messages in flight run out of visibility at once: the script's maintenance is bounded per call, and a
  // bound's worth of ids goes back to ready in one ZADD.
  for (let i = 0; i < 15; i++) await q.enqueue('t1', 'many', Array.from({ length: 100 }, (_, j) => ({ body: i * 100 + j })));
  // A visibility long enough that the first batch taken is still in flight when the last is taken, on a busy
  // machine too (50 ms was not, under CI's load).
  for (let i = 0; i < 15; i++) {
    const got = await q.dequeue('t1', 'many', { max: 100, visibilityMs: 1000 });
    t.same([got.length, got.every((m) => m.attempts === 1)], [100, true]);
  }
  await new Promise((r) => setTimeout(r, 1100)); // all 1 500 visibilities run out (time is what is tested)
  const [first] = await q.dequeue('t1', 'many', { max: 1, visibilityMs: 60_000 });
  t.equal(first?.attempts, 2, 'an expired message came back first, with attempts + 1');
  t.match(await q.info('t1', 'many'), { ready: 999, inflight: 501 }, '1 000 went back to ready, one of them out again');
  await q.dequeue('t1', 'many', { max: 1, visibilityMs: 60_000 });
  t.match(await q.info('t1', 'many'), { ready: 1498, inflight: 2 });
});

t.test('a long poll is woken by an enqueue', async (t) => {
  const started = Date.now();
  const poll = q.dequeue('t1', 'lp', { waitMs: 20_000, max: 5 });
  await until(() => q.longPollWaiters() === 1);
  await q.enqueue('t1', 'lp', [{ body: 'wake' }]);
  const got = await poll;
  t.same(got.map((m) => m.body), ['wake']);
  t.ok(Date.now() - started < 10_000);
  t.equal(q.longPollWaiters(), 0);
});

t.test('an enqueue on another instance wakes the long poll (pub/sub across processes)', async (t) => {
  const other = await build(t, redis.url);
  const q2 = serviceOf(other);
  const poll = q.dequeue('t1', 'lp2', { waitMs: 20_000 });
  await until(() => q.longPollWaiters() === 1);
  await q2.enqueue('t1', 'lp2', [{ body: 'from afar' }]);
  t.same((await poll).map((m) => m.body), ['from afar']);
});

t.test('an enqueue publishes only while a long poll may be parked', async (t) => {
  const channel = app.keys.event('t1', 'queues', 'quiet');
  const during = (act: () => Promise<unknown>) => publishedDuring(app, channel, app.keys.queues.tag('t1', 'quiet'), act);
  t.same(await during(() => q.enqueue('t1', 'quiet', [{ body: 1 }])), [], 'nobody polls: nothing published');
  t.same(await during(() => q.dequeue('t1', 'quiet', { max: 10 })).then(() => during(() => q.enqueue('t1', 'quiet', [{ body: 2 }]))), [], 'a dequeue without waitMs marks nothing');
  await q.dequeue('t1', 'quiet', { max: 10 });
  t.same(await during(async () => {
    const poll = q.dequeue('t1', 'quiet', { waitMs: 20_000 });
    await until(() => q.longPollWaiters() === 1);
    await q.enqueue('t1', 'quiet', [{ body: 3 }]);
    t.same((await poll).map((m) => m.body), [3]);
  }), ['enqueued'], 'a parked long poll: the enqueue is published');
});

t.test('a nack and a redrive publish only while a long poll may be parked, and then wake it', async (t) => {
  const channel = app.keys.event('t1', 'queues', 'hush');
  const during = (act: () => Promise<unknown>) => publishedDuring(app, channel, app.keys.queues.tag('t1', 'hush'), act);
  await q.enqueue('t1', 'hush', [{ body: 'a', maxAttempts: 1 }, { body: 'b', maxAttempts: 5 }]);
  const [a, b] = await q.dequeue('t1', 'hush', { max: 2 });
  t.same(await during(() => q.nack('t1', 'hush', a!.id, { receipt: a!.receipt, delayMs: 0 })), [], 'nobody polls: the nack (to dead) published nothing');
  t.same(await during(() => q.redrive('t1', 'hush')), [], 'nobody polls: the redrive published nothing');
  const [again] = await q.dequeue('t1', 'hush', {});
  t.equal(again?.body, 'a', 'the redriven message is ready all the same');
  t.same(await during(async () => {
    const poll = q.dequeue('t1', 'hush', { waitMs: 20_000 });
    await until(() => q.longPollWaiters() === 1);
    t.equal((await q.nack('t1', 'hush', b!.id, { receipt: b!.receipt, delayMs: 0 })).outcome, 'retry');
    t.same((await poll).map((m) => m.body), ['b'], 'the parked poll took the retry');
  }), ['nacked'], 'a parked long poll: the nack is published');
});

t.test('a long poll ends empty when the wait runs out', async (t) => {
  t.same(await q.dequeue('t1', 'empty', { waitMs: 200 }), []);
});

t.test('an aborted long poll takes nothing', async (t) => {
  const ac = new AbortController();
  const poll = q.dequeue('t1', 'ab', { waitMs: 20_000 }, ac.signal);
  await until(() => q.longPollWaiters() === 1);
  ac.abort();
  t.same(await poll, []);
  await q.enqueue('t1', 'ab', [{ body: 1 }]);
  // a poll that is aborted while its script runs gives the messages back at once, attempts unchanged
  const ac2 = new AbortController();
  const racing = q.dequeue('t1', 'ab', { waitMs: 20_000 }, ac2.signal);
  ac2.abort();
  t.same(await racing, []);
  const [m] = await q.dequeue('t1', 'ab', {});
  t.equal(m?.attempts, 1, 'delivered as a first attempt');
  t.same(m?.body, 1);
});

t.test('tenants never see each other\'s queues', async (t) => {
  await q.enqueue('t1', 'shared-name', [{ body: 't1 only' }]);
  t.same(await q.dequeue('t2', 'shared-name', { max: 10 }), []);
  await t.rejects(q.info('t2', 'shared-name'), { code: 'not_found' });
  const [m] = await q.dequeue('t1', 'shared-name', {});
  t.same(await q.ack('t2', 'shared-name', [m!.receipt]), [false]);
  t.same((await q.list('t2', { limit: 10 })).queues, []);
  t.same((await q.list('t1', { limit: 10 })).queues.map((x) => x.name), ['shared-name']);
});

t.test('delete purges everything including the registry entry', async (t) => {
  await q.enqueue('t1', 'gone', [{ body: 1, dedupId: 'a' }, { body: 2, delayMs: 10_000 }]);
  await q.setPolicy('t1', 'gone', { maxAttempts: 2 });
  await q.purge('t1', 'gone');
  await t.rejects(q.info('t1', 'gone'), { code: 'not_found' });
  t.same((await q.list('t1', { limit: 10 })).queues, []);
  t.same((await redis.keys('*')).filter((k) => /:q:\{|queues/.test(k)), [], 'no queue key left behind');
  const again = await q.enqueue('t1', 'gone', [{ body: 3, dedupId: 'a' }]);
  t.equal(again.enqueued, 1, 'dedup memory went too');
  t.same((await q.list('t1', { limit: 10 })).queues.map((x) => x.name), ['gone'], 're-registered on first use');
});

t.test('per-op cost does not depend on depth: the scripts touch O(log n) or O(batch)', async (t) => {
  // 20 000 queued messages: a dequeue still takes the head, and an ack touches only its own message
  for (let i = 0; i < 200; i++) await q.enqueue('t1', 'deep', Array.from({ length: 100 }, (_, j) => ({ body: i * 100 + j })));
  const [m] = await q.dequeue('t1', 'deep', {});
  t.same(m?.body, 0);
  await q.ackOne('t1', 'deep', m!.id, m!.receipt);
  t.equal((await q.info('t1', 'deep')).ready, 19_999);
});

t.end();
