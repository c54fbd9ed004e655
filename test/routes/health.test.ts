import t from 'tap';
import { build } from '../helpers/build.js';
import { startRedis } from '../helpers/redis.js';

const redis = await startRedis(t);

t.test('live and ready answer 200 with Redis up', async (t) => {
  const app = await build(t, redis.url);
  const live = await app.inject({ url: '/health/live' });
  t.equal(live.statusCode, 200);
  t.same(live.json(), { status: 'ok' });
  const ready = await app.inject({ url: '/health/ready' });
  t.equal(ready.statusCode, 200);
  t.same(ready.json(), { status: 'ok', redis: 'up' });
});

t.test('ready is a 503 problem while Redis is down and 200 again when it returns, without a restart', async (t) => {
  const app = await build(t, redis.url);
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200);
  await redis.stop();
  const down = await app.inject({ url: '/health/ready' });
  t.equal(down.statusCode, 503);
  t.match(down.headers['content-type'], /^application\/problem\+json/);
  t.equal(down.json().code, 'backend_unavailable');
  t.ok(down.headers['retry-after'], 'Retry-After is set');
  t.equal((await app.inject({ url: '/health/live' })).statusCode, 200, 'liveness does not depend on Redis');
  await redis.start();
  await new Promise<void>((ok) => (app.redis.status === 'ready' ? ok() : app.redis.once('ready', () => ok())));
  const up = await app.inject({ url: '/health/ready' });
  t.equal(up.statusCode, 200);
  const metrics = await app.inject({ url: '/metrics' });
  t.match(metrics.body, /baton_redis_up 1/);
});

t.end();
