// Queues: enqueue (single, batch of 10), dequeue+ack cycles (single, batch of 10), the batched end-to-end
// cycle (enqueue 10 + dequeue 10 + ack 10, in messages/s) and the long-poll wake-up latency after an enqueue.
// The throughput cases run against one queue pre-seeded with BENCH_QUEUE_DEPTH messages (default 100 000; the
// enqueue cases take it to about a million). One more case measures the batched cycle's cost per message on two
// queues of its own, at 100 000 and at 1 000 000 queued, in alternating rounds, to show that it stays flat with depth.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { percentile } from '../load.js';
import type { BenchCase, BenchContext, LoadResult } from '../types.js';
import { type Answer, postJson, prepare, sendPrepared } from '../client.js';

const DEPTH = Number(process.env.BENCH_QUEUE_DEPTH ?? 100_000);
const DEEP = 'bench-deep';
const BODY = { user: 42, name: 'Ada Lovelace', roles: ['admin', 'dev'], bio: 'x'.repeat(200) };

async function post(ctx: BenchContext, path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await postJson(ctx.baseUrl, path, ctx.headers, body);
  return { status: r.status, json: r.json ?? {} };
}

async function depth(ctx: BenchContext, queue = DEEP): Promise<number> {
  const res = await fetch(`${ctx.baseUrl}/v1/queues/${queue}`, { headers: ctx.headers });
  if (res.status === 404) return 0;
  return ((await res.json()) as { ready: number }).ready;
}

/** Enqueue into `queue` until it holds `target` ready messages (batches of 100, 8 at a time). */
async function fill(ctx: BenchContext, queue: string, target: number): Promise<void> {
  const batches = Math.ceil(Math.max(0, target - (await depth(ctx, queue))) / 100);
  const batch = prepare(ctx.baseUrl, 'POST', `/v1/queues/${queue}/messages`, ctx.headers, { messages: Array.from({ length: 100 }, () => ({ body: BODY })) });
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < batches) {
      next++;
      const r = await sendPrepared(ctx.baseUrl, batch);
      if (r.status !== 201) throw new Error(`seeding failed: ${r.status} ${r.text}`);
    }
  }));
}

let seeded: Promise<void> | undefined;
/** Fill the deep queue up to DEPTH ready messages; once per run. */
function seed(ctx: BenchContext): Promise<void> {
  seeded ??= fill(ctx, DEEP, DEPTH);
  return seeded;
}

const RECEIPT = /"receipt":"([^"]+)"/g;
/** The receipts of a dequeue's answer (a regular expression costs the client less than JSON.parse of ten bodies). */
function receiptsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(RECEIPT)) out.push(m[1]!);
  return out;
}
const ackBody = (receipts: string[]) => `{"receipts":["${receipts.join('","')}"]}`;

/**
 * `loop` runs on each of ctx.connections raw keep-alive connections until the run's time is up; `timed` sends a
 * prepared request and records its latency. The client is bench/client.ts, not autocannon: the load generator
 * shares its CPU with Redis, and autocannon took about 50 µs of it per request (a third of that CPU in the
 * batched cycle, which left Baton 70-77 % busy).
 */
async function loops(ctx: BenchContext, loop: (timed: (request: string) => Promise<Answer>) => Promise<void>) {
  const latencies: number[] = [];
  let requests = 0;
  const timed = async (request: string) => {
    const sent = performance.now();
    const a = await sendPrepared(ctx.baseUrl, request);
    latencies.push(a.at - sent);
    requests++;
    return a;
  };
  const deadline = performance.now() + ctx.durationS * 1000;
  const started = performance.now();
  await Promise.all(Array.from({ length: ctx.connections }, async () => {
    while (performance.now() < deadline) await loop(timed);
  }));
  const elapsedS = (performance.now() - started) / 1000;
  return { elapsedS, requestsPerSec: requests / elapsedS, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}

const batchOfTen = JSON.stringify({ messages: Array.from({ length: 10 }, () => ({ body: BODY })) });

/**
 * One dequeue (the prepared request), then the ack of what it delivered: through the single-message route when
 * `single`, else one batch ack. The number of messages acked, or undefined when either step failed.
 */
async function dequeueThenAck(ctx: BenchContext, timed: (request: string) => Promise<Answer>, queue: string, dequeue: string, single: boolean) {
  const d = await timed(dequeue);
  const receipts = d.status === 200 ? receiptsOf(d.text) : [];
  if (receipts.length === 0) return undefined;
  if (single) {
    const id = receipts[0]!.slice(0, receipts[0]!.indexOf('.'));
    const a = await timed(prepare(ctx.baseUrl, 'POST', `/v1/queues/${queue}/messages/${id}/ack`, ctx.headers, { receipt: receipts[0] }));
    return a.status === 204 ? 1 : undefined;
  }
  const a = await timed(prepare(ctx.baseUrl, 'POST', `/v1/queues/${queue}/ack`, ctx.headers, ackBody(receipts)));
  return a.status === 200 ? Number(/"acked":(\d+)/.exec(a.text)?.[1] ?? 0) : undefined;
}

/**
 * Each connection loops dequeue(max) → ack (single ack for max 1, batch ack for more) on the deep queue.
 * requests/s is HTTP requests; the note gives messages/s.
 */
function dequeueAck(max: number) {
  return async (ctx: BenchContext): Promise<LoadResult> => {
    await seed(ctx);
    const before = await depth(ctx);
    let acked = 0;
    let failed = 0;
    const dequeue = prepare(ctx.baseUrl, 'POST', `/v1/queues/${DEEP}/dequeue`, ctx.headers, { max, visibilityMs: 60_000 });
    const r = await loops(ctx, async (timed) => {
      const n = await dequeueThenAck(ctx, timed, DEEP, dequeue, max === 1);
      if (n === undefined) failed++;
      else acked += n;
    });
    const left = await depth(ctx);
    return {
      requestsPerSec: r.requestsPerSec,
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      errors: failed,
      note: `${Math.round(acked / r.elapsedS)} messages/s acked; ${before} messages ready at start, ${left} at end`,
    };
  };
}

/** enqueue 10 → dequeue 10 → ack 10 per connection, on `queue` (its depth stays as it is); messages/s acked. */
async function cycles(ctx: BenchContext, queue: string) {
  let acked = 0;
  let failed = 0;
  const enqueue = prepare(ctx.baseUrl, 'POST', `/v1/queues/${queue}/messages`, ctx.headers, batchOfTen);
  const dequeue = prepare(ctx.baseUrl, 'POST', `/v1/queues/${queue}/dequeue`, ctx.headers, { max: 10, visibilityMs: 60_000 });
  const r = await loops(ctx, async (timed) => {
    if ((await timed(enqueue)).status !== 201) failed++;
    const n = await dequeueThenAck(ctx, timed, queue, dequeue, false);
    if (n === undefined) failed++;
    else acked += n;
  });
  return { ...r, acked, failed, messagesPerSec: acked / r.elapsedS };
}

/** The batched cycle on the deep queue; requests/s column = messages/s acked. */
async function endToEnd(ctx: BenchContext): Promise<LoadResult> {
  await seed(ctx);
  const before = await depth(ctx);
  const r = await cycles(ctx, DEEP);
  return {
    requestsPerSec: r.messagesPerSec,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    errors: r.failed,
    note: `req/s column = messages/s through enqueue10+dequeue10+ack10 (${Math.round(r.requestsPerSec)} HTTP req/s; p50/p99 per request); ${before} messages ready at start`,
  };
}

/**
 * The same cycle against the naive server (Baton's enqueue, dequeue and ack scripts behind bare routes), on the same
 * deep queue: the yardstick of the cycle, in alternating rounds, so that both see the same phase of the machine.
 */
async function naiveEndToEnd(ctx: BenchContext): Promise<LoadResult> {
  const r = await cycles({ ...ctx, baseUrl: ctx.naiveUrl ?? ctx.baseUrl }, DEEP);
  return { requestsPerSec: r.messagesPerSec, p50Ms: r.p50Ms, p99Ms: r.p99Ms, errors: r.failed };
}

/** Redis's time in scripts so far (µs), from INFO commandstats: what a queue operation costs Redis. */
async function scriptMicros(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let total = 0;
  for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=\d+,usec=(\d+)/gm)) total += Number(m[1]);
  return total;
}

/**
 * Per-operation cost against depth, as the issue asks: the batched cycle on two queues of its own, one holding
 * 100 000 ready messages and one 1 000 000 (the cycle leaves a queue's depth as it is), in alternating rounds so
 * that both see the same phase of the machine. The cost compared is Redis's script time per message (INFO
 * commandstats): what depth could change, since Baton's own work per message never looks at the rest of the
 * queue. The growth is the median of the per-round ratios. A step that scanned the queue would cost 10× more at
 * 1 000 000; O(log n) steps cost a little more (longer skip-list paths, more cache misses).
 */
async function costAgainstDepth(ctx: BenchContext): Promise<LoadResult> {
  const run = randomUUID().slice(0, 8);
  const [small, large] = [`bench-depth-${run}-100k`, `bench-depth-${run}-1m`];
  const redis = new Redis(ctx.redisUrl, { lazyConnect: true });
  await redis.connect();
  try {
    await fill(ctx, small, 100_000);
    await fill(ctx, large, 1_000_000);
    const measure = async (queue: string) => {
      const before = await scriptMicros(redis);
      const r = await cycles(ctx, queue);
      return { ...r, usPerMessage: ((await scriptMicros(redis)) - before) / Math.max(1, r.acked) };
    };
    const rounds: { small: Awaited<ReturnType<typeof measure>>; large: Awaited<ReturnType<typeof measure>> }[] = [];
    for (let i = 0; i < ctx.rounds; i++) rounds.push({ small: await measure(small), large: await measure(large) });
    const growth = percentile(rounds.map((x) => x.large.usPerMessage / x.small.usPerMessage), 50);
    const mid = [...rounds].sort((a, b) => a.large.messagesPerSec - b.large.messagesPerSec)[Math.floor(rounds.length / 2)]!;
    const [smallDepth, largeDepth] = [await depth(ctx, small), await depth(ctx, large)];
    const perRound = rounds.map((x) => `${x.small.usPerMessage.toFixed(1)} / ${x.large.usPerMessage.toFixed(1)}`).join(', ');
    return {
      requestsPerSec: mid.large.messagesPerSec,
      p50Ms: mid.large.p50Ms,
      p99Ms: mid.large.p99Ms,
      errors: rounds.reduce((n, x) => n + x.small.failed + x.large.failed, 0),
      growth,
      note: `req/s column = messages/s at 1 000 000 (median round); Redis script time per message with ${smallDepth} / ${largeDepth} ready, per round: ${perRound} µs`,
    };
  } finally {
    redis.disconnect();
    await Promise.all([small, large].map((q) => fetch(`${ctx.baseUrl}/v1/queues/${q}`, { method: 'DELETE', headers: ctx.headers })));
  }
}

/**
 * Long-poll wake-up: a consumer parks on an empty queue (waitMs 10 s), then a producer enqueues one message;
 * the sample is the consumer's response time minus the enqueue's response time (as for lock handoffs).
 * Several queues run side by side so the run gathers enough samples.
 */
async function wakeUp(ctx: BenchContext): Promise<LoadResult> {
  const samples: number[] = [];
  const fromRequest: number[] = [];
  let errors = 0;
  const pairs = Math.max(1, Math.min(8, Math.floor(ctx.connections / 8)));
  const started = performance.now();
  const deadline = started + ctx.durationS * 1000;
  const run = randomUUID().slice(0, 8);
  await Promise.all(Array.from({ length: pairs }, async (_, p) => {
    const queue = `bench-lp-${run}-${p}`;
    while (performance.now() < deadline) {
      const poll = post(ctx, `/v1/queues/${queue}/dequeue`, { waitMs: 10_000 }).then((r) => ({ ...r, at: performance.now() }));
      // Let the poll park (one Redis round trip); it would still get the message if it had not, just not as a wake-up.
      await new Promise((r) => setTimeout(r, 3));
      const sent = performance.now();
      const enq = await post(ctx, `/v1/queues/${queue}/messages`, { body: { p } });
      const enqAt = performance.now();
      const got = await poll;
      const msgs = (got.json.messages ?? []) as { id: string; receipt: string }[];
      const m = msgs[0];
      if (enq.status !== 201 || got.status !== 200 || !m) {
        errors++;
        continue;
      }
      samples.push(Math.max(0, got.at - enqAt));
      fromRequest.push(got.at - sent);
      const a = await post(ctx, `/v1/queues/${queue}/messages/${m.id}/ack`, { receipt: m.receipt });
      if (a.status !== 204) errors++;
    }
  }));
  await Promise.all(Array.from({ length: pairs }, (_, p) => fetch(`${ctx.baseUrl}/v1/queues/bench-lp-${run}-${p}`, { method: 'DELETE', headers: ctx.headers })));
  const elapsedS = (performance.now() - started) / 1000;
  return {
    requestsPerSec: samples.length / elapsedS,
    p50Ms: percentile(samples, 50),
    p99Ms: percentile(samples, 99),
    errors,
    note: `${samples.length} wake-ups over ${pairs} queue(s), enqueue response → poll response (req/s column = wake-ups/s); from the enqueue request: p50 ${percentile(fromRequest, 50).toFixed(2)} ms`,
  };
}

const enqueueBody = JSON.stringify({ body: BODY });

export const cases: BenchCase[] = [
  {
    name: 'queues: enqueue single',
    method: 'POST',
    path: `/v1/queues/${DEEP}/messages`,
    headers: { 'content-type': 'application/json' },
    body: enqueueBody,
    setup: seed,
    target: { reference: 'proxySet', minRatio: 0.75 },
  },
  {
    // Not a Baton case: Baton's enqueue script behind a bare route (reading aid for the target above).
    name: 'queues: naive server, same enqueue script (reading aid)',
    method: 'POST',
    path: `/v1/queues/${DEEP}/messages`,
    headers: { 'content-type': 'application/json' },
    body: enqueueBody,
    server: 'naive',
    target: { reference: 'proxySet' },
  },
  {
    name: 'queues: enqueue batch of 10',
    method: 'POST',
    path: `/v1/queues/${DEEP}/messages`,
    headers: { 'content-type': 'application/json' },
    body: batchOfTen,
    setup: seed,
  },
  { name: 'queues: dequeue+ack cycle (single)', run: dequeueAck(1) },
  { name: 'queues: dequeue+ack cycle (batch of 10)', run: dequeueAck(10) },
  {
    name: 'queues: enqueue10+dequeue10+ack10 (messages/s)',
    run: endToEnd,
    yardstick: { label: 'naive server', run: naiveEndToEnd },
    target: { reference: 'proxySet', minPerSec: 20_000 },
  },
  {
    name: 'queues: cost per message at 100 000 and 1 000 000 queued',
    run: costAgainstDepth,
    target: { reference: 'proxySet', maxGrowth: 1.5 },
  },
  {
    name: 'queues: long-poll wake-up after an enqueue',
    run: wakeUp,
    target: { reference: 'proxySet', maxP50Ms: 2 },
  },
];
