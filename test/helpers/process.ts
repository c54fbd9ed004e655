// Baton as a real child process (`node --import tsx src/server.ts`) on a free loopback port, for the proof
// tests that need several instances or crashes: start, wait until /health/live answers, SIGKILL or SIGTERM
// it, start it again on the same port. Killed in teardown and on process exit, so no orphan outlives a test.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/redis/embedded.js';
import { API_KEYS_JSON } from './build.js';
import { TSX_ARGS, tsxChildEnv } from './tsx-child.js';

interface Teardownable {
  teardown(fn: () => unknown): void;
}

export interface BatonProcess {
  url: string;
  port: number;
  pid(): number | undefined;
  /** The last ~20 kB of its stdout/stderr (for failure messages). */
  output(): string;
  /** Send a signal (SIGKILL by default) and resolve once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Start it again on the same port (after kill). */
  start(): Promise<void>;
  running(): boolean;
}

const root = fileURLToPath(new URL('../..', import.meta.url));
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

async function waitLive(url: string, child: ChildProcess, out: () => string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`baton exited (${child.exitCode ?? child.signalCode}) before it listened:\n${out().slice(-3000)}`);
    }
    try {
      const res = await fetch(`${url}/health/live`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`baton did not listen within ${timeoutMs} ms:\n${out().slice(-3000)}`);
}

export async function startBaton(
  t: Teardownable,
  redisUrl: string,
  opts: { env?: Record<string, string>; port?: number; readyTimeoutMs?: number } = {},
): Promise<BatonProcess> {
  const port = opts.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let out = '';

  const start = async () => {
    const c = spawn(process.execPath, [...TSX_ARGS, 'src/server.ts'], {
      cwd: root,
      env: tsxChildEnv({
        ...process.env,
        NODE_ENV: 'test',
        PORT: String(port),
        HOST: '127.0.0.1',
        REDIS_URL: redisUrl,
        BATON_API_KEYS: API_KEYS_JSON,
        LOG_LEVEL: 'warn',
        BATON_SHUTDOWN_GRACE_MS: '2000',
        ...opts.env,
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(c);
    c.once('exit', () => live.delete(c));
    const onData = (b: Buffer) => {
      out = (out + b.toString()).slice(-20_000);
    };
    c.stdout?.on('data', onData);
    c.stderr?.on('data', onData);
    child = c;
    await waitLive(url, c, () => out, opts.readyTimeoutMs ?? 60_000);
  };

  const running = () => !!child && child.exitCode === null && child.signalCode === null;
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    const c = child;
    if (!c) return { code: null, signal: null };
    if (!running()) return { code: c.exitCode, signal: c.signalCode };
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      c.once('exit', (code, sig) => r({ code, signal: sig })),
    );
    c.kill(signal);
    return exited;
  };

  await start();
  t.teardown(async () => {
    await kill('SIGKILL');
  });
  return { url, port, pid: () => child?.pid, output: () => out, kill, start, running };
}

export interface CallResult<T = unknown> {
  status: number;
  headers: Headers;
  /** Parsed JSON when the response is JSON (problem documents included), else the text. */
  body: T;
  ms: number;
}

/** One HTTP call with the t1 key (or `key`), JSON in and out. Network errors are thrown. */
export async function call<T = Record<string, unknown>>(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  opts: { key?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CallResult<T>> {
  const started = performance.now();
  const res = await fetch(base + path, {
    method,
    headers: {
      authorization: `Bearer ${opts.key ?? 'test-key-tenant-one-0001'}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...opts.headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(opts.timeoutMs ?? 60_000),
  });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  const parsed = type.includes('json') && text ? (JSON.parse(text) as T) : (text as T);
  return { status: res.status, headers: res.headers, body: parsed, ms: performance.now() - started };
}

/** The value of an unlabelled gauge/counter in a Prometheus text exposition. */
export async function metric(base: string, name: string): Promise<number> {
  const res = await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer test-key-tenant-one-0001' } });
  const text = await res.text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

export { until } from './servers.js';
