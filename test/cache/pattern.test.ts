// Pattern deletes: exact counts over 10k keys, other keys and other tenants untouched, glob characters in
// patterns and in keys, malformed patterns refused; plus the pure helpers (slots, globs, packing).
import t from 'tap';
import { etagOf, globProblem, keySlot, pack, unpack } from '../../src/cache/service.js';
import { createKeys } from '../../src/redis/keys.js';
import { etagMatches } from '../../routes/cache.js';
import { auth, build, KEYS } from '../helpers/build.js';
import { startRedis } from '../helpers/redis.js';

const redis = await startRedis(t);
t.beforeEach(() => redis.flush());

type App = Awaited<ReturnType<typeof build>>;

async function seed(app: App, keys: string[], apiKey: string = KEYS.t1) {
  for (let i = 0; i < keys.length; i += 100) {
    const entries = keys.slice(i, i + 100).map((key) => ({ key, value: key }));
    const r = await app.inject({ method: 'POST', url: '/v1/cache', headers: auth(apiKey), payload: { entries } });
    if (r.statusCode !== 204) throw new Error(`seed failed: ${r.statusCode} ${r.body}`);
  }
}

async function del(app: App, pattern: string, apiKey: string = KEYS.t1) {
  return app.inject({ method: 'DELETE', url: `/v1/cache?pattern=${encodeURIComponent(pattern)}`, headers: auth(apiKey) });
}

async function exists(app: App, key: string, apiKey: string = KEYS.t1) {
  return (await app.inject({ method: 'HEAD', url: `/v1/cache/${encodeURIComponent(key)}`, headers: auth(apiKey) })).statusCode === 200;
}

const cacheKeyCount = async (tenant: string) => (await redis.keys(`baton:${tenant}:c:v*`)).length;

t.test('10k keys: the count is exact and nothing else is touched', async (t) => {
  const app = await build(t, redis.url);
  const users = Array.from({ length: 10_000 }, (_, i) => `user:${i}`);
  await seed(app, users);
  await seed(app, ['order:1', 'order:2', 'users', 'User:1', 'xuser:1']);
  await seed(app, ['user:1', 'user:2', 'user:3'], KEYS.t2);
  t.equal(await cacheKeyCount('t1'), 10_005);
  const r = await del(app, 'user:*');
  t.equal(r.statusCode, 200);
  t.same(r.json(), { deleted: 10_000 }, 'exactly the 10k matching values');
  t.equal(await cacheKeyCount('t1'), 5, 'the other t1 keys remain');
  for (const k of ['order:1', 'order:2', 'users', 'User:1', 'xuser:1']) t.ok(await exists(app, k), `${k} kept`);
  t.equal(await cacheKeyCount('t2'), 3, 'tenant t2 untouched');
  t.ok(await exists(app, 'user:1', KEYS.t2));
  t.same((await del(app, 'user:*')).json(), { deleted: 0 }, 'again: nothing left to delete');
  const text = (await app.inject({ url: '/metrics' })).body;
  t.match(text, /^baton_cache_pattern_deleted_total 10000$/m);
});

t.test('glob characters: *, \\*, [a-z]*, ?, and keys that contain them', async (t) => {
  const app = await build(t, redis.url);
  const keys = ['*', 'a*b', '[x]', '\\', 'a?', 'ab', 'b1', 'Zed', '1abc', '?', 'a}b', '{a}', 'é'];
  await seed(app, keys);
  await seed(app, keys, KEYS.t2);

  t.same((await del(app, '\\*')).json(), { deleted: 1 }, '\\* is the literal key "*" only');
  t.notOk(await exists(app, '*'));
  t.ok(await exists(app, 'a*b'));

  t.same((await del(app, 'a\\?')).json(), { deleted: 1 }, 'escaped ? is literal');
  t.ok(await exists(app, 'ab'));

  t.same((await del(app, '\\[x\\]')).json(), { deleted: 1 }, 'escaped brackets');
  t.same((await del(app, '\\\\')).json(), { deleted: 1 }, 'a literal backslash');

  // Left: a*b ab b1 Zed 1abc ? a}b {a} é — [a-z]* takes a*b ab b1 a}b.
  t.same((await del(app, '[a-z]*')).json(), { deleted: 4 }, '[a-z]* takes keys starting with a lowercase ASCII letter');
  for (const k of ['Zed', '1abc', '?', '{a}', 'é']) t.ok(await exists(app, k), `${k} kept`);

  t.same((await del(app, '?')).json(), { deleted: 1 }, '? matches one byte: "?" (not the two-byte "é")');
  t.same((await del(app, '*')).json(), { deleted: 4 }, '* takes the rest of t1');
  t.equal(await cacheKeyCount('t1'), 0);
  t.equal(await cacheKeyCount('t2'), keys.length, 't2 never touched');
});

t.test('malformed or empty patterns are a 400 and delete nothing', async (t) => {
  const app = await build(t, redis.url);
  await seed(app, ['a', 'b']);
  for (const p of ['', 'abc\\', '[abc', 'x\u0001']) {
    const r = await del(app, p);
    t.equal(r.statusCode, 400, JSON.stringify(p));
    t.equal(r.json().code, 'validation_failed');
  }
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/cache', headers: auth() })).statusCode, 400, 'no pattern at all');
  t.equal(await cacheKeyCount('t1'), 2);
});

t.test('helpers: slots, globs, packing, ETags', async (t) => {
  // Known Redis Cluster slots (CLUSTER KEYSLOT).
  t.equal(keySlot('foo'), 12182);
  t.equal(keySlot('123456789'), 12739);
  t.equal(keySlot('{user1000}.following'), keySlot('{user1000}.followers'));
  t.not(keySlot('{}x'), keySlot('{}y'), 'an empty tag hashes the whole key');
  const keys = createKeys('baton');
  for (const k of ['}x', '', 'a}b', '{', '}']) t.equal(keySlot(keys.cache.value('t', k)), keySlot(keys.cache.lease('t', k)), `value and lease share a slot: ${k}`);
  t.equal(keys.cache.match('t-1', 'a*'), 'baton:t-1:c:[vl]{=a*}');

  t.equal(globProblem('*'), undefined);
  t.equal(globProblem('[a-z]*'), undefined);
  t.equal(globProblem('\\['), undefined);
  t.equal(globProblem('[]]'), undefined);
  t.ok(globProblem(''));
  t.ok(globProblem('a\\'));
  t.ok(globProblem('[a'));
  t.ok(globProblem('[a\\]'));

  const body = Buffer.from([0, 10, 255, 49, 34]);
  const now = 1_800_000_000_000;
  const packed = pack(body, 'application/x-thing; a=b', 5_000, now);
  const e = unpack(packed, now + 3_766);
  t.ok(e.body.equals(body));
  t.equal(e.contentType, 'application/x-thing; a=b', 'a content type with ";" survives');
  t.equal(e.etag, etagOf(body));
  t.equal(e.ttlMs, 1_234, 'the remaining TTL from the expiry inside the value');
  t.equal(unpack(packed, now + 9_000).ttlMs, 0, 'past its expiry (clock skew) reads as 0, never negative');
  t.equal(unpack(pack(body, 'text/plain', 0, now), now).ttlMs, undefined, 'no expiry');
  t.ok(unpack(pack(Buffer.alloc(0), '', 0)).body.equals(Buffer.alloc(0)), 'empty body and type');
  const foreign = unpack(Buffer.from('raw'));
  t.equal(foreign.contentType, 'application/octet-stream', 'values written by others are served as bytes');
  t.equal(foreign.body.toString(), 'raw');

  t.ok(etagMatches('"a"', '"a"'));
  t.ok(etagMatches(' W/"a" ', '"a"'));
  t.ok(etagMatches('"b", "a"', '"a"'));
  t.ok(etagMatches('*', '"a"'));
  t.notOk(etagMatches('"b"', '"a"'));
  t.notOk(etagMatches('a', '"a"'));
});

t.end();
