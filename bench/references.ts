// The two references every benchmark run measures first, in the same setup as Baton:
//   bare  — a Fastify 5 route returning a constant (the ceiling of any Fastify service on this machine);
//   proxy — a thin Fastify + ioredis server doing GET and SET of one key, nothing else (what a naive
//           service costs; Baton's auth, tenancy, validation, metrics and headers are measured against it).
// A third server, for reading the targets rather than as a target itself:
//   naive — Baton's own lock acquire/release and enqueue Lua scripts behind bare Fastify routes (same paths and
//           bodies): no auth, tenancy, validation, metrics, request id or error documents. Its writes to Redis are
//           coalesced per loop turn as Baton's are (src/redis/coalesce.ts, same batch bound), so the transport is
//           Baton's too. What the operation itself costs on this machine, i.e. the ceiling of any service that
//           does it over HTTP the way Baton does.
// Run as: tsx bench/references.ts bare|proxy|naive <port> [redisUrl] [naive: keyPrefix tenant, as Baton's]
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { coalesceWrites } from '../src/redis/coalesce.js';
import { createKeys } from '../src/redis/keys.js';

const [kind, portArg, redisUrl, keyPrefix = 'naive', tenant = 'naive'] = process.argv.slice(2);
const app = Fastify({ logger: false });

if (kind === 'bare') {
  app.get('/', async () => ({ status: 'ok' }));
} else if (kind === 'naive') {
  const redis = new Redis(redisUrl ?? 'redis://127.0.0.1:6379', { protocol: 2 });
  coalesceWrites(redis, Number(process.env.REDIS_COALESCE_MAX_WRITES ?? 16));
  const lua = (file: string) => readFileSync(new URL(`../src/${file}`, import.meta.url), 'utf8');
  redis.defineCommand('naiveAcquire', { numberOfKeys: 3, lua: lua('locks/lua/acquire.lua') });
  redis.defineCommand('naiveRelease', { numberOfKeys: 2, lua: lua('locks/lua/release.lua') });
  redis.defineCommand('naiveEnqueue', { numberOfKeys: 9, lua: lua('queues/lua/enqueue.lua') });
  // Baton's own key layout (and hash tags): the scripts find their keys where Baton puts them. With Baton's
  // prefix and tenant (run.ts passes them) the enqueue case writes into the same deep queue as Baton's.
  const keys = createKeys(keyPrefix);
  type Reply = (string | number)[];
  const call = redis as unknown as Record<'naiveAcquire' | 'naiveRelease' | 'naiveEnqueue', (...args: (string | number)[]) => Promise<Reply>>;
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
  app.post<{ Params: { queue: string }; Body: { body: unknown } }>('/v1/queues/:queue/messages', async (req, reply) => {
    const k = keys.queues.of(tenant, req.params.queue);
    const text = JSON.stringify(req.body.body);
    const specs = JSON.stringify([[`${idPrefix}${(seq++).toString(36)}`, 0, 0, 0, '', Buffer.byteLength(text)]]);
    const r = await call.naiveEnqueue(
      k.ready, k.delayed, k.body, k.meta, k.stats, k.policy, k.dedup, k.dedupExp, k.polling,
      5, 300_000, specs, text, keys.event(tenant, 'queues', req.params.queue),
    );
    return reply.code(201).send({ id: String(r[2]) });
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
