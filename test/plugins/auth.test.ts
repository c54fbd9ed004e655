import t from 'tap';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { build, auth, KEYS } from '../helpers/build.js';
import { startRedis } from '../helpers/redis.js';
import { buildApp } from '../../src/app.js';
import { sameInConstantTime } from '../../plugins/auth.js';
import { loadConfig } from '../../src/config.js';
import { pino } from 'pino';

const redis = await startRedis(t);

t.test('operations are public by default (BATON_PUBLIC_OPS=true)', async (t) => {
  const app = await build(t, redis.url);
  t.equal((await app.inject({ url: '/metrics' })).statusCode, 200);
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200);
  t.equal((await app.inject({ url: '/openapi.json' })).statusCode, 200);
});

t.test('auth on protected routes: 401, 403, tenant and Basic for browsers', async (t) => {
  const config = loadConfig({ NODE_ENV: 'test', REDIS_URL: redis.url, LOG_LEVEL: 'silent', BATON_PUBLIC_OPS: 'false',
    BATON_API_KEYS: JSON.stringify([
      { key: KEYS.t1, tenant: 't1', scopes: ['*'] },
      { keySha256: createHash('sha256').update(KEYS.t2).digest('hex'), tenant: 't2', scopes: ['admin'] },
      { key: KEYS.readOnly, tenant: 't1', scopes: ['cache:read'] },
    ]) });
  const app = await buildApp(config, { logger: pino({ level: 'silent' }) });
  app.get('/whoami', { config: { scope: 'locks' } }, async (request) => ({ tenant: request.auth.tenant, key: request.auth.keyId }));
  await app.ready();
  t.teardown(() => app.close());

  const none = await app.inject({ url: '/whoami' });
  t.equal(none.statusCode, 401);
  t.equal(none.json().code, 'unauthorized');
  t.match(none.headers['www-authenticate'], /Bearer/);
  t.match(none.headers['content-type'], /application\/problem\+json/);

  const wrong = await app.inject({ url: '/whoami', headers: { authorization: 'Bearer wrong-key-0123456789' } });
  t.equal(wrong.statusCode, 401);

  const forbidden = await app.inject({ url: '/whoami', headers: auth(KEYS.readOnly) });
  t.equal(forbidden.statusCode, 403);
  t.equal(forbidden.json().code, 'forbidden');
  t.match(forbidden.json().detail, /locks/);

  const ok = await app.inject({ url: '/whoami', headers: auth(KEYS.t1) });
  t.equal(ok.statusCode, 200);
  t.equal(ok.json().tenant, 't1');
  t.equal(ok.json().key.length, 12);

  const basic = await app.inject({ url: '/whoami', headers: { authorization: `Basic ${Buffer.from(`me:${KEYS.t1}`).toString('base64')}` } });
  t.equal(basic.statusCode, 200, 'the key as a Basic password works (browsers)');

  // With BATON_PUBLIC_OPS=false, metrics and docs need an admin key.
  t.equal((await app.inject({ url: '/metrics' })).statusCode, 401);
  t.equal((await app.inject({ url: '/metrics', headers: auth(KEYS.readOnly) })).statusCode, 403);
  t.equal((await app.inject({ url: '/metrics', headers: auth(KEYS.t2) })).statusCode, 200, 'keySha256 entry with admin');
  t.equal((await app.inject({ url: '/docs/', headers: auth(KEYS.t2) })).statusCode, 200);
  t.equal((await app.inject({ url: '/docs/' })).statusCode, 401);
});

t.test('auth off (development): tenant "default"', async (t) => {
  const app = await buildApp(loadConfig({ NODE_ENV: 'test', REDIS_URL: redis.url, LOG_LEVEL: 'silent' }), { logger: pino({ level: 'silent' }) });
  app.get('/whoami', { config: { scope: 'locks' } }, async (request) => ({ tenant: request.auth.tenant }));
  await app.ready();
  t.teardown(() => app.close());
  t.same((await app.inject({ url: '/whoami' })).json(), { tenant: 'default' });
});

t.test('rate limit per API key: 429 problem with Retry-After and RateLimit headers, counted in Redis', async (t) => {
  const config = loadConfig({ NODE_ENV: 'test', REDIS_URL: redis.url, LOG_LEVEL: 'silent', BATON_RATE_LIMIT_MAX: '3', BATON_RATE_LIMIT_WINDOW_MS: '60000',
    BATON_API_KEYS: JSON.stringify([{ key: KEYS.t1, tenant: 't1', scopes: ['*'] }, { key: KEYS.t2, tenant: 't2', scopes: ['*'] }]) });
  const mk = async () => {
    const app = await buildApp(config, { logger: pino({ level: 'silent' }) });
    app.get('/limited', { config: { scope: 'locks' } }, async () => ({ ok: true }));
    await app.ready();
    t.teardown(() => app.close());
    return app;
  };
  const a = await mk();
  const b = await mk();
  const r1 = await a.inject({ url: '/limited', headers: auth(KEYS.t1) });
  t.equal(r1.statusCode, 200);
  t.equal(r1.headers['ratelimit-limit'], '3');
  t.equal((await b.inject({ url: '/limited', headers: auth(KEYS.t1) })).statusCode, 200, 'second instance shares the count');
  t.equal((await a.inject({ url: '/limited', headers: auth(KEYS.t1) })).statusCode, 200);
  const limited = await b.inject({ url: '/limited', headers: auth(KEYS.t1) });
  t.equal(limited.statusCode, 429);
  t.equal(limited.json().code, 'rate_limited');
  t.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After');
  t.equal((await a.inject({ url: '/limited', headers: auth(KEYS.t2) })).statusCode, 200, 'another key has its own budget');
  t.equal((await a.inject({ url: '/health/live' })).statusCode, 200, 'public ops are exempt');
});

t.end();

t.test('one keep-alive socket, several keys: each request is judged by its own header', async (t) => {
  const config = loadConfig({ NODE_ENV: 'test', REDIS_URL: redis.url, LOG_LEVEL: 'silent', BATON_API_KEYS: JSON.stringify([
    { key: KEYS.t1, tenant: 't1', scopes: ['*'] },
    { key: KEYS.t2, tenant: 't2', scopes: ['*'] },
    { key: KEYS.readOnly, tenant: 't1', scopes: ['cache:read'] },
  ]) });
  const app = await buildApp(config, { logger: pino({ level: 'silent' }) });
  app.get('/whoami', { config: { scope: 'locks' } }, async (request) => ({ tenant: request.auth.tenant }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => app.close());
  const { port } = app.server.address() as { port: number };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const sockets = new Set<unknown>();
  app.server.on('connection', (s) => sockets.add(s));
  const who = async (key: string) => {
    const { status, text } = await new Promise<{ status: number; text: string }>((ok, fail) => {
      http.get(`http://127.0.0.1:${port}/whoami`, { agent, headers: { authorization: `Bearer ${key}` } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => ok({ status: res.statusCode ?? 0, text }));
      }).on('error', fail);
    });
    const body = JSON.parse(text) as { tenant?: string; code?: string };
    return `${status} ${body.tenant ?? body.code}`;
  };
  t.equal(await who(KEYS.t1), '200 t1');
  t.equal(await who(KEYS.t1), '200 t1', 'the same key again (from the socket cache)');
  t.equal(await who(KEYS.t2), '200 t2', 'another valid key on the same socket is that key\'s tenant');
  t.equal(await who(`${KEYS.t2}x`), '401 unauthorized', 'a wrong key after a valid one is refused');
  t.equal(await who(KEYS.t2.slice(0, -1)), '401 unauthorized', 'a prefix of the cached key is refused');
  t.equal(await who(KEYS.t2), '200 t2');
  t.equal(await who(`${KEYS.t2.slice(0, -1)}X`), '401 unauthorized', 'the cached key with its last character changed is refused');
  t.equal(await who(`X${KEYS.t2.slice(1)}`), '401 unauthorized', 'the cached key with its first character changed is refused');
  t.equal(await who(KEYS.readOnly), '403 forbidden', 'the scopes are those of the key sent now');
  t.equal(await who(KEYS.t1), '200 t1');
  t.equal(sockets.size, 1, 'all of it on one keep-alive socket');
});

t.test('sameInConstantTime compares every character', async (t) => {
  t.ok(sameInConstantTime('Bearer abc', 'Bearer abc'));
  t.ok(sameInConstantTime('', ''));
  t.notOk(sameInConstantTime('Bearer abc', 'Bearer abd'), 'last character');
  t.notOk(sameInConstantTime('Bearer abc', 'bearer abc'), 'first character');
  t.notOk(sameInConstantTime('Bearer abc', 'Bearer ab'), 'shorter');
  t.notOk(sameInConstantTime('Bearer ab', 'Bearer abc'), 'longer');
  t.notOk(sameInConstantTime('Bearer é', 'Bearer e'), 'non-ASCII');
});
