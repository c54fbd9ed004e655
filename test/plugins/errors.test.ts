// Every error is an RFC 9457 problem document; unknown errors are a generic 500 with the detail only in the log.
import t from 'tap';
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { auth } from '../helpers/build.js';
import { startRedis } from '../helpers/redis.js';

const redis = await startRedis(t);

const probe: FastifyPluginAsyncZod = async (app) => {
  app.post('/probe', {
    config: { scope: 'cache:write' },
    schema: { body: z.object({ n: z.number().int().min(1), name: z.string() }).strict() },
  }, async (request) => ({ got: request.body.n }));
  app.get('/boom', { config: { scope: 'cache:read' } }, async () => {
    throw new Error('secret internal detail');
  });
  app.get('/redis-down', { config: { scope: 'cache:read' } }, async () => {
    const err = new Error('connect ECONNREFUSED 127.0.0.1:1') as Error & { code: string };
    err.code = 'ECONNREFUSED';
    throw err;
  });
};


t.test('validation, bad JSON, unknown fields, oversized bodies, wrong media type, 404 and 500', async (t) => {
  const { buildApp } = await import('../../src/app.js');
  const { testConfig } = await import('../helpers/build.js');
  const { pino } = await import('pino');
  const app = await buildApp(testConfig(redis.url, { BATON_BODY_LIMIT_BYTES: '2048' }), { logger: pino({ level: 'silent' }) });
  await app.register(probe);
  await app.ready();
  t.teardown(() => app.close());
  const h = { ...auth(), 'content-type': 'application/json' };

  const isProblem = (res: { headers: Record<string, unknown>; json(): Record<string, unknown> }, status: number, code: string) => {
    t.match(String(res.headers['content-type']), /^application\/problem\+json/);
    const p = res.json();
    t.equal(p.status, status);
    t.equal(p.code, code);
    t.type(p.type, 'string');
    t.type(p.title, 'string');
    t.type(p.detail, 'string');
    return p;
  };

  const ok = await app.inject({ method: 'POST', url: '/probe', headers: h, payload: { n: 2, name: 'x' } });
  t.equal(ok.statusCode, 200);
  t.same(ok.json(), { got: 2 });

  const bad = await app.inject({ method: 'POST', url: '/probe', headers: h, payload: { n: 0, name: 5 } });
  const p = isProblem(bad, 400, 'validation_failed');
  const paths = (p.errors as { path: string }[]).map((e) => e.path).sort();
  t.same(paths, ['body/n', 'body/name']);

  const extra = await app.inject({ method: 'POST', url: '/probe', headers: h, payload: { n: 1, name: 'x', evil: true } });
  isProblem(extra, 400, 'validation_failed');

  const malformed = await app.inject({ method: 'POST', url: '/probe', headers: h, payload: '{"n": 1,' });
  isProblem(malformed, 400, 'validation_failed');

  const big = await app.inject({ method: 'POST', url: '/probe', headers: h, payload: JSON.stringify({ n: 1, name: 'x'.repeat(5000) }) });
  isProblem(big, 413, 'payload_too_large');

  const media = await app.inject({ method: 'POST', url: '/probe', headers: { ...auth(), 'content-type': 'text/xml' }, payload: '<a/>' });
  isProblem(media, 415, 'unsupported_media_type');

  const missing = await app.inject({ url: '/v1/nothing-here', headers: auth() });
  isProblem(missing, 404, 'not_found');

  const boom = await app.inject({ url: '/boom', headers: auth() });
  const b = isProblem(boom, 500, 'internal_error');
  t.notMatch(String(b.detail), /secret internal detail/, 'the internal message does not leak');
  t.match(String(b.detail), new RegExp(boom.headers['x-request-id'] as string), 'the detail names the request id');

  const down = await app.inject({ url: '/redis-down', headers: auth() });
  isProblem(down, 503, 'backend_unavailable');
  t.equal(down.headers['retry-after'], '1');
});

t.end();
