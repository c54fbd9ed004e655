// Coalesced writes on the command connection: every command written during one turn of the event loop goes
// to Redis in one writev, flushed in the loop's check phase (setImmediate), after all the I/O callbacks of
// that turn have run. Replies and their order are untouched (ioredis still matches them one by one).
//
// Why: on this VM a socket write is the single largest cost of a request (a cache PUT spent about a fifth
// of its CPU in the write to Redis), and every write also wakes Redis. ioredis' auto-pipelining batches
// too, but through pipeline objects (more CPU per command) and, in ioredis 6.0, with an uncaught
// "results[i] is not iterable" that can end the process (README: Benchmark). Corking the socket is the
// same saving at the transport, with nothing to go wrong above it.
//
// A batch is flushed early once it holds `maxWrites` writes (REDIS_COALESCE_MAX_WRITES, default 16). Redis
// runs a whole read buffer of commands before it writes any reply, so one batch of 50 enqueue scripts came
// back all at once, some 800 µs later, and Baton sat idle meanwhile (84-86 % busy under the benchmark's
// enqueue load). Flushing every 16 writes lets Redis start on the first ones while Baton still reads
// requests: 99 % busy and 17.4-19.2 k → 21.6-22.5 k enqueues/s at the same CPU per request; cache hits and
// PUTs, whose commands cost Redis little, were unchanged (measured on 2026-12-06, README: Benchmark).
import type { Socket } from 'node:net';
import type { Cluster, Redis } from 'ioredis';
import { onEveryConnection } from './every-connection.js';

const coalesced = new WeakSet<object>();

/**
 * Cork `socket` on the first write of a loop turn and uncork it in the check phase, or as soon as the batch
 * holds `maxWrites` writes (then cork again for the rest of the turn). Idempotent.
 */
export function coalesceSocketWrites(socket: Socket, maxWrites = Infinity): void {
  if (coalesced.has(socket)) return;
  coalesced.add(socket);
  let corked = false;
  let batched = 0;
  const flush = () => {
    corked = false;
    socket.uncork();
  };
  const write = socket.write;
  socket.write = function coalescedWrite(this: Socket, ...args: Parameters<Socket['write']>) {
    if (!corked && !socket.destroyed) {
      corked = true;
      batched = 0;
      socket.cork();
      setImmediate(flush);
    }
    const flushed = write.apply(this, args);
    if (corked && ++batched >= maxWrites) {
      batched = 0;
      socket.uncork();
      socket.cork();
    }
    return flushed;
  } as Socket['write'];
}

function coalesceRedis(redis: Redis, maxWrites: number): void {
  const apply = () => {
    const stream = (redis as unknown as { stream?: Socket }).stream;
    if (stream) coalesceSocketWrites(stream, maxWrites);
  };
  apply();
  redis.on('connect', apply);
}

/** Coalesce the writes of a command client: its connection, or each Cluster node's as it appears. */
export function coalesceWrites(client: Redis | Cluster, maxWrites = Infinity): void {
  onEveryConnection(client, (connection) => coalesceRedis(connection, maxWrites));
}
