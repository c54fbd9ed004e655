// Unguessable tokens (lock tokens, the nonce of a dequeue's receipts), cut from a 4 KiB pool of random bytes: one
// getrandom call per 4 KiB instead of one per token. A call per token was 2.7 % of Baton's CPU in the queues'
// enqueue10 + dequeue10 + ack10 cycle on the development VM (CPU profile, session 19), as crypto.randomUUID
// pools its own bytes for the same reason.
import { randomBytes } from 'node:crypto';

const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let offset = 0;

/** `bytes` (at most 4096) random bytes as base64url: 16 bytes give 22 characters, 9 give 12. */
export function randomToken(bytes: number): string {
  if (offset + bytes > pool.length) {
    pool = randomBytes(POOL_BYTES);
    offset = 0;
  }
  offset += bytes;
  return pool.toString('base64url', offset - bytes, offset);
}
