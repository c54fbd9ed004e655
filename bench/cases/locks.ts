// Locks: (1) acquire+release cycles on distinct names at full speed (HTTP requests/s against the thin
// proxy's GET), and (2) contended handoff latency: with a waiter parked on a held lock, the time from the
// release response to the waiter's acquire response (a 100 ms polling client is what this beats).
import autocannon from 'autocannon';
import { randomUUID } from 'node:crypto';
import type { BenchCase, BenchContext, LoadResult } from '../types.js';

function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}

interface CycleContext {
  name?: string;
  token?: string;
}

/** Each connection loops acquire → release on a name of its own (no contention: the uncontended fast path). */
async function acquireReleaseCycles(ctx: BenchContext): Promise<LoadResult> {
  const run = randomUUID().slice(0, 8);
  let n = 0;
  let failed = 0;
  const headers = { ...ctx.headers, 'content-type': 'application/json' };
  const r = await autocannon({
    url: ctx.baseUrl,
    connections: ctx.connections,
    duration: ctx.durationS,
    headers,
    requests: [
      {
        method: 'POST',
        setupRequest: (req, context) => {
          const c = context as CycleContext;
          c.name ??= `bench-${run}-${n++}`;
          return { ...req, path: `/v1/locks/${c.name}/acquire`, body: JSON.stringify({ ttlMs: 10_000 }) };
        },
        onResponse: (status, body, context) => {
          if (status === 200) (context as CycleContext).token = (JSON.parse(body) as { token: string }).token;
          else failed++;
        },
      },
      {
        method: 'POST',
        setupRequest: (req, context) => {
          const c = context as CycleContext;
          return { ...req, path: `/v1/locks/${c.name}/release`, body: JSON.stringify({ token: c.token ?? 'none' }) };
        },
        onResponse: (status) => {
          if (status !== 200) failed++;
        },
      },
    ],
  });
  return {
    requestsPerSec: r.requests.average,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
    note: `${Math.round(r.requests.average / 2)} acquire+release cycles/s; ${failed} refused`,
  };
}

async function postJson(ctx: BenchContext, path: string, body: object): Promise<{ status: number; json: Record<string, unknown>; at: number }> {
  const res = await fetch(`${ctx.baseUrl}${path}`, {
    method: 'POST',
    headers: { ...ctx.headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const at = performance.now();
  return { status: res.status, json: (await res.json()) as Record<string, unknown>, at };
}

/**
 * Handoff latency: a holder holds the lock, a waiter parks on it (waitMs), the holder releases; the sample is
 * the waiter's response time minus the release's response time. `pairs` independent lock names run side by
 * side (bounded concurrency) so the run gathers many samples in its time budget.
 */
async function contendedHandoff(ctx: BenchContext): Promise<LoadResult> {
  const samples: number[] = [];
  let errors = 0;
  const pairs = Math.max(1, Math.min(8, Math.floor(ctx.connections / 8)));
  const deadline = performance.now() + ctx.durationS * 1000;
  const started = performance.now();
  const run = randomUUID().slice(0, 8);
  await Promise.all(Array.from({ length: pairs }, async (_, p) => {
    const name = `handoff-${run}-${p}`;
    while (performance.now() < deadline) {
      const held = await postJson(ctx, `/v1/locks/${name}/acquire`, { ttlMs: 30_000, waitMs: 5_000 });
      if (held.status !== 200) {
        errors++;
        continue;
      }
      const waiter = postJson(ctx, `/v1/locks/${name}/acquire`, { ttlMs: 30_000, waitMs: 10_000 });
      // Let the waiter park (one Redis round trip); it would still get the lock if it had not, but later.
      await new Promise((r) => setTimeout(r, 3));
      const released = await postJson(ctx, `/v1/locks/${name}/release`, { token: held.json.token });
      const got = await waiter;
      if (released.status !== 200 || got.status !== 200) {
        errors++;
        continue;
      }
      samples.push(Math.max(0, got.at - released.at));
      const done = await postJson(ctx, `/v1/locks/${name}/release`, { token: got.json.token });
      if (done.status !== 200) errors++;
    }
  }));
  const elapsedS = (performance.now() - started) / 1000;
  return {
    requestsPerSec: samples.length / elapsedS,
    p50Ms: percentile(samples, 50),
    p99Ms: percentile(samples, 99),
    errors,
    note: `${samples.length} handoffs over ${pairs} lock(s); release response → waiter's acquire response (requests/s column = handoffs/s)`,
  };
}

export const cases: BenchCase[] = [
  {
    name: 'locks: acquire+release cycle (distinct names)',
    run: acquireReleaseCycles,
    target: { reference: 'proxyGet', minRatio: 0.8 },
  },
  {
    name: 'locks: contended handoff latency',
    run: contendedHandoff,
    target: { reference: 'proxyGet', maxP50Ms: 2, maxP99Ms: 10 },
  },
];
