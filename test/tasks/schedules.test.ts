import t from 'tap';
import { auth, build, KEYS } from '../helpers/build.js';
import { startRedis } from '../helpers/redis.js';

const redis = await startRedis(t);
t.beforeEach(() => redis.flush());

type App = Awaited<ReturnType<typeof build>>;
const claim = async (app: App, type: string, waitMs: number) => {
  const r = await app.inject({ method: 'POST', url: `/v1/workers/${type}/claim`, headers: auth(), payload: { waitMs } });
  return r.statusCode === 200 ? r.json() : undefined;
};

t.test('PUT/GET/list/DELETE a schedule; it ticks (short everyMs)', async (t) => {
  const app = await build(t, redis.url);
  const put = await app.inject({ method: 'PUT', url: '/v1/schedules/beat', headers: auth(), payload: { everyMs: 200, task: { type: 'tick', payload: { n: 1 } } } });
  t.equal(put.statusCode, 201, put.body);
  t.equal(put.json().everyMs, 200);
  t.same(put.json().task.payload, { n: 1 });
  const got = (await app.inject({ url: '/v1/schedules/beat', headers: auth() })).json();
  t.ok(Date.parse(got.nextRunAt) > 0, 'next run time');
  const ids = new Set<string>();
  for (let i = 0; i < 3; i++) {
    const c = await claim(app, 'tick', 5000);
    t.ok(c, `tick ${i + 1}`);
    t.same(c.task.payload, { n: 1 });
    ids.add(c.task.id);
    await app.inject({ method: 'POST', url: `/v1/tasks/${c.task.id}/complete`, headers: auth(), payload: { token: c.token, result: i } });
  }
  t.equal(ids.size, 3, 'three distinct tasks');
  const replaced = await app.inject({ method: 'PUT', url: '/v1/schedules/beat', headers: auth(), payload: { cron: '0 3 * * *', tz: 'Europe/Paris', task: { type: 'tick', payload: 2 } } });
  t.equal(replaced.statusCode, 200);
  t.equal(replaced.json().cron, '0 3 * * *');
  t.equal(replaced.json().tz, 'Europe/Paris');
  t.ok(Date.parse(replaced.json().nextRunAt) > Date.now() + 1000);
  const list = (await app.inject({ url: '/v1/schedules', headers: auth() })).json();
  t.same(list.schedules.map((s: { id: string }) => s.id), ['beat']);
  t.same((await app.inject({ url: '/v1/schedules', headers: auth(KEYS.t2) })).json().schedules, [], 'other tenants see none');
  t.equal((await app.inject({ url: '/v1/schedules/beat', headers: auth(KEYS.t2) })).statusCode, 404);
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/schedules/beat', headers: auth() })).statusCode, 204);
  t.equal((await app.inject({ url: '/v1/schedules/beat', headers: auth() })).statusCode, 404);
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/schedules/beat', headers: auth() })).statusCode, 404);
});

t.test('revoking the pending run of a schedule: it never runs, the schedule goes on', async (t) => {
  const app = await build(t, redis.url);
  await app.inject({ method: 'PUT', url: '/v1/schedules/slow', headers: auth(), payload: { everyMs: 100_000, task: { type: 'rvs', payload: 1 } } });
  const pending = (await app.inject({ url: '/v1/tasks?type=rvs', headers: auth() })).json().tasks;
  t.equal(pending.length, 1, 'one pending run');
  const id = pending[0].id;
  const d = await app.inject({ method: 'DELETE', url: `/v1/tasks/${id}`, headers: auth() });
  t.equal(d.statusCode, 200);
  t.equal(d.json().state, 'REVOKED');
  t.equal(await claim(app, 'rvs', 0), undefined, 'the revoked run is not handed out');
  t.equal((await app.inject({ url: `/v1/tasks/${id}`, headers: auth() })).json().state, 'REVOKED');
  t.equal((await app.inject({ url: '/v1/schedules/slow', headers: auth() })).statusCode, 200, 'the schedule is still there');
});

t.test('bad schedules are 400', async (t) => {
  const app = await build(t, redis.url);
  const bodies = [
    { cron: 'every day please', task: { type: 'x', payload: 1 } },
    { cron: '61 * * * *', task: { type: 'x', payload: 1 } },
    { cron: '0 3 * * *', tz: 'Mars/Olympus', task: { type: 'x', payload: 1 } },
    { everyMs: 1000, cron: '* * * * *', task: { type: 'x', payload: 1 } },
    { task: { type: 'x', payload: 1 } },
    { everyMs: 1000, task: { type: 'x' } },
    { everyMs: 1000, task: { type: 'x', payload: 1 }, extra: 1 },
  ];
  for (const b of bodies) {
    const r = await app.inject({ method: 'PUT', url: '/v1/schedules/s1', headers: auth(), payload: b });
    t.equal(r.statusCode, 400, JSON.stringify(b));
  }
  t.same((await app.inject({ url: '/v1/schedules', headers: auth() })).json().schedules, []);
});

t.test('two Baton instances never produce a tick twice', async (t) => {
  const a = await build(t, redis.url);
  const b = await build(t, redis.url);
  const everyMs = 150;
  await a.inject({ method: 'PUT', url: '/v1/schedules/dup', headers: auth(), payload: { everyMs, task: { type: 'dup', payload: 1 } } });
  await b.inject({ method: 'PUT', url: '/v1/schedules/dup', headers: auth(), payload: { everyMs, task: { type: 'dup', payload: 1 } } });
  const seen: string[] = [];
  const started = Date.now();
  const run = async (app: App) => {
    while (Date.now() - started < 1500) {
      const c = await claim(app, 'dup', 500);
      if (!c) continue;
      seen.push(c.task.id);
      await app.inject({ method: 'POST', url: `/v1/tasks/${c.task.id}/complete`, headers: auth(), payload: { token: c.token, result: 1 } });
    }
  };
  await Promise.all([run(a), run(b), run(a), run(b)]);
  const elapsed = Date.now() - started;
  t.ok(seen.length >= 2, `ticks happened (${seen.length})`);
  t.equal(new Set(seen).size, seen.length, 'every tick is a distinct task');
  t.ok(seen.length <= Math.ceil(elapsed / everyMs) + 2, `no more ticks than intervals (${seen.length} in ${elapsed} ms)`);
  await a.inject({ method: 'DELETE', url: '/v1/schedules/dup', headers: auth() });
});

t.end();
