// Tasks on BullMQ: one Queue per (tenant, type), created lazily and kept in a bounded LRU; Celery-like states
// (state.ts); HTTP workers through BullMQ's manual processing (getNextJob with our token, extendLock,
// moveToCompleted, moveToFailed) with the stalled-job check running in manual mode; built-in handlers run
// by in-process Workers; revokes, idempotency and schedules kept in Redis.
//
// Connections: every Queue and every manual Worker shares ONE command connection (`redis`, fail-fast, so
// an outage is a 503 at once). Parked claims and event streams wait on the process-wide notifier (no
// connection each). In-process handler Workers share one blocking connection plus one blocking connection
// per (configured tenant, handler type) that BullMQ duplicates for BZPOPMIN.
import { createHash, randomUUID } from 'node:crypto';
import { FlowProducer, Job, Queue, UnrecoverableError, Worker, createRedisBackend, defaultRepeatStrategy, type JobsOptions } from 'bullmq';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { randomToken, sequentialIds } from '../ids.js';
import type { RedisClient } from '../redis/connection.js';
import type { Keys } from '../redis/keys.js';
import type { Notifier } from '../redis/notifier.js';
import { defineScript } from '../redis/scripts.js';
import { createClaimWaiters } from './claim-waiters.js';
import { createMarkedPublisher } from './marked-publisher.js';
import { createStatePublisher } from './state-publisher.js';
import { watchRevokes, type RevokeWatch } from './revoke-watch.js';
import type { HandlerContext, TaskHandler } from './handlers/index.js';
import { FINAL_STATES, REVOKED_REASON, bullStatesFor, toTaskView, type BullState, type RevokedTombstone, type TaskState, type TaskView } from './state.js';

export interface TaskData {
  payload: unknown;
  timeoutMs?: number;
  /** Set by a revoke that could not remove the job (claimed meanwhile, or a schedule's pending run). */
  revoked?: boolean;
}
type TaskJob = Job<TaskData, unknown, string>;
interface ClaimedJob {
  tenant: string;
  id: string;
  type: string;
  job: TaskJob;
  worker: Worker<TaskData, unknown, string>;
}
type ClaimOptions = { waitMs?: number; lockMs?: number };
type FromJobData = { nextJobFromJobData(data: unknown, id: string, token: string): Promise<unknown> };
/** handOut(): the job was revoked and failed as such; the claim looks for another. */
const REVOKED_LOOK_AGAIN = Symbol('revoked: look again');
/** Tasks in one batch submit at most (one transaction). */
export const SUBMIT_BATCH_MAX = 100;
/** Claims remembered for their finish (claimedJobs); beyond it the oldest is forgotten. */
const CLAIMED_JOBS_MAX = 5000;

export interface SubmitInput {
  type: string;
  payload: unknown;
  delayMs?: number;
  priority?: number;
  attempts?: number;
  backoff?: { type: 'fixed' | 'exponential'; delayMs: number };
  timeoutMs?: number;
  idempotencyKey?: string;
}

export interface TaskMetrics {
  transition(type: string, state: TaskState): void;
  duration(type: string, state: TaskState, seconds: number): void;
}

export interface Logger {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface TasksServiceOptions {
  /** The command connection every Queue and manual Worker shares (the service does not close it). */
  redis: RedisClient;
  keys: Keys;
  notifier: Notifier;
  config: Config;
  metrics?: TaskMetrics;
  log?: Logger;
  handlers?: Map<string, TaskHandler>;
  /** Most (tenant, type) queues kept open at once (least recently used are closed). */
  maxQueues?: number;
  /** Lock of a claim without lockMs. */
  defaultLockMs?: number;
  /** Upper bound of the stalled-job check interval (it shrinks to the shortest lockMs seen). */
  stalledIntervalMs?: number;
}

export const CLAIM_MAX_WAIT_MS = 20_000;
/**
 * Life of the claiming marker: longer than any claim's wait, so a claim never needs to extend a marker that
 * another claim set (one SET, no script), and a submit stops publishing within this long after the last
 * claim of the type parked.
 */
const CLAIMING_MARK_MS = CLAIM_MAX_WAIT_MS + 5_000;
export const LOCK_MIN_MS = 100;
export const LOCK_MAX_MS = 3_600_000;
const MAX_SCHEDULES = 1000;

/** The revocation check and the 'started' announcement of an in-process attempt, in one round trip (lua/task-start.lua). */
const taskStart = defineScript<number>({
  name: 'batonTaskStart',
  file: new URL('./lua/task-start.lua', import.meta.url),
  keys: ['revoked', 'watched'] as const,
  args: ['channel', 'message'] as const,
});

/** An entry being opened or open, where the service keeps it. */
interface Slot {
  tenant: string;
  type: string;
  p: Promise<Entry>;
}

interface Entry {
  tenant: string;
  type: string;
  queue: Queue<TaskData, unknown, string>;
  worker?: Worker<TaskData, unknown, string>;
}

export interface ClaimResult {
  task: { id: string; type: string; payload: unknown; attempt: number };
  token: string;
  lockMs: number;
  expiresAt: string;
}

export interface ScheduleInput {
  cron?: string;
  everyMs?: number;
  tz?: string;
  task: { type: string; payload: unknown; priority?: number; attempts?: number; backoff?: { type: 'fixed' | 'exponential'; delayMs: number } };
}

export interface ScheduleView extends ScheduleInput {
  id: string;
  nextRunAt?: string;
}

/** The client of a claim or of a finish with `next` (routes/lib/client-gone.ts): its signal is made only if a claim parks. */
export interface WaitingClient {
  readonly gone: boolean;
  readonly signal: AbortSignal;
}

export type StreamItem = { kind: 'state'; id: string; view: TaskView } | { kind: 'keepalive' };

const notFound = (what = 'task') => new AppError('not_found', `No such ${what}`);
const revokedError = () => new AppError('task_revoked', 'The task was revoked: stop working on it');
const tokenInvalid = (detail = 'The token is stale or belongs to another claim: the task was not changed') =>
  new AppError('task_token_invalid', detail);

/** Opaque task ids: base64url of "<type>|<jobId>" ('|' never occurs in a type). */
export function encodeTaskId(type: string, jobId: string): string {
  return Buffer.from(`${type}|${jobId}`).toString('base64url');
}
export function decodeTaskId(id: string): { type: string; jobId: string } | undefined {
  if (!/^[A-Za-z0-9_-]{3,1024}$/.test(id)) return undefined;
  const raw = Buffer.from(id, 'base64url').toString('utf8');
  const bar = raw.indexOf('|');
  if (bar < 1) return undefined;
  const type = raw.slice(0, bar);
  const jobId = raw.slice(bar + 1);
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(type) || !jobId || /[\s|]/.test(jobId)) return undefined;
  return { type, jobId };
}

/** BullMQ's lock-token errors (missing lock, lock mismatch, not active) mean a stale or foreign token. */
function isLockError(err: unknown): boolean {
  return err instanceof Error && /Missing lock|Lock mismatch|is not in the active state|Missing key for job/.test(err.message);
}

/** The token carries the claim's lock duration so progress (which heartbeats) knows how far to extend. */
function tokenLockMs(token: string, fallback: number): number {
  const m = /\.(\d{1,9})$/.exec(token);
  const n = m ? Number(m[1]) : NaN;
  return Number.isFinite(n) && n >= LOCK_MIN_MS && n <= LOCK_MAX_MS ? n : fallback;
}

function bytes(v: unknown): number {
  return Buffer.byteLength(JSON.stringify(v ?? null));
}

type JobInput = Omit<SubmitInput, 'type' | 'payload' | 'idempotencyKey' | 'timeoutMs'>;

/** The BullMQ options of a task's job (exported for the benchmark's naive server, which adds the same job). */
export function taskJobOptions(input: JobInput, retentionS: number): JobsOptions {
  const attempts = input.attempts ?? 1;
  // A fresh object the caller may add to; built by assignment, not spreads (newTask runs on every submit).
  const opts: JobsOptions = {
    attempts,
    // API priority 0..9, higher first; BullMQ: lower first. Every job is prioritized so the order holds.
    priority: 10 - (input.priority ?? 0),
    removeOnComplete: { age: retentionS },
    removeOnFail: { age: retentionS },
  };
  if (attempts > 1) opts.backoff = { type: input.backoff?.type ?? 'exponential', delay: input.backoff?.delayMs ?? 1000 };
  return opts;
}

/** A fresh BullMQ job id for a task: opaque, unique across instances and restarts (`t`, 96 random bits, a counter). */
export const newJobId = sequentialIds('t', 12);

export function createTasksService(o: TasksServiceOptions) {
  const { redis, keys, notifier, config } = o;
  const retentionMs = config.tasks.retentionMs;
  const retentionS = Math.max(1, Math.ceil(retentionMs / 1000));
  const maxQueues = o.maxQueues ?? 512;
  const defaultLockMs = o.defaultLockMs ?? 30_000;
  const stalledCeiling = o.stalledIntervalMs ?? 30_000;
  const handlers = o.handlers ?? new Map<string, TaskHandler>();
  /** The open (tenant, type) queues, least recently used first (a Set keeps insertion order). */
  const entries = new Set<Slot>();
  /** The same slots by tenant, then type. */
  const lookup = new Map<string, Map<string, Slot>>();
  /** The slot used last: using it again needs no reorder. */
  let newest: Slot | undefined;
  const inProcess: Worker<TaskData, unknown, string>[] = [];
  /** What the in-process attempts of a (tenant, type) hear of revokes (revoke-watch.ts). */
  const revokeWatches: RevokeWatch[] = [];
  let blocking: RedisClient | undefined;
  /** The connections BullMQ duplicates from `blocking` (one per handler Worker), so a stuck close can cut them. */
  const blockingCopies = new Set<{ disconnect(): void }>();
  let closed = false;
  const instance = randomUUID().slice(0, 8);
  const waiters = createClaimWaiters(notifier, instance);
  const publishIfMarked = createMarkedPublisher(redis);
  /**
   * Jobs this instance handed out by claims, by token, so the worker's complete or fail skips reloading the job
   * (an HGETALL and the tombstone GET before BullMQ's finishing script: the revoke check moves to after a
   * refusal, see refusal()). Taken out on first use; first in, first out beyond CLAIMED_JOBS_MAX, which forgets
   * the claims of workers that vanished. The payload is dropped: a finish needs the job's options, not its data.
   * A finish on another instance, or after a restart, loads the job as before.
   */
  const claimedJobs = new Map<string, ClaimedJob>();
  /** Adds a batch of tasks in one transaction (submitBatch); made on first use. */
  let flows: FlowProducer | undefined;

  const typeChannel = (tenant: string, type: string) => keys.event(tenant, 'tasks', type);
  /**
   * A task of this type became claimable: wake one local parked claim now, and one on every other instance
   * over pub/sub, but only while a claim of the type may be parked somewhere (the claiming marker). Types run
   * by a built-in handler are never claimed over HTTP (claim refuses them): nobody to wake at all.
   */
  const announce = (tenant: string, type: string) => {
    if (handlers.has(type)) return;
    const channel = typeChannel(tenant, type);
    waiters.wakeOne(channel);
    publishIfMarked(keys.tasks.claiming(tenant, type), channel, instance);
  };
  const taskChannel = (tenant: string, id: string) => keys.event(tenant, 'task', id);
  /** Every revoke of a type's tasks publishes the job id here, for in-process attempts (revoke-watch.ts). */
  const revokesChannel = (tenant: string, type: string) => keys.event(tenant, 'revokes', type);
  const publish = (channel: string, message: string) => {
    redis.publish(channel, message).catch(() => undefined);
  };
  /** A state change of a task, for its event streams: published only while one watches (see events()). */
  const publishTaskState = createStatePublisher({ redis, keys, publishIfMarked, channelOf: taskChannel, idOf: encodeTaskId });
  const bullOpts = (tenant: string) => ({ connection: redis as never, prefix: keys.tasks.bullPrefix(tenant), skipWaitingForReady: true });

  async function openEntry(tenant: string, type: string): Promise<Entry> {
    const queue = new Queue<TaskData, unknown, string>(keys.tasks.queueName(type), bullOpts(tenant));
    queue.on('error', () => undefined);
    try {
      await queue.waitUntilReady();
      await redis.sadd(keys.tasks.types(tenant), type);
    } catch (err) {
      await queue.close().catch(() => undefined);
      throw err;
    }
    return { tenant, type, queue };
  }

  /**
   * The open queue of (tenant, type), opened on first use. Not async, and found through `lookup` without building
   * a key string: it runs on every submit and finish, where a `tenant\0type` key, the LRU reorder and the async
   * function's own promise were about 2 % of Baton's CPU per in-process task (CPU profile, session 19).
   */
  function entry(tenant: string, type: string): Promise<Entry> {
    if (closed) return Promise.reject(new AppError('shutting_down', 'The server is shutting down'));
    const hit = lookup.get(tenant)?.get(type);
    if (hit) {
      if (hit !== newest) {
        entries.delete(hit);
        entries.add(hit);
        newest = hit;
      }
      return hit.p;
    }
    const slot: Slot = { tenant, type, p: openEntry(tenant, type) };
    entries.add(slot);
    newest = slot;
    let byType = lookup.get(tenant);
    if (!byType) lookup.set(tenant, (byType = new Map()));
    byType.set(type, slot);
    slot.p.catch(() => forget(slot));
    while (entries.size > maxQueues) {
      const oldest = entries.values().next().value as Slot;
      forget(oldest);
      oldest.p.then(closeEntry, () => undefined);
    }
    return slot.p;
  }

  /** Drops a slot (evicted, or its queue failed to open); a newer slot of the same (tenant, type) stays. */
  function forget(slot: Slot) {
    if (!entries.delete(slot)) return;
    const byType = lookup.get(slot.tenant);
    if (byType?.get(slot.type) === slot) byType.delete(slot.type);
    if (byType?.size === 0) lookup.delete(slot.tenant);
    if (newest === slot) newest = undefined;
  }

  async function closeEntry(e: Entry) {
    await bounded(e.worker?.close(true));
    await bounded(e.queue.close(), () => e.queue.disconnect());
  }

  /** The manual Worker of a queue: no processor, no blocking connection, stalled check running. */
  async function manualWorker(e: Entry, lockMs: number): Promise<Worker<TaskData, unknown, string>> {
    if (!e.worker) {
      const w = new Worker<TaskData, unknown, string>(
        e.queue.name,
        undefined,
        { ...bullOpts(e.tenant), autorun: false, lockDuration: defaultLockMs, stalledInterval: stalledCeiling, maxStalledCount: 1 },
        (name, opts) => createRedisBackend(name, opts, {}),
      );
      w.on('error', (err) => o.log?.debug({ err: err.message, type: e.type }, 'task worker error'));
      w.on('stalled', (jobId) => {
        announce(e.tenant, e.type);
        publishTaskState(e.tenant, e.type, jobId, 'stalled');
      });
      e.worker = w;
      await w.startStalledCheckTimer();
    }
    // A lapsed lock must be noticed within about one lock period: shrink the check interval to it.
    const wanted = Math.max(LOCK_MIN_MS, Math.min(stalledCeiling, lockMs));
    if (wanted < e.worker.opts.stalledInterval!) {
      e.worker.opts.stalledInterval = wanted;
      await e.worker.startStalledCheckTimer();
    }
    return e.worker;
  }

  function decode(id: string) {
    const d = decodeTaskId(id);
    if (!d) throw notFound();
    return d;
  }

  async function readTombstone(tenant: string, type: string, jobId: string): Promise<RevokedTombstone | undefined> {
    return parseTombstone(await redis.get(keys.tasks.revoked(tenant, type, jobId)));
  }

  function snapshot(job: TaskJob) {
    return {
      attemptsMade: job.attemptsMade ?? 0,
      attemptsStarted: job.attemptsStarted ?? 0,
      maxAttempts: job.opts.attempts ?? 1,
      progress: job.progress,
      returnvalue: job.returnvalue,
      failedReason: job.failedReason || undefined,
      timestamp: job.timestamp,
      delay: job.delay ?? 0,
      processedOn: job.processedOn,
      finishedOn: job.finishedOn,
    };
  }

  interface Observed {
    e: Entry;
    type: string;
    jobId: string;
    job: TaskJob | undefined;
    tombstone: RevokedTombstone | undefined;
    bullState: BullState;
    nextRunAt?: number;
  }

  /**
   * Read a task for showing it: the state FIRST, then the job hash. (The other order could pair a finished
   * state with a hash read before it finished: SUCCESS without its result.) A newer hash with an older
   * state only shows the earlier state a moment longer.
   */
  async function observe(tenant: string, id: string): Promise<Observed> {
    const { type, jobId } = decode(id);
    const e = await entry(tenant, type);
    const [state, tombstone] = await Promise.all([e.queue.getJobState(jobId), readTombstone(tenant, type, jobId)]);
    let bullState = state as BullState;
    let job: TaskJob | undefined;
    let nextRunAt: number | undefined;
    if (bullState !== 'unknown') {
      const [j, score] = await Promise.all([
        Job.fromId<TaskData, unknown, string>(e.queue, jobId),
        bullState === 'delayed' ? redis.zscore(e.queue.keys.delayed!, jobId) : Promise.resolve(null),
      ]);
      job = j as TaskJob | undefined;
      if (!job) bullState = 'unknown';
      if (score !== null) nextRunAt = Math.floor(Number(score) / 0x1000);
    }
    return { e, type, jobId, job, tombstone, bullState, nextRunAt };
  }

  function view(o: Observed, id: string): TaskView | undefined {
    const { job } = o;
    const v = toTaskView({ id, type: o.type, bullState: o.bullState, job: job ? snapshot(job) : undefined, nextRunAt: o.nextRunAt, revoked: o.tombstone });
    // Results and failures live for the retention, then the id is gone (BullMQ trims lazily).
    if (v && job?.finishedOn && job.finishedOn + retentionMs < Date.now()) return undefined;
    return v;
  }

  /** The job and tombstone, for worker calls (no state needed: BullMQ's lock checks decide). */
  async function load(tenant: string, id: string) {
    const { type, jobId } = decode(id);
    const e = await entry(tenant, type);
    const [job, tombstone] = await Promise.all([
      Job.fromId<TaskData, unknown, string>(e.queue, jobId),
      readTombstone(tenant, type, jobId),
    ]);
    return { e, type, jobId, job: job as TaskJob | undefined, tombstone };
  }

  async function get(tenant: string, id: string): Promise<TaskView> {
    const v = view(await observe(tenant, id), id);
    if (!v) throw notFound();
    return v;
  }

  const jobOptions = (input: JobInput): JobsOptions => taskJobOptions(input, retentionS);

  function checkPayload(type: string, payload: unknown) {
    const size = bytes(payload);
    if (size > config.limits.payloadBytes) {
      throw new AppError('payload_too_large', `payload is ${size} bytes; the limit is ${config.limits.payloadBytes} (BATON_MAX_PAYLOAD_BYTES)`);
    }
    handlers.get(type)?.validate(payload);
  }

  /** A fresh task: its BullMQ job id, its opaque id, and what BullMQ stores. */
  function newTask(type: string, input: Omit<SubmitInput, 'type'>) {
    const jobId = newJobId();
    // Assignments rather than spreads of optional parts: this runs on every submit, and the spreads of
    // differently shaped objects were about 2 % of Baton's CPU per in-process task (CPU profile, session 19).
    const data: TaskData = { payload: input.payload };
    if (input.timeoutMs) data.timeoutMs = input.timeoutMs;
    const opts = jobOptions(input);
    opts.jobId = jobId;
    if (input.delayMs) opts.delay = input.delayMs;
    return { jobId, id: encodeTaskId(type, jobId), data, opts };
  }

  /**
   * Claims `idempotencyKey` for the task `id` (SET NX, for the retention): undefined when it is ours now, else
   * the id of the task that holds it. `key` is the Redis key, to release when the add fails.
   */
  async function claimIdempotency(tenant: string, idempotencyKey: string, id: string) {
    const key = keys.tasks.idempotency(tenant, createHash('sha256').update(idempotencyKey).digest('hex'));
    const set = await redis.set(key, id, 'PX', retentionMs, 'NX');
    const existing = set === null ? await redis.get(key) : null;
    return { key, existing: existing ?? undefined };
  }

  async function submit(tenant: string, input: SubmitInput): Promise<{ id: string; state: 'PENDING'; created: boolean }> {
    checkPayload(input.type, input.payload);
    const e = await entry(tenant, input.type);
    const task = newTask(input.type, input);
    let idemKey: string | undefined;
    if (input.idempotencyKey !== undefined) {
      const idem = await claimIdempotency(tenant, input.idempotencyKey, task.id);
      if (idem.existing) return { id: idem.existing, state: 'PENDING', created: false };
      idemKey = idem.key;
    }
    try {
      await e.queue.add(input.type, task.data, task.opts);
    } catch (err) {
      if (idemKey) await redis.del(idemKey).catch(() => undefined);
      throw err;
    }
    o.metrics?.transition(input.type, 'PENDING');
    announce(tenant, input.type);
    return { id: task.id, state: 'PENDING', created: true };
  }

  /**
   * Up to SUBMIT_BATCH_MAX tasks of one type in one transaction (BullMQ's FlowProducer: MULTI/EXEC on the type's
   * hash slot): every task is added, or none is. All are checked before anything is written. An idempotencyKey
   * already held (earlier, or by an earlier task of the same batch) gives that task's id, created: false.
   */
  async function submitBatch(tenant: string, type: string, inputs: readonly Omit<SubmitInput, 'type'>[]) {
    inputs.forEach((input, i) => {
      try {
        checkPayload(type, input.payload);
      } catch (err) {
        if (err instanceof AppError) throw new AppError(err.code, `tasks[${i}]: ${err.detail}`, err.extra);
        throw err;
      }
    });
    const e = await entry(tenant, type);
    const out: { id: string; state: 'PENDING'; created: boolean }[] = [];
    const fresh: ReturnType<typeof newTask>[] = [];
    const held = new Map<string, string>();
    const idemKeys: string[] = [];
    try {
      for (const input of inputs) {
        const task = newTask(type, input);
        const k = input.idempotencyKey;
        let earlier = k === undefined ? undefined : held.get(k);
        if (k !== undefined && earlier === undefined) {
          const idem = await claimIdempotency(tenant, k, task.id);
          earlier = idem.existing;
          if (earlier === undefined) idemKeys.push(idem.key);
        }
        if (k !== undefined) held.set(k, earlier ?? task.id);
        if (earlier !== undefined) {
          out.push({ id: earlier, state: 'PENDING', created: false });
          continue;
        }
        fresh.push(task);
        out.push({ id: task.id, state: 'PENDING', created: true });
      }
      if (fresh.length > 0) {
        flows ??= new FlowProducer({ connection: redis as never });
        await flows.addBulk(fresh.map((t) => ({ name: type, queueName: e.queue.name, prefix: keys.tasks.bullPrefix(tenant), data: t.data, opts: t.opts })));
      }
    } catch (err) {
      // One DEL per key: the keys of a tenant's idempotency records are in different slots on Cluster.
      await Promise.all(idemKeys.map((k) => redis.del(k).catch(() => undefined)));
      throw err;
    }
    for (let i = 0; i < fresh.length; i++) {
      o.metrics?.transition(type, 'PENDING');
      announce(tenant, type);
    }
    return out;
  }

  type ListQuery = { type?: string; state?: TaskState; limit: number; cursor?: string };
  /** An offset into one type's listing; `<type>~<offset>` across every type (types are [A-Za-z0-9._:-]). */
  const OFFSET_CURSOR = /^\d{1,9}$/;
  const TYPE_CURSOR = /^[A-Za-z0-9._:-]+~\d{1,9}$/;
  type ListPage = { tasks: TaskView[]; nextCursor?: string };

  /**
   * One type's tasks (cursor = an offset), or with no type every type of the tenant in name order (cursor =
   * `<type>~<offset>`: types are [A-Za-z0-9._:-], so `~` cannot occur in one).
   */
  async function list(tenant: string, q: ListQuery): Promise<ListPage> {
    // A cursor this endpoint never returned is refused, not read as "page 1" (a client would loop forever).
    if (q.cursor !== undefined && !(q.type !== undefined ? OFFSET_CURSOR : TYPE_CURSOR).test(q.cursor)) {
      const message = 'not a nextCursor this listing returned';
      throw new AppError('validation_failed', `cursor: ${message}`, { errors: [{ path: 'querystring/cursor', message }] });
    }
    if (q.type !== undefined) return listType(tenant, { ...q, type: q.type });
    const types = (await redis.smembers(keys.tasks.types(tenant))).sort();
    const sep = q.cursor?.lastIndexOf('~') ?? -1;
    const fromType = q.cursor && sep > 0 ? q.cursor.slice(0, sep) : undefined;
    let cursor = q.cursor && sep > 0 ? q.cursor.slice(sep + 1) : undefined;
    const tasks: TaskView[] = [];
    for (const type of types) {
      if (fromType !== undefined && type < fromType) continue;
      if (fromType !== undefined && type > fromType) cursor = undefined;
      const remaining = q.limit - tasks.length;
      if (remaining <= 0) return { tasks, nextCursor: `${type}~0` };
      const page = await listType(tenant, { type, state: q.state, limit: remaining, cursor });
      tasks.push(...page.tasks);
      cursor = undefined;
      if (page.nextCursor !== undefined) return { tasks, nextCursor: `${type}~${page.nextCursor}` };
    }
    return { tasks };
  }

  async function listType(tenant: string, q: ListQuery & { type: string }): Promise<ListPage> {
    const e = await entry(tenant, q.type);
    const states = bullStatesFor(q.state);
    let offset = q.cursor ? Number(q.cursor) : 0;
    const withRemoved = q.state === undefined || q.state === 'REVOKED';
    const revokedIdx = keys.tasks.revokedIndex(tenant, q.type);
    const [counts, removedCount] = await Promise.all([
      e.queue.getJobCounts(...(states as never[])),
      withRemoved ? redis.zcount(revokedIdx, `(${Date.now() - retentionMs}`, '+inf') : Promise.resolve(0),
    ]);
    const total = states.reduce((s, st) => s + (counts[st] ?? 0), 0) + removedCount;
    const tasks: TaskView[] = [];
    let scanned = 0;
    // Walk the concatenation of the BullMQ lists from `offset`, keeping the jobs whose mapped state matches.
    let skip = offset;
    for (const st of states) {
      const n = counts[st] ?? 0;
      if (skip >= n) {
        skip -= n;
        continue;
      }
      const want = q.limit - scanned;
      if (want <= 0) break;
      const jobs = (await e.queue.getJobs([st as never], skip, skip + want - 1, true)) as TaskJob[];
      skip = 0;
      for (const job of jobs) {
        scanned++;
        if (!job?.id) continue;
        const id = encodeTaskId(q.type, job.id);
        const v = toTaskView({ id, type: q.type, bullState: st, job: snapshot(job) });
        if (v && (!q.state || v.state === q.state)) tasks.push(v);
      }
    }
    // Last in the walk: tasks revoked before they ran (no BullMQ job left).
    const want = q.limit - scanned;
    if (withRemoved && want > 0 && skip < removedCount) {
      const ids = Math.min(want, removedCount - skip);
      tasks.push(...(await removedRevokes(tenant, q.type, skip, ids)));
      scanned += ids;
    }
    offset += scanned;
    return { tasks, ...(offset < total && scanned > 0 ? { nextCursor: String(offset) } : {}) };
  }

  async function tombstone(tenant: string, type: string, jobId: string, createdAt: number | undefined) {
    const t: RevokedTombstone = { revokedAt: Date.now(), ...(createdAt ? { createdAt } : {}) };
    await redis.set(keys.tasks.revoked(tenant, type, jobId), JSON.stringify(t), 'PX', retentionMs);
  }

  /**
   * A task revoked before it ran has no BullMQ job any more, only its tombstone: index it so listings
   * (state=REVOKED, or no state) still show it for the retention. Entries older than that are pruned here.
   */
  async function indexRemovedRevoke(tenant: string, type: string, jobId: string) {
    const idx = keys.tasks.revokedIndex(tenant, type);
    const now = Date.now();
    await redis.multi().zadd(idx, now, jobId).zremrangebyscore(idx, '-inf', `(${now - retentionMs}`).pexpire(idx, retentionMs).exec();
  }

  /** The removed revoked tasks of a type still within the retention, oldest first, from `skip`. */
  async function removedRevokes(tenant: string, type: string, skip: number, count: number): Promise<TaskView[]> {
    const idx = keys.tasks.revokedIndex(tenant, type);
    const ids = await redis.zrangebyscore(idx, `(${Date.now() - retentionMs}`, '+inf', 'LIMIT', skip, count);
    if (ids.length === 0) return [];
    const raw = await redis.mget(ids.map((jobId) => keys.tasks.revoked(tenant, type, jobId)));
    const views: TaskView[] = [];
    ids.forEach((jobId, i) => {
      // No tombstone: it expired since the count (toTaskView then gives nothing).
      const v = toTaskView({ id: encodeTaskId(type, jobId), type, bullState: 'unknown', revoked: parseTombstone(raw[i] ?? null) });
      if (v) views.push(v);
    });
    return views;
  }

  async function revoke(tenant: string, id: string): Promise<TaskView> {
    const seen = await observe(tenant, id);
    const { e, type, jobId, job } = seen;
    const before = view(seen, id);
    if (before?.state === 'REVOKED') return before;
    if (!before || !job) throw notFound();
    if (FINAL_STATES.has(before.state)) {
      throw new AppError('conflict', `The task already finished (${before.state}); nothing to revoke`, { fields: { state: before.state } });
    }
    // The flag first: a worker (HTTP or in-process) that races with us sees it on its next call.
    await tombstone(tenant, type, jobId, job.timestamp);
    let state: string = seen.bullState;
    try {
      if (state !== 'active') {
        try {
          await job.remove();
          state = 'removed';
        } catch (err) {
          if (!(err instanceof Error) || !/locked|scheduler/.test(err.message)) throw err;
          // Claimed meanwhile (locked), or the pending run of a schedule (cannot be removed): mark its data,
          // so a claim or handler that gets it fails it as revoked instead of running it.
          await job.updateData({ ...job.data, revoked: true }).catch(() => undefined);
          state = await job.getState();
        }
      }
    } finally {
      // Published after the removal was tried: a worker that holds the job now fetched it before these
      // messages, which lets in-process attempts trust what they heard (revoke-watch.ts). SSE streams get the first.
      publish(taskChannel(tenant, id), 'revoked');
      publish(revokesChannel(tenant, type), jobId);
    }
    if (state === 'removed') await indexRemovedRevoke(tenant, type, jobId);
    if (state === 'active' && !handlers.has(type)) {
      // An HTTP worker holds it: fail it for good now with the holder's own token, so the lock cannot lapse
      // into a re-run; the holder's next heartbeat/progress/complete answers 409 task_revoked.
      const token = await redis.get(`${e.queue.toKey(jobId)}:lock`);
      if (token) await job.moveToFailed(new UnrecoverableError(REVOKED_REASON), token).catch(() => undefined);
    }
    // (In-process handlers get an AbortSignal through the published message and fail it themselves.)
    o.metrics?.transition(type, 'REVOKED');
    return (await get(tenant, id).catch(() => undefined)) ?? { ...before, state: 'REVOKED', status: 'revoked', revokedAt: new Date().toISOString() };
  }

  async function retry(tenant: string, id: string): Promise<TaskView> {
    const seen = await observe(tenant, id);
    const { e, job } = seen;
    const v = view(seen, id);
    if (!v || !job) throw notFound();
    if (v.state !== 'FAILURE') throw new AppError('conflict', `Only a FAILURE can be retried; the task is ${v.state}`, { fields: { state: v.state } });
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    announce(tenant, e.type);
    publishTaskState(tenant, e.type, job.id!, 'retry', id);
    o.metrics?.transition(e.type, 'PENDING');
    return get(tenant, id);
  }

  // ---- HTTP workers ----

  async function nextDue(e: Entry): Promise<number | undefined> {
    const first = await redis.zrange(e.queue.keys.delayed!, '0', '0', 'WITHSCORES');
    return first[1] !== undefined ? Math.floor(Number(first[1]) / 0x1000) : undefined;
  }

  /**
   * A job fetched and locked with `token` (by a claim, or by the script that completed the worker's last task),
   * made the claim's answer. A job revoked meanwhile is failed as such (the caller looks again); a client gone
   * meanwhile gets nothing and the job goes back at once.
   */
  async function handOut(
    tenant: string, type: string, worker: Worker<TaskData, unknown, string>, job: TaskJob, token: string, lockMs: number, client?: WaitingClient,
  ): Promise<ClaimResult | null | typeof REVOKED_LOOK_AGAIN> {
    if (job.data?.revoked) {
      await job.moveToFailed(new UnrecoverableError(REVOKED_REASON), token).catch(() => undefined);
      return REVOKED_LOOK_AGAIN;
    }
    if (client?.gone) {
      await job.moveToWait(token).catch(() => undefined);
      announce(tenant, type);
      return null;
    }
    if (lockMs !== defaultLockMs) await job.extendLock(token, lockMs);
    const id = encodeTaskId(type, job.id!);
    publishTaskState(tenant, type, job.id!, 'started', id);
    o.metrics?.transition(type, 'STARTED');
    const claimed = {
      task: { id, type, payload: job.data.payload, attempt: job.attemptsStarted || 1 },
      token,
      lockMs,
      expiresAt: new Date(Date.now() + lockMs).toISOString(),
    };
    job.data = { ...job.data, payload: null };
    claimedJobs.set(token, { tenant, id, type, job, worker });
    if (claimedJobs.size > CLAIMED_JOBS_MAX) {
      const [oldest] = claimedJobs; // a Map iterates in insertion order
      claimedJobs.delete(oldest![0]);
    }
    return claimed;
  }

  /**
   * A claim's look or mark failed: when the app is closing, that is closing cutting the connection under it, and
   * the claim answers "nothing now" (204) as a parked claim does; otherwise the error stands.
   */
  function closedUnder(err: unknown): null {
    if (waiters.released()) return null;
    throw err;
  }

  async function claim(tenant: string, type: string, opts: ClaimOptions, client?: WaitingClient): Promise<ClaimResult | null> {
    if (handlers.has(type)) {
      throw new AppError('bad_request', `Tasks of type "${type}" run in Baton's built-in handler; HTTP workers cannot claim them`);
    }
    const lockMs = opts.lockMs ?? defaultLockMs;
    const deadline = Date.now() + Math.min(opts.waitMs ?? 0, CLAIM_MAX_WAIT_MS);
    const channel = typeChannel(tenant, type);
    let marked = false;
    for (let looks = 0; ; looks++) {
      // Closing began since the last look (release() ended the wait, or came while the type was being marked):
      // "nothing now" (204), as for a parked claim, rather than the 503 of a queue that is closing.
      if (looks > 0 && waiters.released()) return null;
      const e = await entry(tenant, type);
      const worker = await manualWorker(e, lockMs);
      // Listen before the look that precedes a sleep, so a submit between that look and the sleep is not missed.
      // That is only ever a look after the mark: a look before it finds a task or is followed by the mark and a
      // second look. So a claim that finds a task at once parks nothing (no promise, timer, listener or client
      // signal: a few µs of every claim). Once the app is closing, park() answers 'aborted' at once and the checks
      // below end the claim.
      const remaining = deadline - Date.now();
      const wait = remaining > 0 && marked ? waiters.park(channel, remaining, client?.signal) : undefined;
      const token = `${randomToken(16)}.${lockMs}`;
      let job: TaskJob | undefined;
      try {
        job = (await worker.getNextJob(token, { block: false })) as TaskJob | undefined;
      } catch (err) {
        wait?.cancel();
        return closedUnder(err);
      }
      if (job?.id) {
        wait?.cancel();
        const out = await handOut(tenant, type, worker, job, token, lockMs, client);
        if (out === REVOKED_LOOK_AGAIN) continue;
        return out;
      }
      // The wait ran out, or released while looking (the app is closing): answer now, without marking the type or
      // parking again.
      if (remaining <= 0 || waiters.released()) {
        wait?.cancel();
        return null;
      }
      if (!wait) {
        // Not marked yet (only a marked claim listens), nothing ready, and we will wait: mark the type as
        // claimed-on, so submits elsewhere publish, then look once more, listening (a submit between the look
        // above and the mark did not publish).
        try {
          await redis.set(keys.tasks.claiming(tenant, type), '1', 'PX', CLAIMING_MARK_MS);
        } catch (err) {
          return closedUnder(err);
        }
        marked = true;
        continue;
      }
      // Nothing ready: sleep until a submit wakes us, the next delayed task is due, or the wait runs out.
      const due = await nextDue(e).catch(() => undefined);
      let dueTimer: NodeJS.Timeout | undefined;
      try {
        if (due !== undefined && due < deadline) dueTimer = setTimeout(() => wait.cancel(), Math.max(1, due - Date.now()));
        const outcome = await wait.outcome;
        if (outcome === 'aborted' && (client?.gone || waiters.released())) return null;
        // Woken (or a delayed task came due): if the next look finds nothing, mark again before parking; a
        // resync after a failover may mean the marker was lost with the old master.
        marked = false;
        if (outcome === 'timeout') continue;
      } finally {
        clearTimeout(dueTimer);
      }
    }
  }

  /**
   * `next` on complete and fail: the claim a worker would send next, in the same request. The finish before it
   * stands whatever happens here, so a claim that breaks (Redis gone mid-way) answers null, which a worker reads
   * as "nothing now, claim again", rather than an error that would make it repeat a finish already done.
   */
  async function claimNext(tenant: string, id: string, opts: ClaimOptions, client?: WaitingClient): Promise<ClaimResult | null> {
    try {
      return await claim(tenant, decode(id).type, opts, client);
    } catch (err) {
      o.log?.warn({ err: (err as Error).message }, 'the claim after a finished task failed; answered next: null');
      return null;
    }
  }

  /** Checks shared by every worker call: the task exists, is not revoked, and the attempt has not timed out. */
  async function held(tenant: string, id: string, token: string) {
    const { type, job, tombstone } = await load(tenant, id);
    if (tombstone) throw revokedError();
    if (!job) throw notFound();
    return { type, job, deadline: await inTime(tenant, type, id, job, token) };
  }

  /** The attempt's deadline (timeoutMs); past it, the attempt is failed and the caller's token refused. */
  async function inTime(tenant: string, type: string, id: string, job: TaskJob, token: string): Promise<number | undefined> {
    const timeoutMs = job.data?.timeoutMs;
    if (!timeoutMs || !job.processedOn) return undefined;
    if (Date.now() <= job.processedOn + timeoutMs) return job.processedOn + timeoutMs;
    try {
      await failJob(tenant, type, id, job, token, new Error(`timed out after ${timeoutMs} ms`));
    } catch (err) {
      if (!isLockError(err)) throw err;
      throw tokenInvalid();
    }
    throw tokenInvalid(`The attempt timed out after ${timeoutMs} ms (timeoutMs) and was failed`);
  }

  /**
   * held() for a finish (complete, fail): the job this instance's claim handed out under this token when it is
   * still here (its worker not closed since), else loaded. The revoke check then happens on refusal.
   */
  async function finishing(tenant: string, id: string, token: string) {
    const c = claimedJobs.get(token);
    if (c) {
      claimedJobs.delete(token);
      if (c.tenant === tenant && c.id === id && (await entry(tenant, c.type)).worker === c.worker) {
        return { type: c.type, job: c.job, deadline: await inTime(tenant, c.type, id, c.job, token), worker: c.worker };
      }
    }
    return { ...(await held(tenant, id, token)), worker: undefined };
  }

  /** BullMQ refused a finish for the lock: a revoke failed the task meanwhile (task_revoked), or the token is stale. */
  async function refusal(tenant: string, id: string): Promise<AppError> {
    const { type, jobId } = decode(id);
    return (await readTombstone(tenant, type, jobId)) ? revokedError() : tokenInvalid();
  }

  async function extend(job: TaskJob, token: string, lockMs: number, deadline: number | undefined) {
    const ms = deadline ? Math.max(LOCK_MIN_MS, Math.min(lockMs, deadline - Date.now())) : lockMs;
    const ok = await job.extendLock(token, ms);
    if (!ok) throw tokenInvalid();
    return { lockMs: ms, expiresAt: new Date(Date.now() + ms).toISOString() };
  }

  async function heartbeat(tenant: string, id: string, token: string, lockMs: number) {
    const { job, deadline } = await held(tenant, id, token);
    return { id, ...(await extend(job, token, lockMs, deadline)) };
  }

  async function progress(tenant: string, id: string, token: string, p: { current: number; total: number; status?: string }) {
    const { type, job, deadline } = await held(tenant, id, token);
    const lock = await extend(job, token, tokenLockMs(token, defaultLockMs), deadline);
    const progress = await storeProgress(job, p.current, p.total, p.status);
    publishTaskState(tenant, type, job.id!, 'progress', id);
    return { id, state: 'PROGRESS' as const, progress, ...lock };
  }

  /** Progress as the task's status shows it, stored on the job with the attempt it belongs to (HTTP workers and handlers). */
  async function storeProgress(job: TaskJob, current: number, total: number, status?: string) {
    const progress = { current, total, ...(status !== undefined ? { status } : {}) };
    await job.updateProgress({ ...progress, attempt: job.attemptsStarted });
    return progress;
  }

  /**
   * SUCCESS with `result`; with `next`, the worker's next task too (null when none came within next.waitMs).
   * When the task came from this instance's claim and the next lock is the token's own, BullMQ's finishing
   * script fetches and locks the next task under the same token, as BullMQ's Worker does: no second script.
   * (The lock it sets is the manual worker's default; handOut() extends it to the token's.)
   */
  async function complete(tenant: string, id: string, token: string, result: unknown, next?: ClaimOptions, client?: WaitingClient) {
    const size = bytes(result);
    if (size > config.limits.payloadBytes) {
      throw new AppError('payload_too_large', `result is ${size} bytes; the limit is ${config.limits.payloadBytes} (BATON_MAX_PAYLOAD_BYTES)`);
    }
    const { type, job, worker } = await finishing(tenant, id, token);
    const lockMs = next?.lockMs ?? defaultLockMs;
    const fetchNext = !!next && !!worker && lockMs === tokenLockMs(token, defaultLockMs) && !closed;
    let fetched: unknown;
    try {
      fetched = await job.moveToCompleted(result ?? null, token, fetchNext);
    } catch (err) {
      if (isLockError(err)) throw await refusal(tenant, id);
      throw err;
    }
    publishTaskState(tenant, type, job.id!, 'completed', id);
    o.metrics?.transition(type, 'SUCCESS');
    if (job.processedOn) o.metrics?.duration(type, 'SUCCESS', (Date.now() - job.processedOn) / 1000);
    const done = { id, state: 'SUCCESS' as const };
    if (!next) return done;
    if (fetchNext && worker) {
      const handed = await takeFetched(tenant, type, worker, fetched, token, lockMs, client);
      if (handed !== undefined) return { ...done, next: handed };
      // Nothing was ready when the script looked, and the worker will not wait: no second look. (A task it
      // fetched but could not hand out, revoked meanwhile, is followed by a claim like any other.)
      if (!next.waitMs && !(Array.isArray(fetched) && fetched[0])) return { ...done, next: null };
    }
    return { ...done, next: await claimNext(tenant, id, next, client) };
  }

  /**
   * The next job that BullMQ's finishing script fetched and locked (raw [data, id, …]), handed out as a claim
   * would; undefined when there was none, or it was revoked, or handing it out broke (the caller then claims).
   */
  async function takeFetched(
    tenant: string, type: string, worker: Worker<TaskData, unknown, string>, fetched: unknown, token: string, lockMs: number, client?: WaitingClient,
  ): Promise<ClaimResult | null | undefined> {
    const [data, jobId] = Array.isArray(fetched) ? fetched : [];
    if (!data || !jobId) return undefined;
    try {
      // Protected in BullMQ's types; it turns the raw data into a Job as the Worker's own fetch does (and lets
      // a job scheduler plan its next run).
      const job = (await (worker as unknown as FromJobData).nextJobFromJobData(data, jobId, token)) as TaskJob | undefined;
      if (!job?.id) return undefined;
      const out = await handOut(tenant, type, worker, job, token, lockMs, client);
      return out === REVOKED_LOOK_AGAIN ? undefined : out;
    } catch (err) {
      o.log?.warn({ err: (err as Error).message }, 'handing out the task fetched with a completion failed; claiming instead');
      return undefined;
    }
  }

  async function failJob(tenant: string, type: string, id: string, job: TaskJob, token: string, err: Error) {
    const willRetry = !(err instanceof UnrecoverableError) && job.attemptsMade + 1 < (job.opts.attempts ?? 1);
    await job.moveToFailed(err, token, false);
    publishTaskState(tenant, type, job.id!, 'failed', id);
    const state: TaskState = willRetry ? 'RETRY' : 'FAILURE';
    o.metrics?.transition(type, state);
    if (!willRetry && job.processedOn) o.metrics?.duration(type, 'FAILURE', (Date.now() - job.processedOn) / 1000);
    if (willRetry) announce(tenant, type);
    return { id, state, ...(willRetry && job.delay ? { nextAttemptAt: new Date(Date.now() + job.delay).toISOString() } : {}) };
  }

  /** A failed attempt (RETRY or FAILURE); with `next`, the worker's next task too, as on complete (by a claim). */
  async function fail(tenant: string, id: string, token: string, error: string, retryIt = true, next?: ClaimOptions, client?: WaitingClient) {
    const { type, job } = await finishing(tenant, id, token);
    let done;
    try {
      done = await failJob(tenant, type, id, job, token, retryIt ? new Error(error) : new UnrecoverableError(error));
    } catch (err) {
      if (isLockError(err)) throw await refusal(tenant, id);
      throw err;
    }
    return next ? { ...done, next: await claimNext(tenant, id, next, client) } : done;
  }

  // ---- events ----

  function fingerprint(v: TaskView): string {
    const basis = JSON.stringify([v.state, v.attempts, v.progress, v.nextAttemptAt, v.startedAt, v.finishedAt]);
    return createHash('sha1').update(basis).digest('base64url').slice(0, 12);
  }

  /**
   * The task's current state at once (unless the client already has it: Last-Event-ID), then every change,
   * woken by the notifier on the task's channel (no polling, no connection per stream), then the final state.
   * Between wake-ups the state is re-read each keep-alive period, which also catches changes no Baton code
   * path announces (a stalled job put back, a delayed retry becoming due).
   */
  async function* events(tenant: string, id: string, opts: { lastEventId?: string; keepAliveMs: number; signal: AbortSignal }): AsyncGenerator<StreamItem> {
    let last = opts.lastEventId;
    const d = decodeTaskId(id);
    if (!d) return; // not an id (nothing to mark): the caller answers 404 first anyway
    const channel = taskChannel(tenant, id);
    const watched = keys.tasks.watched(tenant, d.type, d.jobId);
    const watchedType = keys.tasks.watchedType(tenant, d.type);
    // The mark outlives a couple of keep-alive periods; each pass of the loop (at least one per keep-alive) renews it.
    const watchMs = opts.keepAliveMs * 2 + 5_000;
    for (;;) {
      const wait = notifier.wait(channel, opts.keepAliveMs, opts.signal);
      let v: TaskView | undefined;
      try {
        // Listen, mark the task (and its type) as watched, then read: a change after the marks is published
        // to us, one before them is in what we read.
        await Promise.all([redis.set(watchedType, '1', 'PX', watchMs), redis.set(watched, '1', 'PX', watchMs)]);
        v = await get(tenant, id);
      } catch (err) {
        wait.cancel();
        if (err instanceof AppError && err.code === 'not_found') return;
        throw err;
      }
      const fp = fingerprint(v);
      if (fp !== last) {
        last = fp;
        yield { kind: 'state', id: fp, view: v };
      }
      if (FINAL_STATES.has(v.state)) {
        wait.cancel();
        return;
      }
      const outcome = await wait.outcome;
      if (outcome === 'aborted') return;
      if (outcome === 'timeout') yield { kind: 'keepalive' };
    }
  }

  // ---- schedules ----

  function checkSchedule(s: ScheduleInput) {
    if ((s.cron === undefined) === (s.everyMs === undefined)) {
      throw new AppError('validation_failed', 'give exactly one of cron or everyMs', { errors: [{ path: 'body', message: 'exactly one of cron or everyMs' }] });
    }
    if (s.cron !== undefined) {
      let next: number | undefined;
      try {
        next = defaultRepeatStrategy(Date.now(), { pattern: s.cron, ...(s.tz ? { tz: s.tz } : {}) });
      } catch (err) {
        throw new AppError('validation_failed', `cron: ${(err as Error).message}`, { errors: [{ path: 'body/cron', message: (err as Error).message }] });
      }
      if (!next || !Number.isFinite(next)) {
        throw new AppError('validation_failed', 'cron: the expression never fires', { errors: [{ path: 'body/cron', message: 'never fires' }] });
      }
    }
    checkPayload(s.task.type, s.task.payload);
  }

  async function readSchedule(tenant: string, id: string, type: string): Promise<ScheduleView | undefined> {
    const e = await entry(tenant, type);
    const s = await e.queue.getJobScheduler(id);
    if (!s) return undefined;
    const tpl = s.template;
    const data = (tpl?.data ?? { payload: null }) as TaskData;
    const opts = (tpl?.opts ?? {}) as JobsOptions;
    const backoff = typeof opts.backoff === 'object' && opts.backoff ? opts.backoff : undefined;
    return {
      id,
      ...(s.pattern ? { cron: s.pattern } : {}),
      ...(s.every ? { everyMs: Number(s.every) } : {}),
      ...(s.tz ? { tz: s.tz } : {}),
      task: {
        type,
        payload: data.payload,
        ...(opts.priority ? { priority: 10 - opts.priority } : {}),
        ...(opts.attempts ? { attempts: opts.attempts } : {}),
        ...(backoff ? { backoff: { type: backoff.type === 'fixed' ? 'fixed' : 'exponential', delayMs: backoff.delay ?? 0 } as const } : {}),
      },
      ...(s.next ? { nextRunAt: new Date(Number(s.next)).toISOString() } : {}),
    };
  }

  async function putSchedule(tenant: string, id: string, s: ScheduleInput): Promise<{ schedule: ScheduleView; created: boolean }> {
    checkSchedule(s);
    const registry = keys.tasks.schedules(tenant);
    const previousType = await redis.hget(registry, id);
    if (previousType === null && (await redis.hlen(registry)) >= MAX_SCHEDULES) {
      throw new AppError('conflict', `A tenant may have at most ${MAX_SCHEDULES} schedules`);
    }
    const e = await entry(tenant, s.task.type);
    if (previousType !== null && previousType !== s.task.type) {
      const old = await entry(tenant, previousType);
      await old.queue.removeJobScheduler(id);
    }
    await e.queue.upsertJobScheduler(
      id,
      s.cron !== undefined ? { pattern: s.cron, ...(s.tz ? { tz: s.tz } : {}) } : { every: s.everyMs! },
      { name: s.task.type, data: { payload: s.task.payload }, opts: jobOptions(s.task) },
    );
    await redis.hset(registry, id, s.task.type);
    announce(tenant, s.task.type);
    const schedule = (await readSchedule(tenant, id, s.task.type)) ?? { id, ...s };
    return { schedule, created: previousType === null };
  }

  async function getSchedule(tenant: string, id: string): Promise<ScheduleView> {
    const type = await redis.hget(keys.tasks.schedules(tenant), id);
    const v = type === null ? undefined : await readSchedule(tenant, id, type);
    if (!v) throw notFound('schedule');
    return v;
  }

  async function listSchedules(tenant: string): Promise<ScheduleView[]> {
    const all = await redis.hgetall(keys.tasks.schedules(tenant));
    const views = await Promise.all(Object.entries(all).map(([id, type]) => readSchedule(tenant, id, type)));
    return views.filter((v): v is ScheduleView => v !== undefined).sort((a, b) => a.id.localeCompare(b.id));
  }

  async function deleteSchedule(tenant: string, id: string): Promise<void> {
    const registry = keys.tasks.schedules(tenant);
    const type = await redis.hget(registry, id);
    if (type === null) throw notFound('schedule');
    const e = await entry(tenant, type);
    await e.queue.removeJobScheduler(id);
    await redis.hdel(registry, id);
  }

  // ---- in-process handlers ----

  /**
   * Start one BullMQ Worker per (tenant, handler type) for the given tenants. `newBlocking` opens the
   * shared blocking connection (BullMQ duplicates it once more per Worker for its BZPOPMIN).
   */
  async function startHandlers(tenants: readonly string[], newBlocking: () => RedisClient) {
    if (handlers.size === 0 || tenants.length === 0) return;
    blocking = newBlocking();
    blocking.on('error', () => undefined);
    const duplicate = blocking.duplicate.bind(blocking) as (...args: unknown[]) => RedisClient;
    (blocking as { duplicate: unknown }).duplicate = (...args: unknown[]) => {
      const copy = duplicate(...args);
      blockingCopies.add(copy);
      return copy;
    };
    for (const tenant of tenants) {
      for (const handler of handlers.values()) {
        const type = handler.type;
        // Listening before the Worker fetches anything (revoke-watch.ts).
        const revokes = watchRevokes(notifier, revokesChannel(tenant, type), {
          isRevoked: async (jobId) => (await redis.exists(keys.tasks.revoked(tenant, type, jobId))) === 1,
        });
        revokeWatches.push(revokes);
        const worker = new Worker<TaskData, unknown, string>(
          keys.tasks.queueName(type),
          (job) => runHandler(tenant, handler, revokes, job as TaskJob),
          { connection: blocking as never, prefix: keys.tasks.bullPrefix(tenant), concurrency: config.tasks.concurrency, autorun: true },
        );
        worker.on('error', (err) => o.log?.debug({ err: err.message, type }, 'handler worker error'));
        pauseOnError(worker, () => closed);
        worker.on('completed', (job) => {
          publishTaskState(tenant, type, job.id!, 'completed');
          o.metrics?.transition(type, 'SUCCESS');
          if (job.processedOn) o.metrics?.duration(type, 'SUCCESS', (Date.now() - job.processedOn) / 1000);
        });
        worker.on('failed', (job) => {
          if (!job) return;
          publishTaskState(tenant, type, job.id!, 'failed');
          const final = job.finishedOn !== undefined || job.attemptsMade >= (job.opts.attempts ?? 1);
          o.metrics?.transition(type, job.failedReason === REVOKED_REASON ? 'REVOKED' : final ? 'FAILURE' : 'RETRY');
          if (final && job.processedOn) o.metrics?.duration(type, 'FAILURE', (Date.now() - job.processedOn) / 1000);
        });
        worker.on('stalled', (jobId) => publishTaskState(tenant, type, jobId, 'stalled'));
        inProcess.push(worker);
      }
    }
  }

  /**
   * One attempt of a built-in handler, and what its handler sees (`HandlerContext`). Cheap on the hot path:
   * - a class, where an object literal with a getter and closures per attempt was promoted out of the young
   *   generation about half again as often (measured: worker-only drain, promoted bytes and CPU per task);
   * - no AbortController unless the handler reads `signal` (EventTarget costs several µs and garbage per task on
   *   Node 20), and the processor takes two parameters, so BullMQ makes no controller per job either (it aborts
   *   that one only when asked to through cancelJob, which Baton never calls).
   */
  class Attempt implements HandlerContext {
    readonly payload: unknown;
    readonly attempt: number;
    /** Why the attempt was stopped from outside, if it was. */
    why: 'revoked' | 'timeout' | undefined;
    private controller: AbortController | undefined;
    /** Settles the attempt as failed even if the handler ignores its signal. */
    stopRun: ((err: Error) => void) | undefined;

    constructor(
      private readonly tenant: string,
      private readonly type: string,
      private readonly job: TaskJob,
    ) {
      this.payload = job.data.payload;
      this.attempt = job.attemptsStarted || 1;
    }

    get signal(): AbortSignal {
      if (!this.controller) {
        this.controller = new AbortController();
        if (this.why !== undefined) this.controller.abort(this.reason());
      }
      return this.controller.signal;
    }

    async progress(current: number, total: number, status?: string): Promise<void> {
      await storeProgress(this.job, current, total, status);
      publishTaskState(this.tenant, this.type, this.job.id!, 'progress');
    }

    /** Why the attempt stopped, as the error the task will show. */
    reason(err?: unknown): Error {
      if (this.why === 'revoked') return new UnrecoverableError(REVOKED_REASON);
      if (this.why === 'timeout') return new Error(`timed out after ${this.job.data.timeoutMs} ms (timeoutMs)`);
      if (err instanceof Error && err.message) return err;
      return new Error(String((err as { message?: unknown } | undefined)?.message ?? err ?? '') || 'the handler failed');
    }

    abort(cause: 'revoked' | 'timeout'): void {
      if (this.why !== undefined) return;
      this.why = cause;
      const err = this.reason();
      this.controller?.abort(err);
      this.stopRun?.(err);
    }
  }

  async function runHandler(tenant: string, handler: TaskHandler, revokes: RevokeWatch, job: TaskJob): Promise<unknown> {
    const type = handler.type;
    const jobId = job.id!;
    const attempt = new Attempt(tenant, type, job);
    const watch = revokes.attend(jobId, job.processedOn, () => attempt.abort('revoked'));
    const timer = job.data.timeoutMs ? setTimeout(() => attempt.abort('timeout'), job.data.timeoutMs) : undefined;
    try {
      if (job.data?.revoked || watch.verdict === 'revoked') throw new UnrecoverableError(REVOKED_REASON);
      if (watch.verdict === 'clear') {
        publishTaskState(tenant, type, jobId, 'started');
      } else {
        // What was heard may be incomplete: read the tombstone (and announce the start) in one round trip.
        const revoked = await taskStart.run(redis, [keys.tasks.revoked(tenant, type, jobId), keys.tasks.watched(tenant, type, jobId)], [taskChannel(tenant, encodeTaskId(type, jobId)), 'started']);
        if (revoked === 1) throw new UnrecoverableError(REVOKED_REASON);
      }
      if (attempt.why !== undefined) throw attempt.reason();
      o.metrics?.transition(type, 'STARTED');
      // One promise, settled by the handler or by stopRun, whichever comes first (a never-settled second
      // promise raced against the handler kept each attempt's objects alive through a scavenge more often).
      return await new Promise<unknown>((resolve, reject) => {
        attempt.stopRun = reject;
        handler.run(attempt).then(resolve, reject);
      });
    } catch (err) {
      throw attempt.reason(err);
    } finally {
      watch.stop();
      clearTimeout(timer);
    }
  }

  /** The tenant's task queues (at most 200 types), for the dashboard. */
  async function dashboardQueues(tenant: string) {
    const types = (await redis.smembers(keys.tasks.types(tenant))).sort().slice(0, 200);
    const opened = await Promise.all(types.map((type) => entry(tenant, type).catch(() => undefined)));
    return opened.filter((e): e is Entry => e !== undefined).map((e) => e.queue);
  }

  // ---- metrics sources ----

  async function queueCounts(limit: number) {
    const out: { tenant: string; type: string; counts: Record<string, number> }[] = [];
    for (const { p } of [...entries.values()].slice(-limit)) {
      const e = await p.catch(() => undefined);
      if (!e) continue;
      const counts = await e.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed').catch(() => undefined);
      if (counts) out.push({ tenant: e.tenant, type: e.type, counts });
    }
    return out;
  }

  /** Release parked claims (they answer 204) before the HTTP server waits for open requests. */
  function stopWaiting() {
    waiters.release();
  }

  async function close() {
    closed = true;
    waiters.release();
    // A forced BullMQ close would only return the pending graceful one (Worker.close memoises it): when the
    // graceful close is stuck (a blocking connection caught mid-reconnect never emits 'end', BullMQ #4585),
    // cut the sockets and stop the stalled-check timer (private: it would keep the process alive 30 s).
    const cut = (w: Worker) => {
      for (const c of blockingCopies) c.disconnect();
      blocking?.disconnect();
      (w as unknown as { stalledCheckStopper?: () => void }).stalledCheckStopper?.();
    };
    await Promise.all(inProcess.map((w) => bounded(w.close(), () => cut(w as Worker))));
    for (const w of revokeWatches) w.close();
    const all = [...entries.values()].map((slot) => slot.p);
    entries.clear();
    lookup.clear();
    newest = undefined;
    // An entry still being created (its queue waiting for a node that is gone) must not hold the close either.
    await bounded(Promise.all(all.map((p) => p.then(closeEntry, () => undefined))));
    await bounded(flows?.close());
    blocking?.disconnect();
  }

  return {
    submit, submitBatch, get, list, revoke, retry,
    claim, heartbeat, progress, complete, fail,
    events,
    putSchedule, getSchedule, listSchedules, deleteSchedule,
    startHandlers, queueCounts, dashboardQueues, stopWaiting, close,
    parkedClaims: () => waiters.parked(),
    isBuiltIn: (type: string) => handlers.has(type),
  };
}

export type TasksService = ReturnType<typeof createTasksService>;

/** A revocation tombstone as stored; an unreadable one still marks the task revoked. */
function parseTombstone(raw: string | null): RevokedTombstone | undefined {
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as RevokedTombstone;
  } catch {
    return { revokedAt: Date.now() };
  }
}

/**
 * BullMQ's Worker retries a failed fetch at once, with no delay, when the error is not one it classes as a
 * connection error (it knows ECONNREFUSED and "Connection is closed"). A Redis Cluster that is down fails with
 * "None of startup nodes is available": the main loop then spins on rejected promises and starves the event
 * loop, so not even the reconnection runs (seen on the Cluster test topology: 100 % CPU, RSS growing, the
 * process hung). So a worker error pauses fetching for a second (running jobs go on), then resumes it.
 */
const ERROR_PAUSE_MS = 1_000;
function pauseOnError(worker: Worker<TaskData, unknown, string>, isClosed: () => boolean): void {
  worker.on('error', () => {
    if (worker.isPaused() || isClosed()) return;
    worker.pause(true).catch(() => undefined);
    setTimeout(() => {
      if (!isClosed()) worker.resume().catch(() => undefined);
    }, ERROR_PAUSE_MS).unref();
  });
}

/**
 * Wait for a BullMQ close at most CLOSE_BOUND_MS: with a Redis node gone (a Cluster failover, an outage) a
 * graceful close can wait for replies that never come, and shutdown must not hang on it. On the bound, `force`
 * (a forced close or a disconnect) runs instead.
 */
const CLOSE_BOUND_MS = 5_000;
async function bounded(closing: Promise<unknown> | undefined, force?: () => unknown): Promise<void> {
  if (!closing) return;
  let timer: NodeJS.Timeout | undefined;
  const finished = await Promise.race([
    closing.then(() => true, () => true),
    new Promise<false>((r) => (timer = setTimeout(() => r(false), CLOSE_BOUND_MS))),
  ]);
  clearTimeout(timer);
  if (!finished && force) {
    try {
      await Promise.resolve(force()).catch(() => undefined);
    } catch {
      /* best effort */
    }
  }
}
