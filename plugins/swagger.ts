// The OpenAPI 3 document (/openapi.json) generated from the routes' zod schemas, and Swagger UI at /docs.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url.replace('/dist/', '/')), 'utf8')) as {
  version: string;
};

export const TAGS = [
  { name: 'cache', description: 'Bytes with a content type, TTL with jitter, bulk, pattern delete, stampede leases' },
  { name: 'locks', description: 'Distributed locks with fencing tokens, renew, re-entry and waiting' },
  { name: 'semaphores', description: 'Up to `limit` holders at once' },
  { name: 'queues', description: 'At-least-once message queues with receipts, priorities, delays, DLQ, long polling' },
  { name: 'tasks', description: 'Background tasks on BullMQ with Celery-like states' },
  { name: 'workers', description: 'Claim and run tasks from workers in any language' },
  { name: 'schedules', description: 'Periodic tasks (cron or fixed interval)' },
  { name: 'operations', description: 'Health, metrics and this document' },
];

export default fp(
  async (app) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Baton',
          version: pkg.version,
          description:
            'Cache, distributed locks, reliable message queues and background tasks over HTTP, backed by Redis. ' +
            'Every error is an RFC 9457 problem document (application/problem+json) with a stable `code`.',
        },
        tags: TAGS,
        components: {
          securitySchemes: {
            bearerAuth: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <api-key>' },
          },
        },
        security: [{ bearerAuth: [] }],
      },
      transform: jsonSchemaTransform,
      transformObject: jsonSchemaTransformObject,
    });
    await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { persistAuthorization: true } });
  },
  { name: 'swagger' },
);
