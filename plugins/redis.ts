// Owns the Redis connections of one app instance: the command client (fail-fast, used by every service)
// and the pub/sub subscriber behind the notifier. Closes both on app close.
import fp from 'fastify-plugin';
import type { Config } from '../src/config.js';
import { createRedis, type RedisClient } from '../src/redis/connection.js';
import { createKeys, type Keys } from '../src/redis/keys.js';
import { createNotifier, type Notifier } from '../src/redis/notifier.js';

declare module 'fastify' {
  interface FastifyInstance {
    redis: RedisClient;
    keys: Keys;
    notifier: Notifier;
    /** Open another connection of this app's topology (BullMQ, tests); the caller closes it. */
    newRedis(name: string, mode?: 'command' | 'subscriber' | 'blocking'): RedisClient;
  }
}

export default fp(
  async (app) => {
    const config: Config = app.config;
    if (config.redis.kind === 'embedded') {
      throw new Error('the app needs a concrete Redis: server.ts starts the embedded one first');
    }
    const topology = config.redis;
    const newRedis = (name: string, mode: 'command' | 'subscriber' | 'blocking' = 'command') =>
      createRedis({
        topology,
        name: `baton:${name}`,
        mode,
        connectTimeoutMs: config.redisOptions.connectTimeoutMs,
        commandTimeoutMs: config.redisOptions.commandTimeoutMs,
        autoPipelining: config.redisOptions.autoPipelining,
        coalesceWrites: config.redisOptions.coalesceWrites,
        coalesceMaxWrites: config.redisOptions.coalesceMaxWrites,
      });
    const redis = newRedis('cmd');
    // Without a listener ioredis prints every reconnect error; log it once per state change instead.
    let lastError = '';
    redis.on('error', (err: Error) => {
      if (err.message !== lastError) app.log.warn({ err: err.message }, 'redis connection error');
      lastError = err.message;
    });
    redis.on('ready', () => {
      if (lastError) app.log.info('redis connection restored');
      lastError = '';
    });
    try {
      await redis.connect();
    } catch (err) {
      app.log.warn({ err: (err as Error).message }, 'redis unreachable at start: serving 503 until it returns');
    }
    const subscriber = newRedis('sub', 'subscriber');
    subscriber.on('error', () => undefined);
    const keys = createKeys(config.redisOptions.keyPrefix);
    const notifier = await createNotifier(subscriber, keys.eventPattern);

    // decorate()'s typing distributes over the Redis | Cluster union; the declaration above is the real type.
    app.decorate('redis', redis as never);
    app.decorate('keys', keys);
    app.decorate('notifier', notifier);
    app.decorate('newRedis', newRedis);
    app.addHook('onClose', async () => {
      await notifier.close();
      redis.disconnect();
    });
  },
  { name: 'redis', dependencies: ['config'] },
);
