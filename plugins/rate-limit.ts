// Per-API-key rate limiting with @fastify/rate-limit, counted in Redis so several Baton instances share
// the budget. Off when BATON_RATE_LIMIT_MAX is 0. Runs after auth (preParsing) so the key is known; public
// operations are exempt. Headers follow the IETF draft (RateLimit-Limit/-Remaining/-Reset, Retry-After).
// If Redis cannot count, the request goes on (skipOnError) and meets Redis' own 503 where it needs it.
import rateLimit from '@fastify/rate-limit';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import { AppError } from '../src/errors.js';

export default fp(
  async (app) => {
    const { max, windowMs } = app.config.rateLimit;
    if (max === 0) return;
    await app.register(rateLimit, {
      global: true,
      max,
      timeWindow: windowMs,
      hook: 'preParsing',
      redis: app.redis as Redis,
      nameSpace: app.keys.rateLimit,
      skipOnError: true,
      enableDraftSpec: true,
      keyGenerator: (request) => request.auth.keyId === 'anonymous' ? `ip:${request.ip}` : `key:${request.auth.keyId}`,
      allowList: (request) => request.routeOptions.config.public === true || !request.routeOptions.url,
      errorResponseBuilder: (_request, context) =>
        new AppError('rate_limited', `Rate limit of ${context.max} requests per ${windowMs} ms exceeded; retry in ${context.after}`),
    });
  },
  { name: 'rate-limit', dependencies: ['redis', 'auth', 'errors'] },
);
