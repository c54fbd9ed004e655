// Stampede leases over real HTTP (listening servers, concurrent clients): exactly one lease per miss, waiters
// served by the fill through pub/sub, stale fills refused after DELETE / overwrite / re-lease, expiry handing
// the lease to the next reader, two Baton instances sharing leases and wake-ups, and disconnecting waiters.
import t from 'tap';
import { auth, build } from '../helpers/build.js';
import { TOPOLOGY } from '../helpers/topology.js';
import { startRedis } from '../helpers/redis.js';

const redis = await startRedis(t);
t.beforeEach(() => redis.flush());

/** Wait for a condition that an event elsewhere makes true (bounded; fails the test on timeout). */
async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Res {
  status: number;
  lease: string | null;
  body: string;
}

async function get(base: string, key: string, query = 'lease=true', signal?: AbortSignal): Promise<Res> {
  const r = await fetch(`${base}/v1/cache/${encodeURIComponent(key)}?${query}`, { headers: auth(), signal });
  return { status: r.status, lease: r.headers.get('cache-lease'), body: await r.text() };
}

async function put(base: string, key: string, body: string, lease?: string) {
  const r = await fetch(`${base}/v1/cache/${encodeURIComponent(key)}`, {
    method: 'PUT',
    headers: { ...auth(), 'content-type': 'application/json', ...(lease ? { 'cache-lease': lease } : {}) },
    body,
  });
  return { status: r.status, body: await r.text() };
}

async function metricValue(base: string, line: RegExp): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = line.exec(text);
  return m ? Number(m[1]) : 0;
}

t.test('20 concurrent readers of a missing key: exactly one lease, the 19 others get the filled value', async (t) => {
  const app = await build(t, redis.url, { listen: true });
  const base = app.baseUrl;
  const readers = Array.from({ length: 20 }, () => get(base, 'report:7', 'lease=true&waitMs=20000'));
  // The lease holder's answer comes back at once; the others park (or are still on their way).
  const holder = await Promise.race(readers.map((p) => p.then((r) => (r.status === 404 && r.lease ? r : new Promise<never>(() => undefined)))));
  t.ok(holder.lease, 'someone got the lease');
  await until(() => app.notifier.waiting() === 19, '19 waiters parked');
  // A reader listens, then sends its lease script. On one Redis connection a command sent now is answered after
  // those scripts, so each reader has taken its "busy" answer before ours resolves: every one of them is parked
  // when the fill lands. Twice: a script's first EVALSHA can come back NOSCRIPT and go again as EVAL, sent when
  // that answer arrives, after our first command. (On Cluster this ordering did not hold in every run: there the
  // fill may still land before some reader's script, which then finds the value, a plain hit.)
  const leaseKey = app.keys.cache.lease('t1', 'report:7');
  await app.redis.exists(leaseKey);
  await app.redis.exists(leaseKey);
  const fill = await put(base, 'report:7', '{"total":42}', holder.lease as string);
  t.equal(fill.status, 204, 'the fill under the lease lands');
  const all = await Promise.all(readers);
  t.equal(all.filter((r) => r.lease !== null).length, 1, 'exactly one lease');
  t.equal(all.filter((r) => r.status === 404).length, 1, 'exactly one miss (the lease holder)');
  const served = all.filter((r) => r.status === 200);
  t.equal(served.length, 19, '19 served');
  t.ok(served.every((r) => r.body === '{"total":42}'), 'with the filled value');
  t.equal(app.notifier.waiting(), 0, 'no waiter left behind');
  const collapsed = await metricValue(base, /^baton_cache_lease_waits_collapsed_total (\d+)/m);
  const plainHits = await metricValue(base, /^baton_cache_requests_total\{op="get",result="hit"\} (\d+)/m);
  t.equal(collapsed + plainHits, 19, `19 served without a lease (nobody recomputed): ${collapsed} after waiting, ${plainHits} at once`);
  if (TOPOLOGY !== 'cluster') t.equal(collapsed, 19, 'the 19 parked readers count as collapsed waits');
  t.equal(await metricValue(base, /^baton_cache_requests_total\{op="get",result="lease_granted"\} (\d+)/m), 1);
  t.equal(await metricValue(base, /^baton_cache_requests_total\{op="put",result="filled"\} (\d+)/m), 1);
});

t.test('a fill after DELETE is refused with 409 and stores nothing', async (t) => {
  const app = await build(t, redis.url, { listen: true });
  const base = app.baseUrl;
  const first = await get(base, 'k');
  t.equal(first.status, 404);
  t.ok(first.lease);
  t.equal((await fetch(`${base}/v1/cache/k`, { method: 'DELETE', headers: auth() })).status, 204);
  const fill = await put(base, 'k', '"stale"', first.lease as string);
  t.equal(fill.status, 409);
  t.equal(JSON.parse(fill.body).code, 'lease_invalid');
  t.equal((await get(base, 'k', '')).status, 404, 'nothing stored');
  t.equal(await redis.client.exists('baton:t1:c:v{=k}'), 0);
  t.equal(await metricValue(base, /^baton_cache_requests_total\{op="put",result="stale_lease"\} (\d+)/m), 1);
  const again = await get(base, 'k');
  t.ok(again.lease, 'the next reader gets a new lease');
  t.not(again.lease, first.lease);
  t.equal((await put(base, 'k', '"fresh"', again.lease as string)).status, 204);
  t.equal((await get(base, 'k', '')).body, '"fresh"');
});

t.test('a plain PUT during a lease wins: the waiters get it and the slow filler is refused', async (t) => {
  const app = await build(t, redis.url, { listen: true });
  const base = app.baseUrl;
  const holder = await get(base, 'p');
  t.ok(holder.lease);
  const waiter = get(base, 'p', 'lease=true&waitMs=20000');
  await until(() => app.notifier.waiting() === 1, 'the waiter parked');
  t.equal((await put(base, 'p', '"direct"')).status, 204);
  const served = await waiter;
  t.equal(served.status, 200, 'woken by the plain PUT');
  t.equal(served.body, '"direct"');
  const late = await put(base, 'p', '"slow"', holder.lease as string);
  t.equal(late.status, 409, 'the older lease no longer fills');
  t.equal((await get(base, 'p', '')).body, '"direct"');
});

t.test('lease expiry: a waiter wakes when the lease runs out and takes the new lease; the old token is stale', async (t) => {
  const app = await build(t, redis.url, { listen: true, env: { BATON_CACHE_LEASE_TTL_MS: '300' } });
  const base = app.baseUrl;
  const first = await get(base, 'slow');
  t.ok(first.lease, 'first reader holds the lease (and never fills)');
  const next = await get(base, 'slow', 'lease=true&waitMs=10000');
  t.equal(next.status, 404);
  t.ok(next.lease, 'after the expiry the waiting reader gets a new lease');
  t.not(next.lease, first.lease);
  const stale = await put(base, 'slow', '"old"', first.lease as string);
  t.equal(stale.status, 409, 'the expired lease cannot fill');
  t.equal((await put(base, 'slow', '"new"', next.lease as string)).status, 204);
  t.equal((await get(base, 'slow', '')).body, '"new"');
});

t.test('a waiter whose wait runs out gets 404 without a lease; without waitMs no wait at all', async (t) => {
  const app = await build(t, redis.url, { listen: true });
  const base = app.baseUrl;
  const holder = await get(base, 'w');
  t.ok(holder.lease);
  const timedOut = await get(base, 'w', 'lease=true&waitMs=200');
  t.equal(timedOut.status, 404);
  t.equal(timedOut.lease, null, 'no lease while the holder still has it');
  t.equal(JSON.parse(timedOut.body).code, 'not_found');
  const busy = await get(base, 'w', 'lease=true');
  t.equal(busy.status, 404);
  t.equal(busy.lease, null);
  t.equal(await metricValue(base, /^baton_cache_requests_total\{op="get",result="lease_wait_timeout"\} (\d+)/m), 1);
  t.equal(await metricValue(base, /^baton_cache_requests_total\{op="get",result="lease_busy"\} (\d+)/m), 1);
  t.equal((await get(base, 'w', '')).status, 404, 'a plain GET is a plain miss');
  t.equal(app.notifier.waiting(), 0);
  // A hit with lease=true is just a hit.
  t.equal((await put(base, 'w', '1', holder.lease as string)).status, 204);
  const hit = await get(base, 'w');
  t.equal(hit.status, 200);
  t.equal(hit.lease, null);
});

t.test('two Baton instances on one Redis share leases and wake-ups', async (t) => {
  const a = await build(t, redis.url, { listen: true });
  const b = await build(t, redis.url, { listen: true });
  const holder = await get(a.baseUrl, 'shared');
  t.ok(holder.lease, 'instance A hands out the lease');
  const onB = await get(b.baseUrl, 'shared');
  t.equal(onB.lease, null, 'instance B does not hand out a second one');
  const waiters = Array.from({ length: 5 }, () => get(b.baseUrl, 'shared', 'lease=true&waitMs=20000'));
  await until(() => b.notifier.waiting() === 5, 'waiters parked on B');
  t.equal((await put(a.baseUrl, 'shared', '{"from":"A"}', holder.lease as string)).status, 204, 'filled through A');
  const served = await Promise.all(waiters);
  t.ok(served.every((r) => r.status === 200 && r.body === '{"from":"A"}'), 'B\'s waiters woken by A\'s fill');
  // And a DELETE on B invalidates a lease taken on A.
  await b.inject({ method: 'DELETE', url: '/v1/cache/other', headers: auth() });
  const l2 = await get(a.baseUrl, 'other');
  t.equal((await fetch(`${b.baseUrl}/v1/cache/other`, { method: 'DELETE', headers: auth() })).status, 204);
  t.equal((await put(a.baseUrl, 'other', '1', l2.lease as string)).status, 409);
});

t.test('a waiting client that disconnects leaves the wait', async (t) => {
  const app = await build(t, redis.url, { listen: true });
  const base = app.baseUrl;
  const holder = await get(base, 'gone');
  t.ok(holder.lease);
  const controller = new AbortController();
  const waiter = get(base, 'gone', 'lease=true&waitMs=20000', controller.signal).catch((err: Error) => err);
  await until(() => app.notifier.waiting() === 1, 'parked');
  controller.abort();
  t.type(await waiter, Error, 'the client gave up');
  await until(() => app.notifier.waiting() === 0, 'the server dropped the waiter');
  t.pass('no waiter left');
  t.equal((await put(base, 'gone', '1', holder.lease as string)).status, 204, 'the lease still fills');
});

t.test('a pattern delete also removes leases of matching keys', async (t) => {
  const app = await build(t, redis.url, { listen: true });
  const base = app.baseUrl;
  const holder = await get(base, 'user:9');
  t.ok(holder.lease);
  const r = await fetch(`${base}/v1/cache?pattern=${encodeURIComponent('user:*')}`, { method: 'DELETE', headers: auth() });
  t.same(await r.json(), { deleted: 0 }, 'leases are not counted as values');
  t.equal((await put(base, 'user:9', '1', holder.lease as string)).status, 409, 'the fill is refused');
});

t.end();
