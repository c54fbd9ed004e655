// What a service needs, wired as plugins/redis.ts wires it, for service-level tests without HTTP: a
// fail-fast command connection, the process notifier on its own subscriber connection, the key builders.
// All closed in teardown.
import type { RedisTopology } from '../../src/config.js';
import { createRedis, type RedisClient } from '../../src/redis/connection.js';
import { createKeys, type Keys } from '../../src/redis/keys.js';
import { createNotifier, type Notifier } from '../../src/redis/notifier.js';

interface Teardownable {
  teardown(fn: () => unknown): void;
}

export interface ServiceDeps {
  client: RedisClient;
  keys: Keys;
  notifier: Notifier;
}

export async function serviceDeps(
  t: Teardownable,
  topology: Exclude<RedisTopology, { kind: 'embedded' }>,
): Promise<ServiceDeps> {
  const client = createRedis({ topology, name: 'test:cmd', connectTimeoutMs: 2000, commandTimeoutMs: 5000 });
  const sub = createRedis({ topology, name: 'test:sub', mode: 'subscriber', connectTimeoutMs: 2000, commandTimeoutMs: 5000 });
  client.on('error', () => undefined);
  sub.on('error', () => undefined);
  await client.connect();
  const keys = createKeys('baton');
  const notifier = await createNotifier(sub, keys.eventPattern);
  t.teardown(async () => {
    await notifier.close();
    client.disconnect();
  });
  return { client, keys, notifier };
}
