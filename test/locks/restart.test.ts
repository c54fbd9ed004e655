// Resilience: fences keep growing across a Redis restart with AOF; Redis down is a 503 problem and the
// service recovers by itself; a parked waiter does not outlive an outage silently.
import t from 'tap';
import { auth, build } from '../helpers/build.js';
import { startRedis } from '../helpers/redis.js';

const redis = await startRedis(t, ['--appendonly', 'yes', '--appendfsync', 'always']);

type App = Awaited<ReturnType<typeof build>>;
const post = (app: App, url: string, payload: object) => app.inject({ method: 'POST', url, headers: auth(), payload });

async function ready(app: App) {
  if (app.redis.status === 'ready') return;
  await new Promise<void>((ok) => app.redis.once('ready', () => ok()));
}

/** Bound a step, so a hang fails with the step's name instead of tap's whole-test timeout. */
async function step<T>(what: string, p: Promise<T>, ms = 30_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`step "${what}" took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

t.test('fences strictly increase across releases, expiries and a Redis restart with AOF', async (t) => {
  const app = await build(t, redis.url);
  const fences: number[] = [];
  const take = async (ttlMs: number) => {
    const r = await step(`acquire ${ttlMs}`, post(app, '/v1/locks/fenced/acquire', { ttlMs, waitMs: 10_000 }));
    t.equal(r.statusCode, 200);
    fences.push(r.json().fence);
    return r.json();
  };
  const a = await take(10_000);
  await post(app, '/v1/locks/fenced/release', { token: a.token });
  await take(150); // expires; the next acquisition waits for it
  const c = await take(60_000);

  await step('graceful stop', redis.stop(true)); // SIGTERM: the AOF is complete
  const down = await step('acquire while down', post(app, '/v1/locks/fenced/acquire', { ttlMs: 1000 }));
  t.equal(down.statusCode, 503, 'Redis down: 503');
  t.equal(down.json().code, 'backend_unavailable');
  t.ok(down.headers['retry-after']);
  await step('restart', redis.start());
  await step('app reconnects', ready(app));

  const st = (await app.inject({ url: '/v1/locks/fenced', headers: auth() })).json();
  t.equal(st.held, true, 'the holder survived the restart');
  t.equal(st.fence, c.fence);
  t.equal((await post(app, '/v1/locks/fenced/release', { token: c.token })).statusCode, 200, 'its token still works');
  await take(1000);
  t.equal(fences.length, 4);
  for (let i = 1; i < fences.length; i++) {
    t.ok((fences[i] as number) > (fences[i - 1] as number), `fence ${fences[i]} > ${fences[i - 1]}`);
  }
});

t.test('Redis down is a 503 on every lock and semaphore route', async (t) => {
  const app = await build(t, redis.url);
  await step('stop', redis.stop());
  const calls: [string, string, object?][] = [
    ['POST', '/v1/locks/d/acquire', { ttlMs: 1000, waitMs: 1000 }],
    ['POST', '/v1/locks/d/renew', { token: 'x', ttlMs: 1000 }],
    ['POST', '/v1/locks/d/release', { token: 'x' }],
    ['GET', '/v1/locks/d'],
    ['POST', '/v1/semaphores/d/acquire', { limit: 1, ttlMs: 1000 }],
    ['POST', '/v1/semaphores/d/release', { token: 'x' }],
    ['GET', '/v1/semaphores/d'],
  ];
  for (const [method, url, payload] of calls) {
    const r = await app.inject({ method: method as 'GET' | 'POST', url, headers: auth(), ...(payload ? { payload } : {}) });
    t.equal(r.statusCode, 503, `${method} ${url}`);
    t.equal(r.json().code, 'backend_unavailable');
  }
  t.match((await app.inject({ url: '/metrics' })).body, /baton_lock_waiters 0/, 'a failed wait leaves no waiter behind');
  await step('restart', redis.start());
  await step('app reconnects', ready(app));
  t.equal((await post(app, '/v1/locks/d/acquire', { ttlMs: 1000 })).statusCode, 200, 'recovers without a restart');
});

t.end();
