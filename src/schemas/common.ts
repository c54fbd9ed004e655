// Shared zod pieces: the Problem document, names, durations and the standard error responses.
// One schema gives validation, handler types and the OpenAPI document (fastify-type-provider-zod).
import { z } from 'zod';
import { ERROR_CATALOGUE } from '../errors.js';

export const ProblemSchema = z
  .object({
    type: z.string().describe('URI identifying the problem type'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.enum(Object.getOwnPropertyNames(ERROR_CATALOGUE) as [keyof typeof ERROR_CATALOGUE, ...(keyof typeof ERROR_CATALOGUE)[]])
      .describe('Stable machine-readable code'),
    instance: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional()
      .describe('Validation errors, one per offending field'),
  })
  .catchall(z.unknown())
  .meta({
    id: 'Problem',
    description: 'RFC 9457 problem document (Content-Type: application/problem+json)',
    example: {
      type: 'https://baton.dev/problems/validation-failed',
      title: 'The request is not valid',
      status: 400,
      detail: 'body/ttlMs: Too small: expected number to be >=1',
      code: 'validation_failed',
      errors: [{ path: 'body/ttlMs', message: 'Too small: expected number to be >=1' }],
    },
  });

const statusText: Record<number, string> = {
  400: 'Bad input (validation_failed)',
  401: 'Missing or invalid API key (unauthorized)',
  403: 'The key lacks the scope (forbidden)',
  404: 'Not found (not_found)',
  409: 'Conflict',
  412: 'Precondition failed (precondition_failed)',
  413: 'Too large (payload_too_large)',
  415: 'Unsupported media type',
  429: 'Rate limited (rate_limited), with Retry-After',
  503: 'Redis unreachable (backend_unavailable), with Retry-After',
};

/** Problem responses for the given statuses, plus 400/401/403/429/503 which every protected route can give. */
export function problems(...statuses: number[]) {
  const all = [...new Set([400, 401, 403, 429, 503, ...statuses])].sort();
  return Object.fromEntries(
    all.map((s) => [s, ProblemSchema.describe(statusText[s] ?? 'Problem')]),
  ) as Record<number, typeof ProblemSchema>;
}

/** What printable UTF-8 text (names, cache keys, owners, patterns) must not hold: control characters, lone surrogates. */
export const NOT_PRINTABLE = /[\p{Cc}\p{Cs}]/u;

/**
 * What nameSchema(maxBytes) accepts, without zod (the routes' fast checks). A UTF-16 code unit is at most three
 * bytes of UTF-8, so short names skip counting their bytes.
 */
export function isName(v: unknown, maxBytes: number): boolean {
  return typeof v === 'string' && v.length > 0 && (v.length * 3 <= maxBytes || Buffer.byteLength(v) <= maxBytes) && !NOT_PRINTABLE.test(v);
}

/** A name of 1..maxBytes bytes of printable UTF-8 (cache keys, lock and semaphore names). */
export function nameSchema(maxBytes: number, what = 'name') {
  return z
    .string()
    .min(1, `${what} must not be empty`)
    .refine((s) => Buffer.byteLength(s) <= maxBytes, `${what} exceeds the limit of ${maxBytes} bytes`)
    .refine((s) => !NOT_PRINTABLE.test(s), `${what} must be printable UTF-8 (no control characters)`)
    .describe(`1-${maxBytes} bytes of printable UTF-8, URL-encoded in the path`);
}

/** Names of queues, task types and schedules: [A-Za-z0-9._:-]{1,128}, what identifierSchema accepts. */
export const IDENTIFIER = /^[A-Za-z0-9._:-]{1,128}$/;

/** What identifierSchema accepts, without zod (the routes' fast checks). */
export const isIdentifier = (v: unknown): boolean => typeof v === 'string' && IDENTIFIER.test(v);

export const identifierSchema = z
  .string()
  .regex(IDENTIFIER, 'must be 1-128 of A-Z a-z 0-9 . _ : -')
  .describe('1-128 characters of A-Z a-z 0-9 . _ : -');

/** A duration in milliseconds within [min, max] (query strings are coerced). */
export function durationMs(min: number, max: number) {
  return z.coerce.number().int().min(min).max(max);
}

/** `true`/`false`/`1`/`0` in a query string. */
export const queryBool = z
  .enum(['true', 'false', '1', '0', ''])
  .transform((v) => v === 'true' || v === '1' || v === '');

export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(200).optional(),
});
