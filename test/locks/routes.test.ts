// HTTP tests of /v1/locks and /v1/semaphores: the contract's shapes and codes, exclusion under contention,
// bad input, tenant isolation, a client that disconnects while waiting, and two instances on one Redis.
import { request } from 'node:http';
import t from 'tap';
import { auth, build, KEYS } from '../helpers/build.js';
import { startRedis } from '../helpers/redis.js';

const redis = await startRedis(t);
t.beforeEach(() => redis.flush());

type App = Awaited<ReturnType<typeof build>>;

const post = (app: App, url: string, payload: object, key: string = KEYS.t1) =>
  app.inject({ method: 'POST', url, headers: auth(key), payload });
const get = (app: App, url: string, key: string = KEYS.t1) => app.inject({ method: 'GET', url, headers: auth(key) });

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function waiters(app: App): Promise<number> {
  const body = (await app.inject({ url: '/metrics' })).body;
  return Number(/^baton_lock_waiters (\d+)/m.exec(body)?.[1] ?? NaN);
}

t.test('lock contract: acquire, inspect, renew, release', async (t) => {
  const app = await build(t, redis.url);
  const name = encodeURIComponent('orders/42 é');
  const a = await post(app, `/v1/locks/${name}/acquire`, { ttlMs: 10_000 });
  t.equal(a.statusCode, 200);
  const grant = a.json();
  t.same(Object.keys(grant).sort(), ['expiresAt', 'fence', 'name', 'token', 'ttlMs']);
  t.equal(grant.name, 'orders/42 é');
  t.equal(grant.fence, 1);
  t.equal(grant.ttlMs, 10_000);
  t.match(grant.expiresAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

  const busy = await post(app, `/v1/locks/${name}/acquire`, { ttlMs: 1000 });
  t.equal(busy.statusCode, 409);
  t.match(busy.headers['content-type'], /^application\/problem\+json/);
  t.equal(busy.json().code, 'lock_not_acquired');
  t.ok(busy.json().ttlMs > 5_000 && busy.json().ttlMs <= 10_000, 'holder remaining ttlMs');

  const st = await get(app, `/v1/locks/${name}`);
  t.equal(st.statusCode, 200);
  t.same(Object.keys(st.json()).sort(), ['fence', 'held', 'name', 'ttlMs']);
  t.notMatch(st.body, grant.token, 'no token leak');

  const renew = await post(app, `/v1/locks/${name}/renew`, { token: grant.token, ttlMs: 60_000 });
  t.equal(renew.statusCode, 200);
  t.equal(renew.json().fence, 1);
  t.ok(Date.parse(renew.json().expiresAt) > Date.parse(grant.expiresAt));

  const wrong = await post(app, `/v1/locks/${name}/release`, { token: 'not-the-token' });
  t.equal(wrong.statusCode, 409);
  t.equal(wrong.json().code, 'lock_not_owner');
  t.match(wrong.json().detail, /held by another/);

  const rel = await post(app, `/v1/locks/${name}/release`, { token: grant.token });
  t.equal(rel.statusCode, 200);
  t.same(rel.json(), { released: true, remaining: 0 });
  t.same((await get(app, `/v1/locks/${name}`)).json(), { name: 'orders/42 é', held: false, fence: 1 });

  const again = await post(app, `/v1/locks/${name}/release`, { token: grant.token });
  t.equal(again.statusCode, 409);
  t.equal(again.json().code, 'lock_not_owner');
  t.match(again.json().detail, /expired/);
});

t.test('re-entry over HTTP: same owner, same token, remaining counts down', async (t) => {
  const app = await build(t, redis.url);
  const a = (await post(app, '/v1/locks/re/acquire', { ttlMs: 5000, owner: 'w-1' })).json();
  const b = (await post(app, '/v1/locks/re/acquire', { ttlMs: 5000, owner: 'w-1' })).json();
  t.equal(b.token, a.token);
  t.equal(b.fence, a.fence);
  t.equal((await post(app, '/v1/locks/re/acquire', { ttlMs: 5000, owner: 'w-2' })).statusCode, 409);
  t.same((await post(app, '/v1/locks/re/release', { token: a.token })).json(), { released: true, remaining: 1 });
  t.same((await post(app, '/v1/locks/re/release', { token: a.token })).json(), { released: true, remaining: 0 });
});

t.test('exclusion under contention: 50 clients do read-modify-write of a shared counter', async (t) => {
  const app = await build(t, redis.url);
  const CLIENTS = 50;
  const ROUNDS = 20;
  const counterKey = 'test:counter';
  await redis.client.set(counterKey, '0');
  let inside = 0;
  let overlaps = 0;
  let lastFence = 0;
  let fenceOrderBroken = 0;
  await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
    for (let r = 0; r < ROUNDS; r++) {
      const res = await post(app, '/v1/locks/counter/acquire', { ttlMs: 30_000, waitMs: 60_000 });
      if (res.statusCode !== 200) throw new Error(`client ${c} round ${r}: ${res.statusCode} ${res.body}`);
      const { token, fence } = res.json();
      if (++inside > 1) overlaps++;
      if (fence <= lastFence) fenceOrderBroken++;
      lastFence = fence;
      const v = Number(await redis.client.get(counterKey));
      await redis.client.set(counterKey, String(v + 1));
      inside--;
      const rel = await post(app, '/v1/locks/counter/release', { token });
      if (rel.statusCode !== 200) throw new Error(`release: ${rel.statusCode} ${rel.body}`);
    }
  }));
  t.equal(Number(await redis.client.get(counterKey)), CLIENTS * ROUNDS, 'no lost update');
  t.equal(overlaps, 0, 'never two holders at once');
  t.equal(fenceOrderBroken, 0, 'fences strictly increase in acquisition order');
  t.equal(lastFence, CLIENTS * ROUNDS);
  t.equal(await waiters(app), 0);
});

t.test('waiters are woken by a release and by an expiry', async (t) => {
  const app = await build(t, redis.url);
  const held = (await post(app, '/v1/locks/wk/acquire', { ttlMs: 30_000 })).json();
  const waiting = post(app, '/v1/locks/wk/acquire', { ttlMs: 300, waitMs: 20_000 });
  await until(async () => (await waiters(app)) === 1, 'parked');
  t.equal((await post(app, '/v1/locks/wk/release', { token: held.token })).statusCode, 200);
  const w = await waiting;
  t.equal(w.statusCode, 200, 'woken by the release (the holder TTL exceeded the wait)');
  t.equal(w.json().fence, held.fence + 1);
  // w holds it for 300 ms and never releases: the next waiter is woken by the expiry.
  const next = await post(app, '/v1/locks/wk/acquire', { ttlMs: 1000, waitMs: 10_000 });
  t.equal(next.statusCode, 200, 'woken by the expiry');
  t.equal(next.json().fence, held.fence + 2);
  const renew = await post(app, '/v1/locks/wk/renew', { token: w.json().token, ttlMs: 1000 });
  t.equal(renew.statusCode, 409);
  t.equal(renew.json().reason, 'taken');
});

t.test('the wait runs out: 409 lock_not_acquired with the holder ttlMs', async (t) => {
  const app = await build(t, redis.url);
  await post(app, '/v1/locks/to/acquire', { ttlMs: 30_000 });
  const r = await post(app, '/v1/locks/to/acquire', { ttlMs: 1000, waitMs: 150 });
  t.equal(r.statusCode, 409);
  t.equal(r.json().code, 'lock_not_acquired');
  t.ok(r.json().ttlMs > 20_000);
});

t.test('a waiter whose client disconnects leaves the queue and never takes the lock', async (t) => {
  const app = await build(t, redis.url, { listen: true });
  const held = (await post(app, '/v1/locks/gone/acquire', { ttlMs: 30_000 })).json();
  // A real HTTP client over a socket of its own (no keep-alive pool), aborted with an AbortController.
  const ac = new AbortController();
  const req = new Promise<string>((resolve) => {
    const r = request(`${app.baseUrl}/v1/locks/gone/acquire`, {
      method: 'POST',
      agent: false,
      headers: { ...auth(), 'content-type': 'application/json' },
      signal: ac.signal,
    }, () => resolve('answered'));
    r.on('error', () => resolve('aborted'));
    r.end(JSON.stringify({ ttlMs: 30_000, waitMs: 30_000 }));
  });
  await until(async () => (await waiters(app)) === 1, 'parked');
  ac.abort();
  t.equal(await req, 'aborted');
  await until(async () => (await waiters(app)) === 0, 'left the queue');
  t.equal((await post(app, '/v1/locks/gone/release', { token: held.token })).statusCode, 200);
  const st = (await get(app, '/v1/locks/gone')).json();
  t.same(st, { name: 'gone', held: false, fence: held.fence }, 'nobody took it after the release');
  t.match((await app.inject({ url: '/metrics' })).body, /baton_lock_acquire_total\{kind="lock",result="aborted"\} 1/);
});

t.test('two instances on one Redis: a waiter on B is woken by a release on A', async (t) => {
  const a = await build(t, redis.url);
  const b = await build(t, redis.url);
  const held = (await post(a, '/v1/locks/multi/acquire', { ttlMs: 30_000 })).json();
  const waiting = post(b, '/v1/locks/multi/acquire', { ttlMs: 1000, waitMs: 20_000 });
  await until(async () => (await waiters(b)) === 1, 'parked on B');
  t.equal((await post(a, '/v1/locks/multi/release', { token: held.token })).statusCode, 200);
  const w = await waiting;
  t.equal(w.statusCode, 200);
  t.equal(w.json().fence, held.fence + 1);
  // Semaphores too.
  const p = (await post(a, '/v1/semaphores/multi/acquire', { limit: 1, ttlMs: 30_000 })).json();
  const sw = post(b, '/v1/semaphores/multi/acquire', { limit: 1, ttlMs: 1000, waitMs: 20_000 });
  await until(async () => (await waiters(b)) === 1, 'parked on B');
  t.equal((await post(a, '/v1/semaphores/multi/release', { token: p.token })).statusCode, 200);
  t.equal((await sw).statusCode, 200);
});

t.test('semaphore contract', async (t) => {
  const app = await build(t, redis.url);
  const a = await post(app, '/v1/semaphores/pool/acquire', { limit: 2, ttlMs: 10_000 });
  t.equal(a.statusCode, 200);
  t.same(Object.keys(a.json()).sort(), ['expiresAt', 'name', 'token', 'ttlMs']);
  const b = await post(app, '/v1/semaphores/pool/acquire', { limit: 2, ttlMs: 10_000 });
  t.equal(b.statusCode, 200);
  const full = await post(app, '/v1/semaphores/pool/acquire', { limit: 2, ttlMs: 10_000, waitMs: 100 });
  t.equal(full.statusCode, 409);
  t.equal(full.json().code, 'semaphore_full');
  t.equal(full.json().limit, 2);
  t.equal(full.json().holders, 2);
  t.ok(full.json().ttlMs > 5_000 && full.json().ttlMs <= 10_000, 'ttlMs until the earliest holder expires');
  const mismatch = await post(app, '/v1/semaphores/pool/acquire', { limit: 5, ttlMs: 10_000 });
  t.equal(mismatch.statusCode, 409);
  t.equal(mismatch.json().code, 'semaphore_limit_mismatch');
  t.equal(mismatch.json().limit, 2);
  t.same((await get(app, '/v1/semaphores/pool')).json(), { name: 'pool', holders: 2, limit: 2 });
  const renew = await post(app, '/v1/semaphores/pool/renew', { token: a.json().token, ttlMs: 20_000 });
  t.equal(renew.statusCode, 200);
  t.same(Object.keys(renew.json()).sort(), ['expiresAt', 'name', 'token', 'ttlMs']);
  t.same((await post(app, '/v1/semaphores/pool/release', { token: a.json().token })).json(), { released: true, holders: 1 });
  const stale = await post(app, '/v1/semaphores/pool/release', { token: a.json().token });
  t.equal(stale.statusCode, 409);
  t.equal(stale.json().code, 'semaphore_not_holder');
  t.equal((await post(app, '/v1/semaphores/pool/renew', { token: 'unknown', ttlMs: 1000 })).json().code, 'semaphore_not_holder');
  await post(app, '/v1/semaphores/pool/release', { token: b.json().token });
  t.same((await get(app, '/v1/semaphores/pool')).json(), { name: 'pool', holders: 0 });
  t.equal((await post(app, '/v1/semaphores/pool/acquire', { limit: 5, ttlMs: 10_000 })).statusCode, 200, 'empty: new limit');
});

t.test('a semaphore never exceeds its limit under 50 concurrent HTTP acquirers', async (t) => {
  const app = await build(t, redis.url);
  const limit = 3;
  let inside = 0;
  let maxInside = 0;
  await Promise.all(Array.from({ length: 50 }, async () => {
    const r = await post(app, '/v1/semaphores/c50/acquire', { limit, ttlMs: 30_000, waitMs: 30_000 });
    if (r.statusCode !== 200) throw new Error(`${r.statusCode} ${r.body}`);
    maxInside = Math.max(maxInside, ++inside);
    const holders = Number(await redis.client.zcard('baton:t1:s:{=c50}'));
    if (holders > limit) t.fail(`holders ${holders}`);
    inside--;
    await post(app, '/v1/semaphores/c50/release', { token: r.json().token });
  }));
  t.ok(maxInside <= limit, `max inside ${maxInside} <= ${limit}`);
  t.same((await get(app, '/v1/semaphores/c50')).json(), { name: 'c50', holders: 0 });
});

t.test('tenants are isolated', async (t) => {
  const app = await build(t, redis.url);
  const a = (await post(app, '/v1/locks/shared/acquire', { ttlMs: 10_000 }, KEYS.t1)).json();
  const b = await post(app, '/v1/locks/shared/acquire', { ttlMs: 10_000 }, KEYS.t2);
  t.equal(b.statusCode, 200, 't2 has its own lock of the same name');
  t.equal(b.json().fence, 1);
  t.equal((await post(app, '/v1/locks/shared/release', { token: a.token }, KEYS.t2)).statusCode, 409);
  t.equal((await post(app, '/v1/locks/shared/renew', { token: a.token, ttlMs: 1000 }, KEYS.t2)).statusCode, 409);
  t.equal((await get(app, '/v1/locks/shared', KEYS.t1)).json().held, true);
  await post(app, '/v1/semaphores/shared/acquire', { limit: 1, ttlMs: 10_000 }, KEYS.t1);
  t.equal((await post(app, '/v1/semaphores/shared/acquire', { limit: 1, ttlMs: 10_000 }, KEYS.t2)).statusCode, 200);
});

t.test('auth and scope', async (t) => {
  const app = await build(t, redis.url);
  t.equal((await app.inject({ method: 'POST', url: '/v1/locks/x/acquire', payload: { ttlMs: 1000 } })).statusCode, 401);
  t.equal((await post(app, '/v1/locks/x/acquire', { ttlMs: 1000 }, KEYS.readOnly)).statusCode, 403);
  t.equal((await post(app, '/v1/locks/x/acquire', { ttlMs: 1000 }, KEYS.noScopes)).statusCode, 200, 'the locks scope suffices');
});

t.test('bad input is a 400 problem and writes nothing', async (t) => {
  const app = await build(t, redis.url);
  const cases: [string, string, object][] = [
    ['negative ttl', '/v1/locks/x/acquire', { ttlMs: -1 }],
    ['huge ttl', '/v1/locks/x/acquire', { ttlMs: 3_600_001 }],
    ['ttl below minimum', '/v1/locks/x/acquire', { ttlMs: 5 }],
    ['fractional ttl', '/v1/locks/x/acquire', { ttlMs: 1000.5 }],
    ['ttl as string', '/v1/locks/x/acquire', { ttlMs: '1000' }],
    ['missing ttl', '/v1/locks/x/acquire', {}],
    ['huge wait', '/v1/locks/x/acquire', { ttlMs: 1000, waitMs: 60_001 }],
    ['negative wait', '/v1/locks/x/acquire', { ttlMs: 1000, waitMs: -5 }],
    ['unknown field', '/v1/locks/x/acquire', { ttlMs: 1000, lease: 5 }],
    ['empty owner', '/v1/locks/x/acquire', { ttlMs: 1000, owner: '' }],
    ['control char owner', '/v1/locks/x/acquire', { ttlMs: 1000, owner: 'a\u0001' }],
    ['missing token (renew)', '/v1/locks/x/renew', { ttlMs: 1000 }],
    ['missing ttl (renew)', '/v1/locks/x/renew', { token: 'abc' }],
    ['missing token (release)', '/v1/locks/x/release', {}],
    ['empty token', '/v1/locks/x/release', { token: '' }],
    ['control char in name', '/v1/locks/a%00b/acquire', { ttlMs: 1000 }],
    ['name too long', `/v1/locks/${'n'.repeat(513)}/acquire`, { ttlMs: 1000 }],
    ['multi-byte name too long', `/v1/locks/${encodeURIComponent('é'.repeat(257))}/acquire`, { ttlMs: 1000 }],
    ['semaphore limit 0', '/v1/semaphores/s/acquire', { limit: 0, ttlMs: 1000 }],
    ['semaphore missing limit', '/v1/semaphores/s/acquire', { ttlMs: 1000 }],
    ['semaphore unknown field', '/v1/semaphores/s/acquire', { limit: 1, ttlMs: 1000, owner: 'x' }],
    ['semaphore negative ttl', '/v1/semaphores/s/acquire', { limit: 1, ttlMs: -1 }],
    ['semaphore missing token', '/v1/semaphores/s/release', {}],
  ];
  for (const [what, url, body] of cases) {
    const r = await post(app, url, body);
    t.equal(r.statusCode, 400, what);
    t.match(r.headers['content-type'], /^application\/problem\+json/, what);
    t.equal(r.json().code, 'validation_failed', what);
    t.ok(Array.isArray(r.json().errors) && r.json().errors.length > 0, `${what}: errors[]`);
  }
  const bad = await app.inject({ method: 'GET', url: '/v1/locks/%01', headers: auth() });
  t.equal(bad.statusCode, 400);
  const json = await app.inject({ method: 'POST', url: '/v1/locks/x/acquire', headers: { ...auth(), 'content-type': 'application/json' }, payload: '{nope' });
  t.equal(json.statusCode, 400);
  t.same((await redis.keys('*')).filter((k) => /:(l|lf|s|sl):\{/.test(k)), [], 'no lock or semaphore key written');
});

t.test('the name may hold any printable UTF-8, braces included, and lock + fence share a hash slot', async (t) => {
  const app = await build(t, redis.url);
  for (const name of ['}x', '{a}', 'a}b{c', 'ключ:1', '*?[]']) {
    const url = `/v1/locks/${encodeURIComponent(name)}`;
    const r = await post(app, `${url}/acquire`, { ttlMs: 1000 });
    t.equal(r.statusCode, 200, name);
    t.equal(r.json().name, name);
    t.same((await get(app, url)).json().held, true);
  }
  const keys = (await redis.keys('*')).filter((k) => /:(l|lf):\{/.test(k));
  t.equal(keys.length, 10);
  const tag = (k: string) => {
    const s = k.indexOf('{');
    const e = k.indexOf('}', s + 1);
    return s >= 0 && e > s + 1 ? k.slice(s + 1, e) : k;
  };
  for (const k of keys.filter((k) => k.includes(':lf:'))) {
    const lock = k.replace(':lf:', ':l:');
    t.ok(keys.includes(lock));
    t.equal(tag(k), tag(lock), `same tag for ${k}`);
  }
});

t.end();
