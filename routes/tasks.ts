// Tasks (/v1/tasks), HTTP workers (/v1/workers/{type}/claim + the per-task worker calls) and schedules
// (/v1/schedules): thin handlers over src/tasks/service.ts.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { identifierSchema, isIdentifier, problems } from '../src/schemas/common.js';
import { builtInHandlers } from '../src/tasks/handlers/index.js';
import { createTaskMetrics, registerTaskGauges } from '../src/tasks/metrics.js';
import { CLAIM_MAX_WAIT_MS, LOCK_MAX_MS, LOCK_MIN_MS, SUBMIT_BATCH_MAX, createTasksService } from '../src/tasks/service.js';
import { TASK_STATES } from '../src/tasks/state.js';
import { clientGone, watchClient } from './lib/client-gone.js';
import { boundedInt, boundedString, fast, isObject, isStringIn, onlyIntsIn } from './lib/fast-validation.js';
import { noContent } from './lib/no-content.js';
import { registerDashboard } from './tasks-dashboard.js';

const DAY_MS = 86_400_000;
const KEEPALIVE_MS = 15_000;

const TASK_ID_LENGTH = [1, 1024] as const;
const TOKEN_LENGTH = [1, 200] as const;
const TaskId = boundedString(TASK_ID_LENGTH).describe('Opaque task id, as returned by POST /v1/tasks');
export const IdParams = fast(z.object({ id: TaskId }), (p) => isObject(p) && isStringIn(p.id, TASK_ID_LENGTH));
export const TypeParams = fast(z.object({ type: identifierSchema }), (p) => isObject(p) && isIdentifier(p.type));
const TaskStateSchema = z.enum(TASK_STATES);
const Backoff = z
  .object({
    type: z.enum(['fixed', 'exponential']).default('exponential'),
    delayMs: z.number().int().min(0).max(DAY_MS),
  })
  .strict()
  .describe('Delay before a retry: fixed, or exponential (delayMs × 2^(attempt-1))');
const payloadSchema = z.unknown().refine((v) => v !== undefined, 'payload is required').describe('Any JSON value handed to the worker');

// The bounded numbers of a submit and of a claim: the zod schemas and the fast checks below both use these.
const SUBMIT_INTS = { delayMs: [0, 365 * DAY_MS], priority: [0, 9], attempts: [1, 100], timeoutMs: [100, DAY_MS] } as const;
const CLAIM_INTS = { waitMs: [0, CLAIM_MAX_WAIT_MS], lockMs: [LOCK_MIN_MS, LOCK_MAX_MS] } as const;

const SubmitBody = z
  .object({
    type: identifierSchema,
    payload: payloadSchema,
    delayMs: boundedInt(SUBMIT_INTS.delayMs).optional().describe('Run no earlier than this from now'),
    priority: boundedInt(SUBMIT_INTS.priority).optional().describe('0-9, higher runs first (default 0); FIFO within a priority'),
    attempts: boundedInt(SUBMIT_INTS.attempts).optional().describe('Runs allowed in all (default 1: no retry)'),
    backoff: Backoff.optional(),
    timeoutMs: boundedInt(SUBMIT_INTS.timeoutMs).optional().describe('Each attempt fails when it runs longer'),
    idempotencyKey: z.string().min(1).max(256).optional().describe('The same key returns the same task (200) for the retention period'),
  })
  .strict()
  .meta({ example: { type: 'send-email', payload: { to: 'ada@example.com' }, attempts: 3, backoff: { type: 'exponential', delayMs: 1000 } } });

const SubmitBatch = z
  .object({
    type: identifierSchema,
    tasks: z.array(SubmitBody.omit({ type: true })).min(1).max(SUBMIT_BATCH_MAX).describe(`1-${SUBMIT_BATCH_MAX} tasks of \`type\`, each with the options of a single submit`),
  })
  .strict()
  .describe('A batch: added in one transaction, all or none')
  .meta({ example: { type: 'send-email', tasks: [{ payload: { to: 'ada@example.com' } }, { payload: { to: 'grace@example.com' }, priority: 9 }] } });

const TaskView = z
  .object({
    id: TaskId,
    type: z.string(),
    state: TaskStateSchema,
    status: z.string().describe('A human status line'),
    createdAt: z.string().optional(),
    startedAt: z.string().optional(),
    finishedAt: z.string().optional(),
    attempts: z.number().int().describe('Attempts made so far'),
    maxAttempts: z.number().int().optional(),
    runAt: z.string().optional().describe('PENDING with a delay: when it becomes runnable'),
    nextAttemptAt: z.string().optional().describe('RETRY: when the next attempt becomes runnable'),
    progress: z.object({ current: z.number(), total: z.number(), status: z.string().optional() }).optional().describe('PROGRESS'),
    result: z.unknown().optional().describe('SUCCESS'),
    error: z.string().optional().describe('FAILURE (and RETRY: the last error)'),
    revokedAt: z.string().optional(),
  })
  .meta({
    id: 'Task',
    example: {
      id: 'c2VuZC1lbWFpbHx0M2Y0', type: 'send-email', state: 'PROGRESS', status: 'rendering 3 of 10',
      createdAt: '2026-01-01T00:00:00.000Z', startedAt: '2026-01-01T00:00:01.000Z', attempts: 0, maxAttempts: 3,
      progress: { current: 3, total: 10, status: 'rendering 3 of 10' },
    },
  });

const Submitted = z
  .object({ id: TaskId, state: z.literal('PENDING'), statusUrl: z.string() })
  .meta({ example: { id: 'c2VuZC1lbWFpbHx0M2Y0', state: 'PENDING', statusUrl: '/v1/tasks/c2VuZC1lbWFpbHx0M2Y0' } });
const SubmittedBatch = z
  .object({ tasks: z.array(Submitted.extend({ created: z.boolean().describe('false: an idempotencyKey gave an earlier task') })) })
  .describe('The batch, in order')
  .meta({ example: { tasks: [{ id: 'c2VuZC1lbWFpbHx0M2Y0', state: 'PENDING', statusUrl: '/v1/tasks/c2VuZC1lbWFpbHx0M2Y0', created: true }] } });

const Token = boundedString(TOKEN_LENGTH).describe('The token from the claim');
const LockMs = boundedInt(CLAIM_INTS.lockMs);
const Lease = z.object({ id: TaskId, lockMs: z.number().int(), expiresAt: z.string() });
const ClaimOptions = z
  .object({
    waitMs: boundedInt(CLAIM_INTS.waitMs).optional(),
    lockMs: LockMs.optional().describe('How long the task stays yours without a heartbeat (default 30000)'),
  })
  .strict();
const Claimed = z
  .object({
    task: z.object({ id: TaskId, type: z.string(), payload: z.unknown(), attempt: z.number().int() }),
    token: Token,
    lockMs: z.number().int(),
    expiresAt: z.string(),
  })
  .meta({ example: { task: { id: 'c2VuZC1lbWFpbHx0M2Y0', type: 'send-email', payload: { to: 'ada@example.com' }, attempt: 1 }, token: '4b0c…', lockMs: 30000, expiresAt: '2026-01-01T00:00:31.000Z' } });
/** `next` on complete and fail: claim the next task of the same type in the same request (one round trip per task). */
const NextClaim = ClaimOptions.optional().describe(
  'Claim the next task of the same type in this request, as POST /v1/workers/{type}/claim with these options would; the answer carries it in `next` (null when none came within waitMs)',
);
const NextClaimed = Claimed.nullable().optional().describe('The next task, when `next` was asked for; null when none came within waitMs');

// Fast checks (lib/fast-validation.ts) for the benchmarked bodies: a plain submit `{ type, payload }` with numeric
// options, a claim, a complete; anything else (backoff, idempotencyKey, a batch, an unknown field) goes to zod.
const [TYPE_PAYLOAD, TOKEN_RESULT_NEXT] = [['type', 'payload'], ['token', 'result', 'next']];
const isPlainSubmit = (b: unknown): boolean =>
  isObject(b) && isIdentifier(b.type) && b.payload !== undefined && onlyIntsIn(b, SUBMIT_INTS, TYPE_PAYLOAD);
const isPlainClaim = (b: unknown): boolean => isObject(b) && onlyIntsIn(b, CLAIM_INTS);
const isPlainComplete = (b: unknown): boolean =>
  isObject(b) && isStringIn(b.token, TOKEN_LENGTH) && (b.next === undefined || isPlainClaim(b.next)) && onlyIntsIn(b, {}, TOKEN_RESULT_NEXT);
export const SubmitBodies = fast(z.union([SubmitBody, SubmitBatch]), isPlainSubmit);
export const ClaimBody = fast(
  ClaimOptions.nullable().default(null).describe('May be left out: no wait, default lock').meta({ example: { waitMs: 20000, lockMs: 30000 } }),
  isPlainClaim,
);
export const CompleteBody = fast(
  z.object({ token: Token, result: z.unknown().optional(), next: NextClaim }).strict()
    .meta({ example: { token: '4b0c…', result: { sent: true }, next: { waitMs: 20000 } } }),
  isPlainComplete,
);

const ScheduleTask = z
  .object({
    type: identifierSchema,
    payload: payloadSchema,
    priority: boundedInt(SUBMIT_INTS.priority).optional(),
    attempts: boundedInt(SUBMIT_INTS.attempts).optional(),
    backoff: Backoff.optional(),
  })
  .strict();
const ScheduleBody = z
  .object({
    cron: z.string().min(1).max(200).optional().describe('Cron expression (5 or 6 fields); give cron or everyMs'),
    everyMs: z.number().int().min(100).max(365 * DAY_MS).optional().describe('Fixed interval'),
    tz: z.string().min(1).max(64).optional().describe('IANA time zone for cron, e.g. Europe/Paris'),
    task: ScheduleTask,
  })
  .strict()
  .meta({ example: { cron: '0 3 * * *', tz: 'Europe/Paris', task: { type: 'nightly-report', payload: { format: 'pdf' } } } });
const Schedule = z
  .object({
    id: z.string(),
    cron: z.string().optional(),
    everyMs: z.number().optional(),
    tz: z.string().optional(),
    task: ScheduleTask.extend({ payload: z.unknown() }),
    nextRunAt: z.string().optional(),
  })
  .meta({
    id: 'Schedule',
    example: { id: 'nightly-report', cron: '0 3 * * *', tz: 'Europe/Paris', task: { type: 'nightly-report', payload: { format: 'pdf' } }, nextRunAt: '2026-01-02T02:00:00.000Z' },
  });

const tasksRoutes: FastifyPluginAsyncZod = async (app) => {
  const config = app.config;
  const redis = app.newRedis('tasks');
  redis.on('error', () => undefined);
  await redis.connect().catch(() => undefined);
  const service = createTasksService({
    redis,
    keys: app.keys,
    notifier: app.notifier,
    config,
    metrics: createTaskMetrics(app.metrics.registry),
    log: app.log,
    handlers: builtInHandlers(config),
  });
  registerTaskGauges(app.metrics.registry, service);
  if (config.role === 'all' || config.role === 'worker') {
    const tenants = config.apiKeys ? [...new Set(config.apiKeys.map((k) => k.tenant))] : ['default'];
    await service.startHandlers(tenants, () => app.newRedis('tasks-handlers', 'blocking'));
  }
  const streams = new Set<AbortController>();
  app.addHook('preClose', async () => {
    service.stopWaiting();
    for (const s of streams) s.abort();
  });
  app.addHook('onClose', async () => {
    await service.close();
    redis.disconnect();
  });

  await registerDashboard(app, service, config.tasks.dashboardReadOnly);

  const tags = ['tasks'];
  const scope = { scope: 'tasks' as const };

  app.post('/v1/tasks', {
    config: scope,
    schema: {
      tags, summary: 'Submit a task',
      description:
        'Queues a task of `type` for a worker (HTTP workers, or the built-in handler of that type). 202 with `Location`; a repeated `idempotencyKey` returns the first task with 200. ' +
        `Or a batch \`{ type, tasks: [...] }\` of 1-${SUBMIT_BATCH_MAX} tasks of one type, added in one transaction (all or none; everything is checked first): ` +
        '202 `{ tasks: [{ id, state, statusUrl, created }] }` in order, 200 when every task came from an idempotencyKey.',
      body: SubmitBodies,
      response: { 200: z.union([Submitted, SubmittedBatch]), 202: z.union([Submitted, SubmittedBatch]), ...problems(413) },
    },
  }, async (request, reply) => {
    const body = request.body;
    if ('tasks' in body) {
      const done = await service.submitBatch(request.auth.tenant, body.type, body.tasks);
      const tasks = done.map((r) => ({ ...r, statusUrl: `/v1/tasks/${r.id}` }));
      return reply.code(done.some((r) => r.created) ? 202 : 200).send({ tasks });
    }
    const r = await service.submit(request.auth.tenant, body);
    const statusUrl = `/v1/tasks/${r.id}`;
    return reply.code(r.created ? 202 : 200).header('location', statusUrl).send({ id: r.id, state: r.state, statusUrl });
  });

  app.get('/v1/tasks', {
    config: scope,
    schema: {
      tags, summary: 'List tasks',
      description:
        'The tenant\'s tasks, of one `type` or (without it) of every type in name order, optionally in one `state` ' +
        '(REVOKED lists only tasks revoked while running: a revoked waiting task is removed and leaves only its tombstone), ' +
        'paged: pass `nextCursor` back as `cursor`.',
      querystring: z.object({
        type: identifierSchema.optional(),
        state: TaskStateSchema.optional(),
        limit: z.coerce.number().int().min(1).max(500).default(100),
        cursor: z.string().max(160).optional().describe('`nextCursor` from the previous page (opaque)'),
      }),
      response: {
        200: z.object({ tasks: z.array(TaskView), nextCursor: z.string().optional() }).meta({
          example: { tasks: [{ id: 'c2VuZC1lbWFpbHx0M2Y0', type: 'send-email', state: 'SUCCESS', status: 'done', attempts: 1, result: { sent: true } }], nextCursor: '100' },
        }),
        ...problems(),
      },
    },
  }, async (request) => service.list(request.auth.tenant, request.query));

  app.get('/v1/tasks/:id', {
    config: scope,
    schema: {
      tags, summary: 'Task status',
      description: 'PENDING, STARTED, PROGRESS (with progress), RETRY (nextAttemptAt, error), SUCCESS (result), FAILURE (error) or REVOKED. 404 for an id that never existed or whose retention ran out.',
      params: IdParams,
      response: { 200: TaskView, ...problems(404) },
    },
  }, async (request) => service.get(request.auth.tenant, request.params.id));

  app.delete('/v1/tasks/:id', {
    config: scope,
    schema: {
      tags, summary: 'Revoke a task',
      description: 'A waiting or delayed task is removed and answers REVOKED from then on; a running one is flagged, so its worker\'s next call gets 409 task_revoked (built-in handlers are aborted). 409 when it already finished.',
      params: IdParams,
      response: { 200: TaskView, ...problems(404, 409) },
    },
  }, async (request) => service.revoke(request.auth.tenant, request.params.id));

  app.post('/v1/tasks/:id/retry', {
    config: scope,
    schema: {
      tags, summary: 'Re-run a failed task', description: 'Only a FAILURE (409 otherwise); attempts start again from zero.',
      params: IdParams,
      response: { 202: TaskView, ...problems(404, 409) },
    },
  }, async (request, reply) => reply.code(202).send(await service.retry(request.auth.tenant, request.params.id)));

  app.get('/v1/tasks/:id/events', {
    config: scope,
    schema: {
      tags, summary: 'Task events (Server-Sent Events)',
      description: 'text/event-stream: `event: state` with the task as `data` at once, then at every state or progress change, ending after the final state. Comments every 15 s keep the connection alive. `Last-Event-ID` skips a state the client already has.',
      params: IdParams,
      headers: z.object({ 'last-event-id': z.string().max(64).optional() }),
      response: { 200: { description: 'An event stream', content: { 'text/event-stream': { schema: z.string() } } }, ...problems(404) },
    },
  }, async (request, reply) => {
    const tenant = request.auth.tenant;
    const { id } = request.params;
    await service.get(tenant, id); // 404 before the stream starts
    const controller = new AbortController();
    const gone = clientGone(reply);
    gone.addEventListener('abort', () => controller.abort(), { once: true });
    streams.add(controller);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-request-id': request.id,
    });
    res.write('retry: 1000\n\n');
    try {
      for await (const item of service.events(tenant, id, { lastEventId: request.headers['last-event-id'], keepAliveMs: KEEPALIVE_MS, signal: controller.signal })) {
        if (item.kind === 'keepalive') res.write(': keep-alive\n\n');
        else res.write(`event: state\nid: ${item.id}\ndata: ${JSON.stringify(item.view)}\n\n`);
      }
      if (!controller.signal.aborted) res.write('event: end\ndata: {}\n\n');
    } catch (err) {
      request.log.warn({ err: (err as Error).message }, 'task event stream ended by an error');
      res.write(`event: error\ndata: ${JSON.stringify({ detail: 'the stream broke; reconnect with Last-Event-ID' })}\n\n`);
    } finally {
      streams.delete(controller);
      res.end();
    }
  });

  // ---- HTTP workers ----
  const wtags = ['workers'];

  app.post('/v1/workers/:type/claim', {
    config: scope,
    schema: {
      tags: wtags, summary: 'Claim the next task of a type',
      description: `Long-polls up to waitMs (≤ ${CLAIM_MAX_WAIT_MS}) for a task, woken by the submit (no polling). 200 with the task, its attempt number and a token (the task is locked for lockMs; heartbeat or progress to keep it), or 204 when none came.`,
      params: TypeParams,
      body: ClaimBody,
      response: {
        200: Claimed,
        204: z.null().describe('No task came within waitMs'),
        ...problems(),
      },
    },
  }, async (request, reply) => {
    const r = await service.claim(request.auth.tenant, request.params.type, request.body ?? {}, watchClient(reply));
    if (!r) return noContent(reply);
    return r;
  });

  app.post('/v1/tasks/:id/heartbeat', {
    config: scope,
    schema: {
      tags: wtags, summary: 'Keep a claimed task', description: 'Extends the lock by lockMs. 409 task_token_invalid for a stale or foreign token, 409 task_revoked after a revoke.',
      params: IdParams, body: z.object({ token: Token, lockMs: LockMs }).strict().meta({ example: { token: '4b0c…', lockMs: 30000 } }),
      response: { 200: Lease, ...problems(404, 409) },
    },
  }, async (request) => service.heartbeat(request.auth.tenant, request.params.id, request.body.token, request.body.lockMs));

  app.post('/v1/tasks/:id/progress', {
    config: scope,
    schema: {
      tags: wtags, summary: 'Report progress', description: 'Sets PROGRESS { current, total, status } and heartbeats (by the claim\'s lockMs).',
      params: IdParams,
      body: z.object({ token: Token, current: z.number().min(0), total: z.number().min(0), status: z.string().max(1000).optional() }).strict()
        .meta({ example: { token: '4b0c…', current: 3, total: 10, status: 'rendering 3 of 10' } }),
      response: {
        200: Lease.extend({ state: z.literal('PROGRESS'), progress: z.object({ current: z.number(), total: z.number(), status: z.string().optional() }) }),
        ...problems(404, 409),
      },
    },
  }, async (request) => {
    const { token, ...p } = request.body;
    return service.progress(request.auth.tenant, request.params.id, token, p);
  });

  app.post('/v1/tasks/:id/complete', {
    config: scope,
    schema: {
      tags: wtags, summary: 'Finish a task with its result', description: 'SUCCESS with `result` (kept for the retention period). With `next`, the same request then claims the next task of the type (a worker needs one request per task instead of two); the completion stands whatever the claim finds.',
      params: IdParams,
      body: CompleteBody,
      response: { 200: z.object({ id: TaskId, state: z.literal('SUCCESS'), next: NextClaimed }), ...problems(404, 409, 413) },
    },
  }, async (request, reply) => {
    const { token, result, next } = request.body;
    return service.complete(request.auth.tenant, request.params.id, token, result, next, next ? watchClient(reply) : undefined);
  });

  app.post('/v1/tasks/:id/fail', {
    config: scope,
    schema: {
      tags: wtags, summary: 'Fail an attempt',
      description: 'A failed attempt: RETRY after the backoff while attempts remain, else FAILURE. `retry: false` fails it for good. With `next`, the same request then claims the next task of the type, as on complete.',
      params: IdParams,
      body: z
        .object({
          token: Token,
          error: z.union([z.string().min(1).max(4096), z.record(z.string(), z.unknown())]),
          retry: z.boolean().default(true),
          next: NextClaim,
        })
        .strict()
        .meta({ example: { token: '4b0c…', error: 'SMTP server unreachable', retry: true, next: { waitMs: 20000 } } }),
      response: {
        200: z.object({ id: TaskId, state: z.enum(['RETRY', 'FAILURE']), nextAttemptAt: z.string().optional(), next: NextClaimed }),
        ...problems(404, 409),
      },
    },
  }, async (request, reply) => {
    const { token, error, retry, next } = request.body;
    const message = typeof error === 'string' ? error : JSON.stringify(error).slice(0, 4096);
    return service.fail(request.auth.tenant, request.params.id, token, message, retry, next, next ? watchClient(reply) : undefined);
  });

  // ---- schedules ----
  const stags = ['schedules'];
  const SchedParams = z.object({ id: identifierSchema });

  app.put('/v1/schedules/:id', {
    config: scope,
    schema: {
      tags: stags, summary: 'Create or replace a schedule',
      description: 'Submits `task` on a cron (with tz) or every everyMs, like celery beat, through BullMQ job schedulers: however many Baton instances run, each tick produces one task. 201 when created, 200 when replaced.',
      params: SchedParams, body: ScheduleBody,
      response: { 200: Schedule, 201: Schedule, ...problems(413) },
    },
  }, async (request, reply) => {
    const { schedule, created } = await service.putSchedule(request.auth.tenant, request.params.id, request.body);
    return reply.code(created ? 201 : 200).send(schedule);
  });

  app.get('/v1/schedules/:id', {
    config: scope,
    schema: { tags: stags, summary: 'A schedule with its next run time', params: SchedParams, response: { 200: Schedule, ...problems(404) } },
  }, async (request) => service.getSchedule(request.auth.tenant, request.params.id));

  app.get('/v1/schedules', {
    config: scope,
    schema: { tags: stags, summary: 'The tenant\'s schedules', response: { 200: z.object({ schedules: z.array(Schedule) }), ...problems() } },
  }, async (request) => ({ schedules: await service.listSchedules(request.auth.tenant) }));

  app.delete('/v1/schedules/:id', {
    config: scope,
    schema: { tags: stags, summary: 'Delete a schedule', params: SchedParams, response: { 204: z.null(), ...problems(404) } },
  }, async (request, reply) => {
    await service.deleteSchedule(request.auth.tenant, request.params.id);
    return noContent(reply);
  });

};

export default tasksRoutes;
