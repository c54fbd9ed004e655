import t from 'tap';
import { build } from '../helpers/build.js';
import { startRedis } from '../helpers/redis.js';

const redis = await startRedis(t);

t.test('Prometheus text with process metrics, HTTP histogram by route template, redis up', async (t) => {
  const app = await build(t, redis.url);
  await app.inject({ url: '/health/live' });
  await app.inject({ url: '/health/live' });
  await app.inject({ method: 'HEAD', url: '/health/live' });
  await app.inject({ url: '/no/such/route/123' });
  await app.inject({ method: 'POST', url: '/health/live' });
  const res = await app.inject({ url: '/metrics' });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^text\/plain/);
  t.match(res.body, /^baton_process_cpu_user_seconds_total \d/m, 'default metrics prefixed baton_');
  t.match(res.body, /baton_http_request_duration_seconds_count\{route="\/health\/live",method="GET",status="200"\} 2$/m);
  t.match(res.body, /baton_http_request_duration_seconds_count\{route="\/health\/live",method="HEAD",status="200"\} 1$/m, 'each method its own series');
  t.match(res.body, /route="unmatched",method="GET",status="404"/, 'unknown URLs are not labels');
  t.match(res.body, /route="unmatched",method="POST",status="404"/, 'nor unknown methods');
  t.notMatch(res.body, /no\/such\/route/);
  t.match(res.body, /^baton_redis_up 1$/m);
  t.match(res.body, /^baton_waiters 0$/m);
});

t.test('two apps in one process keep separate registries', async (t) => {
  const a = await build(t, redis.url);
  const b = await build(t, redis.url);
  await a.inject({ url: '/health/live' });
  const bm = await b.inject({ url: '/metrics' });
  t.notMatch(bm.body, /route="\/health\/live"/, 'b did not see a\'s request');
});

t.test('baton_redis_up is 0 while Redis is down', async (t) => {
  const app = await build(t, redis.url);
  await redis.stop();
  await new Promise<void>((ok) => (app.redis.status !== 'ready' ? ok() : app.redis.once('close', () => ok())));
  t.match((await app.inject({ url: '/metrics' })).body, /^baton_redis_up 0$/m);
  await redis.start();
});

t.end();
