// Cache routes over app.inject against a real redis-server: byte-exact round trips, content types, TTL and
// jitter, nx/xx, ETag/304, HEAD, keys with awkward characters, bulk read/write, limits and bad input (with
// nothing written), tenant isolation, scopes, metrics and Redis outages.
import t from 'tap';
import { auth, build, KEYS } from '../helpers/build.js';
import { startRedis } from '../helpers/redis.js';

const redis = await startRedis(t);
t.beforeEach(() => redis.flush());

const enc = encodeURIComponent;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Redis keys of tenant t1's cache values (to check that nothing was written). */
const t1Values = () => redis.keys('baton:t1:c:v*');

t.test('JSON round trip: default content type, headers, no expiry', async (t) => {
  const app = await build(t, redis.url);
  const body = '{"name":"Ada","tags":["x",1,null],"n":1.5e3}';
  const put = await app.inject({ method: 'PUT', url: '/v1/cache/user:42', headers: auth(), payload: body });
  t.equal(put.statusCode, 204);
  t.equal(put.body, '');
  const get = await app.inject({ url: '/v1/cache/user:42', headers: auth() });
  t.equal(get.statusCode, 200);
  t.equal(get.body, body, 'bytes as stored, not re-serialised');
  t.equal(get.headers['content-type'], 'application/json');
  t.equal(get.headers['cache-status'], 'hit');
  t.match(get.headers.etag, /^"[A-Za-z0-9_-]{22}"$/);
  t.equal(get.headers['x-ttl-ms'], undefined, 'no expiry → no X-TTL-Ms');
});

t.test('binary round trip: every byte value 0-255 survives', async (t) => {
  const app = await build(t, redis.url);
  const bytes = Buffer.alloc(1024);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 8)) & 0xff;
  const all = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), bytes, Buffer.from('\n1"x"\n')]);
  const put = await app.inject({
    method: 'PUT', url: '/v1/cache/blob', headers: { ...auth(), 'content-type': 'application/octet-stream' }, payload: all,
  });
  t.equal(put.statusCode, 204);
  const get = await app.inject({ url: '/v1/cache/blob', headers: auth() });
  t.equal(get.statusCode, 200);
  t.equal(get.headers['content-type'], 'application/octet-stream');
  t.equal(get.headers['content-length'], String(all.length));
  t.ok(get.rawPayload.equals(all), 'identical bytes');
});

t.test('content types are preserved; JSON types must be valid JSON', async (t) => {
  const app = await build(t, redis.url);
  const cases: [string, string][] = [
    ['text/plain; charset=utf-8', 'héllo wörld ✓'],
    ['image/svg+xml', '<svg xmlns="http://www.w3.org/2000/svg"/>'],
    ['application/vnd.baton+json', '{"ok":true}'],
    ['application/json; charset=utf-8', '[1,2,3]'],
  ];
  for (const [type, body] of cases) {
    const put = await app.inject({ method: 'PUT', url: `/v1/cache/${enc(type)}`, headers: { ...auth(), 'content-type': type }, payload: body });
    t.equal(put.statusCode, 204, type);
    const get = await app.inject({ url: `/v1/cache/${enc(type)}`, headers: auth() });
    t.equal(get.headers['content-type'], type);
    t.equal(get.body, body);
  }
  for (const [type, body] of [['application/json', '{x'], ['application/problem+json', 'nope'], ['application/json', '']] as const) {
    const bad = await app.inject({ method: 'PUT', url: '/v1/cache/bad', headers: { ...auth(), 'content-type': type }, payload: body });
    t.equal(bad.statusCode, 400, `${type} ${JSON.stringify(body)}`);
    t.equal(bad.json().code, 'validation_failed');
    t.match(bad.headers['content-type'], /^application\/problem\+json/);
    t.not(bad.headers.connection, 'close', 'the connection stays open');
  }
  const noType = await app.inject({ method: 'PUT', url: '/v1/cache/bad', headers: auth(), payload: Buffer.from('not json') });
  t.equal(noType.statusCode, 400, 'no Content-Type means JSON');
  const badUtf8 = await app.inject({ method: 'PUT', url: '/v1/cache/bad', headers: auth(), payload: Buffer.from([0x22, 0xff, 0x22]) });
  t.equal(badUtf8.statusCode, 400, 'JSON must be UTF-8');
  t.equal((await app.inject({ url: '/v1/cache/bad', headers: auth() })).statusCode, 404, 'nothing stored');
  const emptyText = await app.inject({ method: 'PUT', url: '/v1/cache/empty', headers: { ...auth(), 'content-type': 'text/plain' }, payload: '' });
  t.equal(emptyText.statusCode, 204, 'an empty non-JSON value is fine');
  const got = await app.inject({ url: '/v1/cache/empty', headers: auth() });
  t.equal(got.statusCode, 200);
  t.equal(got.body, '');
  t.equal(got.headers['content-type'], 'text/plain');
});

t.test('TTL: X-TTL-Ms counts down and the key expires', async (t) => {
  const app = await build(t, redis.url);
  t.equal((await app.inject({ method: 'PUT', url: '/v1/cache/short?ttlMs=400', headers: auth(), payload: '1' })).statusCode, 204);
  const get = await app.inject({ url: '/v1/cache/short', headers: auth() });
  t.equal(get.statusCode, 200);
  const ttl = Number(get.headers['x-ttl-ms']);
  t.ok(ttl > 0 && ttl <= 400, `0 < X-TTL-Ms ${ttl} <= 400`);
  await sleep(450);
  const gone = await app.inject({ url: '/v1/cache/short', headers: auth() });
  t.equal(gone.statusCode, 404);
  t.equal(gone.json().code, 'not_found');
  t.equal(gone.headers['cache-status'], 'miss');
  t.equal((await app.inject({ method: 'PUT', url: '/v1/cache/forever?ttlMs=0', headers: auth(), payload: '1' })).statusCode, 204);
  t.equal(await redis.client.pttl('baton:t1:c:v{=forever}'), -1, 'ttlMs=0: no expiry');
});

t.test('default TTL comes from the config', async (t) => {
  const app = await build(t, redis.url, { env: { BATON_CACHE_DEFAULT_TTL_MS: '60000' } });
  await app.inject({ method: 'PUT', url: '/v1/cache/d', headers: auth(), payload: '1' });
  const ttl = Number((await app.inject({ url: '/v1/cache/d', headers: auth() })).headers['x-ttl-ms']);
  t.ok(ttl > 50_000 && ttl <= 60_000, `X-TTL-Ms ${ttl} from the 60 s default`);
  await app.inject({ method: 'PUT', url: '/v1/cache/e?ttlMs=0', headers: auth(), payload: '1' });
  t.equal((await app.inject({ url: '/v1/cache/e', headers: auth() })).headers['x-ttl-ms'], undefined, 'ttlMs=0 overrides the default');
});

t.test('jitter spreads TTLs uniformly within ±fraction', async (t) => {
  const app = await build(t, redis.url);
  const base = 100_000;
  const ttls: number[] = [];
  for (let i = 0; i < 60; i++) {
    const r = await app.inject({ method: 'PUT', url: `/v1/cache/j${i}?ttlMs=${base}&jitter=0.2`, headers: auth(), payload: '1' });
    t.equal(r.statusCode, 204);
  }
  const entries = Array.from({ length: 100 }, (_, i) => ({ key: `m${i}`, value: i }));
  const bulk = await app.inject({ method: 'POST', url: '/v1/cache', headers: auth(), payload: { entries, ttlMs: base, jitter: 0.2 } });
  t.equal(bulk.statusCode, 204);
  for (let i = 0; i < 60; i++) ttls.push(await redis.client.pttl(`baton:t1:c:v{=j${i}}`));
  for (let i = 0; i < 100; i++) ttls.push(await redis.client.pttl(`baton:t1:c:v{=m${i}}`));
  const min = Math.min(...ttls);
  const max = Math.max(...ttls);
  t.ok(min >= base * 0.8 - 5_000, `min ${min} >= 80 % (minus elapsed time)`);
  t.ok(max <= base * 1.2, `max ${max} <= 120 %`);
  // 160 uniform draws: the chance that none falls below 90 % (or above 110 %) is 0.75^160 ≈ 1e-20.
  t.ok(min < base * 0.9, `spread reaches below 90 % (${min})`);
  t.ok(max > base * 1.1, `spread reaches above 110 % (${max})`);
  const noJitter = await app.inject({ method: 'PUT', url: `/v1/cache/plain?ttlMs=${base}`, headers: auth(), payload: '1' });
  t.equal(noJitter.statusCode, 204);
  const plain = await redis.client.pttl('baton:t1:c:v{=plain}');
  t.ok(plain <= base && plain > base - 5_000, 'without jitter the TTL is the TTL');
});

t.test('nx and xx: 412 and nothing written when the condition fails', async (t) => {
  const app = await build(t, redis.url);
  const put = (q: string, body: string) => app.inject({ method: 'PUT', url: `/v1/cache/k?${q}`, headers: auth(), payload: body });
  const xxAbsent = await put('xx=true', '"a"');
  t.equal(xxAbsent.statusCode, 412);
  t.equal(xxAbsent.json().code, 'precondition_failed');
  t.same(await t1Values(), [], 'xx on an absent key writes nothing');
  t.equal((await put('nx=true', '"first"')).statusCode, 204);
  const nxPresent = await put('nx=1', '"second"');
  t.equal(nxPresent.statusCode, 412);
  t.equal(nxPresent.json().code, 'precondition_failed');
  t.equal((await app.inject({ url: '/v1/cache/k', headers: auth() })).body, '"first"', 'nx kept the first value');
  t.equal((await put('xx=true&ttlMs=5000', '"third"')).statusCode, 204);
  const got = await app.inject({ url: '/v1/cache/k', headers: auth() });
  t.equal(got.body, '"third"');
  t.ok(Number(got.headers['x-ttl-ms']) > 0, 'xx with a TTL');
  const both = await put('nx=true&xx=true', '"x"');
  t.equal(both.statusCode, 400);
  t.equal(both.json().code, 'validation_failed');
  t.equal((await app.inject({ url: '/v1/cache/k', headers: auth() })).body, '"third"');
});

t.test('ETag and If-None-Match', async (t) => {
  const app = await build(t, redis.url);
  await app.inject({ method: 'PUT', url: '/v1/cache/e', headers: auth(), payload: '{"v":1}' });
  const first = await app.inject({ url: '/v1/cache/e', headers: auth() });
  const etag = first.headers.etag as string;
  t.ok(etag);
  for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
    const r = await app.inject({ url: '/v1/cache/e', headers: { ...auth(), 'if-none-match': inm } });
    t.equal(r.statusCode, 304, `If-None-Match: ${inm}`);
    t.equal(r.body, '');
    t.equal(r.headers.etag, etag);
  }
  const other = await app.inject({ url: '/v1/cache/e', headers: { ...auth(), 'if-none-match': '"nope"' } });
  t.equal(other.statusCode, 200);
  await app.inject({ method: 'PUT', url: '/v1/cache/e2', headers: auth(), payload: '{"v":1}' });
  t.equal((await app.inject({ url: '/v1/cache/e2', headers: auth() })).headers.etag, etag, 'same bytes, same ETag');
  await app.inject({ method: 'PUT', url: '/v1/cache/e', headers: auth(), payload: '{"v":2}' });
  const changed = await app.inject({ url: '/v1/cache/e', headers: { ...auth(), 'if-none-match': etag } });
  t.equal(changed.statusCode, 200, 'a new value has a new ETag');
  t.not(changed.headers.etag, etag);
  t.equal(changed.body, '{"v":2}');
});

t.test('HEAD: the GET headers without the body; DELETE is idempotent', async (t) => {
  const app = await build(t, redis.url);
  await app.inject({ method: 'PUT', url: '/v1/cache/h?ttlMs=60000', headers: { ...auth(), 'content-type': 'text/plain' }, payload: 'hello' });
  const head = await app.inject({ method: 'HEAD', url: '/v1/cache/h', headers: auth() });
  t.equal(head.statusCode, 200);
  t.equal(head.body, '');
  t.equal(head.headers['content-type'], 'text/plain');
  t.equal(head.headers['content-length'], '5');
  t.equal(head.headers['cache-status'], 'hit');
  t.ok(head.headers.etag);
  t.ok(Number(head.headers['x-ttl-ms']) > 0);
  t.equal((await app.inject({ method: 'HEAD', url: '/v1/cache/none', headers: auth() })).statusCode, 404);
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/cache/h', headers: auth() })).statusCode, 204);
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/cache/h', headers: auth() })).statusCode, 204, 'again: still 204');
  t.equal((await app.inject({ url: '/v1/cache/h', headers: auth() })).statusCode, 404);
});

t.test('keys: any printable UTF-8 up to the limit, URL-encoded', async (t) => {
  const app = await build(t, redis.url);
  const keys = ['a/b/c', 'user:42:profile', 'glob*?[x]\\', 'with space', 'ünïcødé €😀', '}starts-with-brace', '{tag}x', '%41', 'x'.repeat(512)];
  for (const [i, key] of keys.entries()) {
    const put = await app.inject({ method: 'PUT', url: `/v1/cache/${enc(key)}`, headers: auth(), payload: String(i) });
    t.equal(put.statusCode, 204, `PUT ${key.slice(0, 30)}`);
  }
  for (const [i, key] of keys.entries()) {
    const get = await app.inject({ url: `/v1/cache/${enc(key)}`, headers: auth() });
    t.equal(get.body, String(i), `GET ${key.slice(0, 30)}`);
  }
  t.equal((await app.inject({ url: '/v1/cache/a/b/c', headers: auth() })).body, '0', 'an unencoded "/" reaches the same key');
  const multi = await app.inject({ url: `/v1/cache?${keys.map((k) => `key=${enc(k)}`).join('&')}`, headers: auth() });
  t.same(Object.values(multi.json().entries), keys.map((_, i) => i), 'multi-get finds them all');
  // Value and lease of a key always share a Cluster slot, even for keys starting with "}".
  const { keySlot } = await import('../../src/cache/service.js');
  for (const key of keys) {
    t.equal(keySlot(app.keys.cache.value('t1', key)), keySlot(app.keys.cache.lease('t1', key)), `same slot: ${key.slice(0, 20)}`);
  }

  const before = (await t1Values()).length;
  const bad: [string, string][] = [
    ['empty', '/v1/cache/'],
    ['513 bytes', `/v1/cache/${'x'.repeat(513)}`],
    ['257 two-byte characters = 514 bytes', `/v1/cache/${enc('é'.repeat(257))}`],
    ['far too long (longer than the router takes for a parameter)', `/v1/cache/${enc('é'.repeat(2000))}`],
    ['control character', `/v1/cache/a${enc('\u0001')}b`],
    ['newline', `/v1/cache/a${enc('\n')}b`],
  ];
  for (const [what, url] of bad) {
    const r = await app.inject({ method: 'PUT', url, headers: auth(), payload: '1' });
    t.equal(r.statusCode, 400, what);
    t.equal(r.json().code, 'validation_failed', what);
  }
  const long = await app.inject({ method: 'PUT', url: `/v1/cache/${'x'.repeat(513)}`, headers: auth(), payload: '1' });
  t.match(long.json().detail, /512 bytes/, 'the limit is in the detail');
  t.equal((await t1Values()).length, before, 'nothing written');
});

t.test('bad query input gets a 400 problem and writes nothing', async (t) => {
  const app = await build(t, redis.url);
  for (const q of ['ttlMs=-1', 'ttlMs=abc', 'ttlMs=1.5', 'ttlMs=', 'jitter=1.5', 'jitter=-0.1', 'jitter=x', 'nx=maybe']) {
    const r = await app.inject({ method: 'PUT', url: `/v1/cache/q?${q}`, headers: auth(), payload: '1' });
    t.equal(r.statusCode, 400, q);
    t.equal(r.json().code, 'validation_failed', q);
    t.ok(Array.isArray(r.json().errors) && r.json().errors.length > 0, `${q}: errors[]`);
  }
  t.same(await t1Values(), [], 'nothing written');
  const wait = await app.inject({ url: '/v1/cache/q?lease=true&waitMs=999999', headers: auth() });
  t.equal(wait.statusCode, 400, 'waitMs beyond the configured maximum');
  t.match(wait.json().detail, /30000/);
});

t.test('values over the limit get 413 with the limit in the detail', async (t) => {
  const app = await build(t, redis.url, { env: { BATON_MAX_VALUE_BYTES: '1024' } });
  const ok = await app.inject({ method: 'PUT', url: '/v1/cache/big', headers: { ...auth(), 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(1024, 1) });
  t.equal(ok.statusCode, 204, 'exactly the limit is fine');
  const big = await app.inject({ method: 'PUT', url: '/v1/cache/big2', headers: { ...auth(), 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(1025, 1) });
  t.equal(big.statusCode, 413);
  t.equal(big.json().code, 'payload_too_large');
  t.match(big.json().detail, /1024 bytes/);
  const bulk = await app.inject({ method: 'POST', url: '/v1/cache', headers: auth(), payload: { entries: [{ key: 'small', value: 1 }, { key: 'huge', value: 'x'.repeat(2000) }] } });
  t.equal(bulk.statusCode, 413, 'a bulk value over the limit');
  t.match(bulk.json().detail, /entries\/1\/value.*1024 bytes/);
  t.same(await t1Values(), ['baton:t1:c:v{=big}'], 'only the first PUT was stored');
});

t.test('multi-get: JSON values, misses as null, other types as base64', async (t) => {
  const app = await build(t, redis.url);
  await app.inject({ method: 'PUT', url: '/v1/cache/j', headers: auth(), payload: '{"a":[1,2]}' });
  await app.inject({ method: 'PUT', url: '/v1/cache/s', headers: auth(), payload: '"str"' });
  await app.inject({ method: 'PUT', url: '/v1/cache/png', headers: { ...auth(), 'content-type': 'image/png' }, payload: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 255]) });
  await app.inject({ method: 'PUT', url: '/v1/cache/txt', headers: { ...auth(), 'content-type': 'text/plain' }, payload: 'hi "there"' });
  const r = await app.inject({ url: '/v1/cache?key=j&key=s&key=png&key=txt&key=missing&key=j', headers: auth() });
  t.equal(r.statusCode, 200);
  t.match(r.headers['content-type'], /^application\/json/);
  t.same(r.json(), {
    entries: {
      j: { a: [1, 2] },
      s: 'str',
      png: { contentType: 'image/png', base64: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 255]).toString('base64') },
      txt: { contentType: 'text/plain', base64: Buffer.from('hi "there"').toString('base64') },
      missing: null,
    },
  });
  const one = await app.inject({ url: '/v1/cache?key=s', headers: auth() });
  t.same(one.json(), { entries: { s: 'str' } }, 'a single key works too');
  const hundred = await app.inject({ url: `/v1/cache?${Array.from({ length: 100 }, (_, i) => `key=k${i}`).join('&')}`, headers: auth() });
  t.equal(hundred.statusCode, 200);
  t.equal(Object.keys(hundred.json().entries).length, 100);
  const tooMany = await app.inject({ url: `/v1/cache?${Array.from({ length: 101 }, (_, i) => `key=k${i}`).join('&')}`, headers: auth() });
  t.equal(tooMany.statusCode, 400);
  t.match(tooMany.json().detail, /100/);
  t.equal((await app.inject({ url: '/v1/cache', headers: auth() })).statusCode, 400, 'no key');
  t.equal((await app.inject({ url: '/v1/cache?key=', headers: auth() })).statusCode, 400, 'empty key');
});

t.test('multi-set: one request, per-entry TTLs, limits, nothing written on bad input', async (t) => {
  const app = await build(t, redis.url);
  const ok = await app.inject({
    method: 'POST', url: '/v1/cache', headers: auth(),
    payload: { entries: [{ key: 'a', value: { n: 1 } }, { key: 'b', value: [true], ttlMs: 5_000 }, { key: 'c', value: null }], ttlMs: 60_000 },
  });
  t.equal(ok.statusCode, 204);
  const a = await app.inject({ url: '/v1/cache/a', headers: auth() });
  t.equal(a.body, '{"n":1}');
  t.equal(a.headers['content-type'], 'application/json');
  t.ok(Number(a.headers['x-ttl-ms']) > 5_000, 'request TTL');
  t.ok(Number((await app.inject({ url: '/v1/cache/b', headers: auth() })).headers['x-ttl-ms']) <= 5_000, 'entry TTL wins');
  t.equal((await app.inject({ url: '/v1/cache/c', headers: auth() })).body, 'null');
  await redis.flush();
  const bad = [
    { entries: Array.from({ length: 101 }, (_, i) => ({ key: `k${i}`, value: i })) },
    { entries: [{ key: 'x', value: 1, extra: 1 }] },
    { entries: [{ key: 'x' }] },
    { entries: [{ key: '', value: 1 }] },
    { entries: [{ key: 'x', value: 1, ttlMs: -5 }] },
    { entries: [{ key: 'x', value: 1 }], jitter: 2 },
    { entries: [{ key: 'x', value: 1 }], unknown: true },
    { nothing: [] },
  ];
  for (const payload of bad) {
    const r = await app.inject({ method: 'POST', url: '/v1/cache', headers: auth(), payload });
    t.equal(r.statusCode, 400, JSON.stringify(payload).slice(0, 60));
    t.equal(r.json().code, 'validation_failed');
  }
  const notJson = await app.inject({ method: 'POST', url: '/v1/cache', headers: { ...auth(), 'content-type': 'application/json' }, payload: '{"entries": [' });
  t.equal(notJson.statusCode, 400);
  const wrongType = await app.inject({ method: 'POST', url: '/v1/cache', headers: { ...auth(), 'content-type': 'text/plain' }, payload: '{}' });
  t.equal(wrongType.statusCode, 415);
  t.same(await redis.keys('baton:*:c:*'), [], 'nothing written');
});

t.test('tenants are isolated', async (t) => {
  const app = await build(t, redis.url);
  await app.inject({ method: 'PUT', url: '/v1/cache/secret', headers: auth(KEYS.t1), payload: '"t1"' });
  t.equal((await app.inject({ url: '/v1/cache/secret', headers: auth(KEYS.t2) })).statusCode, 404);
  t.equal((await app.inject({ method: 'HEAD', url: '/v1/cache/secret', headers: auth(KEYS.t2) })).statusCode, 404);
  t.same((await app.inject({ url: '/v1/cache?key=secret', headers: auth(KEYS.t2) })).json(), { entries: { secret: null } });
  t.same((await app.inject({ method: 'DELETE', url: '/v1/cache?pattern=*', headers: auth(KEYS.t2) })).json(), { deleted: 0 });
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/cache/secret', headers: auth(KEYS.t2) })).statusCode, 204);
  await app.inject({ method: 'PUT', url: '/v1/cache/secret', headers: auth(KEYS.t2), payload: '"t2"' });
  t.equal((await app.inject({ url: '/v1/cache/secret', headers: auth(KEYS.t1) })).body, '"t1"', 't1 untouched');
  t.equal((await app.inject({ url: '/v1/cache/secret', headers: auth(KEYS.t2) })).body, '"t2"');
});

t.test('scopes: cache:read reads, cache:write writes', async (t) => {
  const app = await build(t, redis.url);
  await app.inject({ method: 'PUT', url: '/v1/cache/s', headers: auth(), payload: '1' });
  t.equal((await app.inject({ url: '/v1/cache/s', headers: auth(KEYS.readOnly) })).statusCode, 200);
  t.equal((await app.inject({ url: '/v1/cache?key=s', headers: auth(KEYS.readOnly) })).statusCode, 200);
  for (const [method, url] of [['PUT', '/v1/cache/s'], ['DELETE', '/v1/cache/s'], ['DELETE', '/v1/cache?pattern=*'], ['POST', '/v1/cache']] as const) {
    const r = await app.inject({ method, url, headers: auth(KEYS.readOnly), payload: method === 'POST' ? { entries: [] } : '2' });
    t.equal(r.statusCode, 403, `${method} ${url}`);
    t.equal(r.json().code, 'forbidden');
  }
  t.equal((await app.inject({ url: '/v1/cache/s', headers: auth(KEYS.noScopes) })).statusCode, 403);
  t.equal((await app.inject({ url: '/v1/cache/s' })).statusCode, 401);
  t.equal((await app.inject({ url: '/v1/cache/s', headers: auth() })).body, '1', 'unchanged');
});

t.test('metrics count hits, misses and stored bytes', async (t) => {
  const app = await build(t, redis.url);
  await app.inject({ method: 'PUT', url: '/v1/cache/m', headers: auth(), payload: '12345' });
  await app.inject({ url: '/v1/cache/m', headers: auth() });
  await app.inject({ url: '/v1/cache/m', headers: auth() });
  await app.inject({ url: '/v1/cache/nope', headers: auth() });
  await app.inject({ method: 'PUT', url: '/v1/cache/m?nx=true', headers: auth(), payload: '1' });
  const text = (await app.inject({ url: '/metrics' })).body;
  t.match(text, /baton_cache_requests_total\{op="get",result="hit"\} 2/);
  t.match(text, /baton_cache_requests_total\{op="get",result="miss"\} 1/);
  t.match(text, /baton_cache_requests_total\{op="put",result="stored"\} 1/);
  t.match(text, /baton_cache_requests_total\{op="put",result="precondition_failed"\} 1/);
  t.match(text, /baton_cache_bytes_stored_total\{op="put"\} 5/);
});

t.test('the OpenAPI document describes the cache endpoints', async (t) => {
  const app = await build(t, redis.url);
  const doc = (await app.inject({ url: '/openapi.json' })).json();
  const single = doc.paths['/v1/cache/{key}'];
  t.ok(single.get && single.head && single.put && single.delete, 'GET HEAD PUT DELETE /v1/cache/{key}');
  t.ok(doc.paths['/v1/cache'].get && doc.paths['/v1/cache'].post && doc.paths['/v1/cache'].delete, 'bulk and pattern routes');
  t.ok(single.get.responses['200'].headers.etag, 'response headers documented');
  t.ok(single.put.parameters.some((p: { name: string }) => p.name === 'cache-lease'), 'Cache-Lease request header documented');
  t.notOk(Object.keys(doc.paths).some((p) => p.includes('*')), 'the raw-slash fallback routes are hidden');
});

t.test('Redis down → 503 backend_unavailable, and back without a restart', async (t) => {
  const app = await build(t, redis.url);
  await app.inject({ method: 'PUT', url: '/v1/cache/r', headers: auth(), payload: '1' });
  await redis.stop();
  for (const [method, url] of [['GET', '/v1/cache/r'], ['PUT', '/v1/cache/r'], ['DELETE', '/v1/cache/r'], ['GET', '/v1/cache?key=r'], ['DELETE', '/v1/cache?pattern=*'], ['GET', '/v1/cache/r?lease=true&waitMs=100']] as const) {
    const r = await app.inject({ method, url, headers: auth(), payload: method === 'PUT' ? '2' : undefined });
    t.equal(r.statusCode, 503, `${method} ${url}`);
    t.equal(r.json().code, 'backend_unavailable');
    t.ok(r.headers['retry-after']);
  }
  const bulk = await app.inject({ method: 'POST', url: '/v1/cache', headers: auth(), payload: { entries: [{ key: 'x', value: 1 }] } });
  t.equal(bulk.statusCode, 503, 'multi-set');
  await redis.start();
  await new Promise<void>((ok) => (app.redis.status === 'ready' ? ok() : app.redis.once('ready', () => ok())));
  t.equal((await app.inject({ method: 'PUT', url: '/v1/cache/r', headers: auth(), payload: '3' })).statusCode, 204);
  t.equal((await app.inject({ url: '/v1/cache/r', headers: auth() })).body, '3');
});

t.end();
