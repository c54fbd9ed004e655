// The explicit list of route modules (no autoload): adding an area means adding one line here.
import type { FastifyInstance } from 'fastify';
import healthRoutes from './health.js';

export default async function routes(app: FastifyInstance) {
  await app.register(healthRoutes);
}
