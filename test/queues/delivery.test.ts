// No loss, no double delivery: many messages, 20 concurrent consumers of which some "crash" by never acking
// a share of what they receive. In the end every message is acked exactly once, and no message is ever in
// the hands of two consumers within one visibility window. Volume through the service, plus an HTTP run.
import t, { type Test } from 'tap';
import { auth, build } from '../helpers/build.js';
import { startRedis } from '../helpers/redis.js';
import { serviceOf } from './helpers.js';

const redis = await startRedis(t);
t.beforeEach(() => redis.flush());


interface Delivery {
  consumer: number;
  attempts: number;
  receipt: string;
  /** local clock before the request was sent and after the answer came (the server delivered in between) */
  sentAt: number;
  gotAt: number;
}

/**
 * Check the delivery log: per message, attempts grow by one per delivery, receipts are unique, and a
 * redelivery never happened before the previous delivery's visibility window was over (gotAt of the later
 * one is at least sentAt of the earlier one + visibility: the server stamped the deadline after sentAt and
 * redelivered before gotAt).
 */
function checkLog(t: Test, log: Map<string, Delivery[]>, acks: Map<string, number>, total: number, visibilityMs: number) {
  let overlaps = 0;
  let badAttempts = 0;
  const receipts = new Set<string>();
  let redeliveries = 0;
  for (const [, unordered] of log) {
    // answers can reach the test out of order on a busy machine: order by the server's attempt count
    const ds = [...unordered].sort((a, b) => a.attempts - b.attempts);
    ds.forEach((d, i) => {
      receipts.add(d.receipt);
      if (d.attempts !== i + 1) badAttempts++;
      if (i > 0) {
        redeliveries++;
        const prev = ds[i - 1] as Delivery;
        if (d.gotAt < prev.sentAt + visibilityMs) overlaps++;
      }
    });
  }
  t.equal(log.size, total, 'every message was delivered');
  t.equal(badAttempts, 0, 'attempts count every delivery');
  t.equal(receipts.size, [...log.values()].reduce((n, ds) => n + ds.length, 0), 'every delivery had its own receipt');
  t.equal(overlaps, 0, 'no redelivery within a visibility window');
  t.ok(redeliveries > 0, `the crashed consumers caused redeliveries (${redeliveries})`);
  t.equal(acks.size, total, 'every message was acked');
  t.ok([...acks.values()].every((n) => n === 1), 'exactly once');
}

t.test('service: 10 000 messages, 20 consumers, 5 of them drop 20 % of their messages', async (t) => {
  const app = await build(t, redis.url);
  const q = serviceOf(app);
  const TOTAL = 10_000;
  const VISIBILITY_MS = 400;
  for (let i = 0; i < TOTAL; i += 100) {
    await q.enqueue('t1', 'load', Array.from({ length: 100 }, (_, j) => ({ body: i + j, priority: (i + j) % 10, maxAttempts: 50 })));
  }
  const log = new Map<string, Delivery[]>();
  const acks = new Map<string, number>();
  let acked = 0;
  const consumer = async (n: number) => {
    const crashy = n < 5;
    let k = 0;
    while (acked < TOTAL) {
      const sentAt = Date.now();
      const got = await q.dequeue('t1', 'load', { max: 10, visibilityMs: VISIBILITY_MS, waitMs: 200 });
      const gotAt = Date.now();
      const keep: string[] = [];
      for (const m of got) {
        const ds = log.get(m.id) ?? [];
        ds.push({ consumer: n, attempts: m.attempts, receipt: m.receipt, sentAt, gotAt });
        log.set(m.id, ds);
        if (crashy && k++ % 5 === 0) continue; // "crash": never ack this one
        keep.push(m.receipt);
      }
      if (keep.length > 0) {
        const res = await q.ack('t1', 'load', keep);
        res.forEach((ok, i) => {
          if (!ok) return;
          const id = (keep[i] as string).split('.')[0] as string;
          acks.set(id, (acks.get(id) ?? 0) + 1);
          acked++;
        });
      }
    }
  };
  await Promise.all(Array.from({ length: 20 }, (_, n) => consumer(n)));
  checkLog(t, log, acks, TOTAL, VISIBILITY_MS);
  t.match(await q.info('t1', 'load'), { ready: 0, delayed: 0, inflight: 0, dead: 0, acked: TOTAL, enqueued: TOTAL });
});

t.test('HTTP: 400 messages, 20 consumers over a real socket, some crashing, single and batch acks', async (t) => {
  const app = await build(t, redis.url, { listen: true });
  const TOTAL = 400;
  const VISIBILITY_MS = 1000;
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${app.baseUrl}${path}`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: res.status === 204 ? undefined : ((await res.json()) as Record<string, unknown>) };
  };
  for (let i = 0; i < TOTAL; i += 100) {
    const r = await post('/v1/queues/http-load/messages', { messages: Array.from({ length: 100 }, (_, j) => ({ body: { n: i + j }, maxAttempts: 50 })) });
    t.equal(r.status, 201);
  }
  const log = new Map<string, Delivery[]>();
  const acks = new Map<string, number>();
  let acked = 0;
  const consumer = async (n: number) => {
    const crashy = n % 4 === 0;
    let k = 0;
    while (acked < TOTAL) {
      const sentAt = Date.now();
      const r = await post('/v1/queues/http-load/dequeue', { max: 5, visibilityMs: VISIBILITY_MS, waitMs: 200 });
      const gotAt = Date.now();
      const messages = (r.json?.messages ?? []) as { id: string; receipt: string; attempts: number }[];
      const batch: { id: string; receipt: string }[] = [];
      for (const m of messages) {
        const ds = log.get(m.id) ?? [];
        ds.push({ consumer: n, attempts: m.attempts, receipt: m.receipt, sentAt, gotAt });
        log.set(m.id, ds);
        if (crashy && k++ % 4 === 0) continue;
        if (n % 2 === 0) {
          const a = await post(`/v1/queues/http-load/messages/${m.id}/ack`, { receipt: m.receipt });
          if (a.status === 204) {
            acks.set(m.id, (acks.get(m.id) ?? 0) + 1);
            acked++;
          }
        } else {
          batch.push(m);
        }
      }
      if (batch.length > 0) {
        const a = await post('/v1/queues/http-load/ack', { receipts: batch.map((m) => m.receipt) });
        const results = (a.json?.results ?? []) as { acked: boolean }[];
        results.forEach((r, i) => {
          if (!r.acked) return;
          const id = (batch[i] as { id: string }).id;
          acks.set(id, (acks.get(id) ?? 0) + 1);
          acked++;
        });
      }
    }
  };
  await Promise.all(Array.from({ length: 20 }, (_, n) => consumer(n)));
  checkLog(t, log, acks, TOTAL, VISIBILITY_MS);
  app.server.closeAllConnections(); // fetch keeps sockets alive: do not let app.close() wait for them
});

t.end();
