// Ids and tokens made on the hot paths, without a getrandom call or a UUID each: on the development VM a
// getrandom call per dequeue was 2.7 % of the queue cycle's CPU, and a UUID per request about 3 µs of a 60 µs
// enqueue (randomUUID refills its pool every 128 ids, and its string is a concatenation that Node's header check
// then flattens; CPU profiles, session 19).
import { randomBytes } from 'node:crypto';

const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let offset = 0;

/**
 * Unguessable: `bytes` (at most 4096) random bytes as base64url (16 bytes give 22 characters, 9 give 12), cut from
 * a 4 KiB pool, one getrandom call per 4 KiB. For lock tokens and the nonce of a dequeue's receipts.
 */
export function randomToken(bytes: number): string {
  if (offset + bytes > pool.length) {
    pool = randomBytes(POOL_BYTES);
    offset = 0;
  }
  offset += bytes;
  return pool.toString('base64url', offset - bytes, offset);
}

/**
 * Unique, not secret: `lead`, a random prefix of `prefixBytes` bytes made once (base64url), `separator`, then a
 * base-36 counter. Unique across processes and restarts through the prefix; made in tens of ns. For request ids,
 * task job ids and message ids.
 */
export function sequentialIds(lead: string, prefixBytes: number, separator = ''): () => string {
  const prefix = `${lead}${randomBytes(prefixBytes).toString('base64url')}${separator}`;
  let counter = 0;
  return () => `${prefix}${(counter++).toString(36)}`;
}
