// Locks (/v1/locks/{name}) and semaphores (/v1/semaphores/{name}): thin handlers over src/locks/service.ts.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { createLocksService } from '../src/locks/service.js';
import type { Config } from '../src/config.js';
import { isName, nameSchema, NOT_PRINTABLE, ProblemSchema, problems } from '../src/schemas/common.js';
import { clientGone } from './lib/client-gone.js';
import { boundedInt, boundedString, fast, isObject, isStringIn, onlyIntsIn } from './lib/fast-validation.js';

const count = () => z.number().int().nonnegative();
/** The standard problems plus a 409 whose description names the codes this route gives. */
const with409 = (codes: string) => ({ ...problems(409), 409: ProblemSchema.describe(`Conflict: ${codes}`) });
const TOKEN_LENGTH = [1, 128] as const;
const TOKEN = ['token'];

/**
 * The schemas of the benchmarked lock requests (a lock's name, an acquire, a release), each with a fast check
 * (lib/fast-validation.ts) for the common valid input: a name, an acquire with ttlMs and waitMs in range (an
 * owner goes to zod for its control-character check), a release with a token. Built from the config's bounds;
 * exported for test/routes/fast-validation.test.ts.
 */
export function lockSchemas(limits: Config['locks'], nameBytes: number) {
  const ints = { ttlMs: [limits.minTtlMs, limits.maxTtlMs], waitMs: [0, limits.maxWaitMs] } as const;
  const ttlMs = boundedInt(ints.ttlMs)
    .describe(`Lease time in ms (${limits.minTtlMs}-${limits.maxTtlMs}); the lock frees itself when it runs out`)
    .meta({ example: 30_000 });
  // No zod default: a check may only pass what zod returns unchanged, so an absent waitMs stays absent (= 0).
  const waitMs = boundedInt(ints.waitMs).optional()
    .describe(`How long to wait for a release, in ms (0-${limits.maxWaitMs}); 0 or absent = try once`)
    .meta({ example: 5_000, default: 0 });
  const token = boundedString(TOKEN_LENGTH).describe('The token the acquisition returned').meta({ example: 'hT3kq1xVdQ2b9w0cE7pNzA' });
  const LockParams = fast(
    z.object({ name: nameSchema(nameBytes, 'lock name').meta({ example: 'invoice-42' }) }),
    (p) => isObject(p) && isName(p.name, nameBytes),
  );
  const AcquireBody = fast(
    z.object({
      ttlMs,
      waitMs,
      owner: z.string().min(1).max(256).refine((s) => !NOT_PRINTABLE.test(s), 'owner must be printable UTF-8 (no control characters)')
        .optional()
        .describe('Who acquires (e.g. "worker-7"): acquiring again with the same owner while holding the lock re-enters it')
        .meta({ example: 'worker-7' }),
    }).strict(),
    (b) => isObject(b) && b.ttlMs !== undefined && onlyIntsIn(b, ints),
  );
  const ReleaseBody = fast(z.object({ token }).strict(), (b) => isObject(b) && onlyIntsIn(b, {}, TOKEN) && isStringIn(b.token, TOKEN_LENGTH));
  return { ttlMs, waitMs, token, LockParams, AcquireBody, ReleaseBody };
}

const locksRoutes: FastifyPluginAsyncZod = async (app) => {
  const { locks: limits, limits: { nameBytes } } = app.config;
  const service = createLocksService({
    redis: app.redis,
    keys: app.keys,
    notifier: app.notifier,
    config: app.config,
    metrics: app.metrics.registry,
  });

  const { ttlMs, waitMs, token, LockParams, AcquireBody, ReleaseBody } = lockSchemas(limits, nameBytes);
  const expiresAt = z.string().describe('When the lease runs out (ISO-8601 UTC, Redis server time)').meta({ example: '2026-11-22T01:00:30.000Z' });
  const SemParams = z.object({ name: nameSchema(nameBytes, 'semaphore name').meta({ example: 'pdf-renderers' }) });

  const LockGrant = z.object({
    name: z.string(),
    token,
    fence: count().describe('Fencing token: grows with every acquisition of this name, forever. Pass it to the resource you protect and have it refuse lower ones.').meta({ example: 17 }),
    ttlMs: count(),
    expiresAt,
  }).meta({ id: 'LockGrant', example: { name: 'invoice-42', token: 'hT3kq1xVdQ2b9w0cE7pNzA', fence: 17, ttlMs: 30_000, expiresAt: '2026-11-22T01:00:30.000Z' } });
  const PermitGrant = z.object({ name: z.string(), token, ttlMs: count(), expiresAt })
    .meta({ id: 'PermitGrant', example: { name: 'pdf-renderers', token: 'Vb8sN0c2qkR1mZ7xYp4eLw', ttlMs: 60_000, expiresAt: '2026-11-22T01:01:00.000Z' } });

  const lockTags = ['locks'];
  const semTags = ['semaphores'];
  const config = { scope: 'locks' as const };

  app.post('/v1/locks/:name/acquire', {
    config,
    schema: {
      tags: lockTags,
      summary: 'Acquire a lock (optionally waiting for it)',
      description:
        'Takes the lock when it is free and returns a fresh token and the next fencing number. When the same `owner` already holds it, ' +
        're-enters it (hold count + 1, TTL set to `ttlMs`, same token and fence). With `waitMs` the request waits, in arrival order ' +
        'within this server, and is woken by the release (pub/sub) or the holder\'s expiry; no polling. 409 `lock_not_acquired` carries ' +
        'the holder\'s remaining `ttlMs`.',
      params: LockParams,
      body: AcquireBody,
      response: { 200: LockGrant, ...with409('lock_not_acquired (held by another; `ttlMs` = its remaining TTL)') },
    },
  }, async (request, reply) =>
    service.locks.acquire(request.auth.tenant, request.params.name, request.body, (request.body.waitMs ?? 0) > 0 ? clientGone(reply) : undefined));

  app.post('/v1/locks/:name/renew', {
    config,
    schema: {
      tags: lockTags,
      summary: 'Extend a held lock',
      description: 'Sets the lease to `ttlMs` from now. 409 `lock_not_owner` when the lock expired (`reason: "expired"`) or is held by another token (`reason: "taken"`).',
      params: LockParams,
      body: z.object({ token, ttlMs }).strict(),
      response: { 200: LockGrant, ...with409('lock_not_owner (`reason`: expired | taken)') },
    },
  }, async (request) => service.locks.renew(request.auth.tenant, request.params.name, request.body.token, request.body.ttlMs));

  app.post('/v1/locks/:name/release', {
    config,
    schema: {
      tags: lockTags,
      summary: 'Release a held lock',
      description: 'Gives back one hold: `remaining` > 0 after a re-entrant release; at 0 the lock is free and waiters are woken. 409 `lock_not_owner` with `reason` `expired` or `taken`.',
      params: LockParams,
      body: ReleaseBody,
      response: {
        200: z.object({ released: z.literal(true), remaining: count().describe('Holds left (re-entry)') })
          .meta({ example: { released: true, remaining: 0 } }),
        ...with409('lock_not_owner (`reason`: expired | taken)'),
      },
    },
  }, async (request) => service.locks.release(request.auth.tenant, request.params.name, request.body.token));

  app.get('/v1/locks/:name', {
    config,
    schema: {
      tags: lockTags,
      summary: 'Inspect a lock',
      description: 'Whether it is held, the remaining TTL, and the current fencing number (0 if never acquired). Never the token.',
      params: LockParams,
      response: {
        200: z.object({ name: z.string(), held: z.boolean(), ttlMs: count().optional().describe('Remaining lease, when held'), fence: count().describe('The current fencing number; 0 if never acquired') })
          .meta({ example: { name: 'invoice-42', held: true, ttlMs: 12_345, fence: 17 } }),
        ...problems(),
      },
    },
  }, async (request) => service.locks.inspect(request.auth.tenant, request.params.name));

  app.post('/v1/semaphores/:name/acquire', {
    config,
    schema: {
      tags: semTags,
      summary: 'Acquire a permit of a semaphore (optionally waiting)',
      description:
        'Up to `limit` holders at once, each with its own token and TTL; a holder whose TTL ran out no longer counts. A `limit` other than ' +
        'the one in force is 409 `semaphore_limit_mismatch` unless the semaphore is empty. With `waitMs` the request waits (arrival order ' +
        'within this server), woken by a release or the earliest holder\'s expiry; 409 `semaphore_full` when the wait runs out.',
      params: SemParams,
      body: z.object({
        limit: z.number().int().min(1).max(100_000).describe('Permits (1-100000)').meta({ example: 4 }),
        ttlMs,
        waitMs,
      }).strict(),
      response: { 200: PermitGrant, ...with409('semaphore_full (`ttlMs` until the earliest holder expires), semaphore_limit_mismatch (`limit` in force)') },
    },
  }, async (request, reply) =>
    service.semaphores.acquire(request.auth.tenant, request.params.name, request.body, (request.body.waitMs ?? 0) > 0 ? clientGone(reply) : undefined));

  app.post('/v1/semaphores/:name/renew', {
    config,
    schema: {
      tags: semTags,
      summary: 'Extend a permit',
      description: 'Sets the permit\'s lease to `ttlMs` from now. 409 `semaphore_not_holder` when the token holds no permit (expired, released, unknown).',
      params: SemParams,
      body: z.object({ token, ttlMs }).strict(),
      response: { 200: PermitGrant, ...with409('semaphore_not_holder') },
    },
  }, async (request) => service.semaphores.renew(request.auth.tenant, request.params.name, request.body.token, request.body.ttlMs));

  app.post('/v1/semaphores/:name/release', {
    config,
    schema: {
      tags: semTags,
      summary: 'Give a permit back',
      description: 'Frees the permit and wakes a waiter. 409 `semaphore_not_holder` when the token holds no permit.',
      params: SemParams,
      body: z.object({ token }).strict(),
      response: {
        200: z.object({ released: z.literal(true), holders: count().describe('Holders left') })
          .meta({ example: { released: true, holders: 2 } }),
        ...with409('semaphore_not_holder'),
      },
    },
  }, async (request) => service.semaphores.release(request.auth.tenant, request.params.name, request.body.token));

  app.get('/v1/semaphores/:name', {
    config,
    schema: {
      tags: semTags,
      summary: 'Inspect a semaphore',
      description: 'The number of unexpired holders and, while there are any, the limit in force.',
      params: SemParams,
      response: {
        200: z.object({ name: z.string(), holders: count().describe('Unexpired holders'), limit: count().optional().describe('The limit in force, while there are holders') })
          .meta({ example: { name: 'pdf-renderers', holders: 3, limit: 4 } }),
        ...problems(),
      },
    },
  }, async (request) => service.semaphores.inspect(request.auth.tenant, request.params.name));
};

export default locksRoutes;
