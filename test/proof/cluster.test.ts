// Redis Cluster (issue 7 item 2): the real app on a real 3-master cluster, over real HTTP. Every area works:
// cache single ops, multi-get/multi-set across many slots, pattern delete visiting every master with an
// exact count, leases woken across the cluster bus; locks with wake-up and fences; semaphores; queues with
// long-poll wake-up, ack, nack and stats; tasks submit/claim/complete/status, claim wake-up, idempotency and
// schedules. Wake-ups use classic PUBLISH, which Redis Cluster broadcasts to every node, so the one
// PSUBSCRIBE of the notifier (on any node) hears events published by scripts on every master.
import t from 'tap';
import { exitWhenDone } from '../helpers/servers.js';
import { auth, build, KEYS } from '../helpers/build.js';
import { startCluster, until } from '../helpers/cluster.js';
import { keySlot } from '../../src/cache/service.js';

if (!process.env.BATON_PROOF?.includes('cluster')) {
  t.pass('skipped: set BATON_PROOF=cluster');
  t.end();
} else {
  t.teardown(exitWhenDone); // runs last: the file's process ends even if a loader handle lingers
  const cluster = await startCluster(t, { replicas: true });
  const app = await build(t, '', { listen: true, env: { REDIS_CLUSTER_NODES: cluster.nodesEnv, BATON_CACHE_LEASE_TTL_MS: '30000' } });
  const base = app.baseUrl;
  // Runs before the app's own close (teardowns run last-registered first): drop every socket, so no keep-alive
  // connection left by fetch (the server keeps them 72 s) holds app.close() past tap's timeout.
  t.teardown(() => app.server.closeAllConnections());
  const statuses: number[] = [];

  interface Res<T> {
    status: number;
    body: T;
    headers: Headers;
    text: string;
  }
  const call = async <T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    key: string = KEYS.t1,
  ): Promise<Res<T>> => {
    const raw = typeof body === 'string';
    const r = await fetch(base + path, {
      method,
      headers: { ...auth(key), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
    });
    const text = method === 'HEAD' ? '' : await r.text();
    statuses.push(r.status);
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON
    }
    return { status: r.status, body: parsed as T, headers: r.headers, text };
  };
  /** The master (index in cluster.masters) that owns a Redis key, from CLUSTER SLOTS. */
  const slotRanges = await cluster.client.cluster('SLOTS');
  const ownerOf = (redisKey: string) => {
    const slot = keySlot(redisKey);
    const range = slotRanges.find(([lo, hi]) => slot >= lo && slot <= hi);
    const node = range?.[2];
    return node ? `${node[0]}:${node[1]}` : 'none';
  };
  /** Parked waits of this app: notifier waiters (leases, long polls) plus lock/semaphore and claim queues. */
  const waiters = async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    let n = app.notifier.waiting();
    for (const name of ['baton_lock_waiters', 'baton_task_claims_parked']) {
      for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'gm'))) n += Number(m[1]);
    }
    return n;
  };

  t.test('the app is ready on the cluster', async (t) => {
    const r = await call('GET', '/health/ready');
    t.equal(r.status, 200, r.text);
    t.equal(cluster.masters.length, 3);
  });

  t.test('cache: single ops on keys spread over every master', async (t) => {
    const owners = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const key = `single:${i}`;
      owners.add(ownerOf(app.keys.cache.value('t1', key)));
      t.equal((await call('PUT', `/v1/cache/${key}?ttlMs=60000`, { i })).status, 204);
    }
    t.equal(owners.size, 3, 'the 30 keys live on all 3 masters');
    const sizes = await Promise.all(cluster.masterClients.map((c) => c.dbsize()));
    t.ok(sizes.every((n) => n > 0), `every master holds values (${sizes.join(', ')})`);
    for (let i = 0; i < 30; i++) {
      const g = await call<{ i: number }>('GET', `/v1/cache/single:${i}`);
      t.equal(g.status, 200);
      t.same(g.body, { i });
      t.ok(Number(g.headers.get('x-ttl-ms')) > 0);
    }
    const h = await call('HEAD', '/v1/cache/single:3');
    t.equal(h.status, 200);
    const etag = (await call('GET', '/v1/cache/single:3')).headers.get('etag') as string;
    t.equal((await call('GET', '/v1/cache/single:3', undefined, { 'if-none-match': etag })).status, 304);
    t.equal((await call('PUT', '/v1/cache/single:3?nx=true', { i: 99 })).status, 412);
    t.equal((await call('DELETE', '/v1/cache/single:3')).status, 204);
    t.equal((await call('GET', '/v1/cache/single:3')).status, 404);
    t.equal((await call('PUT', '/v1/cache/single:3?xx=true', { i: 99 })).status, 412);
    const bin = await call('PUT', '/v1/cache/bin:1', 'hello', { 'content-type': 'text/plain' });
    t.equal(bin.status, 204);
    const back = await call('GET', '/v1/cache/bin:1');
    t.equal(back.text, 'hello');
    t.match(back.headers.get('content-type'), /^text\/plain/);
  });

  t.test('cache: multi-set and multi-get of 99 keys + 1 missing in many slots', async (t) => {
    const entries = Array.from({ length: 99 }, (_, i) => ({ key: `multi:${i}`, value: { n: i } }));
    const slots = new Set(entries.map((e) => keySlot(app.keys.cache.value('t1', e.key))));
    t.ok(slots.size > 50, `${slots.size} distinct slots`);
    t.equal((await call('POST', '/v1/cache', { entries, ttlMs: 60_000 })).status, 204);
    const qs = [...entries.map((e) => `key=${encodeURIComponent(e.key)}`), 'key=multi:absent'].join('&');
    const r = await call<{ entries: Record<string, unknown> }>('GET', `/v1/cache?${qs}`);
    t.equal(r.status, 200, r.text);
    for (const e of entries) t.same(r.body.entries[e.key], e.value);
    t.equal(r.body.entries['multi:absent'], null);
    t.equal(Object.keys(r.body.entries).length, 100);
  });

  t.test('cache: pattern delete visits every master and counts exactly', async (t) => {
    const n = 1500; // about 500 per master: several SCAN rounds (COUNT 500) on each
    const owners = new Set<string>();
    const entries = Array.from({ length: n }, (_, i) => ({ key: `pd:${i}`, value: i }));
    for (const e of entries) owners.add(ownerOf(app.keys.cache.value('t1', e.key)));
    t.equal(owners.size, 3, 'the keys to delete live on all 3 masters');
    for (let i = 0; i < n; i += 100) t.equal((await call('POST', '/v1/cache', { entries: entries.slice(i, i + 100) })).status, 204);
    t.equal((await call('POST', '/v1/cache', { entries: [{ key: 'keep:1', value: 1 }, { key: 'pdx', value: 2 }] })).status, 204);
    t.equal((await call('POST', '/v1/cache', { entries: entries.slice(0, 10) }, {}, KEYS.t2)).status, 204, "t2's own pd:* keys");
    // A lease on a pattern key: removed with its value, but only values are counted.
    const leased = await call('GET', '/v1/cache/pd:lease?lease=true');
    t.equal(leased.status, 404);
    t.ok(leased.headers.get('cache-lease'));

    const del = await call<{ deleted: number }>('DELETE', '/v1/cache?pattern=pd:*');
    t.equal(del.status, 200, del.text);
    t.equal(del.body.deleted, n, 'exactly the n values, from all masters');
    const again = await call<{ deleted: number }>('DELETE', '/v1/cache?pattern=pd:*');
    t.equal(again.body.deleted, 0);
    const left = await call<{ entries: Record<string, unknown> }>('GET', `/v1/cache?${entries.slice(-100).map((e) => `key=${e.key}`).join('&')}`);
    t.ok(Object.values(left.body.entries).every((v) => v === null), 'nothing matching is left');
    t.equal((await call('GET', '/v1/cache/keep:1')).status, 200);
    t.equal((await call('GET', '/v1/cache/pdx')).status, 200, 'pd:* does not match pdx');
    t.equal((await call('GET', '/v1/cache/pd:3', undefined, {}, KEYS.t2)).status, 200, "another tenant's keys stay");
    t.equal((await call('PUT', '/v1/cache/pd:lease', 1, { 'cache-lease': leased.headers.get('cache-lease') as string })).status, 409, 'the lease went with the pattern');
  });

  t.test('cache: lease waiters are woken by the fill', async (t) => {
    const first = await call('GET', '/v1/cache/report:cluster?lease=true&waitMs=20000');
    t.equal(first.status, 404);
    const token = first.headers.get('cache-lease') as string;
    t.ok(token);
    const before = await waiters();
    const started = Date.now();
    const waiting = Promise.all([1, 2, 3].map(() => call('GET', '/v1/cache/report:cluster?lease=true&waitMs=20000')));
    await until('3 lease waiters parked', async () => (await waiters()) >= before + 3);
    t.equal((await call('PUT', '/v1/cache/report:cluster', { total: 7 }, { 'cache-lease': token })).status, 204);
    const got = await waiting;
    for (const g of got) {
      t.equal(g.status, 200);
      t.same(g.body, { total: 7 });
    }
    t.ok(Date.now() - started < 15_000, 'woken by the fill, not by the 20 s wait running out');
  });

  t.test('locks: wait woken by release, fences grow, on names in every slot range', async (t) => {
    const owners = new Set<string>();
    const lastFence = new Map<string, number>();
    for (let i = 0; i < 12; i++) {
      const name = `res-${i}`;
      owners.add(ownerOf(app.keys.locks.lock('t1', name)));
      for (let round = 0; round < 2; round++) {
        const a = await call<{ token: string; fence: number }>('POST', `/v1/locks/${name}/acquire`, { ttlMs: 10_000 });
        t.equal(a.status, 200, a.text);
        t.ok(a.body.fence > (lastFence.get(name) ?? 0), 'fence grows');
        lastFence.set(name, a.body.fence);
        t.equal((await call('POST', `/v1/locks/${name}/release`, { token: a.body.token })).status, 200);
      }
    }
    t.equal(owners.size, 3, 'the lock names live on all 3 masters');

    const held = await call<{ token: string; fence: number }>('POST', '/v1/locks/contended/acquire', { ttlMs: 30_000 });
    t.equal(held.status, 200);
    const busy = await call<{ code: string }>('POST', '/v1/locks/contended/acquire', { ttlMs: 5_000 });
    t.equal(busy.status, 409);
    t.equal(busy.body.code, 'lock_not_acquired');
    const before = await waiters();
    const started = Date.now();
    const waiting = call<{ token: string; fence: number }>('POST', '/v1/locks/contended/acquire', { ttlMs: 5_000, waitMs: 25_000 });
    await until('lock waiter parked', async () => (await waiters()) > before);
    t.equal((await call('POST', '/v1/locks/contended/release', { token: held.body.token })).status, 200);
    const got = await waiting;
    t.equal(got.status, 200, got.text);
    t.ok(got.body.fence > held.body.fence, 'the next holder has a larger fence');
    t.ok(Date.now() - started < 20_000, 'woken by the release, not the 30 s TTL');
    const st = await call<{ held: boolean; fence: number }>('GET', '/v1/locks/contended');
    t.equal(st.body.held, true);
    t.equal(st.body.fence, got.body.fence);
  });

  t.test('semaphores: limit holds, a waiter is woken by a release', async (t) => {
    const a = await call<{ token: string }>('POST', '/v1/semaphores/pool/acquire', { limit: 2, ttlMs: 30_000 });
    const b = await call<{ token: string }>('POST', '/v1/semaphores/pool/acquire', { limit: 2, ttlMs: 30_000 });
    t.equal(a.status, 200);
    t.equal(b.status, 200);
    const full = await call<{ code: string }>('POST', '/v1/semaphores/pool/acquire', { limit: 2, ttlMs: 30_000 });
    t.equal(full.status, 409);
    t.equal(full.body.code, 'semaphore_full');
    const before = await waiters();
    const waiting = call<{ token: string }>('POST', '/v1/semaphores/pool/acquire', { limit: 2, ttlMs: 30_000, waitMs: 25_000 });
    await until('semaphore waiter parked', async () => (await waiters()) > before);
    t.equal((await call('POST', '/v1/semaphores/pool/release', { token: a.body.token })).status, 200);
    const got = await waiting;
    t.equal(got.status, 200, got.text);
    const st = await call<{ holders: number; limit: number }>('GET', '/v1/semaphores/pool');
    t.equal(st.body.holders, 2);
    t.equal(st.body.limit, 2);
  });

  t.test('queues: enqueue, dequeue, ack, nack, stats and long-poll wake-up on queues in every slot range', async (t) => {
    const owners = new Set<string>();
    const queues = Array.from({ length: 9 }, (_, i) => `q${i}`);
    for (const q of queues) owners.add(ownerOf(app.keys.queues.of('t1', q).ready));
    t.equal(owners.size, 3, 'the queues live on all 3 masters');
    for (const q of queues) {
      const e = await call<{ ids: string[] }>('POST', `/v1/queues/${q}/messages`, { messages: [{ body: { q, n: 1 } }, { body: { q, n: 2 }, priority: 9 }] });
      t.equal(e.status, 201, e.text);
      const d = await call<{ messages: { id: string; receipt: string; body: { n: number } }[] }>('POST', `/v1/queues/${q}/dequeue`, { max: 10, visibilityMs: 30_000 });
      t.equal(d.status, 200);
      t.same(d.body.messages.map((m) => m.body.n), [2, 1], 'priority first');
      const [hi, lo] = d.body.messages as unknown as [{ id: string; receipt: string }, { id: string; receipt: string }];
      t.equal((await call('POST', `/v1/queues/${q}/messages/${hi.id}/ack`, { receipt: hi.receipt })).status, 204);
      const nack = await call<{ outcome: string }>('POST', `/v1/queues/${q}/messages/${lo.id}/nack`, { receipt: lo.receipt, delayMs: 0 });
      t.equal(nack.status, 200);
      t.equal(nack.body.outcome, 'retry');
      const again = await call<{ messages: { id: string; receipt: string; attempts: number }[] }>('POST', `/v1/queues/${q}/dequeue`, {});
      t.equal(again.body.messages[0]?.id, lo.id);
      t.equal(again.body.messages[0]?.attempts, 2);
      t.equal((await call('POST', `/v1/queues/${q}/messages/${lo.id}/ack`, { receipt: again.body.messages[0]?.receipt })).status, 204);
      const st = await call<{ ready: number; inflight: number; dead: number }>('GET', `/v1/queues/${q}`);
      t.match(st.body, { ready: 0, inflight: 0, dead: 0 });
    }
    const list = await call<{ queues: { name: string }[] } | { name: string }[]>('GET', '/v1/queues');
    t.equal(list.status, 200);
    t.ok(queues.every((q) => list.text.includes(`"${q}"`)), 'every queue is listed');

    // One long poll per master: whichever node the notifier subscribed on, events published by scripts on
    // the other masters reach it (classic PUBLISH is broadcast over the cluster bus).
    const onePerMaster = [...new Map(queues.map((q) => [ownerOf(app.keys.queues.of('t1', q).ready), q])).values()];
    t.equal(onePerMaster.length, 3);
    const before = await waiters();
    const started = Date.now();
    const polls = onePerMaster.map((q) => call<{ messages: { body: string }[] }>('POST', `/v1/queues/${q}/dequeue`, { waitMs: 20_000 }));
    await until('3 long polls parked', async () => (await waiters()) >= before + 3);
    for (const q of onePerMaster) t.equal((await call('POST', `/v1/queues/${q}/messages`, { body: `wake ${q}` })).status, 201);
    const got = await Promise.all(polls);
    t.same(got.map((g) => g.body.messages[0]?.body), onePerMaster.map((q) => `wake ${q}`));
    t.ok(Date.now() - started < 15_000, 'woken by the enqueues, not the 20 s wait');
    const metrics = await fetch(`${base}/metrics`);
    t.equal(metrics.status, 200, 'the metrics scrape reads queue depths across the cluster');
  });

  t.test('tasks: submit, claim, progress, complete, status, idempotency and claim wake-up', async (t) => {
    const types = ['resize', 'email', 'report', 'thumb', 'index'];
    for (const type of types) {
      const s = await call<{ id: string; statusUrl: string; state: string }>('POST', '/v1/tasks', { type, payload: { type }, idempotencyKey: `k-${type}` });
      t.equal(s.status, 202, s.text);
      t.equal(s.body.state, 'PENDING');
      const dup = await call<{ id: string }>('POST', '/v1/tasks', { type, payload: { type }, idempotencyKey: `k-${type}` });
      t.equal(dup.body.id, s.body.id, 'same idempotency key, same task');
      const c = await call<{ task: { id: string; payload: unknown }; token: string }>('POST', `/v1/workers/${type}/claim`, { waitMs: 0 });
      t.equal(c.status, 200, c.text);
      t.equal(c.body.task.id, s.body.id);
      t.same(c.body.task.payload, { type });
      t.equal((await call('POST', `/v1/tasks/${s.body.id}/progress`, { token: c.body.token, current: 1, total: 2 })).status, 200);
      t.equal((await call<{ state: string }>('GET', s.body.statusUrl)).body.state, 'PROGRESS');
      t.equal((await call('POST', `/v1/tasks/${s.body.id}/complete`, { token: c.body.token, result: { done: type } })).status, 200);
      const st = await call<{ state: string; result: unknown }>('GET', s.body.statusUrl);
      t.equal(st.body.state, 'SUCCESS');
      t.same(st.body.result, { done: type });
    }
    const failing = await call<{ id: string }>('POST', '/v1/tasks', { type: 'flaky', payload: 1 });
    const fc = await call<{ token: string }>('POST', '/v1/workers/flaky/claim', { waitMs: 0 });
    t.equal((await call('POST', `/v1/tasks/${failing.body.id}/fail`, { token: fc.body.token, error: 'boom', retry: false })).status, 200);
    t.equal((await call<{ state: string }>('GET', `/v1/tasks/${failing.body.id}`)).body.state, 'FAILURE');

    const revoked = await call<{ id: string }>('POST', '/v1/tasks', { type: 'later', payload: 1, delayMs: 60_000 });
    t.equal((await call('DELETE', `/v1/tasks/${revoked.body.id}`)).status < 300, true);
    t.equal((await call<{ state: string }>('GET', `/v1/tasks/${revoked.body.id}`)).body.state, 'REVOKED');

    const before = await waiters();
    const started = Date.now();
    const claiming = call<{ task: { payload: unknown } }>('POST', '/v1/workers/wakeme/claim', { waitMs: 20_000 });
    await until('claim parked', async () => (await waiters()) > before);
    t.equal((await call('POST', '/v1/tasks', { type: 'wakeme', payload: 'now' })).status, 202);
    const got = await claiming;
    t.equal(got.status, 200, got.text);
    t.equal(got.body.task.payload, 'now');
    t.ok(Date.now() - started < 15_000, 'woken by the submit, not the 20 s wait');
  });

  t.test('tasks: a schedule produces tasks on the cluster', async (t) => {
    const put = await call('PUT', '/v1/schedules/beat', { everyMs: 300, task: { type: 'tick', payload: { n: 1 } } });
    t.ok(put.status === 200 || put.status === 201, put.text);
    const c = await call<{ task: { payload: unknown } }>('POST', '/v1/workers/tick/claim', { waitMs: 15_000 });
    t.equal(c.status, 200, c.text);
    t.same(c.body.task.payload, { n: 1 });
    const list = await call<{ schedules: { id: string }[] }>('GET', '/v1/schedules');
    t.same(list.body.schedules.map((s) => s.id), ['beat']);
    t.equal((await call('DELETE', '/v1/schedules/beat')).status, 204);
  });

  t.test('no request of this file got a 5xx', async (t) => {
    t.same(statuses.filter((s) => s >= 500), []);
    t.comment(`${statuses.length} HTTP requests on a 3-master cluster, 0 5xx`);
  });

  t.test('a master dies: its replica takes over, Baton answers 503 meanwhile and recovers by itself', async (t) => {
    // Kill the master the notifier's subscriber is connected to (ioredis names it
    // "ioredis-cluster(subscriber):baton:sub"): the worst case for wake-ups. It may sit on a replica; then
    // the first master goes.
    let victim = cluster.masters[0] as string;
    let subscriberOnVictim = false;
    for (const [i, c] of cluster.masterClients.entries()) {
      if (/name=\S*baton:sub\b/.test((await c.client('LIST')) as string)) {
        victim = cluster.masters[i] as string;
        subscriberOnVictim = true;
      }
    }
    t.comment(`killing master ${victim}${subscriberOnVictim ? " (the notifier's subscriber node)" : ' (the subscriber is on a replica)'}`);
    interface Sample {
      status: number;
      sentAt: number;
      doneAt: number;
    }
    const samples: Sample[] = [];
    let stop = false;
    const timed = async <T>(p: () => Promise<Res<T>>) => {
      const sentAt = Date.now();
      const r = await p();
      samples.push({ status: r.status, sentAt, doneAt: Date.now() });
      return r;
    };
    const loop = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const q = `fo${i % 9}`;
        const e = await timed(() => call<{ id: string }>('POST', `/v1/queues/${q}/messages`, { body: i }));
        const d = await timed(() => call<{ messages: { id: string; receipt: string }[] }>('POST', `/v1/queues/${q}/dequeue`, { visibilityMs: 60_000 }));
        const m = d.status === 200 ? d.body.messages[0] : undefined;
        if (m) await timed(() => call('POST', `/v1/queues/${q}/messages/${m.id}/ack`, { receipt: m.receipt }));
        await timed(() => call('PUT', `/v1/cache/fo:${w}:${i}`, { i }));
        await timed(() => call('GET', `/v1/cache/fo:${w}:${i}`));
        if (e.status === 503) await new Promise((r) => setTimeout(r, 20));
      }
    };
    const loops = [0, 1].map(loop);
    await until('steady load', async () => samples.length >= 300, 30_000, 50);
    const killedAt = await cluster.killNode(victim);
    const healthyAt = await cluster.waitHealthy(30_000);
    await until(
      '100 successes in a row after the failover',
      async () => {
        const after = samples.filter((s) => s.sentAt > healthyAt);
        return after.length >= 100 && after.slice(-100).every((s) => s.status < 300);
      },
      20_000,
      50,
    );
    stop = true;
    await Promise.all(loops);
    const other5xx = samples.filter((s) => s.status >= 500 && s.status !== 503);
    t.same(other5xx, [], 'never a 5xx other than 503');
    const unavailable = samples.filter((s) => s.status === 503);
    const recoveredAt = Math.min(...samples.filter((s) => s.status < 300 && s.sentAt > Math.max(killedAt, ...unavailable.map((u) => u.doneAt))).map((s) => s.doneAt));
    t.ok(Number.isFinite(recoveredAt), 'served again without a restart');
    const first503 = unavailable.length ? Math.min(...unavailable.map((s) => s.doneAt)) : killedAt;
    t.comment(
      `cluster failover: ${unavailable.length} of ${samples.length} requests got 503, 0 another 5xx; ` +
        `kill → cluster_state:ok ${((healthyAt - killedAt) / 1000).toFixed(2)} s; ` +
        `first 503 → served again ${((recoveredAt - first503) / 1000).toFixed(2)} s; kill → served again ${((recoveredAt - killedAt) / 1000).toFixed(2)} s; ` +
        `slowest request ${(Math.max(...samples.map((s) => s.doneAt - s.sentAt)) / 1000).toFixed(2)} s`,
    );

    // Wake-ups still cross the cluster: one long poll per (new) master, each woken by its enqueue.
    const survivor = cluster.masterClients[cluster.masters.indexOf(victim) === 0 ? 1 : 0] as (typeof cluster.masterClients)[number];
    const ranges = await survivor.cluster('SLOTS');
    const owner = (redisKey: string) => {
      const slot = keySlot(redisKey);
      const node = ranges.find(([lo, hi]) => slot >= lo && slot <= hi)?.[2];
      return node ? `${node[0]}:${node[1]}` : 'none';
    };
    const names = Array.from({ length: 30 }, (_, i) => `after${i}`);
    const onePerMaster = [...new Map(names.map((q) => [owner(app.keys.queues.of('t1', q).ready), q])).values()];
    t.equal(onePerMaster.length, 3, 'three masters serve the slots again');
    const before = await waiters();
    const polls = onePerMaster.map((q) => call<{ messages: { body: string }[] }>('POST', `/v1/queues/${q}/dequeue`, { waitMs: 20_000 }));
    await until('3 long polls parked', async () => (await waiters()) >= before + 3);
    const started = Date.now();
    for (const q of onePerMaster) t.equal((await call('POST', `/v1/queues/${q}/messages`, { body: `wake ${q}` })).status, 201);
    const got = await Promise.all(polls);
    t.same(got.map((g) => g.body.messages[0]?.body), onePerMaster.map((q) => `wake ${q}`));
    t.ok(Date.now() - started < 15_000, 'woken by the enqueues through the re-subscribed notifier, not by the 20 s wait');
  });

  t.end();
}
