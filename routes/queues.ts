// Message queues over HTTP (API.md "Message queues"): thin handlers over src/queues/service.ts.
// At-least-once delivery with visibility timeouts and receipts like Amazon SQS, plus priorities, backoff,
// dead letters and long polling. Metrics: baton_queue_messages_total{op}, baton_queue_depth (top N queues,
// computed at scrape time) and baton_queue_long_poll_waiters.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { Counter, Gauge } from 'prom-client';
import { fastCounter } from '../src/metrics/fast.js';
import { z } from 'zod';
import { identifierSchema, isIdentifier, problems } from '../src/schemas/common.js';
import { createQueueService, MAX_BATCH, MAX_PRIORITY, messagesJson, type MessageOp } from '../src/queues/service.js';
import { clientGone } from './lib/client-gone.js';
import { boundedInt, boundedString, fast, isObject, isStringIn, onlyIntsIn } from './lib/fast-validation.js';
import { noContent } from './lib/no-content.js';

const MAX_DELAY_MS = 7 * 24 * 3_600_000;
const MAX_WAIT_MS = 20_000;
const MAX_DURATION_MS = 2_147_483_647;
const MAX_ATTEMPTS = 1000;

export const QueueParams = fast(
  z.object({ queue: identifierSchema.meta({ example: 'orders' }) }),
  (p) => isObject(p) && isIdentifier(p.queue),
);
const MessageId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a message id (1-64 of A-Z a-z 0-9 _ -)')
  .meta({ example: 'k3Jx9aQ2b1c' });
const MessageParams = QueueParams.extend({ id: MessageId });
const RECEIPT_LENGTH = [1, 512] as const;
const Receipt = boundedString(RECEIPT_LENGTH).meta({ description: 'The receipt of the latest delivery', example: 'k3Jx9aQ2b1c.1.Zq8xW0pLr3Ta' });
const Page = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(300).optional().meta({ description: 'nextCursor of the previous page' }),
});
const ListPage = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().min(1).max(300).optional().meta({ description: 'nextCursor of the previous page' }),
});

// The bounded numbers of an enqueued message and of a dequeue: the zod schemas and the fast checks below both use these.
const MESSAGE_INTS = { priority: [0, MAX_PRIORITY], delayMs: [0, MAX_DELAY_MS], maxAttempts: [1, MAX_ATTEMPTS] } as const;
const DEQUEUE_INTS = { max: [1, MAX_BATCH], visibilityMs: [1, MAX_DURATION_MS], waitMs: [0, MAX_WAIT_MS] } as const;

const EnqueueMessage = z
  .object({
    body: z.unknown().meta({ description: 'Any JSON value; at most BATON_MAX_MESSAGE_BYTES of JSON (413 beyond)', example: { orderId: 42 } }),
    priority: boundedInt(MESSAGE_INTS.priority).optional().meta({ description: '0-9, higher is delivered first (default 0); FIFO within a priority' }),
    delayMs: boundedInt(MESSAGE_INTS.delayMs).optional().meta({ description: 'Invisible until now + delayMs (at most 7 days)' }),
    maxAttempts: boundedInt(MESSAGE_INTS.maxAttempts).optional().meta({ description: 'Deliveries before the message goes dead (default: the queue policy)' }),
    dedupId: z.string().min(1).max(128).refine((s) => !/\p{Cs}/u.test(s), 'must be well-formed Unicode (no lone surrogates)').optional().meta({ description: 'A repeat within the dedup window returns the first id and enqueues nothing' }),
  })
  .strict();
const EnqueueBatch = z.object({ messages: z.array(EnqueueMessage).min(1).max(MAX_BATCH) }).strict();

// Fast checks (lib/fast-validation.ts) for the benchmarked bodies; anything else (a dedupId, an unknown field, a
// value out of range) goes to zod, which reports it.
const [BODY, MESSAGES, RECEIPTS] = [['body'], ['messages'], ['receipts']];
/** A message as EnqueueMessage accepts it: a body and in-range numbers (a dedupId goes to zod for its Unicode check). */
const isPlainMessage = (m: unknown): boolean => isObject(m) && m.body !== undefined && onlyIntsIn(m, MESSAGE_INTS, BODY);
const isPlainEnqueue = (b: unknown): boolean => {
  if (!isObject(b)) return false;
  if (!('messages' in b)) return isPlainMessage(b);
  const list = b.messages;
  return onlyIntsIn(b, {}, MESSAGES) && Array.isArray(list) && list.length >= 1 && list.length <= MAX_BATCH && list.every(isPlainMessage);
};
const isPlainDequeue = (b: unknown): boolean => isObject(b) && onlyIntsIn(b, DEQUEUE_INTS);
const isReceipt = (r: unknown) => isStringIn(r, RECEIPT_LENGTH);
const isPlainAck = (b: unknown): boolean => {
  if (!isObject(b)) return false;
  const list = b.receipts;
  return onlyIntsIn(b, {}, RECEIPTS) && Array.isArray(list) && list.length >= 1 && list.length <= MAX_BATCH && list.every(isReceipt);
};

export const EnqueueBody = fast(z.union([EnqueueMessage, EnqueueBatch]).meta({ example: { body: { orderId: 42 }, priority: 5 } }), isPlainEnqueue);
export const DequeueBody = fast(
  z
    .object({
      max: boundedInt(DEQUEUE_INTS.max).optional().meta({ description: 'At most this many messages (default 1)' }),
      visibilityMs: boundedInt(DEQUEUE_INTS.visibilityMs).optional().meta({ description: 'Invisible to others this long (capped)' }),
      waitMs: boundedInt(DEQUEUE_INTS.waitMs).optional().meta({ description: 'Long poll up to this long (default 0)' }),
    })
    .strict()
    .nullish()
    .meta({ example: { max: 10, visibilityMs: 30000, waitMs: 20000 } }),
  isPlainDequeue,
);
export const AckBody = fast(z.object({ receipts: z.array(Receipt).min(1).max(MAX_BATCH) }).strict(), isPlainAck);

const Delivered = z.object({
  id: z.string(),
  receipt: z.string(),
  body: z.unknown(),
  attempts: z.number().int().describe('This delivery is attempt number n (1 = first)'),
  priority: z.number().int(),
  enqueuedAt: z.iso.datetime(),
});
const Depth = {
  ready: z.number().int(),
  delayed: z.number().int(),
  inflight: z.number().int(),
  dead: z.number().int(),
};
const Policy = z.object({
  visibilityMs: z.number().int(),
  maxAttempts: z.number().int(),
  backoffBaseMs: z.number().int(),
  backoffMaxMs: z.number().int(),
  retentionMs: z.number().int().nullable(),
  dedupWindowMs: z.number().int(),
});
const PolicyInput = z
  .object({
    visibilityMs: z.number().int().min(1).max(MAX_DURATION_MS).optional().meta({ description: 'Default visibility timeout (capped by BATON_QUEUE_MAX_VISIBILITY_MS)' }),
    maxAttempts: z.number().int().min(1).max(MAX_ATTEMPTS).optional().meta({ description: 'Default deliveries before a message goes dead' }),
    backoffBaseMs: z.number().int().min(0).max(MAX_DURATION_MS).optional().meta({ description: 'Nack backoff: base * 2^(attempts-1), with jitter' }),
    backoffMaxMs: z.number().int().min(0).max(MAX_DURATION_MS).optional().meta({ description: 'Nack backoff ceiling' }),
    retentionMs: z.number().int().min(1000).max(MAX_DURATION_MS).optional().meta({ description: 'Messages older than this are discarded instead of delivered; dead letters older than this are forgotten' }),
    dedupWindowMs: z.number().int().min(0).max(MAX_DURATION_MS).optional().meta({ description: 'How long a dedupId is remembered (0 = no dedup)' }),
  })
  .strict()
  .meta({ example: { visibilityMs: 60000, maxAttempts: 5, backoffBaseMs: 1000, backoffMaxMs: 60000 } });
const QueueInfo = z.object({
  name: z.string(),
  ...Depth,
  oldestReadyAgeMs: z.number().int().nullable(),
  enqueued: z.number().int(),
  acked: z.number().int(),
  deadLettered: z.number().int(),
  redriven: z.number().int(),
  createdAt: z.iso.datetime(),
  policy: Policy,
});

const queuesRoutes: FastifyPluginAsyncZod = async (app) => {
  const registry = app.metrics.registry;
  const messagesTotal = new Counter({
    name: 'baton_queue_messages_total',
    help: 'Queue messages by operation',
    labelNames: ['op'] as const,
    registers: [registry],
  });
  const ops: MessageOp[] = ['enqueued', 'delivered', 'acked', 'nacked', 'dead', 'redriven', 'visibility_expired', 'released', 'dropped'];
  const messagesOf = fastCounter(messagesTotal);
  // Each op's series resolved once (every series exists from the start, at 0): no label object per message.
  const byOp = new Map(ops.map((op) => [op, messagesOf({ op })]));
  const service = createQueueService({
    redis: app.redis,
    keys: app.keys,
    notifier: app.notifier,
    config: app.config,
    metrics: { messages: (op, n) => (byOp.get(op) ?? messagesOf({ op })).inc(n) },
  });
  new Gauge({
    name: 'baton_queue_long_poll_waiters',
    help: 'Dequeue requests parked in a long poll',
    registers: [registry],
    collect() {
      this.set(service.longPollWaiters());
    },
  });
  const topN = app.config.queues.metricsTopN;
  new Gauge({
    name: 'baton_queue_depth',
    help: `Messages per state of the ${topN} deepest queues (BATON_QUEUE_METRICS_TOP_N), computed at scrape time`,
    labelNames: ['tenant', 'queue', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      try {
        for (const q of await service.topDepths(topN)) {
          for (const state of ['ready', 'delayed', 'inflight', 'dead'] as const) this.set({ tenant: q.tenant, queue: q.queue, state }, q[state]);
        }
      } catch (err) {
        app.log.warn({ err: (err as Error).message }, 'queue depth metrics unavailable');
      }
    },
  });

  const tags = ['queues'];
  const config = { scope: 'queues' as const };

  app.post('/v1/queues/:queue/messages', {
    config,
    schema: {
      tags,
      summary: 'Enqueue one message or a batch',
      description:
        'One message `{ body, priority?, delayMs?, maxAttempts?, dedupId? }` → 201 `{ id }`, or `{ messages: [...] }` (at most 100, stored atomically: all or none) → 201 `{ ids }` in order. ' +
        'Higher priority is delivered first, FIFO within a priority. A dedupId seen within the dedup window returns the first id and stores nothing. ' +
        'A body over BATON_MAX_MESSAGE_BYTES of JSON is a 413. Wakes long polls on this queue.',
      params: QueueParams,
      body: EnqueueBody,
      response: {
        201: z.union([z.object({ id: z.string() }), z.object({ ids: z.array(z.string()) })]).meta({ example: { id: 'k3Jx9aQ2b1c' } }),
        ...problems(413),
      },
    },
  }, async (request, reply) => {
    const { tenant } = request.auth;
    const body = request.body;
    if ('messages' in body) {
      const { ids } = await service.enqueue(tenant, request.params.queue, body.messages);
      return reply.code(201).send({ ids });
    }
    const { ids } = await service.enqueue(tenant, request.params.queue, [body]);
    return reply.code(201).send({ id: ids[0] as string });
  });

  app.post('/v1/queues/:queue/dequeue', {
    config,
    schema: {
      tags,
      summary: 'Receive messages (long poll)',
      description:
        'Takes up to `max` ready messages (highest priority first), each with a fresh `receipt` and `attempts` + 1, invisible to others for `visibilityMs` ' +
        '(default: the queue policy, capped by BATON_QUEUE_MAX_VISIBILITY_MS). With `waitMs` and nothing ready the request waits, and returns as soon as a ' +
        'message is enqueued, a delayed message comes due or a visibility timeout runs out; `messages` is empty when the wait ends. ' +
        'A client that disconnects while waiting takes nothing.',
      params: QueueParams,
      body: DequeueBody,
      response: { 200: z.object({ messages: z.array(Delivered) }), ...problems() },
    },
  }, async (request, reply) => {
    const opts = request.body ?? {};
    const signal = opts.waitMs ? clientGone(reply) : undefined;
    const messages = await service.dequeue(request.auth.tenant, request.params.queue, opts, signal);
    // bodies go out as the JSON text they were stored as (no parse + stringify per message)
    return reply.type('application/json; charset=utf-8').send(messagesJson(messages) as never);
  });

  app.post('/v1/queues/:queue/messages/:id/ack', {
    config,
    schema: {
      tags,
      summary: 'Acknowledge (delete) a message',
      description: '204 and the message is gone for good. 409 `receipt_invalid` when the receipt is stale (the message was redelivered, nacked or acked since); nothing changes then.',
      params: MessageParams,
      body: z.object({ receipt: Receipt }).strict(),
      response: { 204: z.null().describe('Acknowledged'), ...problems(409) },
    },
  }, async (request, reply) => {
    await service.ackOne(request.auth.tenant, request.params.queue, request.params.id, request.body.receipt);
    return noContent(reply);
  });

  app.post('/v1/queues/:queue/ack', {
    config,
    schema: {
      tags,
      summary: 'Acknowledge a batch of messages',
      description: 'Up to 100 receipts in one atomic step; one result per receipt, in order (`acked` false = stale receipt, that message unchanged).',
      params: QueueParams,
      body: AckBody,
      response: {
        200: z.object({
          acked: z.number().int(),
          failed: z.number().int(),
          results: z.array(z.object({ receipt: z.string(), acked: z.boolean(), code: z.literal('receipt_invalid').optional() })),
        }),
        ...problems(),
      },
    },
  }, async (request) => {
    const { receipts } = request.body;
    const ok = await service.ack(request.auth.tenant, request.params.queue, receipts);
    const results = receipts.map((receipt, i) => (ok[i] ? { receipt, acked: true } : { receipt, acked: false, code: 'receipt_invalid' as const }));
    const acked = ok.filter(Boolean).length;
    return { acked, failed: receipts.length - acked, results };
  });

  app.post('/v1/queues/:queue/messages/:id/nack', {
    config,
    schema: {
      tags,
      summary: 'Give a message back for a retry',
      description:
        'Retried after `delayMs`, or after exponential backoff with jitter from the queue policy (base * 2^(attempts-1), capped, half of it random). ' +
        'Once the message has used `maxAttempts` deliveries it goes to the dead letters instead (`outcome: dead`). `error` is kept as its last error.',
      params: MessageParams,
      body: z
        .object({
          receipt: Receipt,
          delayMs: z.number().int().min(0).max(MAX_DELAY_MS).optional(),
          error: z.string().max(8192).optional().meta({ description: 'Why it failed (shown in the dead letters)' }),
        })
        .strict(),
      response: {
        200: z.object({ outcome: z.enum(['retry', 'dead']), nextAttemptAt: z.iso.datetime().optional() }),
        ...problems(409),
      },
    },
  }, async (request) => {
    const { id, queue } = request.params;
    return service.nack(request.auth.tenant, queue, id, request.body);
  });

  app.post('/v1/queues/:queue/messages/:id/extend', {
    config,
    schema: {
      tags,
      summary: 'Extend the visibility timeout (heartbeat)',
      description: 'The message stays invisible until now + visibilityMs (capped by BATON_QUEUE_MAX_VISIBILITY_MS). 409 `receipt_invalid` when stale.',
      params: MessageParams,
      body: z.object({ receipt: Receipt, visibilityMs: z.number().int().min(1).max(MAX_DURATION_MS) }).strict(),
      response: { 200: z.object({ id: z.string(), visibleAt: z.iso.datetime() }), ...problems(409) },
    },
  }, async (request) => {
    const { id, queue } = request.params;
    return service.extend(request.auth.tenant, queue, id, request.body.receipt, request.body.visibilityMs);
  });

  app.get('/v1/queues', {
    config,
    schema: {
      tags,
      summary: "The tenant's queues with their depths",
      querystring: ListPage,
      response: {
        200: z.object({ queues: z.array(z.object({ name: z.string(), ...Depth })), nextCursor: z.string().optional() })
          .meta({ example: { queues: [{ name: 'orders', ready: 12, delayed: 3, inflight: 2, dead: 0 }] } }),
        ...problems(),
      },
    },
  }, async (request) => service.list(request.auth.tenant, request.query));

  app.get('/v1/queues/:queue', {
    config,
    schema: {
      tags,
      summary: 'Depths, totals and policy of a queue',
      description: '404 for a queue that was never used (no enqueue, no policy) or was deleted.',
      params: QueueParams,
      response: { 200: QueueInfo, ...problems(404) },
    },
  }, async (request) => service.info(request.auth.tenant, request.params.queue));

  app.put('/v1/queues/:queue', {
    config,
    schema: {
      tags,
      summary: 'Set the queue policy',
      description: 'Replaces the policy (fields left out fall back to the server defaults) and creates the queue if needed. `maxAttempts` applies to messages enqueued from now on (each message keeps the value it was enqueued with); the other fields apply to every later dequeue, nack and enqueue.',
      params: QueueParams,
      body: PolicyInput,
      response: { 200: z.object({ name: z.string(), policy: Policy }), ...problems() },
    },
  }, async (request) => {
    const policy = await service.setPolicy(request.auth.tenant, request.params.queue, request.body);
    return { name: request.params.queue, policy };
  });

  app.delete('/v1/queues/:queue', {
    config,
    schema: {
      tags,
      summary: 'Delete a queue and everything in it',
      description: 'Ready, delayed, in-flight and dead messages, totals, policy and dedup memory; 204 whether or not it existed.',
      params: QueueParams,
      response: { 204: z.null().describe('Deleted'), ...problems() },
    },
  }, async (request, reply) => {
    await service.purge(request.auth.tenant, request.params.queue);
    return noContent(reply);
  });

  app.get('/v1/queues/:queue/dead', {
    config,
    schema: {
      tags,
      summary: 'Dead letters (paged)',
      description: 'Oldest death first, with attempts, last error and the reason. Pass `nextCursor` as `cursor` for the next page.',
      params: QueueParams,
      querystring: Page,
      response: {
        200: z.object({
          messages: z.array(
            z.object({
              id: z.string(),
              body: z.unknown(),
              attempts: z.number().int(),
              maxAttempts: z.number().int(),
              priority: z.number().int(),
              enqueuedAt: z.iso.datetime(),
              deadAt: z.iso.datetime(),
              lastError: z.string().nullable(),
              reason: z.string().nullable(),
            }),
          ),
          nextCursor: z.string().optional(),
        }),
        ...problems(),
      },
    },
  }, async (request) => service.deadLetters(request.auth.tenant, request.params.queue, request.query));

  app.post('/v1/queues/:queue/dead/redrive', {
    config,
    schema: {
      tags,
      summary: 'Move dead letters back to ready',
      description: 'All of them (no body or no `ids`), or the listed ids (at most 100); attempts start again from 0. Ids that are not dead are skipped.',
      params: QueueParams,
      body: z.object({ ids: z.array(MessageId).max(MAX_BATCH).optional() }).strict().nullish(),
      response: { 200: z.object({ redriven: z.number().int() }), ...problems() },
    },
  }, async (request) => ({
    redriven: await service.redrive(request.auth.tenant, request.params.queue, request.body?.ids),
  }));

  app.delete('/v1/queues/:queue/dead', {
    config,
    schema: {
      tags,
      summary: 'Purge the dead letters',
      params: QueueParams,
      response: { 200: z.object({ purged: z.number().int() }), ...problems() },
    },
  }, async (request) => ({ purged: await service.purgeDead(request.auth.tenant, request.params.queue) }));
};

export default queuesRoutes;
