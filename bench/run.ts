// npm run bench — measures, in one run on this machine: the bare Fastify route and the thin Fastify+ioredis
// proxy (the references), then every case of bench/cases/*.ts against a real Baton (built with tsc, run with
// node) on a private redis-server, and prints requests/s, p50, p99, the ratios to both references and each
// case's target with PASS/MISS. The servers are pinned to CPU 0 and the load generator to CPU 1 when
// taskset exists, so the load generator does not steal the server's core.
// Environment: BENCH_DURATION_S (default 5), BENCH_CONNECTIONS (50), BENCH_ONLY (substring filter).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort, startEmbeddedRedis } from '../src/redis/embedded.js';
import { hasWrk, load } from './load.js';
import type { BenchCase, BenchContext, LoadResult, Reference, Target } from './types.js';

const durationS = Number(process.env.BENCH_DURATION_S ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const only = process.env.BENCH_ONLY;
const hasTaskset = spawnSync('taskset', ['-V'], { stdio: 'ignore' }).error === undefined;
const SERVER_CPU = '0';
const LOAD_CPU = '1';
const root = fileURLToPath(new URL('..', import.meta.url));
const BENCH_KEY = 'bench-key-0123456789abcdef';

const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

async function waitHealthy(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not answer within 15 s`);
}

function startProcess(cmd: string[], env: Record<string, string>, readyWhen: RegExp, waitForOutput = true): Promise<ChildProcess> {
  const [bin, ...args] = hasTaskset ? ['taskset', '-c', SERVER_CPU, ...cmd] : cmd;
  const child = spawn(bin as string, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  if (!waitForOutput) {
    child.stdout?.resume();
    child.stderr?.resume();
    return Promise.resolve(child);
  }
  return new Promise((ok, fail) => {
    let out = '';
    const onData = (b: Buffer) => {
      out += b.toString();
      if (readyWhen.test(out)) ok(child);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => fail(new Error(`${cmd.join(' ')} exited ${code}:\n${out.slice(-3000)}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((ok) => {
    if (child.exitCode !== null) return ok();
    child.once('exit', () => ok());
    child.kill('SIGTERM');
  });
}

const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '-');

interface Row {
  name: string;
  r: LoadResult;
  target?: Target;
}

async function main() {
  process.stdout.write(`Baton benchmark: ${durationS}s per case, ${connections} connections, load by ${hasWrk ? 'wrk' : 'autocannon'}` +
    `${hasTaskset ? `, servers on CPU ${SERVER_CPU}, load on CPU ${LOAD_CPU}` : ''}\n`);
  if (hasTaskset) spawnSync('taskset', ['-p', '-c', LOAD_CPU, String(process.pid)], { stdio: 'ignore' });

  process.stdout.write('building… ');
  const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('build failed');
  process.stdout.write('done\n');

  const redis = await startEmbeddedRedis({ dataDir: mkdtempSync(join(tmpdir(), 'baton-bench-')), args: ['--appendonly', 'no'] });
  const rows: Row[] = [];
  const refs: Partial<Record<Reference, LoadResult>> = {};

  // References.
  const barePort = await freePort();
  const bare = await startProcess(['node', '--import', 'tsx', 'bench/references.ts', 'bare', String(barePort)], {}, /READY/);
  /** One second unmeasured, then the measured run: the references and Baton alike get V8-optimised code. */
  const warmLoad = async (spec: Parameters<typeof load>[0]) => {
    await load(spec, 1, connections, hasTaskset ? LOAD_CPU : undefined);
    return load(spec, durationS, connections, hasTaskset ? LOAD_CPU : undefined);
  };
  refs.bare = await warmLoad({ method: 'GET', url: `http://127.0.0.1:${barePort}/` });
  rows.push({ name: 'reference: bare Fastify route', r: refs.bare });
  await stop(bare);
  const proxyPort = await freePort();
  const proxy = await startProcess(['node', '--import', 'tsx', 'bench/references.ts', 'proxy', String(proxyPort), redis.url], {}, /READY/);
  const value = JSON.stringify({ user: 42, name: 'Ada Lovelace', roles: ['admin', 'dev'], bio: 'x'.repeat(200) });
  refs.proxySet = await warmLoad({ method: 'PUT', url: `http://127.0.0.1:${proxyPort}/kv`, body: value, headers: { 'content-type': 'application/json' } });
  refs.proxyGet = await warmLoad({ method: 'GET', url: `http://127.0.0.1:${proxyPort}/kv` });
  rows.push({ name: 'reference: thin proxy GET', r: refs.proxyGet }, { name: 'reference: thin proxy SET', r: refs.proxySet });
  await stop(proxy);

  const caseFiles = readdirSync(new URL('./cases/', import.meta.url)).filter((f) => f.endsWith('.ts')).sort();
  const cases: BenchCase[] = [];
  for (const f of caseFiles) {
    const mod = (await import(pathToFileURL(join(root, 'bench', 'cases', f)).href)) as { cases: BenchCase[] };
    cases.push(...mod.cases);
  }

  const runBaton = async (label: string, extraEnv: Record<string, string>, selected: BenchCase[]) => {
    const port = await freePort();
    const baton = await startProcess(['node', 'dist/src/server.js'], {
      NODE_ENV: 'production', PORT: String(port), HOST: '127.0.0.1', REDIS_URL: redis.url, LOG_LEVEL: 'warn',
      BATON_API_KEYS: JSON.stringify([{ key: BENCH_KEY, tenant: 'bench', scopes: ['*'] }]),
      // The in-process handler runs with the raw-BullMQ yardstick's concurrency (32), like against like.
      BATON_TASK_CONCURRENCY: '32',
      ...extraEnv,
    }, /./, false);
    await waitHealthy(`http://127.0.0.1:${port}/health/live`);
    const ctx: BenchContext = {
      baseUrl: `http://127.0.0.1:${port}`, headers: { authorization: `Bearer ${BENCH_KEY}` }, redisUrl: redis.url, durationS, connections,
    };
    for (const c of selected) {
      try {
        let r: LoadResult;
        if ('run' in c) {
          r = await c.run(ctx);
        } else {
          await c.setup?.(ctx);
          r = await warmLoad({ method: c.method, url: ctx.baseUrl + c.path, headers: { ...ctx.headers, ...c.headers }, body: c.body });
        }
        rows.push({ name: `${c.name}${label}`, r, target: c.target });
      } catch (err) {
        rows.push({ name: `${c.name}${label}`, r: { requestsPerSec: NaN, p50Ms: NaN, p99Ms: NaN, errors: 1, note: `failed: ${(err as Error).message.slice(0, 120)}` } });
      }
      printRow(rows[rows.length - 1] as Row);
    }
    await stop(baton);
  };

  const selected = cases.filter((c) => !only || c.name.includes(only));
  header();
  rows.forEach(printRow);
  await runBaton('', {}, selected);
  // ioredis auto-pipelining, measured on the hot cache paths (the issue asks for both; the faster is the default).
  const cachePaths = selected.filter((c) => !('run' in c) && c.path.startsWith('/v1/cache'));
  if (cachePaths.length > 0) await runBaton(' [auto-pipelining on]', { REDIS_AUTO_PIPELINING: 'true' }, cachePaths);

  function header() {
    process.stdout.write(`\n${'case'.padEnd(52)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'×bare'.padStart(6)} ${'×proxy'.padStart(7)}  target\n`);
  }
  function printRow({ name, r, target }: Row) {
    const vsBare = r.requestsPerSec / (refs.bare?.requestsPerSec ?? NaN);
    const refGet = target?.reference === 'proxySet' ? refs.proxySet : refs.proxyGet;
    const vsProxy = r.requestsPerSec / (refGet?.requestsPerSec ?? NaN);
    process.stdout.write(`${name.slice(0, 52).padEnd(52)} ${fmt(r.requestsPerSec).padStart(9)} ${fmt(r.p50Ms, 2).padStart(7)} ${fmt(r.p99Ms, 2).padStart(7)} ${fmt(vsBare, 2).padStart(6)} ${fmt(vsProxy, 2).padStart(7)}  ${describeTarget(r, target)}${r.errors ? ` errors=${r.errors}` : ''}${r.note ? `  ${r.note}` : ''}\n`);
  }
  function describeTarget(r: LoadResult, t?: Target): string {
    if (!t) return '';
    const ref = refs[t.reference];
    const parts: string[] = [];
    let ok = true;
    if (t.minRatio !== undefined && ref) {
      const ratio = r.requestsPerSec / ref.requestsPerSec;
      ok &&= ratio >= t.minRatio;
      parts.push(`≥${t.minRatio}×${t.reference} (${fmt(ratio, 2)})`);
    }
    if (t.maxP99Ratio !== undefined && ref) {
      const ratio = r.p99Ms / ref.p99Ms;
      ok &&= ratio <= t.maxP99Ratio;
      parts.push(`p99≤${t.maxP99Ratio}×${t.reference} (${fmt(ratio, 2)})`);
    }
    if (t.maxP50Ms !== undefined) {
      ok &&= r.p50Ms <= t.maxP50Ms;
      parts.push(`p50≤${t.maxP50Ms}ms`);
    }
    if (t.maxP99Ms !== undefined) {
      ok &&= r.p99Ms <= t.maxP99Ms;
      parts.push(`p99≤${t.maxP99Ms}ms`);
    }
    if (t.minPerSec !== undefined) {
      ok &&= r.requestsPerSec >= t.minPerSec;
      parts.push(`≥${t.minPerSec}/s`);
    }
    return parts.length ? `${parts.join(', ')} ${ok ? 'PASS' : 'MISS'}` : '';
  }

  await redis.stop();
}

await main();
process.exit(0);
