// The tasks service without HTTP: its own Redis connection and notifier, as the route plugin wires them.
import { Worker } from 'bullmq';
import t from 'tap';
import { createRedis } from '../../src/redis/connection.js';
import type { TaskHandler } from '../../src/tasks/handlers/index.js';
import { createTasksService, decodeTaskId, encodeTaskId, newJobId } from '../../src/tasks/service.js';
import { REVOKED_REASON } from '../../src/tasks/state.js';
import { testConfig } from '../helpers/build.js';
import { serviceDeps } from '../helpers/deps.js';
import { startRedis } from '../helpers/redis.js';
import { until } from '../helpers/servers.js';

const redis = await startRedis(t);
t.beforeEach(() => redis.flush());

async function service(t: { teardown(fn: () => unknown): void }) {
  const { client, keys, notifier } = await serviceDeps(t, redis.topology);
  const svc = createTasksService({ redis: client, keys, notifier, config: testConfig(redis.url) });
  t.teardown(() => svc.close());
  return svc;
}

t.test('ids are opaque round trips and reject garbage', async (t) => {
  const id = encodeTaskId('a.b:c', 'tabc123');
  t.same(decodeTaskId(id), { type: 'a.b:c', jobId: 'tabc123' });
  for (const bad of ['', 'x', '!!!', Buffer.from('no-bar').toString('base64url'), Buffer.from('bad type|j').toString('base64url')]) {
    t.equal(decodeTaskId(bad), undefined, bad);
  }
});

t.test('concurrent claims: every task goes to exactly one claimer; foreign tokens change nothing', async (t) => {
  const svc = await service(t);
  const N = 30;
  const ids = new Set<string>();
  for (let i = 0; i < N; i++) ids.add((await svc.submit('t1', { type: 'c', payload: i })).id);
  const results = await Promise.all(Array.from({ length: N + 10 }, () => svc.claim('t1', 'c', { waitMs: 0 })));
  const got = results.filter((r) => r !== null);
  t.equal(got.length, N, 'N claims succeed, the rest find nothing');
  t.same(new Set(got.map((r) => r.task.id)), ids, 'each task exactly once');
  const [a, b] = got;
  await t.rejects(svc.complete('t1', a!.task.id, b!.token, 1), { code: 'task_token_invalid' });
  t.equal((await svc.get('t1', a!.task.id)).state, 'STARTED', 'unchanged');
  // Concurrent completes with the right token: exactly one wins.
  const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => svc.complete('t1', a!.task.id, a!.token, 'r')));
  t.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
  t.equal((await svc.get('t1', a!.task.id)).state, 'SUCCESS');
});

t.test('the same idempotency key under concurrency creates one task', async (t) => {
  const svc = await service(t);
  const rs = await Promise.all(Array.from({ length: 10 }, () => svc.submit('t1', { type: 'i', payload: 1, idempotencyKey: 'k' })));
  t.equal(rs.filter((r) => r.created).length, 1);
  t.equal(new Set(rs.map((r) => r.id)).size, 1);
  t.equal((await svc.list('t1', { type: 'i', limit: 10 })).tasks.length, 1);
});

t.test('a claim listens only for the look before it sleeps: one that finds a task at once parks nothing', async (t) => {
  const svc = await service(t);
  const parkedAtLooks: number[] = [];
  const getNextJob = Worker.prototype.getNextJob;
  Worker.prototype.getNextJob = function (this: Worker, ...args: Parameters<Worker['getNextJob']>) {
    parkedAtLooks.push(svc.parkedClaims());
    return getNextJob.apply(this, args);
  };
  t.teardown(() => {
    Worker.prototype.getNextJob = getNextJob;
  });
  await svc.submit('t1', { type: 'ready', payload: 1 });
  t.ok(await svc.claim('t1', 'ready', { waitMs: 5_000 }), 'a task at once');
  t.same(parkedAtLooks, [0], 'one look, nothing parked');

  parkedAtLooks.length = 0;
  const waiting = svc.claim('t1', 'ready', { waitMs: 5_000 });
  await until('the claim parked', async () => svc.parkedClaims() === 1, 5_000, 5);
  await svc.submit('t1', { type: 'ready', payload: 2 });
  t.ok(await waiting, 'woken by the submit');
  t.same(parkedAtLooks, [0, 1, 0], 'a look, the mark, a look listening, the sleep, then a look after the wake-up');
  t.equal(svc.parkedClaims(), 0);
});

t.test('open queues: at most maxQueues, the least recently used closed first, and opened again on use', async (t) => {
  const { client, keys, notifier } = await serviceDeps(t, redis.topology);
  const svc = createTasksService({ redis: client, keys, notifier, config: testConfig(redis.url), maxQueues: 2 });
  t.teardown(() => svc.close());
  const open = async () => (await svc.queueCounts(10)).map((q) => `${q.tenant}/${q.type}`);
  const a = await svc.submit('t1', { type: 'a', payload: 1 });
  await svc.submit('t1', { type: 'b', payload: 1 });
  t.same(await open(), ['t1/a', 't1/b']);
  await svc.submit('t1', { type: 'a', payload: 2 }); // a is now the most recent
  await svc.submit('t2', { type: 'a', payload: 1 }); // another tenant's queue of the same type: b goes
  t.same(await open(), ['t1/a', 't2/a'], 'the least recently used (t1/b) was closed; tenants are apart');
  await svc.submit('t1', { type: 'b', payload: 2 });
  t.same(await open(), ['t2/a', 't1/b'], 'opened again on use, evicting the least recent');
  t.equal((await svc.get('t1', a.id)).state, 'PENDING', 'a task of a closed queue is still there');
  t.same((await svc.list('t1', { type: 'b', limit: 10 })).tasks.length, 2, 'both tasks of the reopened queue');
});

t.test('job ids are unique and carry nothing but a per-process prefix and a counter', async (t) => {
  const ids = Array.from({ length: 1000 }, () => newJobId());
  t.equal(new Set(ids).size, ids.length);
  t.same(ids.filter((id) => !/^t[\w-]{16}[0-9a-z]+$/.test(id)), [], 'every id: t, 16 base64url characters, a base-36 counter');
  t.equal(decodeTaskId(encodeTaskId('x', ids[0]!))?.jobId, ids[0], 'round trips through a task id');
});

t.test('list pages through the tasks with a cursor', async (t) => {
  const svc = await service(t);
  for (let i = 0; i < 7; i++) await svc.submit('t1', { type: 'p', payload: i });
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 10; page++) {
    const r = await svc.list('t1', { type: 'p', limit: 3, cursor });
    seen.push(...r.tasks.map((x) => x.id));
    cursor = r.nextCursor;
    if (!cursor) break;
  }
  t.equal(seen.length, 7);
  t.equal(new Set(seen).size, 7);
});

t.end();

t.test('a built-in handler sees its payload and attempt, reports progress through ctx, and its signal aborts on revoke', async (t) => {
  const { client, keys, notifier } = await serviceDeps(t, redis.topology);
  let progressed: () => void = () => undefined;
  const midway = new Promise<void>((r) => (progressed = r));
  const seen: { payload: unknown; attempt: number; reason?: string }[] = [];
  const handler: TaskHandler = {
    type: 'ctx.test',
    validate() {},
    async run(ctx) {
      seen.push({ payload: ctx.payload, attempt: ctx.attempt });
      await ctx.progress(1, 2, 'half');
      progressed();
      // Wait for the revoke: the signal must abort; the handler then reports why.
      const { signal } = ctx;
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      seen[0]!.reason = String((signal.reason as Error).message);
      return 'never the result';
    },
  };
  const svc = createTasksService({ redis: client, keys, notifier, config: testConfig(redis.url), handlers: new Map([[handler.type, handler]]) });
  const blocking = createRedis({ topology: redis.topology, name: 'test:blocking', mode: 'blocking', connectTimeoutMs: 2000, commandTimeoutMs: 5000 });
  blocking.on('error', () => undefined);
  t.teardown(async () => {
    await svc.close();
    blocking.disconnect();
  });
  await svc.startHandlers(['t1'], () => blocking);
  const { id } = await svc.submit('t1', { type: 'ctx.test', payload: { n: 7 } });
  await midway;
  const during = await svc.get('t1', id);
  t.equal(during.state, 'PROGRESS');
  t.same(during.progress, { current: 1, total: 2, status: 'half' }, 'ctx.progress reached the task');
  await svc.revoke('t1', id);
  for (let i = 0; i < 200 && seen[0]?.reason === undefined; i++) await new Promise((r) => setTimeout(r, 10));
  t.same(seen, [{ payload: { n: 7 }, attempt: 1, reason: REVOKED_REASON }], 'payload, attempt, and the abort with its reason');
  t.equal((await svc.get('t1', id)).state, 'REVOKED');
});
