// Builds the real app with an explicit Config (never process.env) against a test redis-server, closes it
// in teardown. `listen: true` gives a real socket (for long polls, SSE, abort tests and several instances).
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { redisEnv } from './topology.js';

interface Teardownable {
  teardown(fn: () => unknown): void;
}

/** Test API keys: tenants t1 (all scopes), t2 (all scopes), and limited keys for 403 tests. */
export const KEYS = {
  t1: 'test-key-tenant-one-0001',
  t2: 'test-key-tenant-two-0002',
  readOnly: 'test-key-read-only-0003',
  noScopes: 'test-key-locks-only-0004',
} as const;

export const API_KEYS_JSON = JSON.stringify([
  { key: KEYS.t1, tenant: 't1', scopes: ['*'] },
  { key: KEYS.t2, tenant: 't2', scopes: ['*'] },
  { key: KEYS.readOnly, tenant: 't1', scopes: ['cache:read'] },
  { key: KEYS.noScopes, tenant: 't1', scopes: ['locks'] },
]);

export const auth = (key: string = KEYS.t1) => ({ authorization: `Bearer ${key}` });

/** `redisUrl` is a TestRedis url: a redis:// URL, or a cluster:// / sentinel:// one (test/helpers/topology.ts). */
export function testConfig(redisUrl: string, env: Record<string, string> = {}): Config {
  return loadConfig({ NODE_ENV: 'test', ...redisEnv(redisUrl), BATON_API_KEYS: API_KEYS_JSON, LOG_LEVEL: 'silent', ...env });
}

export async function build(
  t: Teardownable,
  redisUrl: string,
  opts: { env?: Record<string, string>; listen?: boolean } = {},
): Promise<FastifyInstance & { baseUrl: string }> {
  const config = testConfig(redisUrl, opts.env);
  const app = await buildApp(config, { logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }) });
  let baseUrl = '';
  if (opts.listen) {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const addr = app.server.address();
    baseUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  } else {
    await app.ready();
  }
  t.teardown(async () => {
    // A close that hangs would only show as tap's timeout: say what is still open.
    const stuck = setTimeout(() => {
      process.stderr.write(`app.close() still running after 15 s; active resources: ${process.getActiveResourcesInfo().join(', ')}\n`);
    }, 15_000).unref();
    await app.close();
    clearTimeout(stuck);
  });
  return Object.assign(app, { baseUrl });
}
