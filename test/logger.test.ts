// Logs: the request logger is built lazily (src/lazy-logger.ts) yet every line of a request carries its
// reqId (= X-Request-Id), levels are honoured, and secrets are redacted.
import { Writable } from 'node:stream';
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { buildApp } from '../src/app.js';
import { REDACT } from '../src/logger.js';
import { API_KEYS_JSON, auth, testConfig } from './helpers/build.js';
import { startRedis } from './helpers/redis.js';

const redis = await startRedis(t);

async function appWithLog(t: Test, level: string) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  const logger = pino({ level, redact: { paths: REDACT, censor: '[redacted]' } }, sink);
  const app = await buildApp(testConfig(redis.url, { BATON_API_KEYS: API_KEYS_JSON }), { logger });
  app.get('/v1/log-probe', { config: { scope: 'locks' } }, async (request) => {
    request.log.warn({ token: 'secret-token' }, 'probe warn');
    request.log.info('probe info');
    request.log.child({ extra: 1 }).warn('probe child');
    return { ok: true };
  });
  app.get('/v1/log-debug', { config: { scope: 'locks' }, logLevel: 'debug' }, async (request) => {
    request.log.debug('route debug');
    return { ok: true };
  });
  await app.ready();
  t.teardown(() => app.close());
  return { app, lines };
}

t.test('without an x-request-id (or with a malformed one), each request gets its own id, in its response and its log lines', async (t) => {
  const { app, lines } = await appWithLog(t, 'info');
  const ids: string[] = [];
  for (const headers of [auth(), auth(), { ...auth(), 'x-request-id': 'bad id with spaces' }]) {
    const r = await app.inject({ url: '/v1/log-probe', headers });
    ids.push(String(r.headers['x-request-id']));
  }
  t.equal(new Set(ids).size, 3, 'three different ids');
  for (const id of ids) {
    t.match(id, /^[\w-]{12}-[0-9a-z]+$/, 'a process prefix and a counter');
    t.ok(lines.some((l) => l.reqId === id && l.msg === 'request completed'), `the log line of ${id}`);
  }
});

t.test('at info: request lines and route lines carry the request id; secrets redacted', async (t) => {
  const { app, lines } = await appWithLog(t, 'info');
  const r = await app.inject({ url: '/v1/log-probe', headers: { ...auth(), 'x-request-id': 'req-abc.1' } });
  t.equal(r.statusCode, 200);
  t.equal(r.headers['x-request-id'], 'req-abc.1');
  const mine = lines.filter((l) => l.reqId === 'req-abc.1');
  const messages = mine.map((l) => l.msg);
  t.ok(messages.includes('incoming request'), 'Fastify\'s request log');
  t.ok(messages.includes('request completed'), 'Fastify\'s response log');
  t.ok(messages.includes('probe warn') && messages.includes('probe info'), 'the route\'s own lines');
  t.match(mine.find((l) => l.msg === 'probe child'), { extra: 1, reqId: 'req-abc.1' }, 'a child of the request logger keeps the id');
  t.equal(mine.find((l) => l.msg === 'probe warn')?.token, '[redacted]');
  t.notOk(JSON.stringify(lines).includes(auth().authorization), 'the API key never reaches the log');
});

t.test('at warn: only warn and above, still with the request id', async (t) => {
  const { app, lines } = await appWithLog(t, 'warn');
  await app.inject({ url: '/v1/log-probe', headers: { ...auth(), 'x-request-id': 'req-w' } });
  t.same(lines.map((l) => l.msg).sort(), ['probe child', 'probe warn']);
  t.ok(lines.every((l) => l.reqId === 'req-w'));
});

t.test('a route\'s own logLevel is honoured', async (t) => {
  const { app, lines } = await appWithLog(t, 'warn');
  await app.inject({ url: '/v1/log-debug', headers: { ...auth(), 'x-request-id': 'req-d' } });
  t.match(lines.find((l) => l.msg === 'route debug'), { reqId: 'req-d' }, 'debug logged on a debug route under a warn parent');
});
