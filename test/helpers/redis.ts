// A private, real redis-server per test file: a free loopback port, no persistence unless asked, killed in
// teardown (and on process exit, so a crashed test file leaves no orphan). stop()/start() restart it on the
// same port for resilience tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../src/redis/embedded.js';
import { spawnServer, type ServerProcess } from './servers.js';
import tap from 'tap';

export interface TestRedis {
  url: string;
  port: number;
  dir: string;
  /** A plain client for assertions (closed in teardown). */
  client: Redis;
  flush(): Promise<void>;
  /** SIGKILL (or SIGTERM when graceful) the server; resolves once it has exited. */
  stop(graceful?: boolean): Promise<void>;
  /** Start it again on the same port and data dir. */
  start(): Promise<void>;
}

interface Teardownable {
  teardown(fn: () => unknown): void;
}

/**
 * A free port below the ephemeral range (32768+): while a test stops its redis-server, a reconnecting
 * client's outgoing socket could otherwise be handed the same port and block the restart.
 */
async function restartablePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (await portFree(port)) return port;
  }
  return freePort();
}

function portFree(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const srv = createServer();
    srv.once('error', () => ok(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => ok(true)));
  });
}

/**
 * Once a file's tests and teardowns are done, make sure its process ends. Rarely (after a Redis restart, about
 * one run in ten of test/locks/restart.test.ts) the process stayed alive with no handle of ours left: the only
 * active handle was a MessagePort, the TypeScript loader's, and tap killed the file at its timeout although every
 * assertion had passed. The timer is unref'd, so it never delays a process that ends by itself.
 */
let exitArmed = false;
function exitWhenDone() {
  if (exitArmed) return;
  exitArmed = true;
  setTimeout(() => process.exit(), 3_000).unref();
}

export async function startRedis(t: Teardownable, extraArgs: string[] = []): Promise<TestRedis> {
  const port = await restartablePort();
  const dir = mkdtempSync(join(tmpdir(), 'baton-redis-'));
  let server: ServerProcess | undefined;

  const launch = async () => {
    server = await spawnServer('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
      '--protected-mode', 'no', ...extraArgs,
    ], port);
  };
  await launch();

  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(n * 20, 200) });
  client.on('error', () => undefined);
  await client.connect();

  const stop = async (graceful = false) => server?.stop(graceful);

  t.teardown(async () => {
    client.disconnect();
    await stop();
    rmSync(dir, { recursive: true, force: true });
    if (t === tap) exitWhenDone(); // only the file's own (root) teardown: a subtest's Redis ends mid-file
  });

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    client,
    flush: async () => {
      await client.flushall();
    },
    stop,
    start: async () => {
      await launch();
      if (client.status !== 'ready') await new Promise((r) => client.once('ready', r));
    },
  };
}
