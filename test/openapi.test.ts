// The committed openapi/openapi.json must be exactly what the server serves.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { OPENAPI_ENV, OPENAPI_PATH, serialize } from '../scripts/openapi-write.js';
import { build } from './helpers/build.js';
import { startRedis } from './helpers/redis.js';

const redis = await startRedis(t);

t.test('the served OpenAPI document matches the committed openapi/openapi.json', async (t) => {
  const app = await build(t, redis.url, { env: { ...OPENAPI_ENV } });
  const res = await app.inject({ url: '/openapi.json' });
  t.equal(res.statusCode, 200);
  const served = serialize(res.json());
  const committed = readFileSync(OPENAPI_PATH, 'utf8');
  t.ok(served === committed, 'openapi/openapi.json is stale: run npm run openapi:write');
  const doc = res.json() as { openapi: string; components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> } };
  t.match(doc.openapi, /^3\./);
  t.ok(doc.components.securitySchemes.bearerAuth, 'bearer security scheme');
  t.ok(doc.components.schemas.Problem, 'Problem schema');
});

t.test('Swagger UI is served at /docs', async (t) => {
  const app = await build(t, redis.url);
  const res = await app.inject({ url: '/docs/' });
  t.equal(res.statusCode, 200);
  t.match(res.body, /swagger-ui/i);
});

t.end();
