// Service-level tests of the cache against real Redis, without HTTP: concurrent lease takers, and every
// operation on a Redis Cluster (a one-node cluster owning all 16384 slots), where multi-key reads and writes
// are grouped by slot and pattern deletes scan each master.
import { Registry } from 'prom-client';
import t, { type Test } from 'tap';
import { createCacheMetrics, createCacheService } from '../../src/cache/service.js';
import { loadConfig } from '../../src/config.js';
import { serviceDeps } from '../helpers/deps.js';
import { errorCode } from '../helpers/servers.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { TOPOLOGY } from '../helpers/topology.js';

const config = loadConfig({ NODE_ENV: 'test', REDIS_URL: 'redis://127.0.0.1:1' });

async function setup(t: Test, topology: TestRedis['topology']) {
  const { client, keys, notifier } = await serviceDeps(t, topology);
  const cache = createCacheService({ redis: client, keys, notifier, config, metrics: createCacheMetrics(new Registry()) });
  return { cache, client, notifier };
}

const code = errorCode;

const json = (v: unknown) => Buffer.from(JSON.stringify(v));

t.test('concurrent lease takers, one winner, all served by its fill', async (t) => {
  const redis = await startRedis(t);
  const { cache, notifier } = await setup(t, redis.topology);
  const readers = Array.from({ length: 20 }, () => cache.getWithLease('t1', 'k', 20_000));
  const first = await Promise.race(readers.map((p) => p.then((r) => (r.kind === 'lease' ? r : new Promise<never>(() => undefined)))));
  const end = Date.now() + 15_000;
  while (notifier.waiting() < 19 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  t.equal(notifier.waiting(), 19, '19 parked');
  t.equal(await code(cache.set('t1', 'k', json({ v: 1 }), 'application/json', { lease: 'not-the-token' })), 'lease_invalid', 'a wrong token is refused');
  await cache.set('t1', 'k', json({ v: 1 }), 'application/json', { lease: first.token });
  const results = await Promise.all(readers);
  t.equal(results.filter((r) => r.kind === 'lease').length, 1);
  const hits = results.filter((r) => r.kind === 'hit');
  t.equal(hits.length, 19);
  t.ok(hits.every((r) => r.kind === 'hit' && r.entry.body.toString() === '{"v":1}'));
});

// Standalone runs make a one-node cluster of their own; BATON_TEST_TOPOLOGY=cluster runs on the 3-master one.
t.test('cluster: every operation works with keys spread over many slots', { skip: TOPOLOGY === 'sentinel' && 'a cluster test' }, async (t) => {
  const redis = await startRedis(t, TOPOLOGY === 'cluster' ? [] : ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-announce-ip', '127.0.0.1']);
  if (TOPOLOGY === 'standalone') {
    await redis.client.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    const end = Date.now() + 15_000;
    while (!String(await redis.client.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) {
      if (Date.now() > end) throw new Error('cluster did not come up');
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const { cache } = await setup(t, TOPOLOGY === 'cluster' ? redis.topology : { kind: 'cluster', nodes: [{ host: '127.0.0.1', port: redis.port }] });

  await cache.set('t1', 'a/b', json('x'), 'application/json', { ttlMs: 60_000 });
  const got = await cache.get('t1', 'a/b');
  t.equal(got?.body.toString(), '"x"');
  t.ok(got?.ttlMs !== undefined && got.ttlMs > 0);
  t.equal(await code(cache.set('t1', 'a/b', json('y'), 'application/json', { nx: true })), 'precondition_failed');

  const keys = Array.from({ length: 50 }, (_, i) => `user:${i}`);
  await cache.setMany('t1', keys.map((key) => ({ key, body: json(key), contentType: 'application/json' })), { ttlMs: 60_000 });
  await cache.setMany('t2', [{ key: 'user:1', body: json('t2'), contentType: 'application/json' }]);
  const many = await cache.getMany('t1', [...keys, 'missing']);
  t.same(many.map((e) => e?.body.toString() ?? null), [...keys.map((k) => JSON.stringify(k)), null], 'multi-get across slots, in order');

  const lease = await cache.getWithLease('t1', 'user:lease', 0);
  t.equal(lease.kind, 'lease');
  t.equal(await cache.deletePattern('t1', 'user:*'), 50, 'exact count across slots');
  if (lease.kind === 'lease') {
    t.equal(await code(cache.set('t1', 'user:lease', json(1), 'application/json', { lease: lease.token })), 'lease_invalid', 'the pattern delete removed the lease');
  }
  t.equal((await cache.get('t1', 'a/b'))?.body.toString(), '"x"', 'non-matching key kept');
  t.equal((await cache.get('t2', 'user:1'))?.body.toString(), '"t2"', 'other tenant kept');
  await cache.delete('t1', 'a/b');
  t.equal(await cache.get('t1', 'a/b'), null);
});

t.end();
