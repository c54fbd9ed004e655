// The development default: with no REDIS_URL outside production, Baton runs a private redis-server child
// (free loopback port, data and AOF under REDIS_DATA_DIR). The child is started through a tiny shell
// guardian that holds a pipe from Baton: when Baton dies in any way, SIGKILL included, the pipe closes and
// the guardian stops redis-server, so no orphan outlives Baton. A pid file covers the rest: the next start
// finds a stale server by it and stops it before starting a new one (never two).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

export class RedisServerMissingError extends Error {
  override name = 'RedisServerMissingError';
  constructor() {
    super(
      'redis-server is not installed: install it (apt-get install redis-server, or brew install redis), ' +
        'set REDIS_URL to a running Redis, or run `docker compose up`',
    );
  }
}

export interface EmbeddedRedis {
  url: string;
  port: number;
  pid: number;
  dataDir: string;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => ok(port));
    });
  });
}

export function hasRedisServer(bin = 'redis-server'): boolean {
  return spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0;
}

function isRedisProcess(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('redis-server');
  } catch {
    // No /proc (macOS): fall back to "does the pid exist".
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

async function waitGone(pid: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/** Stop a redis-server left behind by an earlier Baton that was killed before it could stop it. */
export async function stopStale(pidFile: string): Promise<number | undefined> {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  rmSync(pidFile, { force: true });
  if (!Number.isInteger(pid) || pid <= 0 || !isRedisProcess(pid)) return undefined;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return undefined;
  }
  await waitGone(pid, 5000);
  return pid;
}

export interface StartOptions {
  dataDir: string;
  /** Extra redis-server arguments, e.g. ['--appendonly', 'no']. */
  args?: string[];
  port?: number;
  bin?: string;
}

export async function startEmbeddedRedis(o: StartOptions): Promise<EmbeddedRedis & { staleStopped?: number }> {
  const bin = o.bin ?? 'redis-server';
  if (!hasRedisServer(bin)) throw new RedisServerMissingError();
  const dataDir = resolve(o.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const pidFile = resolve(dataDir, 'redis.pid');
  const staleStopped = await stopStale(pidFile);
  const port = o.port ?? (await freePort());
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dataDir, '--pidfile', pidFile,
    '--appendonly', 'yes', '--save', '', '--daemonize', 'no', '--protected-mode', 'yes',
    ...(o.args ?? []),
  ];
  // The guardian: runs redis-server, and kills it when its stdin (a pipe from Baton) reaches EOF.
  const guardian = 'redis-server "$@" & rp=$!; trap "kill $rp 2>/dev/null" TERM INT; ' +
    'cat >/dev/null; kill $rp 2>/dev/null; wait $rp';
  const child: ChildProcess = spawn('sh', ['-c', guardian.replace('redis-server', bin), 'baton-redis', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`redis-server did not start within 10 s:\n${output}`)), 10_000);
    const onData = (b: Buffer) => {
      output += b.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        ok();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`redis-server exited with code ${code}:\n${output.slice(-2000)}`));
    });
  });
  child.stdout?.removeAllListeners('data');
  child.stderr?.removeAllListeners('data');
  child.stdout?.resume();
  child.stderr?.resume();
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  // Stop the child if this process exits without calling stop() (an uncaught error, process.exit()).
  const onExit = () => {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  };
  process.once('exit', onExit);
  writeFileSync(resolve(dataDir, 'redis.port'), String(port));
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid,
    dataDir,
    staleStopped,
    async stop() {
      process.off('exit', onExit);
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin?.end();
      await exited;
      await waitGone(pid, 5000);
      rmSync(pidFile, { force: true });
    },
  };
}
