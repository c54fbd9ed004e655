// npm run soak — a long mixed workload against a real Baton (issue 7 item 7): cache 60 %, queues 25 %, locks
// 10 %, tasks 5 % (single and batch submits; three HTTP workers, two of which take their next task with the
// complete), over HTTP, for SOAK_DURATION_S (default 600) with SOAK_CONNECTIONS concurrent clients (default 32).
// Starts its own redis-server (no persistence) and Baton (`node --import tsx src/server.ts`, LOG_LEVEL=warn), and
// reports throughput, p50/p99 per area, errors, Baton's RSS after the warm-up and at the end, and Redis memory at
// the start, at the end, after purging through the API, and after removing the rest of what the soak created.
// Targets (issue 7): no errors, RSS growth < 10 % after warm-up, Redis memory back to the baseline after purge.
// Exit code 1 when a target is missed (SOAK_STRICT=false to always exit 0).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { freePort, startEmbeddedRedis } from '../src/redis/embedded.js';

const durationS = Number(process.env.SOAK_DURATION_S ?? 600);
const connections = Number(process.env.SOAK_CONNECTIONS ?? 32);
const strict = process.env.SOAK_STRICT !== 'false';
const warmupS = Math.min(60, Math.max(10, Math.round(durationS * 0.15)));
const KEY = 'soak-key-0123456789abcdef';
const TENANT = 'soak';
const QUEUES = ['soak-q0', 'soak-q1', 'soak-q2', 'soak-q3'];
const CACHE_KEYS = 5_000;
const LOCK_NAMES = 20;
const TASK_WORKERS = 3;
const root = fileURLToPath(new URL('..', import.meta.url));

type Area = 'cache' | 'queues' | 'locks' | 'tasks';
const AREAS: Area[] = ['cache', 'queues', 'locks', 'tasks'];

const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rand = (n: number) => Math.floor(Math.random() * n);
const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;

/** Latency histogram: 0.01 ms buckets up to 100 ms, then 1 ms buckets up to 60 s. */
class Histogram {
  private fine = new Uint32Array(10_000);
  private coarse = new Uint32Array(60_000);
  count = 0;
  add(ms: number) {
    this.count++;
    if (ms < 100) this.fine[Math.floor(ms * 100)]!++;
    else this.coarse[Math.min(59_999, Math.floor(ms))]!++;
  }
  percentile(p: number): number {
    const want = Math.ceil(this.count * p);
    let seen = 0;
    for (let i = 0; i < this.fine.length; i++) {
      seen += this.fine[i]!;
      if (seen >= want) return (i + 1) / 100;
    }
    for (let i = 0; i < this.coarse.length; i++) {
      seen += this.coarse[i]!;
      if (seen >= want) return i + 1;
    }
    return NaN;
  }
}

const stats = {
  latency: Object.fromEntries(AREAS.map((a) => [a, new Histogram()])) as Record<Area, Histogram>,
  errors: new Map<string, number>(),
  requests: 0,
};
let measuring = true;

function error(what: string) {
  stats.errors.set(what, (stats.errors.get(what) ?? 0) + 1);
}

let base = '';
interface Res {
  status: number;
  body: unknown;
  headers: Headers;
}

/** One request; latency goes to `area` unless it is a long poll; unexpected statuses count as errors. */
async function req(area: Area, op: string, method: string, path: string, body: unknown, ok: number[], longPoll = false): Promise<Res | undefined> {
  const started = performance.now();
  try {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    const ms = performance.now() - started;
    if (measuring) {
      stats.requests++;
      if (!longPoll) stats.latency[area].add(ms);
    }
    if (!ok.includes(res.status)) error(`${area} ${op} ${res.status} ${text.slice(0, 120)}`);
    return { status: res.status, body: text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text, headers: res.headers };
  } catch (err) {
    error(`${area} ${op} network: ${(err as Error).message}`);
    return undefined;
  }
}

const VALUE = { user: 42, name: 'Ada Lovelace', roles: ['admin', 'dev'], bio: 'x'.repeat(240) };

async function cacheOp() {
  const key = `soak:${rand(CACHE_KEYS)}`;
  if (Math.random() < 0.75) await req('cache', 'get', 'GET', `/v1/cache/${encodeURIComponent(key)}`, undefined, [200, 404]);
  else await req('cache', 'put', 'PUT', `/v1/cache/${encodeURIComponent(key)}?ttlMs=600000`, VALUE, [204]);
}

async function queueOp() {
  const q = QUEUES[rand(QUEUES.length)] as string;
  if (Math.random() < 0.5) {
    await req('queues', 'enqueue', 'POST', `/v1/queues/${q}/messages`, { body: { order: rand(1e6), items: [1, 2, 3] } }, [201]);
    return;
  }
  const r = await req('queues', 'dequeue', 'POST', `/v1/queues/${q}/dequeue`, { max: 5, visibilityMs: 30_000 }, [200]);
  const messages = (r?.body as { messages?: { receipt: string }[] } | undefined)?.messages ?? [];
  if (messages.length > 0) await req('queues', 'ack', 'POST', `/v1/queues/${q}/ack`, { receipts: messages.map((m) => m.receipt) }, [200]);
}

async function lockOp() {
  const name = `soak-${rand(LOCK_NAMES)}`;
  const r = await req('locks', 'acquire', 'POST', `/v1/locks/${name}/acquire`, { ttlMs: 10_000 }, [200, 409]);
  if (r?.status === 200) await req('locks', 'release', 'POST', `/v1/locks/${name}/release`, { token: (r.body as { token: string }).token }, [200]);
}

async function taskOp() {
  // One submit in five is a batch of five (one MULTI/EXEC through BullMQ's FlowProducer).
  if (Math.random() < 0.2) {
    const tasks = Array.from({ length: 5 }, () => ({ payload: { n: rand(1e6) } }));
    await req('tasks', 'submit batch', 'POST', '/v1/tasks', { type: 'soak.job', tasks }, [202]);
  } else await req('tasks', 'submit', 'POST', '/v1/tasks', { type: 'soak.job', payload: { n: rand(1e6) } }, [202]);
}

let running = true;
async function client() {
  while (running) {
    const x = Math.random();
    if (x < 0.6) await cacheOp();
    else if (x < 0.85) await queueOp();
    else if (x < 0.95) await lockOp();
    else await taskOp();
  }
}

type Claimed = { task: { id: string }; token: string };

/** Worker 0 claims and completes; the others take their next task with the complete (`next`, with the claim's
 * own lock, so BullMQ's finishing script fetches it on the claiming instance), and claim only when it is null. */
async function taskWorker(index: number) {
  const chains = index > 0;
  const claimOptions = { waitMs: 1_000, lockMs: 10_000 };
  let held: Claimed | undefined;
  while (running) {
    if (!held) {
      const c = await req('tasks', 'claim', 'POST', '/v1/workers/soak.job/claim', claimOptions, [200, 204], true);
      if (c?.status === 200) held = c.body as Claimed;
      else if (!c) await sleep(100);
      continue;
    }
    const { task, token } = held;
    const body = chains ? { token, result: { ok: true }, next: claimOptions } : { token, result: { ok: true } };
    const r = await req('tasks', chains ? 'complete+next' : 'complete', 'POST', `/v1/tasks/${encodeURIComponent(task.id)}/complete`, body, [200], chains);
    held = chains ? ((r?.body as { next?: Claimed | null } | undefined)?.next ?? undefined) : undefined;
  }
}

async function rssBytes(): Promise<number> {
  const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })).text();
  const m = /^baton_process_resident_memory_bytes (\S+)$/m.exec(text);
  return m ? Number(m[1]) : NaN;
}

interface RedisMemory {
  /** used_memory */
  total: number;
  /** used_memory_scripts: the Lua script cache (BullMQ loads ~40 scripts on first use). */
  scripts: number;
  /** mem_clients_normal: connection buffers (BullMQ opens connections per task type on first use). */
  clients: number;
  /** total − scripts (the script cache only grows when a new script is loaded). The baseline target is about this. */
  data: number;
}

async function usedMemory(redis: Redis): Promise<RedisMemory> {
  const info = await redis.info('memory');
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
  const total = field('used_memory');
  const scripts = field('used_memory_scripts');
  const clients = field('mem_clients_normal');
  return { total, scripts, clients, data: total - scripts };
}
/** MEMORY STATS as a flat record of its numeric fields (db.0.overhead.hashtable.main, clients.normal, …). */
async function memoryStats(redis: Redis): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const walk = (arr: unknown[], prefix: string) => {
    for (let i = 0; i + 1 < arr.length; i += 2) {
      const k = `${prefix}${String(arr[i])}`;
      const v = arr[i + 1];
      if (Array.isArray(v)) walk(v, `${k}.`);
      else if (typeof v === 'number') out[k] = v;
    }
  };
  walk((await redis.call('MEMORY', 'STATS')) as unknown[], '');
  return out;
}
const statsDiff = (a: Record<string, number>, b: Record<string, number>) =>
  Object.keys(b)
    .filter((k) => !k.includes('peak') && !k.includes('percentage') && !k.includes('ratio') && Math.abs((b[k] ?? 0) - (a[k] ?? 0)) >= 16 * 1024)
    .map((k) => `${k} ${((b[k]! - (a[k] ?? 0)) / 1024).toFixed(0)} kB`)
    .join(', ');

const fmtMem = (m: RedisMemory) => `${mb(m.total)} (data ${(m.data / 1024).toFixed(0)} kB, scripts ${(m.scripts / 1024).toFixed(0)} kB, clients ${(m.clients / 1024).toFixed(0)} kB)`;

async function keysByGroup(redis: Redis): Promise<Map<string, number>> {
  const groups = new Map<string, number>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `baton:${TENANT}:*`, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) {
      const g = k.replace(/:t[\w-]{12,}$/, ':<finished task>').replace(/\d+/g, '#');
      groups.set(g, (groups.get(g) ?? 0) + 1);
    }
  } while (cursor !== '0');
  return groups;
}

async function main() {
  process.stdout.write(`Baton soak: ${durationS} s (warm-up ${warmupS} s), ${connections} clients + ${TASK_WORKERS} task workers, mix cache 60 % / queues 25 % / locks 10 % / tasks 5 %\n`);
  const dataDir = mkdtempSync(join(tmpdir(), 'baton-soak-'));
  const redisServer = await startEmbeddedRedis({ dataDir, args: ['--appendonly', 'no', '--save', ''] });
  const redis = new Redis(redisServer.url, { lazyConnect: true });
  await redis.connect();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const baton = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    env: {
      ...process.env, NODE_ENV: 'production', PORT: String(port), HOST: '127.0.0.1', REDIS_URL: redisServer.url, LOG_LEVEL: 'warn',
      BATON_API_KEYS: JSON.stringify([{ key: KEY, tenant: TENANT, scopes: ['*'] }]),
      // Finished tasks are forgotten after 1 s, so the soak measures leaks rather than the retention.
      BATON_TASK_RETENTION_MS: '1000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(baton);
  let batonOut = '';
  const keep = (b: Buffer) => { batonOut = (batonOut + b.toString()).slice(-5000); };
  baton.stdout?.on('data', keep);
  baton.stderr?.on('data', keep);
  for (let i = 0; ; i++) {
    if (baton.exitCode !== null) throw new Error(`baton exited: ${batonOut}`);
    if ((await fetch(`${base}/health/ready`).then((r) => r.status).catch(() => 0)) === 200) break;
    if (i > 600) throw new Error(`baton not ready: ${batonOut}`);
    await sleep(100);
  }
  const redisCold = await usedMemory(redis);

  // Purge through the API what the soak created; then (`all`) remove the rest too: lock fences, which are
  // kept forever by design, and BullMQ's bookkeeping for the task type (finished jobs are trimmed lazily).
  const purge = async (all: boolean) => {
    const r = await req('cache', 'purge', 'DELETE', `/v1/cache?pattern=${encodeURIComponent('soak:*')}`, undefined, [200]);
    for (const q of QUEUES) await req('queues', 'purge', 'DELETE', `/v1/queues/${q}`, undefined, [204, 200, 404]);
    if (all) {
      for (let cursor = '0'; ;) {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `baton:${TENANT}:*`, 'COUNT', 1000);
        if (keys.length > 0) await redis.unlink(...keys);
        cursor = next;
        if (cursor === '0') break;
      }
    }
    await sleep(1_500); // UNLINK frees in the background; finished tasks pass their 1 s retention
    return (r?.body as { deleted?: number } | undefined)?.deleted;
  };
  const startClients = () => {
    running = true;
    return [...Array.from({ length: connections }, client), ...Array.from({ length: TASK_WORKERS }, (_, i) => taskWorker(i))];
  };

  // Warm-up (not measured): JIT, connection pools, BullMQ's scripts and connections for the task type. Then
  // an empty Redis with a warm Baton is the baseline both RSS and Redis memory are compared with.
  const started = Date.now();
  measuring = false;
  let workers = startClients();
  await sleep(warmupS * 1000);
  running = false;
  await Promise.all(workers);
  await purge(true);
  const redisBaseline = await usedMemory(redis);
  const redisKeysBaseline = await redis.dbsize();
  const statsBaseline = await memoryStats(redis);
  const rssStart = await rssBytes();
  process.stdout.write(`warm-up done: RSS ${mb(rssStart)}, Redis ${fmtMem(redisBaseline)} (cold start: ${fmtMem(redisCold)})\n`);

  measuring = true;
  stats.errors.clear();
  workers = startClients();
  const measuredFrom = Date.now();
  let lastCount = 0;
  let lastAt = measuredFrom;
  const rssSamples: number[] = [rssStart];
  while (Date.now() - started < durationS * 1000) {
    await sleep(Math.min(10_000, Math.max(0, durationS * 1000 - (Date.now() - started))));
    const now = Date.now();
    const rss = await rssBytes();
    rssSamples.push(rss);
    const errors = [...stats.errors.values()].reduce((a, b) => a + b, 0);
    process.stdout.write(`  t=${Math.round((now - started) / 1000)}s  ${((stats.requests - lastCount) / ((now - lastAt) / 1000)).toFixed(0)} req/s  errors ${errors}  RSS ${mb(rss)}  Redis ${mb((await usedMemory(redis)).total)}\n`);
    lastCount = stats.requests;
    lastAt = now;
  }
  const measuredS = (Date.now() - measuredFrom) / 1000;
  const total = stats.requests;
  const rssEnd = await rssBytes();
  running = false;
  await Promise.all(workers);
  const redisEnd = await usedMemory(redis);
  measuring = false;

  const purgedKeys = await purge(false);
  const redisAfterPurge = await usedMemory(redis);
  const residual = await keysByGroup(redis);
  await purge(true);
  const redisAfterAll = await usedMemory(redis);
  const keysAfterAll = await redis.dbsize();
  const statsAfterAll = await memoryStats(redis);
  const slowlog = Number(await redis.call('SLOWLOG', 'LEN'));

  const errorsTotal = [...stats.errors.values()].reduce((a, b) => a + b, 0);
  const rssGrowth = (rssEnd - rssStart) / rssStart;
  const purgeDelta = redisAfterPurge.data - redisBaseline.data;
  const allDelta = redisAfterAll.data - redisBaseline.data;
  const lines = [
    '',
    `Soak result (${measuredS.toFixed(0)} s measured after a ${warmupS} s warm-up, ${connections} clients):`,
    `  throughput      ${(total / measuredS).toFixed(0)} requests/s (${total} requests)`,
    ...AREAS.map((a) => `  ${a.padEnd(15)} ${String(stats.latency[a].count).padStart(8)} requests  p50 ${stats.latency[a].percentile(0.5).toFixed(2)} ms  p99 ${stats.latency[a].percentile(0.99).toFixed(2)} ms`),
    `  errors          ${errorsTotal}${errorsTotal ? `: ${[...stats.errors].slice(0, 10).map(([k, v]) => `${k} ×${v}`).join('; ')}` : ''}`,
    `  Baton RSS       ${mb(rssStart)} after warm-up → ${mb(rssEnd)} at the end (${(rssGrowth * 100).toFixed(1)} %; min ${mb(Math.min(...rssSamples))}, max ${mb(Math.max(...rssSamples))})`,
    `  Redis memory    baseline (warm Baton, empty) ${fmtMem(redisBaseline)}, ${redisKeysBaseline} keys`,
    `                  end of run ${fmtMem(redisEnd)}`,
    `                  after the API purge ${fmtMem(redisAfterPurge)}: data ${purgeDelta >= 0 ? '+' : ''}${(purgeDelta / 1024).toFixed(0)} kB vs baseline (cache pattern delete removed ${purgedKeys ?? '?'} keys)`,
    `                  left after the API purge: ${[...residual].sort((a, b) => b[1] - a[1]).map(([g, n]) => `${g} ×${n}`).join(', ') || 'nothing'}`,
    `                  after removing those too ${fmtMem(redisAfterAll)}: data ${allDelta >= 0 ? '+' : ''}${(allDelta / 1024).toFixed(0)} kB vs baseline, ${keysAfterAll} keys`,
  ];
  lines.push(`                  MEMORY STATS changes vs baseline: ${statsDiff(statsBaseline, statsAfterAll) || 'none over 16 kB'} (slowlog ${slowlog} entries)`);
  const misses: string[] = [];
  if (errorsTotal > 0) misses.push('errors');
  if (rssGrowth >= 0.1) misses.push('RSS growth ≥ 10 %');
  if (allDelta > 256 * 1024) misses.push('Redis data memory not back to baseline');
  lines.push(`  targets         ${misses.length ? `MISS: ${misses.join(', ')}` : 'PASS (no errors, RSS growth < 10 %, Redis memory back to baseline)'}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  process.stdout.write(`SOAK_JSON ${JSON.stringify({
    durationS: measuredS, connections, requests: total, rps: total / measuredS,
    p99: Object.fromEntries(AREAS.map((a) => [a, stats.latency[a].percentile(0.99)])),
    errors: errorsTotal, rssStart, rssEnd, rssGrowth, redisBaseline, redisEnd, redisAfterPurge, redisAfterAll,
  })}\n`);

  baton.kill('SIGTERM');
  await new Promise((r) => baton.once('exit', r));
  redis.disconnect();
  await redisServer.stop();
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(strict && misses.length > 0 ? 1 : 0);
}

main().catch((err) => {
  process.stderr.write(`soak failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
