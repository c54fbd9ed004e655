// Shared bits of the queue tests (not a test file itself: tap includes only *.test.ts).
import type { FastifyInstance } from 'fastify';
import { createQueueService, type QueueService } from '../../src/queues/service.js';

/** A queue service on the app's Redis connection, keys and notifier (service-level tests, no HTTP). */
export function serviceOf(app: FastifyInstance): QueueService {
  return createQueueService({ redis: app.redis, keys: app.keys, notifier: app.notifier, config: app.config });
}

/** Resolve once `cond` holds (checked every few ms), or fail after `timeoutMs`. For states without an event. */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
