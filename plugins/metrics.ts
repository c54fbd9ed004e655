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
    // Histogram). The set is bounded by the route table × methods × statuses in use. Nested maps, not one map
    // keyed by a string built per response: the route and method strings are the same objects every time, so
    // their hashes are cached, while a new key string would be flattened and hashed on every response.
    const children = new Map<string, Map<string, Map<number, FastHistogramChild>>>();
    const childFor = (route: string, method: string, status: number): FastHistogramChild => {
      let byMethod = children.get(route);
      if (byMethod === undefined) children.set(route, (byMethod = new Map()));
      let byStatus = byMethod.get(method);
      if (byStatus === undefined) byMethod.set(method, (byStatus = new Map()));
      let child = byStatus.get(status);
      if (child === undefined) byStatus.set(status, (child = http.child({ route, method, status: String(status) })));
      return child;
    };
    app.addHook('onResponse', (request, reply, done) => {
      childFor(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode).observe(reply.elapsedTime / 1000);
      done();
    });
  },
  { name: 'metrics', dependencies: ['redis'] },
);
