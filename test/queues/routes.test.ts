// HTTP tests of /v1/queues: the contract's status codes and bodies, problem documents for bad input (with
// nothing written), auth scope, tenant isolation, metrics, long polls over a real socket, Redis down → 503.
import t from 'tap';
import { auth, build, KEYS } from '../helpers/build.js';
import { startRedis } from '../helpers/redis.js';
import { until } from './helpers.js';

const redis = await startRedis(t);
t.beforeEach(() => redis.flush());

const json = (body: unknown, key: string = KEYS.t1) => ({
  headers: { ...auth(key), 'content-type': 'application/json' },
  payload: JSON.stringify(body),
});

t.test('the whole life of a message over HTTP', async (t) => {
  const app = await build(t, redis.url);
  const post = (url: string, body: unknown, key?: string) => app.inject({ method: 'POST', url, ...json(body, key) });

  const one = await post('/v1/queues/orders/messages', { body: { orderId: 42 }, priority: 5 });
  t.equal(one.statusCode, 201);
  const id = one.json().id as string;
  t.type(id, 'string');
  const batch = await post('/v1/queues/orders/messages', { messages: [{ body: 'a' }, { body: 'b', delayMs: 60_000 }] });
  t.equal(batch.statusCode, 201);
  t.equal(batch.json().ids.length, 2);

  const info = await app.inject({ url: '/v1/queues/orders', headers: auth() });
  t.equal(info.statusCode, 200);
  t.match(info.json(), { name: 'orders', ready: 2, delayed: 1, inflight: 0, dead: 0, enqueued: 3, acked: 0, deadLettered: 0 });
  t.type(info.json().oldestReadyAgeMs, 'number');
  t.match(info.json().policy, { visibilityMs: 30_000, maxAttempts: 5 });

  const list = await app.inject({ url: '/v1/queues', headers: auth() });
  t.same(list.json(), { queues: [{ name: 'orders', ready: 2, delayed: 1, inflight: 0, dead: 0 }] });

  const deq = await post('/v1/queues/orders/dequeue', { max: 10 });
  t.equal(deq.statusCode, 200);
  const msgs = deq.json().messages as { id: string; receipt: string; body: unknown; attempts: number; priority: number; enqueuedAt: string }[];
  t.equal(msgs.length, 2);
  t.match(msgs[0], { id, body: { orderId: 42 }, attempts: 1, priority: 5, receipt: String, enqueuedAt: /^\d{4}-\d\d-\d\dT/ });
  const [first, second] = msgs as [typeof msgs[0], typeof msgs[0]];

  const ext = await post(`/v1/queues/orders/messages/${first.id}/extend`, { receipt: first.receipt, visibilityMs: 60_000 });
  t.equal(ext.statusCode, 200);
  t.equal(ext.json().id, first.id);
  t.ok(Date.parse(ext.json().visibleAt) > Date.now() + 50_000);

  const ack = await post(`/v1/queues/orders/messages/${first.id}/ack`, { receipt: first.receipt });
  t.equal(ack.statusCode, 204);
  t.equal(ack.body, '');
  const again = await post(`/v1/queues/orders/messages/${first.id}/ack`, { receipt: first.receipt });
  t.equal(again.statusCode, 409);
  t.match(again.headers['content-type'], /^application\/problem\+json/);
  t.equal(again.json().code, 'receipt_invalid');
  const wrongId = await post(`/v1/queues/orders/messages/${first.id}/ack`, { receipt: second.receipt });
  t.equal(wrongId.json().code, 'receipt_invalid', "another message's receipt is refused");

  const nack = await post(`/v1/queues/orders/messages/${second.id}/nack`, { receipt: second.receipt, delayMs: 0, error: 'boom' });
  t.equal(nack.statusCode, 200);
  t.equal(nack.json().outcome, 'retry');
  t.type(nack.json().nextAttemptAt, 'string');
  const stale = await post(`/v1/queues/orders/messages/${second.id}/nack`, { receipt: second.receipt });
  t.equal(stale.statusCode, 409);

  const redelivered = (await post('/v1/queues/orders/dequeue', { max: 10 })).json().messages;
  t.equal(redelivered.length, 1);
  t.equal(redelivered[0].attempts, 2);
  const batchAck = await post('/v1/queues/orders/ack', { receipts: [redelivered[0].receipt, 'nope.1.x', second.receipt] });
  t.equal(batchAck.statusCode, 200);
  t.same(batchAck.json(), {
    acked: 1,
    failed: 2,
    results: [
      { receipt: redelivered[0].receipt, acked: true },
      { receipt: 'nope.1.x', acked: false, code: 'receipt_invalid' },
      { receipt: second.receipt, acked: false, code: 'receipt_invalid' },
    ],
  });
  t.match((await app.inject({ url: '/v1/queues/orders', headers: auth() })).json(), { ready: 0, inflight: 0, delayed: 1, acked: 2 });

  const del = await app.inject({ method: 'DELETE', url: '/v1/queues/orders', headers: auth() });
  t.equal(del.statusCode, 204);
  const gone = await app.inject({ url: '/v1/queues/orders', headers: auth() });
  t.equal(gone.statusCode, 404);
  t.equal(gone.json().code, 'not_found');
  t.same((await app.inject({ url: '/v1/queues', headers: auth() })).json(), { queues: [] });
});

t.test('any JSON body comes back exactly as sent', async (t) => {
  const app = await build(t, redis.url);
  const bodies = [null, 0, 1.5e300, -7, 'plain', '', true, [], {}, { s: 'é ü 中文 \u2028 "quoted" </script> \\ back', nested: { a: [1, { b: null }] } }];
  const enq = await app.inject({ method: 'POST', url: '/v1/queues/raw/messages', ...json({ messages: bodies.map((body) => ({ body })) }) });
  t.equal(enq.statusCode, 201);
  const deq = await app.inject({ method: 'POST', url: '/v1/queues/raw/dequeue', ...json({ max: 100 }) });
  t.match(deq.headers['content-type'], /^application\/json/);
  t.same((deq.json().messages as { body: unknown }[]).map((m) => m.body), bodies);
});

t.test('policy, dead letters, redrive and purge over HTTP', async (t) => {
  const app = await build(t, redis.url);
  const post = (url: string, body: unknown) => app.inject({ method: 'POST', url, ...json(body) });
  const put = await app.inject({ method: 'PUT', url: '/v1/queues/jobs', ...json({ maxAttempts: 1, visibilityMs: 5000, dedupWindowMs: 1000 }) });
  t.equal(put.statusCode, 200);
  t.match(put.json(), { name: 'jobs', policy: { maxAttempts: 1, visibilityMs: 5000, dedupWindowMs: 1000, backoffBaseMs: 1000, retentionMs: null } });
  t.match((await app.inject({ url: '/v1/queues/jobs', headers: auth() })).json(), { ready: 0, policy: { maxAttempts: 1 } });
  t.equal((await app.inject({ method: 'PUT', url: '/v1/queues/jobs', ...json({ backoffBaseMs: 5000, backoffMaxMs: 10 }) })).statusCode, 400);

  await post('/v1/queues/jobs/messages', { messages: [{ body: 1 }, { body: 2 }, { body: 3 }] });
  const msgs = (await post('/v1/queues/jobs/dequeue', { max: 3 })).json().messages as { id: string; receipt: string }[];
  for (const m of msgs) {
    const r = await post(`/v1/queues/jobs/messages/${m.id}/nack`, { receipt: m.receipt, error: `failed ${m.id}` });
    t.same(r.json(), { outcome: 'dead' });
  }
  const page1 = await app.inject({ url: '/v1/queues/jobs/dead?limit=2', headers: auth() });
  t.equal(page1.statusCode, 200);
  t.equal(page1.json().messages.length, 2);
  t.match(page1.json().messages[0], { attempts: 1, maxAttempts: 1, lastError: /^failed /, reason: /nacked/, deadAt: String });
  const page2 = await app.inject({ url: `/v1/queues/jobs/dead?limit=2&cursor=${encodeURIComponent(page1.json().nextCursor)}`, headers: auth() });
  t.equal(page2.json().messages.length, 1);
  t.notOk(page2.json().nextCursor);
  const bad = await app.inject({ url: '/v1/queues/jobs/dead?cursor=garbage', headers: auth() });
  t.equal(bad.statusCode, 400);

  const one = await post('/v1/queues/jobs/dead/redrive', { ids: [msgs[0]!.id] });
  t.same(one.json(), { redriven: 1 });
  const all = await app.inject({ method: 'POST', url: '/v1/queues/jobs/dead/redrive', headers: auth() });
  t.same(all.json(), { redriven: 2 }, 'no body: all the others');
  t.match((await app.inject({ url: '/v1/queues/jobs', headers: auth() })).json(), { ready: 3, dead: 0, redriven: 3 });
  const [m] = (await post('/v1/queues/jobs/dequeue', {})).json().messages;
  t.equal(m.attempts, 1, 'redriven messages start from attempt 1');
  await post(`/v1/queues/jobs/messages/${m.id}/nack`, { receipt: m.receipt });
  const purge = await app.inject({ method: 'DELETE', url: '/v1/queues/jobs/dead', headers: auth() });
  t.same(purge.json(), { purged: 1 });
  t.match((await app.inject({ url: '/v1/queues/jobs', headers: auth() })).json(), { ready: 2, dead: 0 });
});

t.test('bad input is a 400/413 problem and writes nothing', async (t) => {
  const app = await build(t, redis.url, { env: { BATON_MAX_MESSAGE_BYTES: '1024' } });
  const post = (url: string, body: unknown) => app.inject({ method: 'POST', url, ...json(body) });
  const cases: [string, string, unknown, number][] = [
    ['bad name (space)', '/v1/queues/bad%20name/messages', { body: 1 }, 400],
    ['bad name (slash)', '/v1/queues/a%2Fb/messages', { body: 1 }, 400],
    ['name too long', `/v1/queues/${'x'.repeat(129)}/messages`, { body: 1 }, 400],
    ['priority 10', '/v1/queues/q/messages', { body: 1, priority: 10 }, 400],
    ['priority -1', '/v1/queues/q/messages', { body: 1, priority: -1 }, 400],
    ['priority 1.5', '/v1/queues/q/messages', { body: 1, priority: 1.5 }, 400],
    ['missing body', '/v1/queues/q/messages', { priority: 1 }, 400],
    ['unknown field', '/v1/queues/q/messages', { body: 1, colour: 'red' }, 400],
    ['batch of 101', '/v1/queues/q/messages', { messages: Array.from({ length: 101 }, () => ({ body: 1 })) }, 400],
    ['empty batch', '/v1/queues/q/messages', { messages: [] }, 400],
    ['bad message in batch', '/v1/queues/q/messages', { messages: [{ body: 1 }, { body: 2, priority: 10 }] }, 400],
    ['body over the limit', '/v1/queues/q/messages', { body: 'x'.repeat(2000) }, 413],
    ['body over the limit in a batch', '/v1/queues/q/messages', { messages: [{ body: 1 }, { body: 'x'.repeat(2000) }] }, 413],
    ['negative delay', '/v1/queues/q/messages', { body: 1, delayMs: -5 }, 400],
    ['max 101', '/v1/queues/q/dequeue', { max: 101 }, 400],
    ['max 0', '/v1/queues/q/dequeue', { max: 0 }, 400],
    ['waitMs 60000', '/v1/queues/q/dequeue', { waitMs: 60_000 }, 400],
    ['visibilityMs 0', '/v1/queues/q/dequeue', { visibilityMs: 0 }, 400],
    ['dequeue unknown field', '/v1/queues/q/dequeue', { maxMessages: 3 }, 400],
    ['missing receipt (ack)', '/v1/queues/q/messages/abc/ack', {}, 400],
    ['missing receipt (nack)', '/v1/queues/q/messages/abc/nack', { delayMs: 5 }, 400],
    ['missing receipt (extend)', '/v1/queues/q/messages/abc/extend', { visibilityMs: 5 }, 400],
    ['missing visibilityMs (extend)', '/v1/queues/q/messages/abc/extend', { receipt: 'abc.1.x' }, 400],
    ['bad message id', '/v1/queues/q/messages/a.b/ack', { receipt: 'a.b.1.x' }, 400],
    ['batch ack of 101', '/v1/queues/q/ack', { receipts: Array.from({ length: 101 }, (_, i) => `m${i}.1.x`) }, 400],
    ['batch ack empty', '/v1/queues/q/ack', { receipts: [] }, 400],
    ['redrive of 101 ids', '/v1/queues/q/dead/redrive', { ids: Array.from({ length: 101 }, (_, i) => `m${i}`) }, 400],
  ];
  for (const [what, url, body, status] of cases) {
    const res = await post(url, body);
    t.equal(res.statusCode, status, what);
    t.match(res.headers['content-type'], /^application\/problem\+json/, `${what}: problem document`);
    t.equal(res.json().code, status === 413 ? 'payload_too_large' : 'validation_failed', `${what}: code`);
  }
  const tooBig = await post('/v1/queues/q/messages', { body: 'x'.repeat(2000) });
  t.match(tooBig.json().detail, /1024/, 'the limit is in the detail');
  const policy = [
    { maxAttempts: 0 },
    { visibilityMs: 13 * 3_600_000 },
    { dedupWindowMs: -1 },
    { colour: 'red' },
  ];
  for (const p of policy) {
    const res = await app.inject({ method: 'PUT', url: '/v1/queues/q', ...json(p) });
    t.equal(res.statusCode, 400, `policy ${JSON.stringify(p)}`);
  }
  const dead = await app.inject({ url: '/v1/queues/q/dead?limit=1000', headers: auth() });
  t.equal(dead.statusCode, 400, 'dead page limit');
  const written = (await redis.keys('*')).filter((k) => /:q:\{|queues/.test(k));
  t.same(written, [], 'no queue key was written');
});

t.test('scope and tenant isolation', async (t) => {
  const app = await build(t, redis.url);
  const post = (url: string, body: unknown, key?: string) => app.inject({ method: 'POST', url, ...json(body, key) });
  t.equal((await app.inject({ method: 'POST', url: '/v1/queues/q/messages', payload: { body: 1 } })).statusCode, 401);
  t.equal((await post('/v1/queues/q/messages', { body: 1 }, KEYS.noScopes)).statusCode, 403);
  t.equal((await app.inject({ url: '/v1/queues', headers: auth(KEYS.readOnly) })).statusCode, 403);
  await post('/v1/queues/q/messages', { body: 'secret' });
  t.same((await post('/v1/queues/q/dequeue', { max: 10 }, KEYS.t2)).json(), { messages: [] });
  t.equal((await app.inject({ url: '/v1/queues/q', headers: auth(KEYS.t2) })).statusCode, 404);
  t.same((await app.inject({ url: '/v1/queues', headers: auth(KEYS.t2) })).json(), { queues: [] });
  const [m] = (await post('/v1/queues/q/dequeue', {})).json().messages;
  t.equal((await post(`/v1/queues/q/messages/${m.id}/ack`, { receipt: m.receipt }, KEYS.t2)).statusCode, 409);
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/queues/q', headers: auth(KEYS.t2) })).statusCode, 204);
  t.match((await app.inject({ url: '/v1/queues/q', headers: auth() })).json(), { inflight: 1 }, "t2's delete did not touch t1's queue");
  t.equal((await post(`/v1/queues/q/messages/${m.id}/ack`, { receipt: m.receipt })).statusCode, 204);
});

t.test('long polls over a real socket: woken by an enqueue; a client that leaves takes nothing', async (t) => {
  const app = await build(t, redis.url, { listen: true });
  const headers = { ...auth(), 'content-type': 'application/json' };
  const waiters = async () => {
    const body = (await app.inject({ url: '/metrics' })).body;
    return Number(/^baton_queue_long_poll_waiters (\d+)/m.exec(body)?.[1] ?? -1);
  };
  const poll = fetch(`${app.baseUrl}/v1/queues/lp/dequeue`, { method: 'POST', headers, body: JSON.stringify({ waitMs: 20_000, max: 10 }) });
  await until(async () => (await waiters()) === 1);
  await fetch(`${app.baseUrl}/v1/queues/lp/messages`, { method: 'POST', headers, body: JSON.stringify({ body: 'hello' }) });
  const res = await poll;
  t.equal(res.status, 200);
  t.same(((await res.json()) as { messages: { body: unknown }[] }).messages.map((m) => m.body), ['hello']);

  const ac = new AbortController();
  const gone = fetch(`${app.baseUrl}/v1/queues/lp/dequeue`, { method: 'POST', headers, body: JSON.stringify({ waitMs: 20_000 }), signal: ac.signal });
  await until(async () => (await waiters()) === 1);
  ac.abort();
  await t.rejects(gone);
  await until(async () => (await waiters()) === 0);
  await fetch(`${app.baseUrl}/v1/queues/lp/messages`, { method: 'POST', headers, body: JSON.stringify({ body: 'for the next one' }) });
  const next = await fetch(`${app.baseUrl}/v1/queues/lp/dequeue`, { method: 'POST', headers, body: '{}' });
  const [m] = ((await next.json()) as { messages: { body: unknown; attempts: number }[] }).messages;
  t.same(m?.body, 'for the next one');
  t.equal(m?.attempts, 1, 'the departed poll took nothing');
  app.server.closeAllConnections(); // fetch keeps sockets alive: do not let app.close() wait for them
});

t.test('metrics: message counters, depth gauges, waiters', async (t) => {
  const app = await build(t, redis.url);
  await app.inject({ method: 'POST', url: '/v1/queues/m1/messages', ...json({ messages: [{ body: 1 }, { body: 2 }, { body: 3 }] }) });
  await app.inject({ method: 'POST', url: '/v1/queues/m2/messages', ...json({ body: 1 }) });
  const [m] = (await app.inject({ method: 'POST', url: '/v1/queues/m1/dequeue', ...json({}) })).json().messages;
  await app.inject({ method: 'POST', url: `/v1/queues/m1/messages/${m.id}/ack`, ...json({ receipt: m.receipt }) });
  const body = (await app.inject({ url: '/metrics' })).body;
  t.match(body, /baton_queue_messages_total\{op="enqueued"\} 4/);
  t.match(body, /baton_queue_messages_total\{op="delivered"\} 1/);
  t.match(body, /baton_queue_messages_total\{op="acked"\} 1/);
  t.match(body, /baton_queue_messages_total\{op="dead"\} 0/);
  t.match(body, /baton_queue_depth\{tenant="t1",queue="m1",state="ready"\} 2/);
  t.match(body, /baton_queue_depth\{tenant="t1",queue="m2",state="ready"\} 1/);
  t.match(body, /baton_queue_long_poll_waiters 0/);
  const one = await build(t, redis.url, { env: { BATON_QUEUE_METRICS_TOP_N: '1' } });
  const top = (await one.inject({ url: '/metrics' })).body;
  t.match(top, /queue="m1",state="ready"/, 'the deepest queue');
  t.notMatch(top, /queue="m2"/, 'only the top N');
});

t.test('Redis down → 503 problem with Retry-After; back when it returns', async (t) => {
  const app = await build(t, redis.url);
  await redis.stop();
  for (const [method, url, body] of [
    ['POST', '/v1/queues/q/messages', { body: 1 }],
    ['POST', '/v1/queues/q/dequeue', { waitMs: 1000 }],
    ['POST', '/v1/queues/q/messages/abc/ack', { receipt: 'abc.1.x' }],
    ['GET', '/v1/queues/q', undefined],
    ['GET', '/v1/queues', undefined],
  ] as const) {
    const res = await app.inject({ method, url, ...(body ? json(body) : { headers: auth() }) });
    t.equal(res.statusCode, 503, `${method} ${url}`);
    t.equal(res.json().code, 'backend_unavailable');
    t.ok(res.headers['retry-after']);
  }
  const metrics = await app.inject({ url: '/metrics' });
  t.equal(metrics.statusCode, 200, 'the scrape survives a Redis outage');
  await redis.start();
  await new Promise<void>((ok) => (app.redis.status === 'ready' ? ok() : app.redis.once('ready', () => ok())));
  t.equal((await app.inject({ method: 'POST', url: '/v1/queues/q/messages', ...json({ body: 1 }) })).statusCode, 201);
});

t.end();
