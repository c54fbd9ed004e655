// Sentinel failover (issue 7 item 3): the real app on master + replica + 3 sentinels, over real HTTP. Under a
// steady load (queue enqueue → dequeue → ack and cache PUT → GET, 4 concurrent loops) the master is
// SIGKILLed: Baton answers 503 (never 500) while the sentinels switch, then serves again from the promoted
// replica by itself (same process, no restart) within 10 s. Queue messages acknowledged and tasks completed
// before the kill, once the replica has confirmed them (WAIT 1), survive; what the unconfirmed load lost or
// got back twice is measured and printed, not assumed (replication is asynchronous).
import t from 'tap';
import { exitWhenDone } from '../helpers/servers.js';
import { auth, build } from '../helpers/build.js';
import { until } from '../helpers/cluster.js';
import { startSentinel } from '../helpers/sentinel.js';

if (!process.env.BATON_PROOF?.includes('sentinel')) {
  t.pass('skipped: set BATON_PROOF=sentinel');
  t.end();
} else {
  t.teardown(exitWhenDone); // runs last: the file's process ends even if a loader handle lingers
  const topo = await startSentinel(t);
  const app = await build(t, '', {
    listen: true,
    env: { REDIS_SENTINELS: topo.sentinelsEnv, REDIS_SENTINEL_MASTER: topo.masterName },
  });
  const base = app.baseUrl;
  // Runs before the app's own close (teardowns run last-registered first): drop every socket, so no keep-alive
  // connection left by fetch (the server keeps them 72 s) holds app.close() past tap's timeout.
  t.teardown(() => app.server.closeAllConnections());

  interface Res<T> {
    status: number;
    body: T;
    text: string;
    sentAt: number;
    doneAt: number;
  }
  const call = async <T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<Res<T>> => {
    const sentAt = Date.now();
    const r = await fetch(base + path, {
      method,
      headers: { ...auth(), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON
    }
    return { status: r.status, body: parsed as T, text, sentAt, doneAt: Date.now() };
  };
  interface Msg {
    id: string;
    receipt: string;
    body: unknown;
  }

  t.test('the app is ready through the sentinels', async (t) => {
    t.equal((await call('GET', '/health/ready')).status, 200);
    t.equal(await topo.currentMaster(), `127.0.0.1:${topo.masterPort}`);
  });

  // Written before the kill and confirmed by the replica: must all survive.
  const durable = { enqueued: [] as string[], acked: new Set<string>(), tasks: [] as string[] };

  t.test('before the kill: acknowledged messages and completed tasks, confirmed by the replica', async (t) => {
    const e = await call<{ ids: string[] }>('POST', '/v1/queues/durable/messages', { messages: Array.from({ length: 50 }, (_, i) => ({ body: { i } })) });
    t.equal(e.status, 201);
    durable.enqueued = e.body.ids;
    const d = await call<{ messages: Msg[] }>('POST', '/v1/queues/durable/dequeue', { max: 20, visibilityMs: 60_000 });
    t.equal(d.body.messages.length, 20);
    for (const m of d.body.messages) {
      t.equal((await call('POST', `/v1/queues/durable/messages/${m.id}/ack`, { receipt: m.receipt })).status, 204);
      durable.acked.add(m.id);
    }
    for (let i = 0; i < 5; i++) {
      const s = await call<{ id: string }>('POST', '/v1/tasks', { type: 'durable', payload: { i } });
      t.equal(s.status, 202);
      const c = await call<{ task: { id: string }; token: string }>('POST', '/v1/workers/durable/claim', { waitMs: 0 });
      t.equal(c.body.task.id, s.body.id);
      t.equal((await call('POST', `/v1/tasks/${s.body.id}/complete`, { token: c.body.token, result: { i } })).status, 200);
      durable.tasks.push(s.body.id);
    }
    t.equal((await call('PUT', '/v1/cache/durable', { kept: true })).status, 204);
    t.equal(await topo.sync(), 1, 'WAIT 1: the replica has every write so far');
  });

  t.test('kill the master under load: 503s during the switch, then served by the new master within 10 s', async (t) => {
    interface Sample {
      op: string;
      status: number;
      sentAt: number;
      doneAt: number;
    }
    const samples: Sample[] = [];
    const enqueued = new Set<string>();
    const acked = new Set<string>();
    const cacheMismatches: string[] = [];
    let stop = false;
    let killedAt = 0;
    const record = <T>(op: string, r: Res<T>) => {
      samples.push({ op, status: r.status, sentAt: r.sentAt, doneAt: r.doneAt });
      return r;
    };
    const loop = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const e = record('enqueue', await call<{ id: string }>('POST', '/v1/queues/load/messages', { body: { w, i } }));
        if (e.status === 201) enqueued.add(e.body.id);
        const d = record('dequeue', await call<{ messages: Msg[] }>('POST', '/v1/queues/load/dequeue', { max: 1, visibilityMs: 2_000 }));
        const m = d.status === 200 ? d.body.messages[0] : undefined;
        if (m) {
          const a = record('ack', await call('POST', `/v1/queues/load/messages/${m.id}/ack`, { receipt: m.receipt }));
          if (a.status === 204) acked.add(m.id);
        }
        const key = `load:${w}:${i}`;
        const p = record('cache-put', await call('PUT', `/v1/cache/${key}`, { w, i }));
        const g = record('cache-get', await call<{ w: number; i: number }>('GET', `/v1/cache/${key}`));
        if (p.status === 204 && g.status === 200 && (g.body.w !== w || g.body.i !== i)) cacheMismatches.push(key);
        // While Redis is away every call fails at once: do not spin the CPU.
        if (d.status === 503) await new Promise((r) => setTimeout(r, 20));
      }
    };
    const loops = [0, 1, 2, 3].map(loop);

    await until('steady load', async () => samples.length >= 1000, 60_000, 50);
    const watch = await topo.watchFailover(30_000);
    killedAt = await topo.killMaster();
    const newMaster = await watch.switched;
    const switchedAt = Date.now();
    t.equal(newMaster, `127.0.0.1:${topo.replicaPort}`, 'the sentinels promoted the replica');
    // Run on until 200 requests sent after the switch have all succeeded in a row, or 20 s pass.
    await until(
      'steady successes after the switch',
      async () => {
        const after = samples.filter((s) => s.sentAt > switchedAt);
        return after.length >= 200 && after.slice(-200).every((s) => s.status < 300);
      },
      20_000,
      50,
    );
    stop = true;
    await Promise.all(loops);

    const bad = samples.filter((s) => s.status >= 500 && s.status !== 503);
    t.same(bad, [], 'never a 5xx other than 503');
    const unexpected = samples.filter((s) => s.status >= 300 && s.status !== 503 && !(s.op === 'ack' && s.status === 409) && !(s.op === 'cache-get' && s.status === 404));
    t.same(unexpected, [], 'no other error statuses (a 409 stale receipt or a 404 for a value whose PUT failed are allowed)');
    const unavailable = samples.filter((s) => s.status === 503);
    t.ok(unavailable.length > 0, 'the switch was visible as 503s');
    const first503 = Math.min(...unavailable.map((s) => s.doneAt));
    const recoveredAt = Math.min(...samples.filter((s) => s.status < 300 && s.sentAt > first503).map((s) => s.doneAt));
    const last503 = Math.max(...unavailable.map((s) => s.doneAt));
    const gap = (recoveredAt - first503) / 1000;
    const killToServe = (recoveredAt - killedAt) / 1000;
    t.ok(Number.isFinite(recoveredAt), 'served again');
    // How long Sentinel takes to elect and promote is Sentinel's (down-after-milliseconds 1000 here; usually
    // ≈2.5 s, but an election that has to be retried takes 20 s and more): Baton's part is to serve again within
    // 10 s of the switch, without a restart. The kill → served time is reported beside it.
    const switchToServe = (recoveredAt - switchedAt) / 1000;
    t.comment(`served again ${killToServe.toFixed(2)} s after the kill, ${switchToServe.toFixed(2)} s after +switch-master`);
    t.ok(switchToServe < 10, `served again ${switchToServe.toFixed(2)} s after Sentinel switched masters (< 10 s)`);
    t.ok(samples.filter((s) => s.sentAt > last503).length >= 200, 'no 503 after recovery');
    t.same(cacheMismatches, [], 'every GET after a successful PUT returned what was put');

    // The new master is the one serving: Baton's command connection now lives on the promoted replica.
    const clients = (await topo.replica.client('LIST')) as string;
    t.match(clients, /name=baton:cmd/, "Baton's command connection is on the new master");
    t.equal((await call('GET', '/health/ready')).status, 200);

    // Drain the load queue: whatever comes back was either never acked (normal) or acked before the kill and
    // lost with the unreplicated tail (a duplicate delivery); an enqueue answered 201 but absent is a loss.
    const drained = new Set<string>();
    await until(
      'load queue drained',
      async () => {
        const d = await call<{ messages: Msg[] }>('POST', '/v1/queues/load/dequeue', { max: 100, visibilityMs: 60_000, waitMs: 500 });
        for (const m of d.body.messages) {
          drained.add(m.id);
          await call('POST', `/v1/queues/load/messages/${m.id}/ack`, { receipt: m.receipt });
        }
        const st = await call<{ ready: number; inflight: number; delayed: number }>('GET', '/v1/queues/load');
        return st.body.ready === 0 && st.body.inflight === 0 && st.body.delayed === 0;
      },
      30_000,
      10,
    );
    const lost = [...enqueued].filter((id) => !acked.has(id) && !drained.has(id));
    const duplicated = [...drained].filter((id) => acked.has(id));
    const total = samples.length;
    const stats = {
      requests: total,
      status503: unavailable.length,
      failoverGapS: Number(gap.toFixed(2)),
      killToServeS: Number(killToServe.toFixed(2)),
      killToSwitchS: Number(((switchedAt - killedAt) / 1000).toFixed(2)),
      enqueued201: enqueued.size,
      acked204: acked.size,
      lostAfter201: lost.length,
      ackedThenRedelivered: duplicated.length,
    };
    t.comment(`failover: ${JSON.stringify(stats)}`);
    t.comment(
      `failover gap (first 503 → first success) ${stats.failoverGapS} s; kill → served again ${stats.killToServeS} s; ` +
        `kill → +switch-master ${stats.killToSwitchS} s; ${stats.status503} of ${total} requests got 503, 0 got another 5xx; ` +
        `${stats.lostAfter201} enqueued messages lost, ${stats.ackedThenRedelivered} acked messages delivered again`,
    );
    // Losses of the unconfirmed tail are possible by design (asynchronous replication); they are reported
    // above. The acknowledged and confirmed writes are asserted in the next test.
  });

  t.test('after the failover: what was confirmed before the kill is all there', async (t) => {
    const st = await call<{ ready: number; inflight: number; dead: number }>('GET', '/v1/queues/durable');
    t.equal(st.status, 200);
    t.equal(st.body.ready + st.body.inflight, 30, 'the 30 unacked messages are still queued');
    const got = new Set<string>();
    await until('durable messages back', async () => {
      const d = await call<{ messages: Msg[] }>('POST', '/v1/queues/durable/dequeue', { max: 100, visibilityMs: 60_000 });
      for (const m of d.body.messages) got.add(m.id);
      return got.size >= 30;
    });
    t.equal(got.size, 30);
    t.same([...got].filter((id) => durable.acked.has(id)), [], 'no acknowledged message came back');
    t.same([...got].sort(), durable.enqueued.filter((id) => !durable.acked.has(id)).sort(), 'exactly the unacked ones');
    for (const id of durable.tasks) {
      const s = await call<{ state: string; result: unknown }>('GET', `/v1/tasks/${id}`);
      t.equal(s.body.state, 'SUCCESS', `task ${id} is still SUCCESS`);
    }
    t.same((await call('GET', '/v1/cache/durable')).body, { kept: true });

    // And every area keeps working on the new master: a task round trip, a lock, a long poll.
    const s = await call<{ id: string }>('POST', '/v1/tasks', { type: 'after', payload: 1 });
    t.equal(s.status, 202);
    const c = await call<{ task: { id: string }; token: string }>('POST', '/v1/workers/after/claim', { waitMs: 5_000 });
    t.equal(c.body.task.id, s.body.id);
    t.equal((await call('POST', `/v1/tasks/${s.body.id}/complete`, { token: c.body.token, result: 2 })).status, 200);
    const lock = await call<{ fence: number }>('POST', '/v1/locks/after/acquire', { ttlMs: 5_000 });
    t.equal(lock.status, 200);
    const poll = call<{ messages: Msg[] }>('POST', '/v1/queues/after/dequeue', { waitMs: 15_000 });
    await until('long poll parked', async () => app.notifier.waiting() > 0);
    t.equal((await call('POST', '/v1/queues/after/messages', { body: 'hi' })).status, 201);
    t.equal((await poll).body.messages[0]?.body, 'hi', 'the long poll is woken through the re-subscribed notifier');
  });

  t.end();
}
