// A private Sentinel topology per test file: one master, one replica and three sentinels (quorum 2) on free
// loopback ports, with fast failure detection (down-after 1 s). killMaster() SIGKILLs the current master;
// watchFailover() subscribes to the sentinels' +switch-master event and hands back the new master's address.
// Sentinels are redis-server in sentinel mode (no redis-sentinel package needed). Torn down with no
// leftovers (processes killed, temp dir removed), also on process exit.
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../src/redis/embedded.js';
import { restartablePort, spawnServer, trackDir, until, type ServerProcess } from './servers.js';

interface Teardownable {
  teardown(fn: () => unknown): void;
}

export const MASTER_NAME = 'mymaster';

export interface TestSentinel {
  masterName: string;
  /** REDIS_SENTINELS value: the three sentinels, comma-separated. */
  sentinelsEnv: string;
  /** Port of the master at start, and of the replica (the master after a failover). */
  masterPort: number;
  replicaPort: number;
  /** Plain clients on the master and the replica (closed in teardown; the master one dies with it). */
  master: Redis;
  replica: Redis;
  /**
   * Wait until the replica has acknowledged every write the master has so far (WAIT 1): what was written
   * before this call survives a failover.
   */
  sync(timeoutMs?: number): Promise<number>;
  /** SIGKILL the master. Resolves once the process has exited, with the time the signal was sent (Date.now()). */
  killMaster(): Promise<number>;
  /**
   * Subscribe to a sentinel's +switch-master (call before killMaster); resolves once subscribed, with
   * `switched`: resolves with "host:port" of the new master when the sentinels announce the failover.
   */
  watchFailover(timeoutMs?: number): Promise<{ switched: Promise<string> }>;
  /** The master address the sentinels currently report. */
  currentMaster(): Promise<string>;
  dir: string;
  /** SIGKILL (or SIGTERM) the master and the replica, the sentinels stay: no node left to fail over to. */
  stopData(graceful?: boolean): Promise<void>;
  /** Start the master, then the replica, again on their ports (before a failover only). */
  startData(): Promise<void>;
}

export async function startSentinel(t: Teardownable, opts: { extraArgs?: string[] } = {}): Promise<TestSentinel> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-sentinel-'));
  trackDir(dir);
  const procs: ServerProcess[] = [];
  const clients: Redis[] = [];
  const conn = (port: number) => {
    // Reconnects: the sentinels CLIENT KILL the normal clients of a promoted replica after a failover.
    const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(n * 50, 500) });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  };
  t.teardown(async () => {
    for (const c of clients) c.disconnect();
    await Promise.all(procs.map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  const redisArgs = (port: number, name: string) => [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--dbfilename', `${name}.rdb`, '--save', '',
    '--appendonly', 'no', '--appendfilename', `${name}.aof`, '--appenddirname', `${name}-aof`, '--protected-mode', 'no',
    ...(opts.extraArgs ?? []),
  ];
  // Below the ephemeral range, so stopData()/startData() find the ports free again.
  const masterPort = await restartablePort();
  const replicaPort = await restartablePort();
  const masterArgs = redisArgs(masterPort, 'master');
  const replicaArgs = [...redisArgs(replicaPort, 'replica'), '--replicaof', '127.0.0.1', String(masterPort)];
  let master = await spawnServer('redis-server', masterArgs, masterPort);
  let replica = await spawnServer('redis-server', replicaArgs, replicaPort);
  procs.push(master, replica);

  const sentinelPorts: number[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const conf = join(dir, `sentinel-${port}.conf`);
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        'protected-mode no',
        `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 10000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
        '',
      ].join('\n'),
    );
    // redis-server in sentinel mode: the same binary, no redis-sentinel package needed.
    procs.push(await spawnServer('redis-server', [conf, '--sentinel'], port, 'Sentinel ID is'));
    sentinelPorts.push(port);
  }

  const m = conn(masterPort);
  const r = conn(replicaPort);
  const sentinels = sentinelPorts.map(conn);
  await Promise.all([m, r, ...sentinels].map((c) => c.connect()));

  // Replication and sentinel discovery have no event to wait on: poll until the replica is online and
  // every sentinel knows the replica and the two other sentinels (otherwise a failover cannot start).
  await until('replica online', async () => /master_link_status:up/.test(await r.info('replication')));
  await until(
    'sentinels see the replica and each other',
    async () => {
      for (const s of sentinels) {
        const flat = (await s.call('SENTINEL', 'MASTER', MASTER_NAME)) as string[];
        const info: Record<string, string> = {};
        for (let i = 0; i + 1 < flat.length; i += 2) info[flat[i] as string] = flat[i + 1] as string;
        if (info['num-slaves'] !== '1' || info['num-other-sentinels'] !== '2') return false;
      }
      return true;
    },
    30_000,
    200,
  );

  const currentMaster = async () => {
    for (const s of sentinels) {
      try {
        const a = (await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)) as [string, string];
        return `${a[0]}:${a[1]}`;
      } catch {
        // try the next sentinel
      }
    }
    throw new Error('no sentinel answered');
  };

  return {
    masterName: MASTER_NAME,
    sentinelsEnv: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','),
    masterPort,
    replicaPort,
    master: m,
    replica: r,
    async sync(timeoutMs = 5_000) {
      const acked = (await m.call('WAIT', '1', String(timeoutMs))) as number;
      if (acked < 1) throw new Error('the replica did not acknowledge the writes (WAIT 1 returned 0)');
      return acked;
    },
    async killMaster() {
      const at = Date.now();
      await master.stop();
      return at;
    },
    async watchFailover(timeoutMs = 30_000) {
      const sub = conn(sentinelPorts[0] as number);
      await sub.connect();
      await sub.subscribe('+switch-master');
      const switched = new Promise<string>((ok, fail) => {
        const timer = setTimeout(() => {
          sub.disconnect();
          fail(new Error('no +switch-master within the timeout'));
        }, timeoutMs);
        sub.on('message', (_channel: string, message: string) => {
          // "<name> <old-ip> <old-port> <new-ip> <new-port>"
          const [name, , , ip, port] = message.split(' ');
          if (name !== MASTER_NAME) return;
          clearTimeout(timer);
          sub.disconnect();
          ok(`${ip}:${port}`);
        });
      });
      return { switched };
    },
    currentMaster,
    dir,
    async stopData(graceful = false) {
      await Promise.all([master.stop(graceful), replica.stop(graceful)]);
    },
    async startData() {
      master = await spawnServer('redis-server', masterArgs, masterPort);
      replica = await spawnServer('redis-server', replicaArgs, replicaPort);
      procs.push(master, replica);
      await until('replica online after the restart', async () => /master_link_status:up/.test(await r.info('replication')));
    },
  };
}
