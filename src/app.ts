// The service as a Fastify instance: plugins in dependency order, then routes. Never listens (server.ts
// does), so tests build it with an explicit Config and drive it over real HTTP or inject().
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { lazyChildLogger } from './lazy-logger.js';
import authPlugin from '../plugins/auth.js';
import configPlugin from '../plugins/config.js';
import errorsPlugin, { errorToProblem, sendProblem } from '../plugins/errors.js';
import metricsPlugin from '../plugins/metrics.js';
import rateLimitPlugin from '../plugins/rate-limit.js';
import redisPlugin from '../plugins/redis.js';
import swaggerPlugin from '../plugins/swagger.js';
import routes from '../routes/index.js';
import { fastValidatorCompiler } from '../routes/lib/fast-validation.js';
import type { Config } from './config.js';
import { sequentialIds } from './ids.js';
import { createLogger } from './logger.js';

/** Request ids when the client sends none: unique across instances and restarts, cheap (src/ids.ts). */
const nextRequestId = sequentialIds('', 9, '-');

export interface BuildOptions {
  logger?: Logger;
}

export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: (options.logger ?? createLogger(config)) as FastifyBaseLogger,
    bodyLimit: config.limits.bodyBytes,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : nextRequestId();
    },
    requestIdHeader: false,
    childLoggerFactory: lazyChildLogger,
    routerOptions: { maxParamLength: 4 * config.limits.nameBytes + 64 },
    // Long polls and lock waits hold a request for up to 60 s; keep sockets longer than that.
    keepAliveTimeout: 72_000,
    forceCloseConnections: 'idle',
    // Router-level errors (broken percent-encoding, an over-long path parameter) bypass the error handler:
    // answer them with a problem document too.
    frameworkErrors: (err, request, reply) => {
      const { problem, headers } = errorToProblem(err, request);
      return sendProblem(reply, problem, { ...headers, 'x-request-id': request.id });
    },
  }).withTypeProvider<ZodTypeProvider>();

  // zod, after a hand-written fast check on the few schemas of the benchmarked paths (routes/lib/fast-validation.ts).
  app.setValidatorCompiler(fastValidatorCompiler);
  // Responses are plain JSON.stringify: the zod schemas document them; validating every response would
  // cost CPU on the hot path for no client-visible gain (tests check the shapes).
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  // While closing, answer with `Connection: close` so a keep-alive socket whose request was in flight when
  // close() began does not hold shutdown open for the whole keep-alive timeout.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // Set when the request arrives (an onSend hook would cost every response a hook run); every answer,
  // including the router's own 404s, passes through onRequest. frameworkErrors sets it itself.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    if (closing) reply.header('connection', 'close');
    done();
  });

  await app.register(configPlugin, { config });
  await app.register(errorsPlugin);
  await app.register(swaggerPlugin);
  await app.register(redisPlugin);
  await app.register(metricsPlugin);
  await app.register(authPlugin);
  await app.register(rateLimitPlugin);
  await app.register(routes);
  return app as unknown as FastifyInstance;
}
