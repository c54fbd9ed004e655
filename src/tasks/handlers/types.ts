// The contract of a built-in task handler: run in-process by a BullMQ Worker (src/tasks/service.ts).
import type { Config } from '../../config.js';

export interface HandlerContext {
  payload: unknown;
  /**
   * Aborted on revoke and on the task's timeoutMs. (On shutdown the app waits a bounded time for running handlers;
   * a task still running then is picked up again by the stalled-job check of a live instance.)
   */
  signal: AbortSignal;
  /** 1 for the first run. */
  attempt: number;
  /** Call it as `ctx.progress(…)`: the context is one object per attempt, its methods on its prototype. */
  progress(current: number, total: number, status?: string): Promise<void>;
}

export interface TaskHandler {
  /** The task type it serves. */
  type: string;
  /** Checks a payload at submit time; throws AppError (400) when it can never succeed. */
  validate(payload: unknown): void;
  /** Runs one attempt: the resolved value is the result; a throw is a failed attempt (retried with backoff). */
  run(ctx: HandlerContext): Promise<unknown>;
}

export type HandlerFactory = (config: Config) => TaskHandler;
