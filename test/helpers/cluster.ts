// A private, real Redis Cluster per test file: 3 masters (plus one replica each when asked) on free loopback
// ports, created with `redis-cli --cluster create`, ready once every node reports cluster_state:ok and knows
// every other node. Torn down with no leftovers: processes SIGKILLed and the temp dir removed in teardown,
// and the processes also killed on process exit so a crashed test file leaves no orphan.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { removeDir, restartablePort, spawnServer, trackDir, until, type ServerProcess } from './servers.js';

export { spawnServer, trackDir, until, type ServerProcess };

interface Teardownable {
  teardown(fn: () => unknown): void;
}

function run(bin: string, args: string[]): Promise<string> {
  return new Promise((ok, fail) => {
    const c = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (b: Buffer) => (out += b.toString()));
    c.stderr.on('data', (b: Buffer) => (out += b.toString()));
    c.once('error', fail);
    c.once('exit', (code) => (code === 0 ? ok(out) : fail(new Error(`${bin} ${args.join(' ')} exited ${code}: ${out.slice(-2000)}`))));
  });
}

export interface TestCluster {
  /** Master addresses "127.0.0.1:port", in creation order. */
  masters: string[];
  /** Replica addresses (empty unless replicas were asked for). */
  replicas: string[];
  /** REDIS_CLUSTER_NODES value: every node, comma-separated. */
  nodesEnv: string;
  /** A cluster client for assertions (closed in teardown). */
  client: Cluster;
  /** One plain client per master (closed in teardown), e.g. for DBSIZE per node. */
  masterClients: Redis[];
  dir: string;
  /** SIGKILL the node at "127.0.0.1:port"; resolves once it has exited, with the time the signal was sent. */
  killNode(addr: string): Promise<number>;
  /**
   * Resolves once every live node reports cluster_state:ok and sees every killed node as failed and demoted
   * (its replica promoted), with the time seen.
   */
  waitHealthy(timeoutMs?: number): Promise<number>;
  /** SIGKILL (or SIGTERM) every node: the whole cluster is down. */
  stopAll(graceful?: boolean): Promise<void>;
  /** Start every node again on its ports with its nodes.conf; resolves once the cluster and `client` are ready. */
  startAll(): Promise<void>;
}

/**
 * Two free ports below the ephemeral range, for a node and its cluster bus (set explicitly with cluster-port),
 * so a restart finds them free again.
 */
async function twoPorts(): Promise<[number, number]> {
  const a = await restartablePort();
  let b = await restartablePort();
  while (b === a) b = await restartablePort();
  return [a, b];
}

export async function startCluster(
  t: Teardownable,
  opts: { masters?: number; replicas?: boolean; extraArgs?: string[] } = {},
): Promise<TestCluster> {
  const nMasters = opts.masters ?? 3;
  const total = opts.replicas ? nMasters * 2 : nMasters;
  const dir = mkdtempSync(join(tmpdir(), 'baton-cluster-'));
  trackDir(dir);
  const procs: ServerProcess[] = [];
  const clients: Redis[] = [];
  const opened: { client?: Cluster } = {};

  t.teardown(async () => {
    opened.client?.disconnect();
    for (const c of clients) c.disconnect();
    await Promise.all(procs.map((p) => p.stop()));
    removeDir(dir);
  });

  const nodeArgs = (port: number, bus: number, d: string) => [
    '--port', String(port), '--cluster-port', String(bus), '--bind', '127.0.0.1', '--dir', d,
    '--cluster-enabled', 'yes', '--cluster-config-file', join(d, 'nodes.conf'), '--cluster-node-timeout', '2000',
    '--save', '', '--appendonly', 'no', '--protected-mode', 'no', ...(opts.extraArgs ?? []),
  ];
  const argsByPort = new Map<number, string[]>();
  /** Start one node on fresh ports; another process may take a port between the check and the bind: retry. */
  const startNode = async (): Promise<ServerProcess> => {
    for (let attempt = 1; ; attempt++) {
      const [port, bus] = await twoPorts();
      const d = join(dir, String(port));
      mkdirSync(d, { recursive: true });
      try {
        const p = await spawnServer('redis-server', nodeArgs(port, bus, d), port);
        argsByPort.set(port, nodeArgs(port, bus, d));
        return p;
      } catch (err) {
        if (attempt >= 5 || !/Address already in use/.test((err as Error).message)) throw err;
      }
    }
  };
  const starts: Promise<ServerProcess>[] = [];
  for (let i = 0; i < total; i++) starts.push(startNode());
  procs.push(...(await Promise.all(starts)));
  const addrs = procs.map((p) => `127.0.0.1:${p.port}`);
  await run('redis-cli', ['--cluster', 'create', ...addrs, '--cluster-replicas', opts.replicas ? '1' : '0', '--cluster-yes']);

  for (const p of procs) {
    const c = new Redis({ port: p.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
    c.on('error', () => undefined);
    await c.connect();
    clients.push(c);
  }
  // No event tells that the gossip has converged: poll CLUSTER INFO on every node.
  await until('cluster_state:ok on every node', async () => {
    const infos = await Promise.all(clients.map((c) => c.cluster('INFO') as Promise<string>));
    return infos.every((i) => i.includes('cluster_state:ok') && i.includes(`cluster_known_nodes:${total}`) && i.includes('cluster_slots_ok:16384'));
  });

  const roles = await Promise.all(clients.map(async (c) => ((await c.info('replication')).includes('role:master') ? 'master' : 'slave')));
  const masters = addrs.filter((_, i) => roles[i] === 'master');
  const replicas = addrs.filter((_, i) => roles[i] === 'slave');
  const masterClients = clients.filter((_, i) => roles[i] === 'master');
  if (opts.replicas) {
    await until('replicas in sync', async () => {
      const infos = await Promise.all(masterClients.map((c) => c.info('replication')));
      return infos.every((i) => /connected_slaves:1/.test(i) && /slave0:.*state=online/.test(i));
    });
  }

  const client = new Cluster(masters.map((a) => ({ host: '127.0.0.1', port: Number(a.split(':')[1]) })), { lazyConnect: true });
  opened.client = client;
  client.on('error', () => undefined);
  await client.connect();

  const dead = new Set<string>();
  const live = () => clients.filter((_, i) => !dead.has(addrs[i] as string));
  return {
    masters,
    replicas,
    nodesEnv: addrs.join(','),
    client,
    masterClients,
    dir,
    async killNode(addr) {
      const i = addrs.indexOf(addr);
      const p = procs[i];
      if (!p) throw new Error(`no node ${addr}`);
      dead.add(addr);
      const at = Date.now();
      await p.stop();
      return at;
    },
    async stopAll(graceful = false) {
      await Promise.all(procs.map((p) => p.stop(graceful)));
    },
    async startAll() {
      const restarted = await Promise.all(procs.map((p) => spawnServer('redis-server', argsByPort.get(p.port) as string[], p.port)));
      procs.splice(0, procs.length, ...restarted);
      await until('cluster_state:ok on every node after the restart', async () => {
        const infos = await Promise.all(clients.map((c) => c.cluster('INFO') as Promise<string>));
        return infos.every((i) => i.includes('cluster_state:ok'));
      });
      if (client.status !== 'ready') await new Promise((r) => client.once('ready', r));
    },
    async waitHealthy(timeoutMs = 30_000) {
      // A cluster failover announces itself to no client: poll CLUSTER INFO on the live nodes.
      await until(
        'cluster_state:ok on every live node',
        async () => {
          for (const c of live()) {
            if (!((await c.cluster('INFO')) as string).includes('cluster_state:ok')) return false;
            // Every killed node must be flagged failed (not just suspected) and own no slot any more (fields 9+).
            const nodes = ((await c.cluster('NODES')) as string).split('\n');
            for (const d of dead) {
              const line = nodes.find((l) => l.split(' ')[1]?.startsWith(`${d}@`));
              const f = line?.trim().split(' ') ?? [];
              if (!/(^|,)fail(,|$)/.test(f[2] ?? '') || f.length > 8) return false;
            }
          }
          return true;
        },
        timeoutMs,
        50,
      );
      return Date.now();
    },
  };
}
