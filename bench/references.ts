// The two references every benchmark run measures first, in the same setup as Baton:
//   bare  — a Fastify 5 route returning a constant (the ceiling of any Fastify service on this machine);
//   proxy — a thin Fastify + ioredis server doing GET and SET of one key, nothing else (what a naive
//           service costs; Baton's auth, tenancy, validation, metrics and headers are measured against it).
// Run as: tsx bench/references.ts bare|proxy <port> [redisUrl]
import Fastify from 'fastify';
import { Redis } from 'ioredis';

const [kind, portArg, redisUrl] = process.argv.slice(2);
const app = Fastify({ logger: false });

if (kind === 'bare') {
  app.get('/', async () => ({ status: 'ok' }));
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
