// The one place where a BullMQ job's state becomes a Celery-like task state. Everything that shows a task
// (GET /v1/tasks/{id}, the list, the event stream) goes through toTaskView().

export const TASK_STATES = ['PENDING', 'STARTED', 'PROGRESS', 'RETRY', 'SUCCESS', 'FAILURE', 'REVOKED'] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const FINAL_STATES: ReadonlySet<TaskState> = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);

/** failedReason of a job failed by a revoke (the job then answers REVOKED, not FAILURE). */
export const REVOKED_REASON = 'revoked by request';

export type BullState =
  | 'waiting'
  | 'prioritized'
  | 'delayed'
  | 'active'
  | 'completed'
  | 'failed'
  | 'waiting-children'
  | 'paused'
  | 'unknown';

export interface TaskProgress {
  current: number;
  total: number;
  status?: string;
  /** The attempt (attemptsStarted) this progress belongs to: progress of an earlier attempt is stale. */
  attempt?: number;
}

/** What the mapping needs to know about a job (a BullMQ Job has all of these fields). */
export interface JobSnapshot {
  attemptsMade: number;
  attemptsStarted: number;
  maxAttempts: number;
  progress: unknown;
  returnvalue: unknown;
  failedReason?: string;
  timestamp: number;
  delay: number;
  processedOn?: number;
  finishedOn?: number;
}

export interface RevokedTombstone {
  revokedAt: number;
  createdAt?: number;
}

export interface TaskView {
  id: string;
  type: string;
  state: TaskState;
  /** A human status line. */
  status: string;
  createdAt?: string;
  startedAt?: string;
  finishedAt?: string;
  /** Attempts made so far (failed or finished attempts). */
  attempts: number;
  maxAttempts?: number;
  /** PENDING with a delay: when it becomes runnable. */
  runAt?: string;
  /** RETRY: when the next attempt becomes runnable. */
  nextAttemptAt?: string;
  progress?: { current: number; total: number; status?: string };
  result?: unknown;
  error?: string;
  revokedAt?: string;
}

const iso = (ms: number | undefined) => (ms === undefined || !Number.isFinite(ms) || ms <= 0 ? undefined : new Date(ms).toISOString());

function asProgress(p: unknown, attempt: number): TaskProgress | undefined {
  if (!p || typeof p !== 'object') return undefined;
  const o = p as Record<string, unknown>;
  if (typeof o.current !== 'number' || typeof o.total !== 'number') return undefined;
  if (typeof o.attempt === 'number' && o.attempt !== attempt) return undefined;
  return { current: o.current, total: o.total, ...(typeof o.status === 'string' ? { status: o.status } : {}) };
}

/**
 * Map BullMQ state + attempts + progress to the task view.
 * `nextRunAt`: for waiting/delayed jobs, when the job becomes runnable (delayed set score), if known.
 * `job` undefined + tombstone = a revoked task whose job was removed; both undefined is not a task (404).
 */
export function toTaskView(input: {
  id: string;
  type: string;
  bullState: BullState;
  job?: JobSnapshot;
  nextRunAt?: number;
  revoked?: RevokedTombstone;
}): TaskView | undefined {
  const { id, type, bullState, job, revoked } = input;
  if (!job || bullState === 'unknown') {
    if (!revoked) return undefined;
    return {
      id, type, state: 'REVOKED', status: 'revoked before it ran',
      createdAt: iso(revoked.createdAt), finishedAt: iso(revoked.revokedAt), revokedAt: iso(revoked.revokedAt), attempts: 0,
    };
  }
  const base = {
    id,
    type,
    createdAt: iso(job.timestamp),
    startedAt: iso(job.processedOn),
    attempts: job.attemptsMade,
    maxAttempts: job.maxAttempts,
  };
  const of = `attempt ${Math.max(1, job.attemptsStarted)} of ${job.maxAttempts}`;
  switch (bullState) {
    case 'waiting':
    case 'prioritized':
    case 'paused':
    case 'waiting-children':
    case 'delayed': {
      const due = bullState === 'delayed' ? (input.nextRunAt ?? job.timestamp + job.delay) : undefined;
      if (job.attemptsMade > 0) {
        const at = iso(due);
        return {
          ...base, state: 'RETRY', error: job.failedReason,
          status: `attempt ${job.attemptsMade} of ${job.maxAttempts} failed (${job.failedReason ?? 'error'}); ${at ? `retrying at ${at}` : 'retrying now'}`,
          ...(at ? { nextAttemptAt: at } : {}),
        };
      }
      if (revoked) return { ...base, state: 'REVOKED', status: 'revoked', revokedAt: iso(revoked.revokedAt) };
      const runAt = iso(due);
      return { ...base, state: 'PENDING', status: runAt ? `scheduled to run at ${runAt}` : 'waiting for a worker', ...(runAt ? { runAt } : {}) };
    }
    case 'active': {
      if (revoked) return { ...base, state: 'REVOKED', status: 'revoked; the worker is told to stop', revokedAt: iso(revoked.revokedAt) };
      const p = asProgress(job.progress, job.attemptsStarted);
      if (p) {
        return { ...base, state: 'PROGRESS', progress: p, status: p.status ?? `${p.current} of ${p.total} (${of})` };
      }
      return { ...base, state: 'STARTED', status: `running (${of})` };
    }
    case 'completed':
      return { ...base, state: 'SUCCESS', status: 'completed', finishedAt: iso(job.finishedOn), result: job.returnvalue ?? null };
    case 'failed':
      if (job.failedReason === REVOKED_REASON || revoked) {
        return { ...base, state: 'REVOKED', status: 'revoked while running', finishedAt: iso(job.finishedOn), revokedAt: iso(revoked?.revokedAt ?? job.finishedOn) };
      }
      return {
        ...base, state: 'FAILURE', finishedAt: iso(job.finishedOn), error: job.failedReason ?? 'failed',
        status: `failed after ${job.attemptsMade} attempt${job.attemptsMade === 1 ? '' : 's'}: ${job.failedReason ?? 'error'}`,
      };
  }
}

/** Which BullMQ states may hold tasks in a given task state (for listing). */
export function bullStatesFor(state: TaskState | undefined): BullState[] {
  switch (state) {
    case 'PENDING':
    case 'RETRY':
      return ['waiting', 'prioritized', 'delayed'];
    case 'STARTED':
    case 'PROGRESS':
      return ['active'];
    case 'SUCCESS':
      return ['completed'];
    case 'FAILURE':
    case 'REVOKED':
      return ['failed'];
    default:
      return ['active', 'waiting', 'prioritized', 'delayed', 'completed', 'failed'];
  }
}
