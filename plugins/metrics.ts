// One prom-client Registry per app instance (two apps in one process never collide): default process
// metrics prefixed baton_, an HTTP duration histogram labelled by route template (never the raw URL),
// method and status, and baton_redis_up. Areas register their own metrics on app.metrics.registry.
import fp from 'fastify-plugin';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { FastHistogram, type FastHistogramChild } from '../src/metrics/fast.js';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: { registry: Registry };
  }
}

export default fp(
  async (app) => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'baton_' });
    const http = new FastHistogram(
      'baton_http_request_duration_seconds',
      'HTTP request duration by route template, method and status',
      ['route', 'method', 'status'] as const,
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registry,
    );
    const redis = app.redis;
    new Gauge({
      name: 'baton_redis_up',
      help: '1 when the command connection to Redis is ready, else 0',
      registers: [registry],
      collect() {
        this.set(redis.status === 'ready' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'baton_waiters',
      help: 'Requests parked on a pub/sub wake-up (cache leases, long polls, claims, the head lock waiter); baton_lock_waiters counts every lock waiter',
      registers: [registry],
      collect() {
        this.set(app.notifier.waiting());
      },
    });
    app.decorate('metrics', { registry });
    // One child per (route, method, status), kept (src/metrics/fast.ts says why this is not prom-client's
    // Histogram). The set is bounded by the route table × methods × statuses in use.
    const children = new Map<string, FastHistogramChild>();
    app.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url ?? 'unmatched';
      const status = reply.statusCode;
      const id = `${request.method} ${status} ${route}`;
      let child = children.get(id);
      if (child === undefined) {
        child = http.child({ route, method: request.method, status: String(status) });
        children.set(id, child);
      }
      child.observe(reply.elapsedTime / 1000);
      done();
    });
  },
  { name: 'metrics', dependencies: ['redis'] },
);
