// The two references every benchmark run measures first, in the same setup as Baton:
//   bare  — a Fastify 5 route returning a constant (the ceiling of any Fastify service on this machine);
//   proxy — a thin Fastify + ioredis server doing GET and SET of one key, nothing else (what a naive
//           service costs; Baton's auth, tenancy, validation, metrics and headers are measured against it).
// A third server, for reading the targets rather than as a target itself:
//   naive — Baton's own lock acquire/release, enqueue, dequeue, ack and cache set Lua scripts and its cache value format
//           (ETag, content type and bytes packed in one string; a PUT's body checked as JSON) behind bare
//           Fastify routes (same paths and bodies): no auth, tenancy, validation, metrics, request id or error
//           documents. Also a task submit: a BullMQ job of the same shape as Baton's (prioritized, its own id,
//           kept for the retention) for a no-op Worker in the same process. Its writes to Redis are coalesced
//           per loop turn as Baton's are (src/redis/coalesce.ts, same batch bound), and commands with a Buffer are
//           encoded as Baton encodes them (src/redis/fast-writable.ts), so the transport is Baton's too. What the
//           operation itself costs on this machine, i.e. the ceiling of any service that does it over HTTP the way
//           Baton does.
// Run as: tsx bench/references.ts bare|proxy|naive <port> [redisUrl] [naive: keyPrefix tenant, as Baton's]
// As Baton's entry does (src/pin-tick-object.ts), so that the ratios compare like with like.
import '../src/pin-tick-object.js';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { pack, unpack } from '../src/cache/service.js';
import { loadConfig } from '../src/config.js';
import { randomToken } from '../src/ids.js';
import { deliveredFrom, messagesJson } from '../src/queues/service.js';
import { newJobId, taskJobOptions } from '../src/tasks/service.js';
import { coalesceWrites } from '../src/redis/coalesce.js';
import { useFastCommandEncoding } from '../src/redis/fast-writable.js';
import { useSharedScriptCommand } from '../src/redis/shared-script-command.js';
import { createKeys } from '../src/redis/keys.js';
import { ECHO_QUEUE, NAIVE_TASK_PREFIX } from './types.js';

const [kind, portArg, redisUrl, keyPrefix = 'naive', tenant = 'naive'] = process.argv.slice(2);
const app = Fastify({ logger: false });

if (kind === 'bare') {
  app.get('/', async () => ({ status: 'ok' }));
} else if (kind === 'naive') {
  // Baton's transport: its command encoding and its one class for every script's commands.
  useFastCommandEncoding();
  useSharedScriptCommand();
  const redis = new Redis(redisUrl ?? 'redis://127.0.0.1:6379', { protocol: 2 });
  const maxWrites = Number(process.env.REDIS_COALESCE_MAX_WRITES ?? 16);
  coalesceWrites(redis, maxWrites);
  const lua = (file: string) => readFileSync(new URL(`../src/${file}`, import.meta.url), 'utf8');
  redis.defineCommand('naiveAcquire', { numberOfKeys: 3, lua: lua('locks/lua/acquire.lua') });
  redis.defineCommand('naiveRelease', { numberOfKeys: 2, lua: lua('locks/lua/release.lua') });
  redis.defineCommand('naiveEnqueue', { numberOfKeys: 9, lua: lua('queues/lua/enqueue.lua') });
  redis.defineCommand('naiveDequeue', { numberOfKeys: 9, lua: lua('queues/lua/dequeue.lua') });
  redis.defineCommand('naiveAck', { numberOfKeys: 6, lua: lua('queues/lua/ack.lua') });
  redis.defineCommand('naiveCacheSet', { numberOfKeys: 2, lua: lua('cache/lua/set.lua') });
  // Baton's own key layout (and hash tags): the scripts find their keys where Baton puts them. With Baton's
  // prefix and tenant (run.ts passes them) the enqueue case writes into the same deep queue as Baton's.
  const keys = createKeys(keyPrefix);
  type Reply = (string | number)[];
  const call = redis as unknown as Record<'naiveAcquire' | 'naiveRelease' | 'naiveEnqueue' | 'naiveDequeue' | 'naiveAck' | 'naiveCacheSet', (...args: (string | number | Buffer)[]) => Promise<Reply>>;
  app.post<{ Params: { name: string }; Body: { ttlMs: number } }>('/v1/locks/:name/acquire', async (req, reply) => {
    const { name } = req.params;
    const { ttlMs } = req.body;
    const l = keys.locks;
    const r = await call.naiveAcquire(l.lock(tenant, name), l.fence(tenant, name), l.lockWaiting(tenant, name), randomUUID(), ttlMs, '', 'take', 0);
    if (r[0] === 0) return reply.code(409).send({ ttlMs: r[1] });
    return { name, token: r[1], fence: r[2], ttlMs, expiresAt: new Date(Number(r[4])).toISOString() };
  });
  app.post<{ Params: { name: string }; Body: { token: string } }>('/v1/locks/:name/release', async (req, reply) => {
    const { name } = req.params;
    const r = await call.naiveRelease(keys.locks.lock(tenant, name), keys.locks.lockWaiting(tenant, name), req.body.token, keys.event(tenant, 'locks', name));
    if (r[0] !== 1) return reply.code(409).send({});
    return { released: true, remaining: r[1] };
  });
  let seq = 0;
  const idPrefix = randomUUID().slice(0, 8);
  // The queue defaults Baton runs with (the same environment): default and maximum visibility, attempts, dedup window.
  // As development: production's checks (API keys, REDIS_URL) are about Baton, not these bare routes, and would
  // stop the naive server when the bench runs from a shell with NODE_ENV=production.
  const queueConfig = loadConfig({ ...process.env, NODE_ENV: 'development' }).queues;
  // The queue cycle: enqueue (one message or a batch), dequeue and batch ack, each one script call as Baton's.
  type MessageBody = { body: unknown };
  app.post<{ Params: { queue: string }; Body: MessageBody | { messages: MessageBody[] } }>('/v1/queues/:queue/messages', async (req, reply) => {
    const k = keys.queues.of(tenant, req.params.queue);
    const batch = 'messages' in req.body ? req.body.messages : [req.body];
    const texts = batch.map((m) => JSON.stringify(m.body));
    const specs = JSON.stringify(texts.map((text) => [`${idPrefix}${(seq++).toString(36)}`, 0, 0, 0, '', Buffer.byteLength(text)]));
    const r = await call.naiveEnqueue(
      k.ready, k.delayed, k.body, k.meta, k.stats, k.policy, k.dedup, k.dedupExp, k.polling,
      queueConfig.defaultMaxAttempts, queueConfig.dedupWindowMs, specs, texts.join(''), keys.event(tenant, 'queues', req.params.queue),
    );
    const ids = r.slice(2).map(String);
    return reply.code(201).send('messages' in req.body ? { ids } : { id: ids[0] });
  });
  app.post<{ Params: { queue: string }; Body: { max?: number; visibilityMs?: number } }>('/v1/queues/:queue/dequeue', async (req, reply) => {
    const k = keys.queues.of(tenant, req.params.queue);
    const r = await call.naiveDequeue(
      k.ready, k.delayed, k.inflight, k.dead, k.body, k.meta, k.stats, k.policy, k.polling,
      req.body.max ?? 1, req.body.visibilityMs ?? 0, queueConfig.defaultVisibilityMs, queueConfig.maxVisibilityMs, randomToken(9), 0,
    );
    return reply.type('application/json; charset=utf-8').send(messagesJson(deliveredFrom(r)));
  });
  app.post<{ Params: { queue: string }; Body: { receipts: string[] } }>('/v1/queues/:queue/ack', async (req) => {
    const k = keys.queues.of(tenant, req.params.queue);
    const { receipts } = req.body;
    const r = await call.naiveAck(k.ready, k.delayed, k.inflight, k.body, k.meta, k.stats, receipts.join(' '));
    const results = receipts.map((receipt, i) => (r[i] === 1 ? { receipt, acked: true } : { receipt, acked: false, code: 'receipt_invalid' }));
    const acked = results.filter((x) => x.acked).length;
    return { acked, failed: receipts.length - acked, results };
  });
  // Task submit → in-process no-op handler: Baton's job id and BullMQ job options (retention of Baton's default,
  // 24 h), under a prefix of its own (Baton's idle handler workers must not take these jobs). The bench counts
  // completions under NAIVE_TASK_PREFIX.
  const taskConnection = (blocking: boolean) => {
    const c = new Redis(redisUrl ?? 'redis://127.0.0.1:6379', { protocol: 2, maxRetriesPerRequest: blocking ? null : 20 });
    coalesceWrites(c, maxWrites);
    return c;
  };
  const taskQueue = new Queue(ECHO_QUEUE, { connection: taskConnection(false), prefix: NAIVE_TASK_PREFIX });
  new Worker(ECHO_QUEUE, async (job) => job.data.payload ?? null, {
    connection: taskConnection(true), prefix: NAIVE_TASK_PREFIX, concurrency: Number(process.env.BATON_TASK_CONCURRENCY ?? 32),
  });
  const jobOptions = taskJobOptions({}, 86_400);
  app.post<{ Body: { type: string; payload?: unknown } }>('/v1/tasks', async (req, reply) => {
    const jobId = newJobId();
    await taskQueue.add(req.body.type, { payload: req.body.payload }, { ...jobOptions, jobId });
    return reply.code(202).send({ id: jobId });
  });
  // The cache's single-key GET and PUT: the value format, the JSON check of a PUT and its lease-invalidating
  // script are the operation's own; Baton adds auth, tenancy, validation, metrics and the request id.
  await app.register(async (cache) => {
    cache.removeAllContentTypeParsers();
    cache.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    cache.get<{ Params: { key: string } }>('/v1/cache/:key', async (req, reply) => {
      const v = await redis.getBuffer(keys.cache.value(tenant, req.params.key));
      if (v === null) return reply.code(404).send();
      const entry = unpack(v);
      reply.header('cache-status', 'hit').header('etag', entry.etag);
      return reply.type(entry.contentType).send(entry.body);
    });
    cache.put<{ Params: { key: string } }>('/v1/cache/:key', async (req, reply) => {
      const body = req.body as Buffer;
      JSON.parse(body.toString('utf8'));
      const { key } = req.params;
      const packed = pack(body, 'application/json', 0);
      await call.naiveCacheSet(keys.cache.value(tenant, key), keys.cache.lease(tenant, key), packed, 0, '', keys.event(tenant, 'cache', key));
      return reply.code(204).send();
    });
  });
} else {
  const redis = new Redis(redisUrl ?? 'redis://127.0.0.1:6379', { protocol: 2 });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.get('/kv', async (_req, reply) => {
    const v = await redis.getBuffer('proxy:k');
    if (v === null) return reply.code(404).send();
    return reply.type('application/json').send(v);
  });
  app.put('/kv', async (req, reply) => {
    await redis.set('proxy:k', req.body as Buffer);
    return reply.code(204).send();
  });
}

await app.listen({ port: Number(portArg), host: '127.0.0.1' });
process.stdout.write('READY\n');
