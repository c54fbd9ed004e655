// The catalogue of stable error codes. Services and routes throw AppError(code, detail); plugins/errors.ts
// turns every error into an RFC 9457 problem document. Clients switch on `code`, never on `title`/`detail`.

export const ERROR_CATALOGUE = {
  validation_failed: { status: 400, title: 'The request is not valid' },
  bad_request: { status: 400, title: 'Bad request' },
  unauthorized: { status: 401, title: 'A valid API key is required' },
  forbidden: { status: 403, title: 'The API key lacks a required scope' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  lock_not_acquired: { status: 409, title: 'The lock is held by someone else' },
  lock_not_owner: { status: 409, title: 'The token does not own the lock' },
  semaphore_full: { status: 409, title: 'The semaphore has no free permit' },
  semaphore_limit_mismatch: { status: 409, title: 'The semaphore is in force with another limit' },
  semaphore_not_holder: { status: 409, title: 'The token does not hold a permit' },
  receipt_invalid: { status: 409, title: 'The receipt is stale or unknown' },
  lease_invalid: { status: 409, title: 'The cache lease is no longer valid' },
  task_token_invalid: { status: 409, title: 'The worker token is stale or foreign' },
  task_revoked: { status: 409, title: 'The task was revoked' },
  conflict: { status: 409, title: 'Conflict' },
  precondition_failed: { status: 412, title: 'The precondition failed' },
  payload_too_large: { status: 413, title: 'The payload is too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal_error: { status: 500, title: 'Internal server error' },
  backend_unavailable: { status: 503, title: 'Redis is unreachable' },
  shutting_down: { status: 503, title: 'The server is shutting down' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export interface FieldError {
  path: string;
  message: string;
}

export class AppError extends Error {
  override name = 'AppError';
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly extra: { errors?: FieldError[]; headers?: Record<string, string>; fields?: Record<string, unknown> } = {},
  ) {
    super(detail);
    this.status = ERROR_CATALOGUE[code].status;
  }
}

export const problemType = (code: string) => `https://baton.dev/problems/${code.replace(/_/g, '-')}`;

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  errors?: FieldError[];
  [extra: string]: unknown;
}

export function toProblem(code: ErrorCode, detail: string, extra: Partial<Problem> = {}): Problem {
  const entry = ERROR_CATALOGUE[code];
  return { type: problemType(code), title: entry.title, status: entry.status, detail, code, ...extra };
}

/**
 * True for errors that mean "Redis cannot be reached right now" (connection refused/closed, offline queue
 * disabled, command timeout, cluster down, failover in progress, MOVED ping-pong while a Cluster fails over):
 * these become 503, never 500.
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { code?: string };
  if (e.name === 'MaxRetriesPerRequestError') return true;
  if (e.code && ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH'].includes(e.code)) {
    return true;
  }
  return /Stream isn't writeable|Connection is closed|Command timed out|enableOfflineQueue|CLUSTERDOWN|TRYAGAIN|Too many Cluster redirections|LOADING|MASTERDOWN|READONLY|Failed to refresh slots cache|None of startup nodes is available|All sentinels are unreachable|Reached the max retries per request limit|Connection in subscriber mode|connect ETIMEDOUT|getaddrinfo/i.test(
    e.message,
  );
}
