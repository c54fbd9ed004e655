// Process entry: read .env (if any) and the environment once, start the embedded redis-server when no
// REDIS_URL is given outside production, build the app, listen, and shut down gracefully (close-with-grace)
// on SIGTERM, SIGINT and uncaught errors: stop accepting, let in-flight requests (long polls included)
// finish within BATON_SHUTDOWN_GRACE_MS, close Redis, stop the embedded redis-server.
// First: before anything calls process.nextTick much (why: src/pin-tick-object.ts).
import './pin-tick-object.js';
import closeWithGrace from 'close-with-grace';
import { config as loadDotenv } from 'dotenv';
import { existsSync } from 'node:fs';
import { buildApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './logger.js';
import { RedisServerMissingError, startEmbeddedRedis, type EmbeddedRedis } from './redis/embedded.js';

if (existsSync('.env')) loadDotenv({ path: '.env', quiet: true });

let config: Config;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`baton: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}

const log = createLogger(config);
let embedded: EmbeddedRedis | undefined;
if (config.redis.kind === 'embedded') {
  try {
    const started = await startEmbeddedRedis({ dataDir: config.redis.dataDir });
    embedded = started;
    if (started.staleStopped) log.warn({ pid: started.staleStopped }, 'stopped a redis-server left by an earlier run');
    log.info({ url: started.url, dataDir: started.dataDir, pid: started.pid }, 'started an embedded redis-server (no REDIS_URL set)');
    config = { ...config, redis: { kind: 'standalone', url: started.url } };
  } catch (err) {
    if (err instanceof RedisServerMissingError) {
      process.stderr.write(`baton: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

const app = await buildApp(config, { logger: log });

closeWithGrace({ delay: config.shutdownGraceMs, logger: log }, async ({ signal, err }) => {
  if (err) log.error({ err }, 'shutting down after an uncaught error');
  else log.info({ signal }, 'shutting down');
  await app.close();
  await embedded?.stop();
});

try {
  await app.listen({ port: config.port, host: config.host });
  log.info(`docs at http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${app.server.address() && typeof app.server.address() === 'object' ? (app.server.address() as { port: number }).port : config.port}/docs`);
} catch (err) {
  log.error({ err }, 'could not listen');
  await app.close();
  await embedded?.stop();
  process.exit(1);
}
