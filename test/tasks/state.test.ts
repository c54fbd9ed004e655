// The one BullMQ → Celery state mapping, case by case (pure function, no Redis).
import t from 'tap';
import { REVOKED_REASON, bullStatesFor, toTaskView, type JobSnapshot } from '../../src/tasks/state.js';

const job = (o: Partial<JobSnapshot> = {}): JobSnapshot => ({
  attemptsMade: 0, attemptsStarted: 0, maxAttempts: 3, progress: 0, returnvalue: null, timestamp: 1_700_000_000_000, delay: 0, ...o,
});
const map = (bullState: Parameters<typeof toTaskView>[0]['bullState'], j?: JobSnapshot, extra: object = {}) =>
  toTaskView({ id: 'i', type: 'x', bullState, job: j, ...extra });

t.test('PENDING: waiting, prioritized, and delayed first runs (with runAt)', async (t) => {
  t.equal(map('waiting', job())?.state, 'PENDING');
  t.equal(map('prioritized', job())?.state, 'PENDING');
  const d = map('delayed', job({ delay: 5000 }));
  t.equal(d?.state, 'PENDING');
  t.equal(d?.runAt, new Date(1_700_000_005_000).toISOString());
  t.equal(map('delayed', job(), { nextRunAt: 1_700_000_009_000 })?.runAt, new Date(1_700_000_009_000).toISOString());
  t.equal(map('waiting', job())?.createdAt, new Date(1_700_000_000_000).toISOString());
});

t.test('RETRY: waiting or delayed after a failed attempt, with nextAttemptAt and the last error', async (t) => {
  const r = map('delayed', job({ attemptsMade: 1, attemptsStarted: 1, failedReason: 'boom' }), { nextRunAt: 1_700_000_002_000 });
  t.equal(r?.state, 'RETRY');
  t.equal(r?.error, 'boom');
  t.equal(r?.nextAttemptAt, new Date(1_700_000_002_000).toISOString());
  t.match(r?.status, /attempt 1 of 3 failed \(boom\)/);
  const now = map('waiting', job({ attemptsMade: 1, failedReason: 'boom' }));
  t.equal(now?.state, 'RETRY');
  t.equal(now?.nextAttemptAt, undefined);
});

t.test('STARTED and PROGRESS; progress of an earlier attempt is ignored', async (t) => {
  t.equal(map('active', job({ attemptsStarted: 1, processedOn: 1_700_000_001_000 }))?.state, 'STARTED');
  const p = map('active', job({ attemptsStarted: 2, progress: { current: 2, total: 4, status: 'half', attempt: 2 } }));
  t.equal(p?.state, 'PROGRESS');
  t.same(p?.progress, { current: 2, total: 4, status: 'half' });
  t.equal(p?.status, 'half');
  t.equal(map('active', job({ attemptsStarted: 2, progress: { current: 2, total: 4, attempt: 1 } }))?.state, 'STARTED');
  t.equal(map('active', job({ attemptsStarted: 1, progress: 50 }))?.state, 'STARTED', 'a bare number is not our progress');
});

t.test('SUCCESS, FAILURE, REVOKED', async (t) => {
  const s = map('completed', job({ attemptsMade: 1, returnvalue: { ok: 1 }, finishedOn: 1_700_000_003_000 }));
  t.equal(s?.state, 'SUCCESS');
  t.same(s?.result, { ok: 1 });
  t.equal(s?.finishedAt, new Date(1_700_000_003_000).toISOString());
  const f = map('failed', job({ attemptsMade: 3, failedReason: 'nope' }));
  t.equal(f?.state, 'FAILURE');
  t.equal(f?.error, 'nope');
  t.equal(f?.attempts, 3);
  t.equal(map('failed', job({ failedReason: REVOKED_REASON }))?.state, 'REVOKED');
  t.equal(map('unknown', undefined, { revoked: { revokedAt: 1_700_000_004_000 } })?.state, 'REVOKED');
  t.equal(map('active', job(), { revoked: { revokedAt: 1 } })?.state, 'REVOKED');
  t.equal(map('unknown', undefined), undefined, 'never existed: no view (404)');
});

t.test('bullStatesFor covers each task state', async (t) => {
  t.same(bullStatesFor('SUCCESS'), ['completed']);
  t.same(bullStatesFor('PROGRESS'), ['active']);
  t.ok(bullStatesFor('RETRY').includes('delayed'));
  t.ok(bullStatesFor(undefined).length >= 5);
});

t.end();
