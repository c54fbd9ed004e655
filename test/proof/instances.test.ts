// Several Baton instances on one Redis (issue 7 item 4): two real processes on two ports. Every kind of wait
// parked on instance B is woken by the event happening on instance A (over Redis pub/sub, not by polling and
// not by a timeout), a schedule ticks once per period however many instances run, and queue consumers
// spread over both instances never hold the same message within one visibility window.
import t from 'tap';
import { startRedis } from '../helpers/redis.js';
import { call, metric, startBaton, until, type BatonProcess } from '../helpers/process.js';

if (!process.env.BATON_PROOF?.includes('chaos')) {
  t.pass('skipped: set BATON_PROOF=chaos');
  t.end();
} else {
  t.setTimeout(300_000);
  const redis = await startRedis(t);
  const env = { BATON_CACHE_LEASE_TTL_MS: '30000' };
  const [a, b] = (await Promise.all([startBaton(t, redis.url, { env }), startBaton(t, redis.url, { env })])) as [BatonProcess, BatonProcess];
  const report: string[] = [];

  /** Wait until B has parked a waiter (gauge above its value before), so the wake-up really crosses instances. */
  const parkedOn = async (inst: BatonProcess, gauge: string, before: number) =>
    until(`${gauge} on B`, async () => (await metric(inst.url, gauge)) > before);

  t.test('a lock wait on B is woken by a release on A, long before the holder\'s TTL', async (t) => {
    const held = await call<{ token: string; fence: number }>(a.url, 'POST', '/v1/locks/inst-lock/acquire', { ttlMs: 30_000 });
    t.equal(held.status, 200);
    const before = await metric(b.url, 'baton_lock_waiters');
    const waiting = call<{ token: string; fence: number }>(b.url, 'POST', '/v1/locks/inst-lock/acquire', { ttlMs: 5_000, waitMs: 25_000 });
    await parkedOn(b, 'baton_lock_waiters', before);
    const released = Date.now();
    t.equal((await call(a.url, 'POST', '/v1/locks/inst-lock/release', { token: held.body.token })).status, 200);
    const got = await waiting;
    const latency = Date.now() - released;
    t.equal(got.status, 200, 'B acquired');
    t.ok(got.body.fence > held.body.fence, `fence grew (${held.body.fence} → ${got.body.fence})`);
    t.ok(latency < 5_000, `woken ${latency} ms after the release on A (holder TTL 30 000 ms)`);
    report.push(`lock wake-up across instances: ${latency} ms`);
  });

  t.test('a cache lease wait on B is woken by the fill on A', async (t) => {
    const miss = await call(a.url, 'GET', '/v1/cache/inst:lease?lease=true');
    t.equal(miss.status, 404);
    const lease = miss.headers.get('cache-lease');
    t.ok(lease, 'A holds the lease');
    const before = await metric(b.url, 'baton_waiters');
    const waiting = call(b.url, 'GET', '/v1/cache/inst:lease?lease=true&waitMs=25000');
    await parkedOn(b, 'baton_waiters', before);
    const filled = Date.now();
    const put = await call(a.url, 'PUT', '/v1/cache/inst:lease', { filled: 'by A' }, { headers: { 'cache-lease': lease as string } });
    t.equal(put.status, 204);
    const got = await waiting;
    const latency = Date.now() - filled;
    t.equal(got.status, 200, 'B got the value');
    t.same(got.body, { filled: 'by A' });
    t.ok(latency < 5_000, `woken ${latency} ms after the fill on A (lease TTL 30 000 ms)`);
    report.push(`cache lease wake-up across instances: ${latency} ms`);
  });

  t.test('a queue long poll on B is woken by an enqueue on A', async (t) => {
    const before = await metric(b.url, 'baton_waiters');
    const waiting = call<{ messages: { id: string; body: unknown }[] }>(b.url, 'POST', '/v1/queues/inst-q/dequeue', { waitMs: 20_000 });
    await parkedOn(b, 'baton_waiters', before);
    const sent = Date.now();
    const enq = await call<{ id: string }>(a.url, 'POST', '/v1/queues/inst-q/messages', { body: { hello: 'from A' } });
    t.equal(enq.status, 201);
    const got = await waiting;
    const latency = Date.now() - sent;
    t.equal(got.status, 200);
    t.equal(got.body.messages.length, 1);
    t.equal(got.body.messages[0]?.id, enq.body.id);
    t.ok(latency < 5_000, `woken ${latency} ms after the enqueue on A (waitMs 20 000)`);
    report.push(`queue long-poll wake-up across instances: ${latency} ms`);
  });

  t.test('a task claim on B is woken by a submit on A', async (t) => {
    const before = await metric(b.url, 'baton_task_claims_parked');
    const waiting = call<{ task: { id: string; payload: unknown }; token: string }>(b.url, 'POST', '/v1/workers/inst.job/claim', { waitMs: 20_000 });
    await parkedOn(b, 'baton_task_claims_parked', before);
    const sent = Date.now();
    const sub = await call<{ id: string }>(a.url, 'POST', '/v1/tasks', { type: 'inst.job', payload: { n: 1 } });
    t.equal(sub.status, 202);
    const got = await waiting;
    const latency = Date.now() - sent;
    t.equal(got.status, 200);
    t.equal(got.body.task.id, sub.body.id);
    t.same(got.body.task.payload, { n: 1 });
    t.ok(latency < 5_000, `woken ${latency} ms after the submit on A (waitMs 20 000)`);
    report.push(`task claim wake-up across instances: ${latency} ms`);
    const done = await call(a.url, 'POST', `/v1/tasks/${encodeURIComponent(got.body.task.id)}/complete`, { token: got.body.token, result: 'ok' });
    t.equal(done.status, 200, 'completed through the other instance');
  });

  t.test('a schedule ticks once per period with two instances', async (t) => {
    const everyMs = 500;
    const body = { everyMs, task: { type: 'inst.tick', payload: 1 } };
    // Both instances put the same schedule (as two replicas of a deployment would at start-up).
    t.ok([200, 201].includes((await call(a.url, 'PUT', '/v1/schedules/inst-beat', body)).status));
    t.ok([200, 201].includes((await call(b.url, 'PUT', '/v1/schedules/inst-beat', body)).status));
    const seen: { id: string; at: number }[] = [];
    const started = Date.now();
    const runFor = 4_000;
    const worker = async (inst: BatonProcess) => {
      while (Date.now() - started < runFor) {
        const c = await call<{ task: { id: string }; token: string }>(inst.url, 'POST', '/v1/workers/inst.tick/claim', { waitMs: 1_000 });
        if (c.status !== 200) continue;
        seen.push({ id: c.body.task.id, at: Date.now() });
        await call(inst.url, 'POST', `/v1/tasks/${encodeURIComponent(c.body.task.id)}/complete`, { token: c.body.token, result: 1 });
      }
    };
    await Promise.all([worker(a), worker(b), worker(a), worker(b)]);
    const elapsed = Date.now() - started;
    t.equal((await call(a.url, 'DELETE', '/v1/schedules/inst-beat')).status, 204);
    const ids = seen.map((s) => s.id);
    t.equal(new Set(ids).size, ids.length, 'every tick is a distinct task');
    t.ok(seen.length >= 3, `it ticked (${seen.length} ticks in ${elapsed} ms)`);
    const bound = Math.ceil(elapsed / everyMs) + 1;
    t.ok(seen.length <= bound, `no double ticks: ${seen.length} ticks ≤ ${bound} periods`);
    report.push(`schedule everyMs ${everyMs} with 2 instances: ${seen.length} ticks in ${elapsed} ms`);
  });

  t.test('consumers spread over both instances never hold the same message at once', async (t) => {
    const N = 2_000;
    const queue = 'inst-spread';
    for (let i = 0; i < N; i += 100) {
      const messages = Array.from({ length: 100 }, (_, j) => ({ body: { n: i + j } }));
      t.equal((await call(a.url, 'POST', `/v1/queues/${queue}/messages`, { messages })).status, 201);
    }
    // The visibility window (60 s) outlives the whole run: any id delivered twice would be two
    // concurrent holders.
    const deliveries = new Map<string, number>();
    let acked = 0;
    const consumer = async (inst: BatonProcess) => {
      for (;;) {
        const r = await call<{ messages: { id: string; receipt: string }[] }>(inst.url, 'POST', `/v1/queues/${queue}/dequeue`, { max: 10, visibilityMs: 60_000, waitMs: 500 });
        if (r.status !== 200) throw new Error(`dequeue ${r.status}`);
        if (r.body.messages.length === 0) return;
        for (const m of r.body.messages) deliveries.set(m.id, (deliveries.get(m.id) ?? 0) + 1);
        // Ack half of them through the other instance.
        await Promise.all(r.body.messages.map(async (m, i) => {
          const via = i % 2 === 0 ? inst : inst === a ? b : a;
          const ack = await call(via.url, 'POST', `/v1/queues/${queue}/messages/${m.id}/ack`, { receipt: m.receipt });
          if (ack.status === 204) acked++;
        }));
      }
    };
    await Promise.all([consumer(a), consumer(b), consumer(a), consumer(b), consumer(a), consumer(b)]);
    const twice = [...deliveries.values()].filter((n) => n > 1).length;
    t.equal(deliveries.size, N, 'every message delivered');
    t.equal(twice, 0, 'no message delivered twice within its visibility window');
    t.equal(acked, N, 'every ack accepted');
    const info = await call<{ ready: number; inflight: number }>(b.url, 'GET', `/v1/queues/${queue}`);
    t.equal(info.body.ready + info.body.inflight, 0, 'queue drained');
    report.push(`queue: ${N} messages over 6 consumers on 2 instances: ${twice} double deliveries, ${acked} acks`);
  });

  t.teardown(() => {
    process.stdout.write(`# instances report\n${report.map((l) => `#   ${l}`).join('\n')}\n`);
  });
  t.end();
}
