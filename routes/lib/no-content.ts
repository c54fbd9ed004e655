// 204 No Content without a payload. Fastify's send() with none takes its short path; send(null), which the
// zod-typed replies ask for, is serialized to "null" and then stripped again for a 204 (about 0.5 µs of CPU,
// a visible share of a cache PUT).
import type { FastifyReply } from 'fastify';

export function noContent<R>(reply: R): R {
  return (reply as unknown as FastifyReply).code(204).send() as unknown as R;
}
