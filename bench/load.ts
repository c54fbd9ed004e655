// Load generators: wrk when installed (it costs about half the CPU of autocannon for the same load, so it
// steals less from the server), autocannon otherwise. Both report requests/s and p50/p99 latency.
import autocannon from 'autocannon';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadResult } from './types.js';

export const hasWrk = spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined;

export interface Request {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
}

const luaString = (s: string) => `[==[${s}]==]`;

function parseWrkMs(s: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(s);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

async function wrk(req: Request, durationS: number, connections: number, cpu?: string): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-wrk-'));
  const script = join(dir, 'req.lua');
  const headers = Object.entries(req.headers ?? {}).map(([k, v]) => `wrk.headers[ ${luaString(k)} ] = ${luaString(v)}`).join('\n');
  writeFileSync(script, `wrk.method = ${luaString(req.method)}\n${req.body !== undefined ? `wrk.body = ${luaString(req.body)}\n` : ''}${headers}
done = function(summary, latency, requests)
  io.write(string.format("ERRORS %d %d %d %d %d\\n", summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout))
end
`);
  const args = ['-t1', `-c${connections}`, `-d${durationS}s`, '--latency', '-s', script, req.url];
  const cmd = cpu ? 'taskset' : 'wrk';
  const full = cpu ? ['-c', cpu, 'wrk', ...args] : args;
  const out = await new Promise<string>((ok, fail) => {
    const p = spawn(cmd, full, { stdio: ['ignore', 'pipe', 'inherit'] });
    let o = '';
    p.stdout.on('data', (b: Buffer) => (o += b.toString()));
    p.on('exit', (code) => (code === 0 ? ok(o) : fail(new Error(`wrk exited ${code}: ${o}`))));
  });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const p50 = parseWrkMs(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const p99 = parseWrkMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const [connect = 0, read = 0, write = 0, status = 0, timeout = 0] = (/ERRORS (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(out) ?? []).slice(1).map(Number);
  return { requestsPerSec: rps, p50Ms: p50, p99Ms: p99, errors: connect + read + write + timeout, non2xx: status };
}

async function cannon(req: Request, durationS: number, connections: number): Promise<LoadResult> {
  const r = await autocannon({
    url: req.url,
    method: req.method as autocannon.Request['method'],
    headers: req.headers,
    body: req.body,
    duration: durationS,
    connections,
  });
  return fromAutocannon(r);
}

/** An autocannon result as a LoadResult (cases that drive autocannon themselves use it too). */
export function fromAutocannon(r: autocannon.Result): LoadResult {
  return {
    requestsPerSec: r.requests.average,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
  };
}

/** Drive one fixed request at full speed for durationS seconds with `connections` connections. */
export function load(req: Request, durationS: number, connections: number, cpu?: string): Promise<LoadResult> {
  return hasWrk ? wrk(req, durationS, connections, cpu) : cannon(req, durationS, connections);
}

/** Percentile of a sorted-or-not sample list, in the samples' unit. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}
