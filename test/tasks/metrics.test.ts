// Task metrics: transitions and durations count per (type, state), and type labels stay bounded (past 200
// distinct types, further ones count as "other"), also through the per-series cache of the hot path.
import t from 'tap';
import { Registry } from 'prom-client';
import { createTaskMetrics } from '../../src/tasks/metrics.js';

t.test('counts per (type, state); the 201st type and later count as other', async (t) => {
  const registry = new Registry();
  const m = createTaskMetrics(registry);
  for (let i = 0; i < 205; i++) m.transition(`type${i}`, 'PENDING');
  m.transition('type0', 'PENDING');
  m.transition('type0', 'SUCCESS');
  m.transition('type204', 'PENDING'); // past the bound: "other", however often it comes
  m.duration('type0', 'SUCCESS', 0.02);
  m.duration('type0', 'SUCCESS', 2);
  m.duration('type203', 'SUCCESS', 0.001);
  const text = await registry.metrics();
  t.match(text, /baton_tasks_total\{type="type0",state="PENDING"\} 2\n/);
  t.match(text, /baton_tasks_total\{type="type0",state="SUCCESS"\} 1\n/);
  t.match(text, /baton_tasks_total\{type="type199",state="PENDING"\} 1\n/);
  t.notMatch(text, /type="type200"/, 'no label past the bound');
  t.match(text, /baton_tasks_total\{type="other",state="PENDING"\} 6\n/, 'types 200-204, one of them twice');
  t.match(text, /baton_task_duration_seconds_count\{type="type0",state="SUCCESS"\} 2\n/);
  t.match(text, /baton_task_duration_seconds_bucket\{le="0.05",type="type0",state="SUCCESS"\} 1\n/);
  t.match(text, /baton_task_duration_seconds_count\{type="other",state="SUCCESS"\} 1\n/);
});
