import t from 'tap';
import { auth, build } from '../helpers/build.js';
import { startRedis } from '../helpers/redis.js';
import { decodeTaskId } from '../../src/tasks/service.js';

const redis = await startRedis(t);
t.beforeEach(() => redis.flush());

type App = Awaited<ReturnType<typeof build>>;
const submit = async (app: App, body: object) => {
  const r = await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: body });
  if (r.statusCode !== 202) throw new Error(r.body);
  return r.json().id as string;
};
const status = async (app: App, id: string) => (await app.inject({ url: `/v1/tasks/${id}`, headers: auth() })).json();
const claim = async (app: App, type: string, body: object = {}) => {
  const r = await app.inject({ method: 'POST', url: `/v1/workers/${type}/claim`, headers: auth(), payload: body });
  return r.statusCode === 200 ? r.json() : undefined;
};
const post = (app: App, url: string, payload: object) => app.inject({ method: 'POST', url, headers: auth(), payload });

t.test('failed attempts go to RETRY with backoff, then FAILURE; retry re-runs a FAILURE', async (t) => {
  const app = await build(t, redis.url);
  const id = await submit(app, { type: 'flaky', payload: 1, attempts: 2, backoff: { type: 'fixed', delayMs: 300 } });
  const c1 = await claim(app, 'flaky');
  t.equal(c1.task.attempt, 1);
  const f1 = await post(app, `/v1/tasks/${id}/fail`, { token: c1.token, error: 'boom' });
  t.equal(f1.statusCode, 200);
  t.equal(f1.json().state, 'RETRY');
  t.ok(f1.json().nextAttemptAt);
  const s1 = await status(app, id);
  t.equal(s1.state, 'RETRY');
  t.equal(s1.error, 'boom');
  t.equal(s1.attempts, 1);
  t.ok(Date.parse(s1.nextAttemptAt) > Date.now() - 50, 'next attempt is in the future');
  t.equal(await claim(app, 'flaky', { waitMs: 0 }), undefined, 'not claimable during the backoff');
  // A parked claim wakes when the backoff is over (next due time), without a submit.
  const c2 = await claim(app, 'flaky', { waitMs: 10000 });
  t.ok(c2, 'claimed after the backoff');
  t.equal(c2.task.id, id);
  t.equal(c2.task.attempt, 2);
  t.equal((await status(app, id)).state, 'STARTED', 'progress of attempt 1 does not leak');
  const f2 = await post(app, `/v1/tasks/${id}/fail`, { token: c2.token, error: { message: 'boom again' } });
  t.equal(f2.json().state, 'FAILURE');
  const s2 = await status(app, id);
  t.equal(s2.state, 'FAILURE');
  t.equal(s2.attempts, 2);
  t.match(s2.error, /boom again/);
  t.ok(s2.finishedAt);

  const failures = await app.inject({ url: '/v1/tasks?type=flaky&state=FAILURE', headers: auth() });
  t.equal(failures.json().tasks.length, 1);

  const r = await post(app, `/v1/tasks/${id}/retry`, {});
  t.equal(r.statusCode, 202);
  t.equal(r.json().state, 'PENDING');
  t.equal((await post(app, `/v1/tasks/${id}/retry`, {})).statusCode, 409, 'only a FAILURE can be retried');
  const c3 = await claim(app, 'flaky');
  t.equal(c3.task.id, id);
});

t.test('retry: false fails for good', async (t) => {
  const app = await build(t, redis.url);
  const id = await submit(app, { type: 'once', payload: 1, attempts: 5 });
  const c = await claim(app, 'once');
  const f = await post(app, `/v1/tasks/${id}/fail`, { token: c.token, error: 'bad input', retry: false });
  t.equal(f.json().state, 'FAILURE');
  t.equal((await status(app, id)).state, 'FAILURE');
});

t.test('a delayed task is PENDING with runAt and a parked claim gets it when due', async (t) => {
  const app = await build(t, redis.url);
  const id = await submit(app, { type: 'later', payload: 1, delayMs: 400 });
  const s = await status(app, id);
  t.equal(s.state, 'PENDING');
  t.ok(s.runAt);
  t.equal(await claim(app, 'later', { waitMs: 0 }), undefined);
  const c = await claim(app, 'later', { waitMs: 10000 });
  t.equal(c?.task.id, id);
});

t.test('a parked claim is woken by the submit', async (t) => {
  const app = await build(t, redis.url);
  const parked = claim(app, 'wake', { waitMs: 15000 });
  // Wait until the claim is parked (the gauge counts it), then submit.
  for (let i = 0; i < 1000; i++) {
    const m = await app.inject({ url: '/metrics' });
    if (/baton_task_claims_parked 1/.test(m.body)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const id = await submit(app, { type: 'wake', payload: 'hi' });
  const c = await parked;
  t.equal(c?.task.id, id);
  const m = await app.inject({ url: '/metrics' });
  t.match(m.body, /baton_tasks_total\{type="wake",state="PENDING"\} 1/);
  t.match(m.body, /baton_tasks_total\{type="wake",state="STARTED"\} 1/);
  t.match(m.body, /baton_task_jobs\{tenant="t1",type="wake",state="active"\} 1/);
});

t.test('revoke a waiting task: it never runs and answers REVOKED', async (t) => {
  const app = await build(t, redis.url);
  const id = await submit(app, { type: 'rv', payload: 1 });
  const d = await app.inject({ method: 'DELETE', url: `/v1/tasks/${id}`, headers: auth() });
  t.equal(d.statusCode, 200);
  t.equal(d.json().state, 'REVOKED');
  t.equal((await status(app, id)).state, 'REVOKED');
  t.equal(await claim(app, 'rv', { waitMs: 0 }), undefined, 'never handed out');
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/tasks/${id}`, headers: auth() })).statusCode, 200, 'revoking twice is fine');
});

t.test('tasks revoked before they ran are listed, once, with state=REVOKED and without a state', async (t) => {
  const app = await build(t, redis.url);
  const removed = [await submit(app, { type: 'rl', payload: 1 }), await submit(app, { type: 'rl', payload: 2, delayMs: 60_000 })];
  const waiting = await submit(app, { type: 'rl', payload: 3 });
  const running = await submit(app, { type: 'rl', payload: 4 });
  for (const id of removed) await app.inject({ method: 'DELETE', url: `/v1/tasks/${id}`, headers: auth() });
  // The claim takes the oldest waiting task first: revoke the one it holds while it runs (a failed BullMQ job).
  const c = await claim(app, 'rl');
  t.equal(c.task.id, waiting);
  await app.inject({ method: 'DELETE', url: `/v1/tasks/${waiting}`, headers: auth() });
  const list = async (query: string, limit: number) => {
    const ids: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 20; pages++) {
      const r = await app.inject({ url: `/v1/tasks?type=rl&limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ''}`, headers: auth() });
      t.equal(r.statusCode, 200);
      ids.push(...r.json().tasks.map((x: { id: string; state: string }) => `${x.id}:${x.state}`));
      cursor = r.json().nextCursor;
      if (!cursor) break;
    }
    return ids.sort();
  };
  const revoked = [...removed, waiting].map((id) => `${id}:REVOKED`).sort();
  for (const limit of [1, 2, 10]) {
    t.same(await list('&state=REVOKED', limit), revoked, `state=REVOKED, limit ${limit}: the two removed and the one failed as revoked`);
    t.same(await list('', limit), [...revoked, `${running}:PENDING`].sort(), `no state, limit ${limit}: every task once`);
  }
  t.same(await list('&state=PENDING', 10), [`${running}:PENDING`]);
});

t.test('revoke a running task: the worker gets 409 task_revoked, and it is not re-run', async (t) => {
  const app = await build(t, redis.url);
  const id = await submit(app, { type: 'rr', payload: 1, attempts: 3 });
  const c = await claim(app, 'rr', { lockMs: 300 });
  const d = await app.inject({ method: 'DELETE', url: `/v1/tasks/${id}`, headers: auth() });
  t.equal(d.json().state, 'REVOKED');
  for (const [path, body] of [['progress', { current: 1, total: 2 }], ['heartbeat', { lockMs: 1000 }], ['complete', { result: 1 }]] as const) {
    const r = await post(app, `/v1/tasks/${id}/${path}`, { token: c.token, ...body });
    t.equal(r.statusCode, 409, path);
    t.equal(r.json().code, 'task_revoked', path);
  }
  t.equal((await status(app, id)).state, 'REVOKED');
  t.equal(await claim(app, 'rr', { waitMs: 1000 }), undefined, 'not handed out again after its lock lapses');
  const done = await submit(app, { type: 'rr', payload: 2 });
  const c2 = await claim(app, 'rr');
  await post(app, `/v1/tasks/${done}/complete`, { token: c2.token, result: 1 });
  const late = await app.inject({ method: 'DELETE', url: `/v1/tasks/${done}`, headers: auth() });
  t.equal(late.statusCode, 409, 'a finished task cannot be revoked');
});

t.test('a worker that vanishes loses the task after its lock lapses; the next claim gets it', async (t) => {
  const app = await build(t, redis.url);
  const id = await submit(app, { type: 'gone', payload: 1 });
  const c1 = await claim(app, 'gone', { lockMs: 300 });
  t.equal(c1.task.attempt, 1);
  // No heartbeat: the stalled-job check (interval shrunk to the lock) puts it back and wakes this claim.
  const c2 = await claim(app, 'gone', { waitMs: 15000, lockMs: 5000 });
  t.ok(c2, 'claimed again');
  t.equal(c2.task.id, id);
  t.equal(c2.task.attempt, 2);
  const stale = await post(app, `/v1/tasks/${id}/complete`, { token: c1.token, result: 'late' });
  t.equal(stale.statusCode, 409);
  t.equal(stale.json().code, 'task_token_invalid');
  const ok = await post(app, `/v1/tasks/${id}/complete`, { token: c2.token, result: 'fresh' });
  t.equal(ok.statusCode, 200);
  t.same((await status(app, id)).result, 'fresh');
});

t.test('timeoutMs fails an attempt that runs too long', async (t) => {
  const app = await build(t, redis.url);
  const id = await submit(app, { type: 'slow', payload: 1, timeoutMs: 200 });
  const c = await claim(app, 'slow');
  await new Promise((r) => setTimeout(r, 300)); // the timeout itself is what is tested
  const r = await post(app, `/v1/tasks/${id}/progress`, { token: c.token, current: 1, total: 2 });
  t.equal(r.statusCode, 409);
  t.match(r.json().detail, /timed out/);
  const s = await status(app, id);
  t.equal(s.state, 'FAILURE');
  t.match(s.error, /timed out/);
});

t.test('timeoutMs: a complete after the deadline is refused and fails the attempt', async (t) => {
  const app = await build(t, redis.url);
  const id = await submit(app, { type: 'late', payload: 1, timeoutMs: 200 });
  const c = await claim(app, 'late');
  await new Promise((r) => setTimeout(r, 300)); // the timeout itself is what is tested
  const r = await post(app, `/v1/tasks/${id}/complete`, { token: c.token, result: 1 });
  t.equal(r.statusCode, 409, 'refused on the claiming instance too, where the claimed job is at hand');
  t.match(r.json().detail, /timed out/);
  t.equal((await status(app, id)).state, 'FAILURE');
});

t.test('a finish on the claiming instance and one on another agree; the task keeps its payload', async (t) => {
  const a = await build(t, redis.url);
  const b = await build(t, redis.url);
  const x = await submit(a, { type: 'two', payload: { big: 'x'.repeat(100) }, attempts: 2, backoff: { type: 'fixed', delayMs: 1 } });
  const y = await submit(a, { type: 'two', payload: 'y' });
  const cx = await claim(a, 'two');
  const cy = await claim(a, 'two');
  t.equal(cx.task.id, x);
  const fx = await post(a, `/v1/tasks/${x}/fail`, { token: cx.token, error: 'once' });
  t.equal(fx.json().state, 'RETRY', 'failed on the instance that claimed it');
  const again = await claim(a, 'two', { waitMs: 5000 });
  t.equal(again.task.id, x);
  t.same(again.task.payload, { big: 'x'.repeat(100) }, 'the retry gets the payload: the claim kept nothing it could write back');
  t.equal((await post(b, `/v1/tasks/${y}/complete`, { token: cy.token, result: 'from b' })).statusCode, 200, 'completed on another instance');
  t.equal((await post(a, `/v1/tasks/${y}/complete`, { token: cy.token, result: 'again' })).json().code, 'task_token_invalid', 'once only');
  t.equal((await post(b, `/v1/tasks/${x}/complete`, { token: cx.token, result: 'stale' })).json().code, 'task_token_invalid', 'the first attempt\'s token is stale');
  t.equal((await post(a, `/v1/tasks/${x}/complete`, { token: again.token, result: 'from a' })).statusCode, 200);
  t.same([(await status(a, x)).result, (await status(a, y)).result], ['from a', 'from b']);
});

t.test('a task flagged revoked in its data is failed as revoked by the fetch that finds it, a claim or a complete\'s next', async (t) => {
  const app = await build(t, redis.url);
  const [a, b, c, d, e] = [await submit(app, { type: 'flag', payload: 'a' }), await submit(app, { type: 'flag', payload: 'b' }),
    await submit(app, { type: 'flag', payload: 'c' }), await submit(app, { type: 'flag', payload: 'd' }), await submit(app, { type: 'flag', payload: 'e' })];
  // The flag a revoke leaves when it cannot remove the job (claimed meanwhile, or a schedule's pending run).
  const flag = async (id: string, payload: string) => {
    const key = `${app.keys.tasks.bullPrefix('t1')}:${app.keys.tasks.queueName('flag')}:${decodeTaskId(id)!.jobId}`;
    await app.redis.hset(key, 'data', JSON.stringify({ payload, revoked: true }));
  };
  await flag(b, 'b');
  await flag(d, 'd');
  const first = await claim(app, 'flag');
  t.equal(first.task.id, a);
  const r = await post(app, `/v1/tasks/${a}/complete`, { token: first.token, result: 1, next: { waitMs: 0 } });
  t.equal(r.statusCode, 200, r.body);
  t.equal(r.json().next.task.id, c, 'the flagged task fetched with the completion is skipped, even without a wait');
  t.equal((await status(app, b)).state, 'REVOKED');
  const plain = await claim(app, 'flag');
  t.equal(plain.task.id, e, 'a claim skips a flagged task too');
  t.equal((await status(app, d)).state, 'REVOKED');
});

t.test('Redis down → 503 problems', async (t) => {
  const app = await build(t, redis.url);
  const id = await submit(app, { type: 'down', payload: 1 });
  await redis.stop();
  const a = await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { type: 'down', payload: 1 } });
  t.equal(a.statusCode, 503);
  t.equal(a.json().code, 'backend_unavailable');
  const b = await app.inject({ url: `/v1/tasks/${id}`, headers: auth() });
  t.equal(b.statusCode, 503);
  const c = await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { type: 'never-opened', payload: 1 } });
  t.equal(c.statusCode, 503, 'a queue opened while Redis is down');
  const batch = await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { type: 'down', tasks: [{ payload: 1 }, { payload: 2, idempotencyKey: 'k' }] } });
  t.equal(batch.statusCode, 503, 'a batch too');
  await redis.start();
  await new Promise<void>((ok) => (app.redis.status === 'ready' ? ok() : app.redis.once('ready', () => ok())));
  for (let i = 0; i < 100; i++) {
    const r = await app.inject({ url: `/v1/tasks/${id}`, headers: auth() });
    if (r.statusCode !== 503) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  // The data was lost with the non-persistent test server: the point is that it answers again, not 503.
  const d = await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { type: 'never-opened', payload: 1 } });
  t.equal(d.statusCode, 202);
  const e = await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { type: 'down', tasks: [{ payload: 1 }, { payload: 2, idempotencyKey: 'k' }] } });
  t.equal(e.statusCode, 202, 'a batch is taken again once Redis is back');
});

t.end();
