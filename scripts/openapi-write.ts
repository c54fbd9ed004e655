// npm run openapi:write — regenerate openapi/openapi.json from the routes' zod schemas (what the server
// serves at /openapi.json with the default configuration). test/openapi.test.ts fails when they differ.
import { writeFileSync } from 'node:fs';
import { pino } from 'pino';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';

export const OPENAPI_PATH = new URL('../openapi/openapi.json', import.meta.url);

/** The configuration the committed document is generated with: defaults, auth on. */
export const OPENAPI_ENV = {
  NODE_ENV: 'test',
  BATON_API_KEYS: '[]',
  LOG_LEVEL: 'silent',
} as const;

export function serialize(doc: unknown): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '\u0000')) {
  // No Redis is needed to describe the API: point at a closed port; the client just keeps failing quietly.
  const app = await buildApp(loadConfig({ ...OPENAPI_ENV, REDIS_URL: 'redis://127.0.0.1:1' }), { logger: pino({ level: 'silent' }) });
  await app.ready();
  writeFileSync(OPENAPI_PATH, serialize(app.swagger()));
  await app.close();
  process.stdout.write(`wrote ${OPENAPI_PATH.pathname}\n`);
}
