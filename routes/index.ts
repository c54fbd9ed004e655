// The explicit list of route modules (no autoload): adding an area means adding one line here.
import type { FastifyInstance } from 'fastify';
import healthRoutes from './health.js';
import cacheRoutes from './cache.js';
import tasksRoutes from './tasks.js';
import queuesRoutes from './queues.js';
import locksRoutes from './locks.js';

export default async function routes(app: FastifyInstance) {
  await app.register(healthRoutes);
  await app.register(cacheRoutes);
  await app.register(tasksRoutes);
  await app.register(queuesRoutes);
  await app.register(locksRoutes);
}
