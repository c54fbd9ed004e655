// Which Redis the test files run against: BATON_TEST_TOPOLOGY=standalone (the default), cluster or sentinel.
// `npm run test:cluster` and `npm run test:sentinel` run the area suites (test/cache, test/locks, test/queues,
// test/tasks) unchanged on a real 3-master Redis Cluster, or on a master + replica + 3 sentinels, each started
// per test file by startRedis() exactly like the standalone redis-server.
import { Cluster, Redis } from 'ioredis';
import type { RedisTopology } from '../../src/config.js';
import { startCluster } from './cluster.js';
import type { TestRedis } from './redis.js';
import { startSentinel } from './sentinel.js';

export type TopologyKind = 'standalone' | 'cluster' | 'sentinel';

export const TOPOLOGY: TopologyKind = (() => {
  const v = process.env.BATON_TEST_TOPOLOGY || 'standalone';
  if (v === 'standalone' || v === 'cluster' || v === 'sentinel') return v;
  throw new Error(`BATON_TEST_TOPOLOGY=${v}: expected standalone, cluster or sentinel`);
})();

/** Why a test that needs one plain redis-server (CLIENT PAUSE, a self-made cluster, …) is skipped elsewhere. */
export const standaloneOnly = TOPOLOGY === 'standalone' ? false : `needs one plain redis-server (BATON_TEST_TOPOLOGY=${TOPOLOGY})`;

/**
 * A test Redis is named by one string, TestRedis.url: a redis:// URL, or `cluster://host:port,…` or
 * `sentinel://host:port,…/masterName` for the other topologies. This turns it into the REDIS_* variables.
 */
export function redisEnv(url: string): Record<string, string> {
  if (url.startsWith('cluster://')) return { REDIS_URL: '', REDIS_CLUSTER_NODES: url.slice('cluster://'.length) };
  if (url.startsWith('sentinel://')) {
    const [sentinels = '', masterName = 'mymaster'] = url.slice('sentinel://'.length).split('/');
    return { REDIS_URL: '', REDIS_SENTINELS: sentinels, REDIS_SENTINEL_MASTER: masterName };
  }
  return { REDIS_URL: url };
}

const hostPort = (addr: string) => {
  const [host = '127.0.0.1', port = '0'] = addr.split(':');
  return { host, port: Number(port) };
};

interface Teardownable {
  teardown(fn: () => unknown): void;
}

export async function startClusterRedis(t: Teardownable, extraArgs: string[]): Promise<TestRedis> {
  const c = await startCluster(t, { extraArgs });
  const topology: RedisTopology = { kind: 'cluster', nodes: c.masters.map(hostPort) };
  return {
    kind: 'cluster',
    url: `cluster://${c.masters.join(',')}`,
    topology,
    port: hostPort(c.masters[0] as string).port,
    dir: c.dir,
    client: c.client,
    flush: async () => {
      await Promise.all(c.masterClients.map((m) => m.flushall()));
    },
    keys: async (pattern) => (await Promise.all(c.masterClients.map((m) => m.keys(pattern)))).flat(),
    connectedClients: async () => sum(await Promise.all(c.masterClients.map(connectedClients))),
    stop: () => c.stopAll(),
    start: () => c.startAll(),
  };
}

export async function startSentinelRedis(t: Teardownable, extraArgs: string[]): Promise<TestRedis> {
  const s = await startSentinel(t, { extraArgs });
  const topology: RedisTopology = { kind: 'sentinel', sentinels: s.sentinelsEnv.split(',').map(hostPort), masterName: s.masterName };
  // Found through the sentinels, like Baton's own connections.
  const client = new Redis({
    sentinels: topology.sentinels,
    name: s.masterName,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: (n) => Math.min(n * 20, 200),
    sentinelRetryStrategy: (n) => Math.min(n * 20, 200),
  });
  client.on('error', () => undefined);
  await client.connect();
  t.teardown(() => client.disconnect());
  return {
    kind: 'sentinel',
    url: `sentinel://${s.sentinelsEnv}/${s.masterName}`,
    topology,
    port: s.masterPort,
    dir: s.dir,
    client,
    flush: async () => {
      await client.flushall();
    },
    keys: (pattern) => client.keys(pattern),
    connectedClients: () => connectedClients(client),
    stop: () => s.stopData(),
    start: async () => {
      await s.startData();
      if (client.status !== 'ready') await new Promise((r) => client.once('ready', r));
    },
  };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** CONNECTED_CLIENTS of one node (INFO clients). */
export async function connectedClients(c: Redis | Cluster): Promise<number> {
  return Number(/connected_clients:(\d+)/.exec(await c.info('clients'))?.[1]);
}
// TEMP-DEBUG
setTimeout(() => {
  const hs = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  process.stderr.write(`DEBUG resources ${JSON.stringify(process.getActiveResourcesInfo())}\n`);
  for (const h of hs) {
    const s = h as { constructor: { name: string }; remotePort?: number; localPort?: number; pid?: number; spawnfile?: string };
    process.stderr.write(`DEBUG handle ${s.constructor.name} remote ${s.remotePort} local ${s.localPort} ${s.spawnfile ?? ''} ${s.pid ?? ''}\n`);
  }
}, 40_000).unref();
