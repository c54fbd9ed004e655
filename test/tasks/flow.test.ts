import { Worker } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
import t from 'tap';
import { auth, build, KEYS } from '../helpers/build.js';
import { publishedDuring } from '../helpers/published.js';
import { until } from '../helpers/servers.js';
import { startRedis } from '../helpers/redis.js';
import { standaloneOnly } from '../helpers/topology.js';

const redis = await startRedis(t);
t.beforeEach(() => redis.flush());

t.test('HTTP worker flow: PENDING → STARTED → PROGRESS → SUCCESS', async (t) => {
  const app = await build(t, redis.url);
  const sub = await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { type: 'resize', payload: { w: 10 } } });
  t.equal(sub.statusCode, 202);
  const { id, state, statusUrl } = sub.json();
  t.equal(state, 'PENDING');
  t.equal(sub.headers.location, statusUrl);
  t.equal(statusUrl, `/v1/tasks/${id}`);

  let st = (await app.inject({ url: statusUrl, headers: auth() })).json();
  t.equal(st.state, 'PENDING');
  t.equal(st.type, 'resize');
  t.equal(st.attempts, 0);
  t.ok(st.createdAt);
  t.match(st.status, /waiting/);

  const claim = await app.inject({ method: 'POST', url: '/v1/workers/resize/claim', headers: auth(), payload: { waitMs: 0 } });
  t.equal(claim.statusCode, 200);
  const c = claim.json();
  t.equal(c.task.id, id);
  t.same(c.task.payload, { w: 10 });
  t.equal(c.task.attempt, 1);
  t.type(c.token, 'string');

  st = (await app.inject({ url: statusUrl, headers: auth() })).json();
  t.equal(st.state, 'STARTED');
  t.ok(st.startedAt);

  const prog = await app.inject({ method: 'POST', url: `/v1/tasks/${id}/progress`, headers: auth(), payload: { token: c.token, current: 3, total: 10, status: 'three' } });
  t.equal(prog.statusCode, 200, prog.body);
  st = (await app.inject({ url: statusUrl, headers: auth() })).json();
  t.equal(st.state, 'PROGRESS');
  t.same(st.progress, { current: 3, total: 10, status: 'three' });
  t.equal(st.status, 'three');

  const hb = await app.inject({ method: 'POST', url: `/v1/tasks/${id}/heartbeat`, headers: auth(), payload: { token: c.token, lockMs: 5000 } });
  t.equal(hb.statusCode, 200);
  t.equal(hb.json().lockMs, 5000);

  const bad = await app.inject({ method: 'POST', url: `/v1/tasks/${id}/complete`, headers: auth(), payload: { token: 'not-the-token', result: 1 } });
  t.equal(bad.statusCode, 409);
  t.equal(bad.json().code, 'task_token_invalid');
  t.equal((await app.inject({ url: statusUrl, headers: auth() })).json().state, 'PROGRESS', 'a foreign token changes nothing');

  const done = await app.inject({ method: 'POST', url: `/v1/tasks/${id}/complete`, headers: auth(), payload: { token: c.token, result: { ok: true } } });
  t.equal(done.statusCode, 200, done.body);
  st = (await app.inject({ url: statusUrl, headers: auth() })).json();
  t.equal(st.state, 'SUCCESS');
  t.same(st.result, { ok: true });
  t.ok(st.finishedAt);

  const again = await app.inject({ method: 'POST', url: `/v1/tasks/${id}/complete`, headers: auth(), payload: { token: c.token, result: 2 } });
  t.equal(again.statusCode, 409, 'a stale token after completion');
  t.same((await app.inject({ url: statusUrl, headers: auth() })).json().result, { ok: true });

  const empty = await app.inject({ method: 'POST', url: '/v1/workers/resize/claim', headers: auth(), payload: { waitMs: 0 } });
  t.equal(empty.statusCode, 204);
  const noBody = await app.inject({ method: 'POST', url: '/v1/workers/resize/claim', headers: auth() });
  t.equal(noBody.statusCode, 204, 'the claim body may be left out');
});

t.test('parked claims: each submitted task goes to exactly one claim; no Redis connection per claim', async (t) => {
  const app = await build(t, redis.url);
  // Enough claims that a connection each would stand out from other clients of a shared test Redis (Cluster
  // runs share one across files: up to 6 connections came and went during the window there).
  const N = 40;
  // Open the queue once so its (shared) connection setup is not counted below.
  await app.inject({ method: 'POST', url: '/v1/workers/herd/claim', headers: auth(), payload: { waitMs: 0 } });
  const clients = () => redis.connectedClients();
  const before = await clients();
  // Parked claims must not pile listeners onto anything shared (Node warns past ten, and operators read it as a leak).
  const leakWarnings: string[] = [];
  const onWarning = (w: Error) => {
    if (w.name === 'MaxListenersExceededWarning') leakWarnings.push(w.message);
  };
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  const claims = Array.from({ length: N }, () => app.inject({ method: 'POST', url: '/v1/workers/herd/claim', headers: auth(), payload: { waitMs: 15000 } }));
  for (let i = 0; i < 1500; i++) {
    if (new RegExp(`baton_task_claims_parked ${N}\\b`).test((await app.inject({ url: '/metrics' })).body)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  t.match((await app.inject({ url: '/metrics' })).body, new RegExp(`baton_task_claims_parked ${N}\\b`), 'all claims parked');
  t.same(leakWarnings, [], `${N} parked claims raise no listener-leak warning`);
  const during = await clients();
  t.ok(during - before < N / 4, `no connection per parked claim: ${N} claims, ${before} → ${during} connections`);
  const submitted = await Promise.all(Array.from({ length: N }, (_, i) => app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { type: 'herd', payload: i } })));
  const ids = submitted.map((r) => r.json().id as string).sort();
  const got = await Promise.all(claims);
  t.same(got.map((r) => r.statusCode), Array(N).fill(200));
  t.same(got.map((r) => r.json().task.id as string).sort(), ids, 'every task delivered once, to one claim');
});

t.test('closing the app releases every parked claim at once (204), without waiting out their waitMs', async (t) => {
  const app = await build(t, redis.url);
  const N = 12;
  const claims = Array.from({ length: N }, (_, i) =>
    app.inject({ method: 'POST', url: `/v1/workers/${i % 2 ? 'odd' : 'even'}/claim`, headers: auth(), payload: { waitMs: 20_000 } }));
  await until('all claims parked', async () => new RegExp(`baton_task_claims_parked ${N}\\b`).test((await app.inject({ url: '/metrics' })).body), 7_500, 10);
  await app.close();
  // The claims settle within a few ticks of close(); 20 s would mean they waited out their waitMs.
  const settled = await Promise.race([
    Promise.all(claims),
    new Promise<'still parked'>((r) => setTimeout(() => r('still parked'), 5_000).unref()),
  ]);
  t.not(settled, 'still parked', 'every parked claim answered when the app closed');
  if (settled !== 'still parked') t.same(settled.map((r) => r.statusCode), Array(N).fill(204));
});

// A claim counts as parked from before its look at Redis (it listens first, so no submit is missed). Closing
// the app while that look is in flight cuts the connection under it: the claim answers 204 like a parked one,
// not 503. Redis is frozen (CLIENT PAUSE) so that every look is still in flight when the app closes.
t.test('closing the app while claims are mid-look answers them 204 as well', { skip: standaloneOnly }, async (t) => {
  const app = await build(t, redis.url);
  for (const type of ['even', 'odd']) {
    // Warm each type's queue and worker, so the claims below go straight to their look.
    const warm = await app.inject({ method: 'POST', url: `/v1/workers/${type}/claim`, headers: auth(), payload: { waitMs: 0 } });
    t.equal(warm.statusCode, 204);
  }
  // A claim that finds a task at once parks nothing (src/tasks/service.ts claim()): count the looks themselves.
  let looking = 0;
  const getNextJob = Worker.prototype.getNextJob;
  Worker.prototype.getNextJob = function (this: Worker, ...args: Parameters<Worker['getNextJob']>) {
    looking++;
    return getNextJob.apply(this, args);
  };
  t.teardown(() => {
    Worker.prototype.getNextJob = getNextJob;
  });
  const PAUSE_MS = 3_000;
  await redis.client.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
  const frozenAt = Date.now();
  const N = 6;
  const claims = Array.from({ length: N }, (_, i) =>
    app.inject({ method: 'POST', url: `/v1/workers/${i % 2 ? 'odd' : 'even'}/claim`, headers: auth(), payload: { waitMs: 20_000 } }));
  await until('every claim is looking (its look held by the frozen Redis)', async () => looking === N, 3_000, 5);
  await app.close();
  const settled = await Promise.all(claims);
  t.ok(Date.now() - frozenAt < PAUSE_MS, 'the app closed and the claims answered while Redis was still frozen');
  t.same(settled.map((r) => r.statusCode), Array(N).fill(204), 'each cut look answered "nothing now"');
  // Let the pause run out, so the server is usable by the next test.
  await redis.client.call('CLIENT', 'UNPAUSE');
});

// Between its first look and its wait, a claim that found nothing marks its type (one SET) and looks again.
// Closing the app while that SET is in flight cuts the connection under it: 204 as well, not 503 (CI saw six
// claims of one type answer 503 in this phase). The SETs are held back until the app has closed.
t.test('closing the app while claims mark their type answers them 204 as well', async (t) => {
  const app = await build(t, redis.url);
  // The tasks area has a connection of its own: hold back, on every client, the SET of this type's marker.
  const marker = app.keys.tasks.claiming('t1', 'marking');
  const N = 6;
  let marking = 0;
  let allMarking: () => void = () => undefined;
  const held = new Promise<void>((ok) => (allMarking = ok));
  let closed: () => void = () => undefined;
  const afterClose = new Promise<void>((ok) => (closed = ok));
  type Set = (this: unknown, ...args: unknown[]) => Promise<unknown>;
  for (const proto of [Redis.prototype, Cluster.prototype] as unknown as { set: Set }[]) {
    const set = proto.set;
    proto.set = async function (this: unknown, ...args: unknown[]) {
      if (args[0] === marker) {
        if (++marking === N) allMarking();
        await afterClose;
      }
      return set.apply(this, args);
    };
    t.teardown(() => {
      proto.set = set;
    });
  }
  const claims = Array.from({ length: N }, () =>
    app.inject({ method: 'POST', url: '/v1/workers/marking/claim', headers: auth(), payload: { waitMs: 20_000 } }));
  await held;
  await app.close();
  closed();
  const settled = await Promise.race([
    Promise.all(claims),
    new Promise<'still waiting'>((r) => setTimeout(() => r('still waiting'), 5_000).unref()),
  ]);
  t.not(settled, 'still waiting', 'every claim answered once the app closed');
  if (settled !== 'still waiting') t.same(settled.map((r) => r.statusCode), Array(N).fill(204), 'each cut mark answered "nothing now"');
});

t.test('a submit is announced over pub/sub only while a claim of its type may be parked, and wakes a claim on another instance', async (t) => {
  const a = await build(t, redis.url);
  const b = await build(t, redis.url);
  const channel = a.keys.event('t1', 'tasks', 'lonely');
  // The announce runs on the claiming marker's slot: the probe comes from there (test/helpers/published.ts).
  const marker = a.keys.tasks.claiming('t1', 'lonely');
  const submit = () => a.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { type: 'lonely', payload: 1 } });
  const quiet = await publishedDuring(a, channel, marker, async () => t.equal((await submit()).statusCode, 202));
  t.same(quiet, [], 'no claim has waited for the type: the submit published nothing');
  const taken = await b.inject({ method: 'POST', url: '/v1/workers/lonely/claim', headers: auth(), payload: { waitMs: 0 } });
  t.equal(taken.statusCode, 200, 'the task is there for a claim all the same');
  t.equal(await a.redis.exists(marker), 0, 'a claim that found a task sets no marker');

  const waiting = b.inject({ method: 'POST', url: '/v1/workers/lonely/claim', headers: auth(), payload: { waitMs: 15_000 } });
  // Parked after the marker: the claim sets it, then parks for its last look (so parked 1 seen after the
  // marker exists is that last park, not the first look's).
  await until('the claim marked the type', async () => (await a.redis.exists(marker)) === 1, 7_500, 5);
  await until('the claim parked', async () => /baton_task_claims_parked 1\b/.test((await b.inject({ url: '/metrics' })).body), 7_500, 5);
  t.ok((await a.redis.pttl(marker)) > 15_000, 'the marker outlives the longest claim wait');
  let id = '';
  const loud = await publishedDuring(a, channel, marker, async () => (id = (await submit()).json().id as string));
  t.equal(loud.length, 1, 'with a claim parked, the submit published one wake-up');
  const got = await waiting;
  t.equal(got.statusCode, 200);
  t.equal(got.json().task.id, id, 'the claim on the other instance got the task');
});

t.test('complete and fail with `next` claim the next task of the type in the same request', async (t) => {
  const app = await build(t, redis.url);
  const post = (url: string, payload: object) => app.inject({ method: 'POST', url, headers: auth(), payload });
  const submit = async (type: string, payload: unknown) => (await post('/v1/tasks', { type, payload })).json().id as string;
  const stateOf = async (id: string) => (await app.inject({ url: `/v1/tasks/${id}`, headers: auth() })).json().state as string;
  const a = await submit('chain', 'a');
  const b = await submit('chain', 'b');
  const other = await submit('elsewhere', 'x');
  const first = (await post('/v1/workers/chain/claim', { waitMs: 0 })).json();
  t.equal(first.task.id, a);

  const bad = await post(`/v1/tasks/${a}/complete`, { token: first.token, result: 1, next: { waitMs: 60_000 } });
  t.equal(bad.statusCode, 400, 'a bad `next` is refused before anything happens');
  t.equal(await stateOf(a), 'STARTED', 'and the task was not completed');
  const stale = await post(`/v1/tasks/${a}/complete`, { token: 'not-the-token', result: 1, next: { waitMs: 0 } });
  t.equal(stale.statusCode, 409, 'a stale token is refused');
  t.equal(await stateOf(b), 'PENDING', 'and claims nothing');

  const done = await post(`/v1/tasks/${a}/complete`, { token: first.token, result: 'A', next: { waitMs: 0, lockMs: 5000 } });
  t.equal(done.statusCode, 200, done.body);
  const d = done.json();
  t.equal(d.state, 'SUCCESS');
  t.equal(await stateOf(a), 'SUCCESS');
  t.equal(d.next.task.id, b, 'the next task of the same type, not of another type');
  t.same(d.next.task.payload, 'b');
  t.equal(d.next.lockMs, 5000);
  t.not(d.next.token, first.token, 'a fresh token for the next task');
  t.equal(await stateOf(b), 'STARTED');
  t.equal(await stateOf(other), 'PENDING');

  const failed = await post(`/v1/tasks/${b}/fail`, { token: d.next.token, error: 'no', retry: false, next: { waitMs: 0 } });
  t.equal(failed.statusCode, 200, failed.body);
  t.equal(failed.json().state, 'FAILURE');
  t.equal(failed.json().next, null, 'nothing left: next is null');

  // With the claim's own lock, BullMQ's finishing script fetches the next task under the same token.
  const f1 = await submit('chain', 'f1');
  const f2 = await submit('chain', 'f2');
  const g = (await post('/v1/workers/chain/claim', { waitMs: 0 })).json();
  t.equal(g.task.id, f1);
  const fetched = await post(`/v1/tasks/${f1}/complete`, { token: g.token, result: 'F1', next: { waitMs: 0 } });
  t.equal(fetched.statusCode, 200, fetched.body);
  t.equal(fetched.json().next.task.id, f2, 'fetched with the completion');
  t.same(fetched.json().next.task.payload, 'f2');
  t.equal(fetched.json().next.token, g.token, 'locked under the same token, as BullMQ\'s Worker does');
  t.equal(fetched.json().next.lockMs, 30_000);
  t.equal(await stateOf(f2), 'STARTED');
  t.equal((await post(`/v1/tasks/${f1}/complete`, { token: g.token, result: 'again' })).statusCode, 409, 'the token no longer finishes the first');
  const last = await post(`/v1/tasks/${f2}/complete`, { token: g.token, result: 'F2', next: { waitMs: 0 } });
  t.equal(last.json().next, null, 'nothing left to fetch');
  t.same([(await app.inject({ url: `/v1/tasks/${f1}`, headers: auth() })).json().result, (await app.inject({ url: `/v1/tasks/${f2}`, headers: auth() })).json().result], ['F1', 'F2']);

  // A parked `next` is woken by a submit, like a claim.
  const c = await submit('chain', 'c');
  const third = (await post('/v1/workers/chain/claim', { waitMs: 0 })).json();
  t.equal(third.task.id, c);
  const parked = post(`/v1/tasks/${c}/complete`, { token: third.token, next: { waitMs: 15_000 } });
  await until('the next claim parked', async () => /baton_task_claims_parked 1\b/.test((await app.inject({ url: '/metrics' })).body), 7_500, 5);
  t.equal(await stateOf(c), 'SUCCESS', 'completed before the claim parked');
  const e = await submit('chain', 'e');
  const woken = await parked;
  t.equal(woken.statusCode, 200);
  t.equal(woken.json().next.task.id, e);
  const plain = await post(`/v1/tasks/${e}/complete`, { token: woken.json().next.token, result: 1 });
  t.notOk('next' in plain.json(), 'without `next`, the answer has none');
});

t.test('workers chaining with `next` under concurrent submits: every task done exactly once', async (t) => {
  const app = await build(t, redis.url);
  const post = (url: string, payload: object) => app.inject({ method: 'POST', url, headers: auth(), payload });
  const N = 150;
  const W = 12;
  type Claimed = { task: { id: string; payload: number }; token: string };
  const done = new Map<string, number>();
  let refused = 0;
  let remaining = N;
  const worker = async () => {
    let held: Claimed | null = null;
    while (remaining > 0) {
      if (!held) {
        const c = await post('/v1/workers/many/claim', { waitMs: 300 });
        if (c.statusCode !== 200) continue;
        held = c.json() as Claimed;
      }
      const r = await post(`/v1/tasks/${held.task.id}/complete`, { token: held.token, result: held.task.payload * 2, next: { waitMs: 300 } });
      if (r.statusCode !== 200) refused++;
      else {
        done.set(held.task.id, (done.get(held.task.id) ?? 0) + 1);
        remaining--;
      }
      held = r.statusCode === 200 ? (r.json().next as Claimed | null) : null;
    }
  };
  const workers = Array.from({ length: W }, worker);
  const ids = await Promise.all(Array.from({ length: N }, async (_, i) => (await post('/v1/tasks', { type: 'many', payload: i })).json().id as string));
  await Promise.all(workers);
  t.equal(refused, 0, 'no finish refused');
  t.equal(done.size, N, 'every task completed');
  t.ok([...done.values()].every((n) => n === 1), 'each exactly once');
  const results = await Promise.all(ids.map(async (id) => (await app.inject({ url: `/v1/tasks/${id}`, headers: auth() })).json()));
  t.same(results.map((v) => v.state), Array(N).fill('SUCCESS'));
  t.same(results.map((v) => v.result), Array.from({ length: N }, (_, i) => i * 2), 'each with its own result');
  const left = await post('/v1/workers/many/claim', { waitMs: 0 });
  t.equal(left.statusCode, 204, 'nothing left behind');
});

t.test('a batch submit adds tasks of one type in order, with their options, idempotency keys and all-or-nothing checks', async (t) => {
  const app = await build(t, redis.url, { env: { BATON_MAX_PAYLOAD_BYTES: '1000' } });
  const post = (payload: object) => app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload });
  const earlier = (await post({ type: 'bulk', payload: 'earlier', idempotencyKey: 'k-old' })).json().id as string;
  const r = await post({
    type: 'bulk',
    tasks: [
      { payload: 'low', priority: 1 },
      { payload: 'high', priority: 9, idempotencyKey: 'k-new' },
      { payload: 'again', idempotencyKey: 'k-new' },
      { payload: 'dup of earlier', idempotencyKey: 'k-old' },
      { payload: 'later', delayMs: 60_000 },
    ],
  });
  t.equal(r.statusCode, 202, r.body);
  const tasks = r.json().tasks as { id: string; state: string; statusUrl: string; created: boolean }[];
  t.same(tasks.map((x) => x.created), [true, true, false, false, true]);
  t.equal(tasks[2]!.id, tasks[1]!.id, 'a key repeated inside the batch gives the first task of the batch');
  t.equal(tasks[3]!.id, earlier, 'a key already held gives the earlier task');
  t.equal(tasks[0]!.statusUrl, `/v1/tasks/${tasks[0]!.id}`);
  const later = (await app.inject({ url: tasks[4]!.statusUrl, headers: auth() })).json();
  t.equal(later.state, 'PENDING');
  t.ok(later.runAt, 'delayMs kept: it has a run time');
  const order: unknown[] = [];
  for (;;) {
    const c = await app.inject({ method: 'POST', url: '/v1/workers/bulk/claim', headers: auth(), payload: { waitMs: 0 } });
    if (c.statusCode !== 200) break;
    order.push(c.json().task.payload);
  }
  t.same(order, ['high', 'low', 'earlier'], 'priorities kept (the earlier task has 0); the delayed one waits');
  const allKnown = await post({ type: 'bulk', tasks: [{ payload: 1, idempotencyKey: 'k-old' }] });
  t.equal(allKnown.statusCode, 200, 'every task from a key: 200');

  const count = async () => (await app.inject({ url: '/v1/tasks?type=checked', headers: auth() })).json().tasks.length as number;
  const bad: [object, number, RegExp?][] = [
    [{ type: 'checked', tasks: [{ payload: 1 }, { payload: 'x'.repeat(2000) }] }, 413, /tasks\[1\]/],
    [{ type: 'checked', tasks: [{ payload: 1 }, { payload: 2, extra: true }] }, 400],
    [{ type: 'checked', tasks: [] }, 400],
    [{ type: 'checked', tasks: Array.from({ length: 101 }, () => ({ payload: 1 })) }, 400],
    [{ type: 'checked', tasks: [{ type: 'other', payload: 1 }] }, 400],
  ];
  for (const [payload, status, detail] of bad) {
    const b = await post(payload);
    t.equal(b.statusCode, status, JSON.stringify(payload).slice(0, 80));
    if (detail) t.match(b.json().detail, detail);
  }
  t.equal(await count(), 0, 'a refused batch wrote nothing');
});

t.test('unknown and malformed ids are 404', async (t) => {
  const app = await build(t, redis.url);
  for (const id of ['nope', Buffer.from('resize|t123').toString('base64url'), 'a'.repeat(30)]) {
    const r = await app.inject({ url: `/v1/tasks/${id}`, headers: auth() });
    t.equal(r.statusCode, 404, id);
    t.equal(r.json().code, 'not_found');
  }
});

t.test('idempotencyKey returns the same task with 200', async (t) => {
  const app = await build(t, redis.url);
  const body = { type: 'mail', payload: 1, idempotencyKey: 'order-42' };
  const results = await Promise.all(Array.from({ length: 8 }, () => app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: body })));
  const codes = results.map((r) => r.statusCode).sort();
  t.same(codes, [200, 200, 200, 200, 200, 200, 200, 202]);
  t.equal(new Set(results.map((r) => r.json().id)).size, 1);
  const other = await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(KEYS.t2), payload: body });
  t.equal(other.statusCode, 202, 'another tenant has its own keys');
  const list = await app.inject({ url: '/v1/tasks?type=mail', headers: auth() });
  t.equal(list.json().tasks.length, 1, 'one task queued');
});

t.test('without a type, the list pages through every type of the tenant exactly once', async (t) => {
  const app = await build(t, redis.url);
  const submitted = new Set<string>();
  for (const [type, n] of [['b-type', 3], ['a-type', 2], ['c-type', 4]] as const) {
    for (let i = 0; i < n; i++) {
      submitted.add((await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { type, payload: i } })).json().id);
    }
  }
  await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(KEYS.t2), payload: { type: 'a-type', payload: 'other tenant' } });
  for (const limit of [1, 2, 3, 9, 100]) {
    const seen: string[] = [];
    const types: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const r = await app.inject({ url: `/v1/tasks?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, headers: auth() });
      t.equal(r.statusCode, 200);
      const page = r.json();
      t.ok(page.tasks.length <= limit);
      for (const task of page.tasks) {
        seen.push(task.id);
        types.push(task.type);
      }
      cursor = page.nextCursor;
    } while (cursor !== undefined && ++pages < 50);
    t.equal(seen.length, submitted.size, `limit ${limit}: every task once`);
    t.same(new Set(seen), submitted, `limit ${limit}: exactly the tenant's tasks`);
    t.same(types, [...types].sort(), `limit ${limit}: in type order`);
  }
  const pending = (await app.inject({ url: '/v1/tasks?state=PENDING', headers: auth() })).json().tasks;
  t.equal(pending.length, 9);
  t.same((await app.inject({ url: '/v1/tasks?state=SUCCESS', headers: auth() })).json().tasks, []);
});

t.test('a cursor the listing never returned is a 400 problem, not page 1 again', async (t) => {
  const app = await build(t, redis.url);
  await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { type: 'cur', payload: 1 } });
  for (const url of ['/v1/tasks?type=cur&cursor=abc', '/v1/tasks?type=cur&cursor=cur~1', '/v1/tasks?cursor=7', '/v1/tasks?cursor=bad%20type~1', '/v1/tasks?cursor=cur~x']) {
    const r = await app.inject({ url, headers: auth() });
    t.equal(r.statusCode, 400, url);
    t.match(r.headers['content-type'], /^application\/problem\+json/);
    t.match(r.json(), { code: 'validation_failed', errors: [{ path: 'querystring/cursor' }] });
  }
  t.equal((await app.inject({ url: '/v1/tasks?type=cur&cursor=0', headers: auth() })).json().tasks.length, 1);
  t.equal((await app.inject({ url: '/v1/tasks?cursor=cur~0', headers: auth() })).json().tasks.length, 1);
});

t.test('tenant isolation of ids, lists and claims', async (t) => {
  const app = await build(t, redis.url);
  const { id } = (await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { type: 'x', payload: 'secret' } })).json();
  t.equal((await app.inject({ url: `/v1/tasks/${id}`, headers: auth(KEYS.t2) })).statusCode, 404);
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/tasks/${id}`, headers: auth(KEYS.t2) })).statusCode, 404);
  t.same((await app.inject({ url: '/v1/tasks?type=x', headers: auth(KEYS.t2) })).json().tasks, []);
  t.equal((await app.inject({ url: '/v1/tasks?type=x', headers: auth() })).json().tasks.length, 1);
  t.equal((await app.inject({ method: 'POST', url: '/v1/workers/x/claim', headers: auth(KEYS.t2), payload: {} })).statusCode, 204);
  const mine = await app.inject({ method: 'POST', url: '/v1/workers/x/claim', headers: auth(), payload: {} });
  t.equal(mine.statusCode, 200);
  const hb = await app.inject({ method: 'POST', url: `/v1/tasks/${id}/heartbeat`, headers: auth(KEYS.t2), payload: { token: mine.json().token, lockMs: 1000 } });
  t.equal(hb.statusCode, 404, 't2 cannot touch t1\'s task even with its token');
});

t.test('bad input is a 4xx problem and writes nothing', async (t) => {
  const app = await build(t, redis.url, { env: { BATON_MAX_PAYLOAD_BYTES: '1000' } });
  const cases: [unknown, number][] = [
    [{ type: 'x', payload: 1, extra: true }, 400],
    [{ type: 'bad type!', payload: 1 }, 400],
    [{ type: 'x' }, 400],
    [{ type: 'x', payload: 1, priority: 10 }, 400],
    [{ type: 'x', payload: 1, attempts: 0 }, 400],
    [{ type: 'x', payload: 'a'.repeat(2000) }, 413],
  ];
  for (const [payload, status] of cases) {
    const r = await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: payload as object });
    t.equal(r.statusCode, status, JSON.stringify(payload).slice(0, 60));
    t.match(r.headers['content-type'], /application\/problem\+json/);
  }
  t.same((await app.inject({ url: '/v1/tasks?type=x', headers: auth() })).json().tasks, []);
  const claim = await app.inject({ method: 'POST', url: '/v1/workers/x/claim', headers: auth(), payload: { waitMs: 60000 } });
  t.equal(claim.statusCode, 400);
  const noScope = await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(KEYS.noScopes), payload: { type: 'x', payload: 1 } });
  t.equal(noScope.statusCode, 403);
});

t.end();

t.test('a claim whose client leaves while it waits takes nothing, nor does a finish with next', async (t) => {
  const app = await build(t, redis.url, { listen: true });
  const headers = { ...auth(), 'content-type': 'application/json' };
  const post = (url: string, body: object, signal?: AbortSignal) => fetch(`${app.baseUrl}${url}`, { method: 'POST', headers, body: JSON.stringify(body), signal });
  const parked = async () => /baton_task_claims_parked \d+/.exec((await app.inject({ url: '/metrics' })).body)?.[0].split(' ')[1];
  t.teardown(() => app.server.closeAllConnections());

  // A parked claim, then its client leaves: the next task goes to the next claimer, at its first attempt.
  const ac = new AbortController();
  const gone = post('/v1/workers/leave/claim', { waitMs: 20_000 }, ac.signal);
  await until('the claim parked', async () => (await parked()) === '1', 10_000, 20);
  ac.abort();
  await t.rejects(gone);
  await until('the claim left', async () => (await parked()) === '0', 10_000, 20);
  const { id } = (await (await post('/v1/tasks', { type: 'leave', payload: 1 })).json()) as { id: string };
  const claim = await post('/v1/workers/leave/claim', { waitMs: 0 });
  t.equal(claim.status, 200, 'the task was left for the next claimer');
  const c = (await claim.json()) as { task: { id: string; attempt: number }; token: string };
  t.equal(c.task.id, id);
  t.equal(c.task.attempt, 1, 'the departed claim took nothing');

  // A finish with next whose client leaves while its claim waits: the finish stands, the next task is not taken.
  const ac2 = new AbortController();
  const finishing = post(`/v1/tasks/${id}/complete`, { token: c.token, result: 'r', next: { waitMs: 20_000 } }, ac2.signal);
  await until('the next claim parked', async () => (await parked()) === '1', 10_000, 20);
  ac2.abort();
  await t.rejects(finishing);
  await until('the next claim left', async () => (await parked()) === '0', 10_000, 20);
  t.equal(((await (await fetch(`${app.baseUrl}/v1/tasks/${id}`, { headers })).json()) as { state: string }).state, 'SUCCESS', 'the finish stands');
  const { id: id2 } = (await (await post('/v1/tasks', { type: 'leave', payload: 2 })).json()) as { id: string };
  const c2 = (await (await post('/v1/workers/leave/claim', { waitMs: 0 })).json()) as { task: { id: string; attempt: number } };
  t.same([c2.task.id, c2.task.attempt], [id2, 1], 'the departed finish took no next task');
});
