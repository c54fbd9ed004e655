// The Redis a test file runs against: by default a private, real redis-server on a free loopback port, no
// persistence unless asked, killed in teardown (and on process exit, so a crashed test file leaves no orphan);
// with BATON_TEST_TOPOLOGY=cluster or sentinel, a real Redis Cluster or Sentinel topology (topology.ts).
// stop()/start() restart it on the same ports for resilience tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import tap from 'tap';
import type { RedisTopology } from '../../src/config.js';
import type { RedisClient } from '../../src/redis/connection.js';
import { exitWhenDone, restartablePort, spawnServer, type ServerProcess } from './servers.js';
import { connectedClients, startClusterRedis, startSentinelRedis, TOPOLOGY, type TopologyKind } from './topology.js';

export interface TestRedis {
  kind: TopologyKind;
  /** What build() and testConfig() take: a redis:// URL, or a cluster:// / sentinel:// one (topology.ts). */
  url: string;
  /** The same Redis as a RedisTopology, for service-level tests that open their own connections. */
  topology: Exclude<RedisTopology, { kind: 'embedded' }>;
  /** The server's port (the first master's on a cluster, the master's with Sentinel). */
  port: number;
  dir: string;
  /** A client for assertions (a Cluster client on a cluster; closed in teardown). */
  client: RedisClient;
  /** FLUSHALL on every master. */
  flush(): Promise<void>;
  /** KEYS pattern on every master. */
  keys(pattern: string): Promise<string[]>;
  /** Connected clients, summed over the masters (INFO clients). */
  connectedClients(): Promise<number>;
  /** SIGKILL (or SIGTERM when graceful) every data node; resolves once they have exited. */
  stop(graceful?: boolean): Promise<void>;
  /** Start them again on the same ports and data dirs; resolves once `client` is ready. */
  start(): Promise<void>;
}

interface Teardownable {
  teardown(fn: () => unknown): void;
}

/** The Redis of this run's topology (BATON_TEST_TOPOLOGY), for a test file or a subtest, torn down with it. */
export async function startRedis(t: Teardownable, extraArgs: string[] = []): Promise<TestRedis> {
  // Only the file's own (root) teardown: a subtest's Redis ends mid-file.
  if (t === tap) t.teardown(exitWhenDone);
  if (TOPOLOGY === 'cluster') return startClusterRedis(t, extraArgs);
  if (TOPOLOGY === 'sentinel') return startSentinelRedis(t, extraArgs);
  return startStandalone(t, extraArgs);
}

async function startStandalone(t: Teardownable, extraArgs: string[]): Promise<TestRedis> {
  const port = await restartablePort();
  // A cluster-enabled node listens on a bus port too, by default port + 10000: often in the ephemeral range, where
  // an outgoing socket may hold it ("bind: Address already in use"). Give it a free one of its own.
  if (extraArgs.includes('--cluster-enabled') && !extraArgs.includes('--cluster-port')) {
    let bus = await restartablePort();
    while (bus === port) bus = await restartablePort();
    extraArgs = [...extraArgs, '--cluster-port', String(bus)];
  }
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
  });

  const url = `redis://127.0.0.1:${port}`;
  return {
    kind: 'standalone',
    url,
    topology: { kind: 'standalone', url },
    port,
    dir,
    client,
    flush: async () => {
      await client.flushall();
    },
    keys: (pattern) => client.keys(pattern),
    connectedClients: () => connectedClients(client),
    stop,
    start: async () => {
      await launch();
      if (client.status !== 'ready') await new Promise((r) => client.once('ready', r));
    },
  };
}
