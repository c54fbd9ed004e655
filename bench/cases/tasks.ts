// Tasks: (1) raw BullMQ add + process on the same Redis (the yardstick), (2) HTTP workers under producer
// loops: claim → complete, and (2b) with the next task claimed on the complete (`next`), tasks/s with
// submit→complete p50/p99 (target ≥ 0.3× of (1)), (3) submit → SUCCESS through the in-process `baton.echo`
// handler (target ≥ 0.6× of (1)), and (4) claim wake-up: with a claim parked, the time from sending a submit
// to the claim's answer (target p50 ≤ 5 ms). (2) and (3) run in rounds alternating with (1) (bench/run.ts),
// so each ratio compares adjacent runs.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { BATON_TASK_PREFIX, ECHO_QUEUE, NAIVE_TASK_PREFIX, type BenchCase, type BenchContext, type LoadResult } from '../types.js';
import { postJson } from '../client.js';
import { hasWrk, load, percentile } from '../load.js';

const loops = (ctx: BenchContext) => Math.max(1, Math.min(ctx.connections, 32));

/**
 * Raw BullMQ on the bench's Redis: producers add as fast as they can while a Worker (same concurrency)
 * processes. Run by bench/raw-bullmq.ts in a process of its own.
 */
export async function rawBullmqHere(redisUrl: string, durationS: number, concurrency: number): Promise<LoadResult> {
  const producer = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const consumer = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const prefix = `bench-raw-${randomUUID().slice(0, 8)}`;
  const queue = new Queue('{raw}', { connection: producer, prefix });
  const added = new Map<string, number>();
  const latencies: number[] = [];
  let processed = 0;
  const worker = new Worker('{raw}', async () => null, { connection: consumer, prefix, concurrency: concurrency, autorun: true });
  worker.on('completed', (job) => {
    processed++;
    const t0 = added.get(job.id!);
    if (t0 !== undefined) latencies.push(performance.now() - t0);
    added.delete(job.id!);
  });
  await worker.waitUntilReady();
  const deadline = Date.now() + durationS * 1000;
  const started = performance.now();
  let errors = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline) {
        // Keep the backlog bounded so this measures add+process, not add alone.
        if (added.size > concurrency * 4) {
          await new Promise((r) => setTimeout(r, 1));
          continue;
        }
        const t0 = performance.now();
        try {
          const job = await queue.add('raw', { n: 1 }, { removeOnComplete: true });
          added.set(job.id!, t0);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsedS = (performance.now() - started) / 1000;
  await worker.close();
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  producer.disconnect();
  consumer.disconnect();
  const rawJobsPerSec = processed / elapsedS;
  return {
    requestsPerSec: rawJobsPerSec,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    errors,
    note: `${Math.round(rawJobsPerSec)} jobs/s raw BullMQ add→process (concurrency ${concurrency}); the yardstick of the task cases, in its own process on the server CPU`,
  };
}

/**
 * The yardstick in its own process on the server CPU, as Baton runs (Node on CPU 0, Redis on CPU 1): like against
 * like. Inside the bench process it would share the load CPU with Redis, a placement that favours Baton and whose
 * per-CPU noise does not cancel between the alternating rounds.
 */
function rawBullmq(ctx: BenchContext): Promise<LoadResult> {
  const args = ['--import', 'tsx', 'bench/raw-bullmq.ts', ctx.redisUrl, String(ctx.durationS), String(loops(ctx))];
  const [bin, ...rest] = ctx.serverCpu ? ['taskset', '-c', ctx.serverCpu, 'node', ...args] : ['node', ...args];
  return new Promise((ok, fail) => {
    const child = spawn(bin as string, rest, { cwd: fileURLToPath(new URL('../..', import.meta.url)), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', fail);
    child.on('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code === 0 && line.startsWith('{')) ok(JSON.parse(line) as LoadResult);
      else fail(new Error(`raw BullMQ yardstick exited ${code}: ${err.trim().slice(-300)}`));
    });
  });
}

function post(ctx: BenchContext, path: string, body: unknown): Promise<{ status: number; json: unknown }> {
  return postJson<unknown>(ctx.baseUrl, path, ctx.headers, body);
}

/**
 * HTTP workers under a producer load, shaped like the raw BullMQ yardstick: producer loops submit while the
 * backlog stays bounded, and as many worker loops claim (waiting up to 1 s) and complete. A cycle is one task
 * submitted, claimed and completed; its latency runs from sending the submit to the complete's answer (queue
 * time included, as the yardstick's add→completed). With `chained`, each worker asks for its next task on
 * the complete (`next`), and claims on its own only when that found none: two requests per task instead of
 * three, as BullMQ's Worker fetches the next job in the script that completes the last.
 */
function httpWorkerCycles(chained: boolean) {
  return async (ctx: BenchContext): Promise<LoadResult> => {
    const type = `bench-${randomUUID().slice(0, 8)}`;
    const n = loops(ctx);
    const latencies: number[] = [];
    let errors = 0;
    let requests = 0;
    let backlog = 0;
    const deadline = Date.now() + ctx.durationS * 1000;
    const started = performance.now();
    type Claimed = { task: { id: string; payload: { t: number } }; token: string };
    const producer = async () => {
      while (Date.now() < deadline) {
        if (backlog > n * 4) {
          await new Promise((r) => setTimeout(r, 1));
          continue;
        }
        backlog++;
        const s = await post(ctx, '/v1/tasks', { type, payload: { t: performance.now() } });
        requests++;
        if (s.status !== 202) {
          errors++;
          backlog--;
        }
      }
    };
    const worker = async () => {
      let held: Claimed | null = null;
      const next = chained ? { next: { waitMs: 1000 } } : {};
      while (Date.now() < deadline) {
        if (!held) {
          const c = await post(ctx, `/v1/workers/${type}/claim`, { waitMs: 1000 });
          requests++;
          if (c.status !== 200) continue; // 204: nothing came within the wait
          held = c.json as Claimed;
        }
        const d = await post(ctx, `/v1/tasks/${held.task.id}/complete`, { token: held.token, result: 1, ...next });
        requests++;
        if (d.status === 200) {
          latencies.push(performance.now() - held.task.payload.t);
          backlog--;
        } else errors++;
        held = chained && d.status === 200 ? ((d.json as { next: Claimed | null }).next ?? null) : null;
      }
    };
    await Promise.all([...Array.from({ length: n }, producer), ...Array.from({ length: n }, worker)]);
    const perSec = latencies.length / ((performance.now() - started) / 1000);
    return {
      requestsPerSec: perSec,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      errors,
      note: `${Math.round(perSec)} tasks/s through HTTP workers, ${(requests / Math.max(1, latencies.length)).toFixed(2)} requests per task${chained ? ' (the next task claimed on the complete)' : ''}; p50/p99 from submit to complete`,
    };
  };
}

/**
 * Submits to `baton.echo` at full speed and counts the tasks that reached SUCCESS (read from the bench
 * tenant's BullMQ queue) over the load and the drain of what it left queued. Latency: of the submit request.
 * The submits come from wrk when it is installed, as in every fixed-request case: the node:http loops below
 * took 30-50 % of the load CPU, which Redis shares, and left Baton 73-81 % busy (the case measured its own
 * client). Without wrk, the loops (backlog kept bounded).
 */
async function inProcessHandler(ctx: BenchContext): Promise<LoadResult> {
  return hasWrk
    ? completions(ctx, 'submits by wrk', () => wrkSubmits(ctx, { type: 'baton.echo', payload: 1 }))
    : completions(ctx, 'submits by node:http loops', (queue) => submitLoops(ctx, queue));
}

/** wrk POSTing the same submit body to /v1/tasks for the case's duration. */
function wrkSubmits(ctx: BenchContext, body: unknown): Promise<LoadResult> {
  const headers = { ...ctx.headers, 'content-type': 'application/json' };
  return load({ method: 'POST', url: `${ctx.baseUrl}/v1/tasks`, headers, body: JSON.stringify(body) }, ctx.durationS, ctx.connections);
}

/** The same with batch submits of 10 tasks (wrk only): the HTTP cost of a submit shared by ten tasks. */
async function inProcessBatches(ctx: BenchContext): Promise<LoadResult> {
  if (!hasWrk) return { requestsPerSec: NaN, p50Ms: NaN, p99Ms: NaN, errors: 0, note: 'needs wrk' };
  const tasks = Array.from({ length: 10 }, (_, i) => ({ payload: i }));
  return completions(ctx, 'batch submits of 10 by wrk', () => wrkSubmits(ctx, { type: 'baton.echo', tasks }));
}

/**
 * The same submits (wrk only) to the naive server: Baton's BullMQ job behind a bare route, with a no-op Worker in
 * its process. What the operation itself reaches against the yardstick (reading aid for the 0.6 target).
 */
async function naiveInProcess(ctx: BenchContext): Promise<LoadResult> {
  if (!hasWrk || !ctx.naiveUrl) return { requestsPerSec: NaN, p50Ms: NaN, p99Ms: NaN, errors: 0, note: 'needs wrk and the naive server' };
  const naive = { ...ctx, baseUrl: ctx.naiveUrl };
  return completions(naive, 'naive server, submits by wrk', () => wrkSubmits(naive, { type: 'baton.echo', payload: 1 }), NAIVE_TASK_PREFIX);
}

/** Tasks of `baton.echo` not yet finished (waiting, prioritized or running). */
async function backlogOf(queue: Queue): Promise<number> {
  const c = await queue.getJobCounts('waiting', 'prioritized', 'active');
  return (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.active ?? 0);
}

/** Runs `submit` (the load), lets the backlog drain (bounded), and reports tasks finished per second over both. */
async function completions(ctx: BenchContext, how: string, submit: (queue: Queue) => Promise<LoadResult>, prefix = BATON_TASK_PREFIX): Promise<LoadResult> {
  const conn = new Redis(ctx.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(ECHO_QUEUE, { connection: conn, prefix });
  try {
    const completedBefore = await queue.getCompletedCount();
    const started = performance.now();
    const submits = await submit(queue);
    for (let i = 0; i < 500 && (await backlogOf(queue)) > 0; i++) await new Promise((r) => setTimeout(r, 20));
    const perSec = ((await queue.getCompletedCount()) - completedBefore) / ((performance.now() - started) / 1000);
    return {
      requestsPerSec: perSec,
      p50Ms: submits.p50Ms,
      p99Ms: submits.p99Ms,
      errors: submits.errors + (submits.non2xx ?? 0),
      note: `${Math.round(perSec)} tasks/s submit→SUCCESS in-process (${how}; p50/p99 of the submit)`,
    };
  } finally {
    await queue.close();
    conn.disconnect();
  }
}

/** Submits from many node:http loops for durationS, pausing while the backlog exceeds 8 per loop. */
async function submitLoops(ctx: BenchContext, queue: Queue): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let backlog = 0;
  let stop = false;
  const poll = (async () => {
    while (!stop) {
      backlog = await backlogOf(queue);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const deadline = Date.now() + ctx.durationS * 1000;
  await Promise.all(
    Array.from({ length: loops(ctx) }, async () => {
      while (Date.now() < deadline) {
        if (backlog > loops(ctx) * 8) {
          await new Promise((r) => setTimeout(r, 2));
          continue;
        }
        const t0 = performance.now();
        const s = await post(ctx, '/v1/tasks', { type: 'baton.echo', payload: 1 });
        if (s.status === 202) latencies.push(performance.now() - t0);
        else errors++;
      }
    }),
  );
  stop = true;
  await poll;
  return { requestsPerSec: latencies.length / ctx.durationS, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), errors };
}

/** A claim parks; then a submit: time from sending the submit to the claim's answer. Sequential probes. */
async function claimWakeUp(ctx: BenchContext): Promise<LoadResult> {
  const type = `bench-wake-${randomUUID().slice(0, 8)}`;
  const samples: number[] = [];
  let errors = 0;
  const deadline = Date.now() + ctx.durationS * 1000;
  while (Date.now() < deadline) {
    const claim = post(ctx, `/v1/workers/${type}/claim`, { waitMs: 5000 });
    let answeredAt = 0;
    void claim.then(() => (answeredAt = performance.now()));
    // Let the claim park (it answers 204 only after 5 s, so a short pause is enough to be parked).
    await new Promise((r) => setTimeout(r, 20));
    const t0 = performance.now();
    const s = await post(ctx, '/v1/tasks', { type, payload: 1 });
    const c = await claim;
    if (s.status !== 202 || c.status !== 200) {
      errors++;
      continue;
    }
    samples.push((answeredAt || performance.now()) - t0);
    const { task, token } = c.json as { task: { id: string }; token: string };
    await post(ctx, `/v1/tasks/${task.id}/complete`, { token, result: 1 });
  }
  return {
    requestsPerSec: samples.length / ctx.durationS,
    p50Ms: percentile(samples, 50),
    p99Ms: percentile(samples, 99),
    errors,
    note: `claim answered p50 ${percentile(samples, 50).toFixed(2)} ms after the submit was sent (target ≤ 5 ms)`,
  };
}

const rawYardstick = { label: 'raw BullMQ', run: rawBullmq };

export const cases: BenchCase[] = [
  { name: 'tasks: raw BullMQ add+process (yardstick)', run: rawBullmq, notBaton: true },
  {
    // A reading aid, with no target of its own: three requests per task, where a busy worker asks for its next
    // task with the finish (the case below, which carries issue 6's target).
    name: 'tasks: submit→claim→complete via HTTP workers',
    run: httpWorkerCycles(false),
    yardstick: rawYardstick,
  },
  {
    name: 'tasks: submit→complete+next via HTTP workers (chained claims)',
    run: httpWorkerCycles(true),
    yardstick: rawYardstick,
    target: { reference: 'bare', minRatio: 0.3 },
  },
  {
    name: 'tasks: submit→SUCCESS via in-process handler',
    run: inProcessHandler,
    yardstick: rawYardstick,
    target: { reference: 'bare', minRatio: 0.6 },
  },
  {
    name: 'tasks: naive server, same job, in-process no-op (reading aid)',
    notBaton: true,
    run: naiveInProcess,
    yardstick: rawYardstick,
  },
  {
    name: 'tasks: batch submits of 10→SUCCESS in-process (reading aid)',
    run: inProcessBatches,
    yardstick: rawYardstick,
  },
  { name: 'tasks: claim wake-up after submit', run: claimWakeUp, target: { reference: 'bare', maxP50Ms: 5 } },
];
