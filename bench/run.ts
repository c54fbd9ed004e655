// npm run bench — measures, in one run on this machine: the bare Fastify route and the thin Fastify+ioredis
// proxy (the references), then every case of bench/cases/*.ts against a real Baton (built with tsc, run with
// node) on a private redis-server, and prints requests/s, p50, p99, the ratios to both references and each
// case's target with PASS/MISS. The servers are pinned to CPU 0 and the load generator to CPU 1 when
// taskset exists, so the load generator does not steal the server's core.
// The machine's speed drifts by tens of percent within minutes (other tenants), so a ratio to a reference
// measured once at the start says more about the drift than about Baton. The references stay up beside
// Baton, and every fixed-request case is measured in rounds: reference, case, reference, case, … Each round
// gives a ratio from two adjacent runs; the row shows the median round.
// Environment: BENCH_DURATION_S (seconds per run, default 4), BENCH_ROUNDS (3), BENCH_CONNECTIONS (50),
// BENCH_ONLY (substring filter; several: comma-separated), BENCH_BATON_NODE_ARGS (extra node flags for
// Baton, e.g. to profile it under load: "--cpu-prof --cpu-prof-dir=/tmp/prof"; node refuses --cpu-prof in
// NODE_OPTIONS).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort, startEmbeddedRedis } from '../src/redis/embedded.js';
import { hasWrk, load } from './load.js';
import type { BenchCase, BenchContext, LoadResult, Reference, ScenarioCase, Target } from './types.js';

const durationS = Number(process.env.BENCH_DURATION_S ?? 4);
const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const only = process.env.BENCH_ONLY;
const hasTaskset = spawnSync('taskset', ['-V'], { stdio: 'ignore' }).error === undefined;
const SERVER_CPU = '0';
const LOAD_CPU = '1';
const root = fileURLToPath(new URL('..', import.meta.url));
const BENCH_KEY = 'bench-key-0123456789abcdef';

const children: ChildProcess[] = [];
const logDir = mkdtempSync(join(tmpdir(), 'baton-bench-logs-'));
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
    // Kept for a post-mortem: a case that fails prints where its server's output went.
    const log = createWriteStream(join(logDir, `${basename(cmd[cmd.length - 1] ?? 'server')}-${child.pid}.log`));
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
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

/** CPU time (ms) a process has used so far, from /proc (Linux; USER_HZ 100); undefined where there is none. */
function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/** `run`, and how busy `pid` was meanwhile (CPU time over wall time; undefined without /proc). */
async function busyDuring<T>(pid: number | undefined, run: () => Promise<T>): Promise<{ result: T; busy?: number }> {
  const cpu0 = cpuMs(pid);
  const t0 = performance.now();
  const result = await run();
  const cpu1 = cpuMs(pid);
  return cpu0 === undefined || cpu1 === undefined ? { result } : { result, busy: (cpu1 - cpu0) / (performance.now() - t0) };
}

/** `run` as a round of a case: each call also records how busy `pid` was into `busy` (when /proc tells). */
function recordingBusy<T>(pid: number | undefined, busy: number[], run: () => Promise<T>): () => Promise<T> {
  return async () => {
    const { result, busy: b } = await busyDuring(pid, run);
    if (b !== undefined) busy.push(b);
    return result;
  };
}

const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '-');
/** Per-round ratios as "0.82, 0.75, 0.72". */
const listRatios = (ratios: readonly number[]) => ratios.map((x) => fmt(x, 2)).join(', ');

/** "Baton 97, 98 % busy" (or another server's name) for the runs measured, or undefined when none was. */
const busyNote = (busy: readonly number[], who = 'Baton'): string | undefined =>
  busy.length ? `${who} ${busy.map((b) => fmt(b * 100)).join(', ')} % busy` : undefined;

interface Row {
  name: string;
  r: LoadResult;
  target?: Target;
  /** Median of the per-round ratios to the target's reference (requests/s and p99), when measured in rounds. */
  ratio?: number;
  p99Ratio?: number;
  /** What the ratio is against, when not the target's reference (a scenario's yardstick). */
  against?: string;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

/** The median of several runs of one request (each field on its own). */
function medianResult(rs: LoadResult[]): LoadResult {
  return {
    requestsPerSec: median(rs.map((r) => r.requestsPerSec)),
    p50Ms: median(rs.map((r) => r.p50Ms)),
    p99Ms: median(rs.map((r) => r.p99Ms)),
    errors: rs.reduce((n, r) => n + r.errors, 0),
    non2xx: rs.reduce((n, r) => n + (r.non2xx ?? 0), 0),
    ...(rs.length > 1 ? { note: `median of ${rs.length} rounds` } : {}),
  };
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

  // References: up for the whole run (idle while another server is under load), sampled in every round.
  const barePort = await freePort();
  const bare = await startProcess(['node', '--import', 'tsx', 'bench/references.ts', 'bare', String(barePort)], {}, /READY/);
  const proxyPort = await freePort();
  const proxy = await startProcess(['node', '--import', 'tsx', 'bench/references.ts', 'proxy', String(proxyPort), redis.url], {}, /READY/);
  const naivePort = await freePort();
  const naive = await startProcess(['node', '--import', 'tsx', 'bench/references.ts', 'naive', String(naivePort), redis.url, 'baton', 'bench'], {}, /READY/);
  const value = JSON.stringify({ user: 42, name: 'Ada Lovelace', roles: ['admin', 'dev'], bio: 'x'.repeat(200) });
  const refRequests: Record<Reference, Parameters<typeof load>[0]> = {
    bare: { method: 'GET', url: `http://127.0.0.1:${barePort}/` },
    proxyGet: { method: 'GET', url: `http://127.0.0.1:${proxyPort}/kv` },
    proxySet: { method: 'PUT', url: `http://127.0.0.1:${proxyPort}/kv`, body: value, headers: { 'content-type': 'application/json' } },
  };
  const run = (spec: Parameters<typeof load>[0], seconds = durationS) => load(spec, seconds, connections, hasTaskset ? LOAD_CPU : undefined);
  /** Every sample of each reference, for the reference rows (medians) at the end. */
  const refSamples: Record<Reference, LoadResult[]> = { bare: [], proxyGet: [], proxySet: [] };
  const sampleRef = async (ref: Reference) => {
    const r = await run(refRequests[ref]);
    refSamples[ref].push(r);
    return r;
  };
  // One unmeasured second each first, then a first sample: the references get V8-optimised code like Baton.
  for (const ref of ['bare', 'proxySet', 'proxyGet'] as const) {
    await run(refRequests[ref], 1);
    refs[ref] = await sampleRef(ref);
  }

  /**
   * In rounds: `warmUp` once, then base, case, base, case, … (`rounds` pairs of adjacent runs). The ratios are
   * the medians of the per-round ratios; the result keeps the note of the case's median round.
   */
  const inRounds = async (warmUp: () => Promise<unknown>, base: () => Promise<LoadResult>, runCase: () => Promise<LoadResult>) => {
    await warmUp();
    const own: LoadResult[] = [];
    const bases: LoadResult[] = [];
    const ratios: number[] = [];
    const p99Ratios: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const b = await base();
      const r = await runCase();
      own.push(r);
      bases.push(b);
      ratios.push(r.requestsPerSec / b.requestsPerSec);
      p99Ratios.push(r.p99Ms / b.p99Ms);
    }
    const mid = [...own].sort((a, b) => a.requestsPerSec - b.requestsPerSec)[Math.floor(own.length / 2)] as LoadResult;
    return { own, bases, mid, ratios, ratio: median(ratios), p99Ratio: median(p99Ratios) };
  };
  const refOf = (target: Target | undefined): Reference => target?.reference ?? 'proxyGet';

  /**
   * A reading aid beside the rounds, for a case with a target reference: the case and the reference loaded at the
   * same time for one run, both servers on the server CPU, as requests/s of the case over the reference's. A slow
   * phase of this VM (minutes of CPU at half speed or less, changing within seconds) can fall on either side of
   * an adjacent pair of rounds; side by side, both servers run in the same seconds on the same core. The verdict
   * stays the median of the rounds.
   */
  const sideBySide = async (spec: Parameters<typeof load>[0], reference: Reference): Promise<number> => {
    const [own, ref] = await Promise.all([run(spec), run(refRequests[reference])]);
    return own.requestsPerSec / ref.requestsPerSec;
  };

  /**
   * A fixed-request case against its target's reference (proxy GET when it names none). Its note gives the
   * per-round ratios and how busy the server under test was (`who`, process `pid`): on this 2-core machine wrk
   * shares the load CPU with Redis, so a server well below 100 % busy means the round measured that CPU.
   */
  const measureInRounds = async (spec: Parameters<typeof load>[0], target: Target | undefined, who: string, pid: number | undefined) => {
    const busy: number[] = [];
    const m = await inRounds(() => run(spec, 1), () => sampleRef(refOf(target)), recordingBusy(pid, busy, () => run(spec)));
    const together = target ? await sideBySide(spec, target.reference) : undefined;
    const note = [
      `median of ${m.own.length} rounds (${listRatios(m.ratios)})`,
      together === undefined ? undefined : `side by side ${fmt(together, 2)}`,
      busyNote(busy, who),
    ].filter(Boolean).join('; ');
    return { r: { ...medianResult(m.own), note }, ratio: m.ratio, p99Ratio: m.p99Ratio };
  };

  /**
   * A scenario case against its yardstick, or else its target's reference; a 1 s run warms it up. Its note says how
   * busy Baton was: these cases drive Baton from the bench process, which shares the load CPU with Redis, and a
   * Baton well below 100 % means the case measured its client or Redis rather than Baton.
   */
  const scenarioInRounds = async (c: ScenarioCase, ctx: BenchContext, batonPid: number | undefined) => {
    const yardstick = c.yardstick;
    const busy: number[] = [];
    const m = await inRounds(
      () => c.run({ ...ctx, durationS: 1 }),
      () => (yardstick ? yardstick.run(ctx) : sampleRef(refOf(c.target))),
      recordingBusy(batonPid, busy, () => c.run(ctx)),
    );
    const against = yardstick
      ? `, ratio ${fmt(m.ratio, 2)}× ${yardstick.label} (${listRatios(m.ratios)}; ${yardstick.label} ${m.bases.map((b) => Math.round(b.requestsPerSec)).join(', ')}/s)`
      : '';
    const note = [m.mid.note, `median of ${m.own.length} rounds${against}`, busyNote(busy)].filter(Boolean).join('; ');
    const r = { ...medianResult(m.own), note };
    return { r, ratio: m.ratio, p99Ratio: m.p99Ratio, ...(yardstick ? { against: yardstick.label } : {}) };
  };

  const caseFiles = readdirSync(new URL('./cases/', import.meta.url)).filter((f) => f.endsWith('.ts')).sort();
  const cases: BenchCase[] = [];
  for (const f of caseFiles) {
    const mod = (await import(pathToFileURL(join(root, 'bench', 'cases', f)).href)) as { cases: BenchCase[] };
    cases.push(...mod.cases);
  }

  const runBaton = async (label: string, extraEnv: Record<string, string>, selected: BenchCase[]) => {
    const port = await freePort();
    const nodeArgs = process.env.BENCH_BATON_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    const baton = await startProcess(['node', ...nodeArgs, 'dist/src/server.js'], {
      NODE_ENV: 'production', PORT: String(port), HOST: '127.0.0.1', REDIS_URL: redis.url, LOG_LEVEL: 'warn',
      BATON_API_KEYS: JSON.stringify([{ key: BENCH_KEY, tenant: 'bench', scopes: ['*'] }]),
      // The in-process handler runs with the raw-BullMQ yardstick's concurrency (32), like against like.
      BATON_TASK_CONCURRENCY: '32',
      ...extraEnv,
    }, /./, false);
    await waitHealthy(`http://127.0.0.1:${port}/health/live`);
    const ctx: BenchContext = {
      baseUrl: `http://127.0.0.1:${port}`, headers: { authorization: `Bearer ${BENCH_KEY}` }, redisUrl: redis.url, durationS, rounds, connections,
      naiveUrl: `http://127.0.0.1:${naivePort}`,
      ...(hasTaskset ? { serverCpu: SERVER_CPU } : {}),
    };
    for (const c of selected) {
      try {
        if ('run' in c) {
          const batonPid = c.notBaton ? undefined : baton.pid;
          if (c.inRounds || c.yardstick) rows.push({ name: `${c.name}${label}`, ...(await scenarioInRounds(c, ctx, batonPid)), target: c.target });
          else {
            const { result, busy } = await busyDuring(batonPid, () => c.run(ctx));
            const note = [result.note, busyNote(busy === undefined ? [] : [busy])].filter(Boolean).join('; ');
            rows.push({ name: `${c.name}${label}`, r: { ...result, note }, target: c.target });
          }
        } else {
          await c.setup?.(ctx);
          const naiveCase = c.server === 'naive';
          const m = await measureInRounds(
            { method: c.method, url: (naiveCase ? ctx.naiveUrl : ctx.baseUrl) + c.path, headers: { ...ctx.headers, ...c.headers }, body: c.body },
            c.target,
            naiveCase ? 'naive server' : 'Baton',
            naiveCase ? naive.pid : baton.pid,
          );
          rows.push({ name: `${c.name}${label}`, ...m, target: c.target });
        }
      } catch (err) {
        rows.push({ name: `${c.name}${label}`, r: { requestsPerSec: NaN, p50Ms: NaN, p99Ms: NaN, errors: 1, note: `failed: ${(err as Error).message.slice(0, 120)} (server output in ${logDir})` } });
      }
      printRow(rows[rows.length - 1] as Row);
    }
    await stop(baton);
  };

  const selected = cases.filter((c) => !only || only.split(',').some((part) => c.name.includes(part)));
  process.stdout.write(`\nas measured (${rounds} round(s) of ${durationS} s per fixed-request case, each beside its reference):`);
  header();
  await runBaton('', {}, selected);
  // ioredis auto-pipelining, measured in a second pass on the hot cache paths with the other setting than the
  // first pass (the issue asks for both; README says why it stays off by default).
  const cachePaths = selected.filter((c) => !('run' in c) && c.path.startsWith('/v1/cache'));
  const pipelining = process.env.REDIS_AUTO_PIPELINING === 'true' ? 'false' : 'true';
  if (cachePaths.length > 0) await runBaton(` [auto-pipelining ${pipelining === 'true' ? 'on' : 'off'}]`, { REDIS_AUTO_PIPELINING: pipelining }, cachePaths);
  await Promise.all([stop(bare), stop(proxy), stop(naive)]);

  // The table: references as the median of every sample taken during the run, then the cases.
  const refRows: Row[] = [];
  for (const [ref, name] of [['bare', 'reference: bare Fastify route'], ['proxyGet', 'reference: thin proxy GET'], ['proxySet', 'reference: thin proxy SET']] as const) {
    refs[ref] = medianResult(refSamples[ref]);
    refRows.push({ name, r: { ...refs[ref], note: `median of ${refSamples[ref].length} samples across the run` } });
  }
  process.stdout.write(`\nsummary (×bare against the bare route's median; ×proxy and the ratio targets are medians of adjacent-run ratios for fixed-request cases):`);
  header();
  [...refRows, ...rows].forEach(printRow);

  function header() {
    process.stdout.write(`\n${'case'.padEnd(52)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'×bare'.padStart(6)} ${'×proxy'.padStart(7)}  target\n`);
  }
  function printRow(row: Row) {
    const { name, r, target } = row;
    const vsBare = r.requestsPerSec / (refs.bare?.requestsPerSec ?? NaN);
    const refGet = target?.reference === 'proxySet' ? refs.proxySet : refs.proxyGet;
    // A ratio measured in rounds is to the proxy unless the case measured it against a yardstick.
    const vsProxy = row.ratio !== undefined && !row.against ? row.ratio : r.requestsPerSec / (refGet?.requestsPerSec ?? NaN);
    process.stdout.write(`${name.slice(0, 52).padEnd(52)} ${fmt(r.requestsPerSec).padStart(9)} ${fmt(r.p50Ms, 2).padStart(7)} ${fmt(r.p99Ms, 2).padStart(7)} ${fmt(vsBare, 2).padStart(6)} ${fmt(vsProxy, 2).padStart(7)}  ${describeTarget(row)}${r.errors ? ` errors=${r.errors}` : ''}${r.note ? `  ${r.note}` : ''}\n`);
  }
  function describeTarget({ r, target: t, ratio: roundRatio, p99Ratio: roundP99Ratio, against }: Row): string {
    if (!t) return '';
    const ref = refs[t.reference];
    const refName = against ?? t.reference;
    const parts: string[] = [];
    let ok = true;
    if (t.minRatio !== undefined && ref) {
      const ratio = roundRatio ?? r.requestsPerSec / ref.requestsPerSec;
      ok &&= ratio >= t.minRatio;
      parts.push(`≥${t.minRatio}×${refName} (${fmt(ratio, 2)})`);
    }
    if (t.maxP99Ratio !== undefined && ref) {
      const ratio = roundP99Ratio ?? r.p99Ms / ref.p99Ms;
      ok &&= ratio <= t.maxP99Ratio;
      parts.push(`p99≤${t.maxP99Ratio}×${refName} (${fmt(ratio, 2)})`);
    }
    if (t.maxP50Ms !== undefined) {
      ok &&= r.p50Ms <= t.maxP50Ms;
      parts.push(`p50≤${t.maxP50Ms}ms`);
    }
    if (t.maxP99Ms !== undefined) {
      ok &&= r.p99Ms <= t.maxP99Ms;
      parts.push(`p99≤${t.maxP99Ms}ms`);
    }
    if (t.maxGrowth !== undefined) {
      ok &&= (r.growth ?? NaN) <= t.maxGrowth;
      parts.push(`cost large/small ≤${t.maxGrowth}× (${fmt(r.growth ?? NaN, 2)})`);
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
