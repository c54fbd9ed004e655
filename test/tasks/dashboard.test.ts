import t from 'tap';
import { auth, build, KEYS } from '../helpers/build.js';
import { startRedis } from '../helpers/redis.js';

const redis = await startRedis(t);
const basic = (key: string) => ({ authorization: `Basic ${Buffer.from(`admin:${key}`).toString('base64')}` });

t.test('bull-board at /admin/queues: admin key (Basic works), tenant-only queues, read-only', async (t) => {
  const app = await build(t, redis.url);
  await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(KEYS.t1), payload: { type: 'mine.one', payload: 1 } });
  await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(KEYS.t2), payload: { type: 'theirs', payload: 1 } });

  const anon = await app.inject({ url: '/admin/queues' });
  t.equal(anon.statusCode, 401);
  t.match(anon.headers['www-authenticate'], /^Basic/);
  const noAdmin = await app.inject({ url: '/admin/queues', headers: auth(KEYS.noScopes) });
  t.equal(noAdmin.statusCode, 403);

  const page = await app.inject({ url: '/admin/queues', headers: basic(KEYS.t1) });
  t.equal(page.statusCode, 200);
  t.match(page.headers['content-type'], /text\/html/);

  const api = await app.inject({ url: '/admin/queues/api/queues', headers: basic(KEYS.t1) });
  t.equal(api.statusCode, 200, api.body.slice(0, 300));
  const names = (api.json().queues as { name: string; readOnlyMode: boolean }[]).map((q) => q.name);
  t.ok(names.some((n) => n.includes('mine.one')), names.join(','));
  t.notOk(names.some((n) => n.includes('theirs')), 'no other tenant queues');
  t.ok((api.json().queues as { readOnlyMode: boolean }[]).every((q) => q.readOnlyMode), 'read-only');

  const css = /static\/css\/[^"]+\.css/.exec(page.body)?.[0];
  t.ok(css, 'the page links its stylesheet');
  t.equal((await app.inject({ url: `/admin/queues/${css}`, headers: basic(KEYS.t1) })).statusCode, 200, 'static assets are served');
  const name = (api.json().queues as { name: string }[])[0]!.name;
  const pause = await app.inject({ method: 'PUT', url: `/admin/queues/api/queues/${encodeURIComponent(name)}/pause`, headers: basic(KEYS.t1) });
  t.equal(pause.statusCode, 405, 'mutations are refused while read-only');

  const other = await app.inject({ url: '/admin/queues/api/queues', headers: basic(KEYS.t2) });
  const otherNames = (other.json().queues as { name: string }[]).map((q) => q.name);
  t.ok(otherNames.some((n) => n.includes('theirs')));
  t.notOk(otherNames.some((n) => n.includes('mine.one')));
});

t.end();
