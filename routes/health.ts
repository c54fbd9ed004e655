// Operations: liveness, readiness (Redis PING with a short timeout), Prometheus metrics, the OpenAPI document.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../src/errors.js';
import { problems } from '../src/schemas/common.js';

const READY_TIMEOUT_MS = 1000;

const healthRoutes: FastifyPluginAsyncZod = async (app) => {
  const ops = { tags: ['operations'], security: [] };
  const Health = z.object({ status: z.literal('ok') }).meta({ example: { status: 'ok' } });

  app.get('/health/live', {
    config: { public: true },
    schema: { ...ops, summary: 'The process is up', response: { 200: Health } },
  }, async () => ({ status: 'ok' as const }));

  app.get('/health/ready', {
    config: { public: true },
    schema: {
      ...ops,
      summary: 'Redis answers PING within a second',
      response: { 200: Health.extend({ redis: z.literal('up') }).meta({ example: { status: 'ok', redis: 'up' } }), 503: problems(503)[503] },
    },
  }, async () => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new AppError('backend_unavailable', `Redis did not answer PING within ${READY_TIMEOUT_MS} ms`, { headers: { 'retry-after': '1' } })), READY_TIMEOUT_MS);
    });
    try {
      await Promise.race([app.redis.ping(), timeout]);
    } finally {
      clearTimeout(timer);
    }
    return { status: 'ok' as const, redis: 'up' as const };
  });

  app.get('/metrics', {
    config: { public: true },
    schema: {
      ...ops,
      summary: 'Prometheus metrics (text exposition format)',
      response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } } },
    },
  }, async (_request, reply) => {
    const body = await app.metrics.registry.metrics();
    return reply.type(app.metrics.registry.contentType).send(body);
  });

  app.get('/openapi.json', {
    config: { public: true },
    schema: { ...ops, summary: 'This OpenAPI document', hide: true },
  }, async () => app.swagger());
};

export default healthRoutes;
