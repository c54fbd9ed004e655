// Validation with a fast path for the hot routes. The zod schemas document every route and produce the exact
// validation errors; for a few schemas on the benchmarked paths (a cache GET or PUT; a lock acquire or release; an
// enqueue, a dequeue, an ack; a task submit, claim or complete) a hand-written check recognises the common valid
// input first, and zod runs only when that check does not pass. A check must accept nothing zod would refuse, and
// only inputs that zod would return unchanged (no defaults, coercions or transforms): the request part is then
// left as it arrived.
//
// A passing check answers `true`, not `{ value }`: Fastify then leaves the request part as it is. With
// `{ value }` it would assign it back, and for headers that assignment makes every later read of
// request.headers merge a fresh copy of all of them (Fastify's headers setter).
import type { FastifySchemaCompiler } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';

type Check = (data: unknown) => boolean;

const checks = new WeakMap<object, Check>();

/** `schema`, with `check` as its fast path (see above for what a check may accept). */
export function fast<T extends z.ZodType>(schema: T, check: Check): T {
  checks.set(schema, check);
  return schema;
}

/** fastify-type-provider-zod's compiler, preceded by the schema's fast check when it has one. */
export const fastValidatorCompiler = ((route: Parameters<typeof validatorCompiler>[0]) => {
  const slow = validatorCompiler(route);
  const check = checks.get(route.schema as object);
  if (!check) return slow;
  return (data: unknown) => (check(data) ? true : slow(data));
}) as unknown as FastifySchemaCompiler<z.ZodType>;

/** A plain JSON object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** [min, max], inclusive: a bound declared once for a zod schema and for its fast check. */
export type Range = readonly [number, number];

/** An integer within `range`, as boundedInt(range) accepts it. */
export function isIntIn(v: unknown, [min, max]: Range): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

/** z.number().int() within `range`: declare a bounded field with this and pass the same range to the check. */
export function boundedInt([min, max]: Range) {
  return z.number().int().min(min).max(max);
}

/** A string whose length (UTF-16 code units, as zod counts) is within `range`, as boundedString(range) accepts it. */
export function isStringIn(v: unknown, [min, max]: Range): boolean {
  return typeof v === 'string' && v.length >= min && v.length <= max;
}

/** z.string() with its length within `range`. */
export function boundedString([min, max]: Range) {
  return z.string().min(min).max(max);
}

/**
 * Every field of `o` is either one of `free` (checked by the caller) or named in `ints` and an integer within its
 * range: what a strict zod object of optional bounded integers (and the free fields) accepts unchanged.
 */
export function onlyIntsIn(o: Record<string, unknown>, ints: Readonly<Record<string, Range>>, free: readonly string[] = []): boolean {
  for (const k in o) {
    if (free.includes(k)) continue;
    const range = Object.hasOwn(ints, k) ? ints[k] : undefined;
    if (range === undefined || !isIntIn(o[k], range)) return false;
  }
  return true;
}

/** The fast check registered for `schema` (tests compare it with zod). */
export function fastCheckOf(schema: z.ZodType): Check | undefined {
  return checks.get(schema);
}
