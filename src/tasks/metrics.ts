// Task metrics on the app's registry: transitions by type and state, durations, queue depths per type at
// scrape time (bounded to the most recently used queues) and parked claims. Type labels are bounded too:
// past MAX_TYPE_LABELS distinct types, further ones count as "other".
import { Counter, Gauge, type Registry } from 'prom-client';
import type { TaskMetrics, TasksService } from './service.js';
import type { TaskState } from './state.js';
import { FastHistogram, fastCounter, rememberPairs } from '../metrics/fast.js';

const MAX_TYPE_LABELS = 200;
const GAUGE_QUEUES = 50;

export function createTaskMetrics(registry: Registry): TaskMetrics {
  const seen = new Set<string>();
  const label = (type: string) => {
    if (seen.has(type)) return type;
    if (seen.size >= MAX_TYPE_LABELS) return 'other';
    seen.add(type);
    return type;
  };
  const total = new Counter({
    name: 'baton_tasks_total',
    help: 'Task state transitions made by this instance, by type and state',
    labelNames: ['type', 'state'] as const,
    registers: [registry],
  });
  const duration = new FastHistogram(
    'baton_task_duration_seconds',
    'Run time of finished attempts (start to SUCCESS or FAILURE), by type and state',
    ['type', 'state'] as const,
    [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800],
    registry,
  );
  const transitions = fastCounter(total);
  // Resolved once per (type label, state); the labels stay bounded, so these do too.
  const transitionOf = rememberPairs((type: string, state: TaskState) => transitions({ type, state }));
  const durationOf = rememberPairs((type: string, state: TaskState) => duration.child({ type, state }));
  return {
    transition: (type, state) => transitionOf(label(type), state).inc(),
    duration: (type, state, seconds) => durationOf(label(type), state).observe(Math.max(0, seconds)),
  };
}

export function registerTaskGauges(registry: Registry, service: TasksService) {
  new Gauge({
    name: 'baton_task_jobs',
    help: `Tasks per tenant, type and BullMQ state (waiting, active, delayed, failed), read at scrape time for the ${GAUGE_QUEUES} most recently used queues`,
    labelNames: ['tenant', 'type', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await service.queueCounts(GAUGE_QUEUES).catch(() => []);
      for (const { tenant, type, counts } of rows) {
        this.set({ tenant, type, state: 'waiting' }, (counts.waiting ?? 0) + (counts.prioritized ?? 0));
        this.set({ tenant, type, state: 'active' }, counts.active ?? 0);
        this.set({ tenant, type, state: 'delayed' }, counts.delayed ?? 0);
        this.set({ tenant, type, state: 'failed' }, counts.failed ?? 0);
      }
    },
  });
  new Gauge({
    name: 'baton_task_claims_parked',
    help: 'HTTP worker claims parked waiting for a task',
    registers: [registry],
    collect() {
      this.set(service.parkedClaims());
    },
  });
}
