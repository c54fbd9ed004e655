// Locks: (1) acquire+release cycles on distinct names at full speed (HTTP requests/s against the thin
// proxy's GET), and (2) contended handoff latency: with a waiter parked on a held lock, the time from the
// release response to the waiter's acquire response (a 100 ms polling client is what this beats).
import autocannon from 'autocannon';
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromAutocannon, percentile } from '../load.js';
import type { BenchCase, BenchContext, LoadResult } from '../types.js';
import { postJson as post } from '../client.js';

const hasWrk = spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined;

interface CycleContext {
  name?: string;
  token?: string;
}

/**
 * Acquire+release cycles on distinct names (no contention: the uncontended fast path). With wrk (a C load
 * generator, as the references use) a Lua script keeps a queue of grants: each acquire's token is released
 * by the next request any connection sends. Without wrk, autocannon loops acquire → release per connection.
 */
async function acquireReleaseCycles(ctx: BenchContext): Promise<LoadResult> {
  return hasWrk ? cyclesWithWrk(ctx) : cyclesWithAutocannon(ctx);
}

const lua = (s: string) => `[==[${s}]==]`;

function wrkMs(s: string | undefined): number {
  const m = /([\d.]+)(us|ms|s)/.exec(s ?? '');
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

async function cyclesWithWrk(ctx: BenchContext): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-locks-wrk-'));
  const script = join(dir, 'cycle.lua');
  const headers = Object.entries({ ...ctx.headers, 'content-type': 'application/json' })
    .map(([k, v]) => `[ ${lua(k)} ] = ${lua(v)}`).join(', ');
  writeFileSync(script, `
local hdrs = { ${headers} }
local prefix = ${lua(`bench-${randomUUID().slice(0, 8)}`)}
local queue, head, tail, n = {}, 1, 0, 0
request = function()
  if head <= tail then
    local item = queue[head]
    queue[head] = nil
    head = head + 1
    return wrk.format("POST", "/v1/locks/" .. item[1] .. "/release", hdrs, '{"token":"' .. item[2] .. '"}')
  end
  n = n + 1
  return wrk.format("POST", "/v1/locks/" .. prefix .. "-" .. n .. "/acquire", hdrs, '{"ttlMs":10000}')
end
response = function(status, headers, body)
  if status == 200 then
    local token = string.match(body, '"token":"([^"]+)"')
    if token then
      tail = tail + 1
      queue[tail] = { string.match(body, '"name":"([^"]+)"'), token }
    end
  end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("ERRORS %d %d\\n", e.connect + e.read + e.write + e.timeout, e.status))
end
`);
  try {
    const out = await new Promise<string>((ok, fail) => {
      const p = spawn('wrk', ['-t1', `-c${ctx.connections}`, `-d${ctx.durationS}s`, '--latency', '-s', script, ctx.baseUrl], { stdio: ['ignore', 'pipe', 'pipe'] });
      let o = '';
      let e = '';
      p.stdout.on('data', (b: Buffer) => (o += b.toString()));
      p.stderr.on('data', (b: Buffer) => (e += b.toString()));
      p.on('exit', (code) => (code === 0 && !e.trim() ? ok(o) : fail(new Error(`wrk: ${e.trim() || `exited ${code}`}`))));
    });
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
    const [errors = 0, non2xx = 0] = (/ERRORS (\d+) (\d+)/.exec(out) ?? []).slice(1).map(Number);
    return {
      requestsPerSec: rps,
      p50Ms: wrkMs(/^\s+50%\s+(\S+)/m.exec(out)?.[1]),
      p99Ms: wrkMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1]),
      errors,
      non2xx,
      note: `≈${Math.round(rps / 2)} acquire+release cycles/s (wrk)`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface CycleContext {
  name?: string;
  token?: string;
}

async function cyclesWithAutocannon(ctx: BenchContext): Promise<LoadResult> {
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
    ...fromAutocannon(r),
    note: `${Math.round(r.requests.average / 2)} acquire+release cycles/s (autocannon); ${failed} refused`,
  };
}

async function postJson(ctx: BenchContext, path: string, body: object): Promise<{ status: number; json: Record<string, unknown>; at: number }> {
  const r = await post(ctx.baseUrl, path, ctx.headers, body);
  return { status: r.status, json: r.json ?? {}, at: r.at };
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
    inRounds: true,
    target: { reference: 'proxyGet', minRatio: 0.8 },
  },
  {
    // Not a Baton case: Baton's acquire/release scripts behind bare routes. Its ratio is what the target asks
    // of an HTTP service that adds nothing to the operation (no auth, validation, metrics, request id).
    name: 'locks: naive server, same scripts (reading aid)',
    notBaton: true,
    run: (ctx) => acquireReleaseCycles({ ...ctx, baseUrl: ctx.naiveUrl ?? ctx.baseUrl }),
    inRounds: true,
    target: { reference: 'proxyGet' },
  },
  {
    name: 'locks: contended handoff latency',
    run: contendedHandoff,
    target: { reference: 'proxyGet', maxP50Ms: 2, maxP99Ms: 10 },
  },
];
