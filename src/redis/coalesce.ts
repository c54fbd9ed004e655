// Coalesced writes on the command connection: every command written during one turn of the event loop goes
// to Redis in one writev, flushed in the loop's check phase (setImmediate), after all the I/O callbacks of
// that turn have run. Replies and their order are untouched (ioredis still matches them one by one).
//
// Why: on this VM a socket write is the single largest cost of a request (a cache PUT spent about a fifth
// of its CPU in the write to Redis), and every write also wakes Redis. ioredis' auto-pipelining batches
// too, but through pipeline objects (more CPU per command) and, in ioredis 6.0, with an uncaught
// "results[i] is not iterable" that can end the process (README: Benchmark). Corking the socket is the
// same saving at the transport, with nothing to go wrong above it.
import type { Socket } from 'node:net';
import type { Cluster, Redis } from 'ioredis';

const coalesced = new WeakSet<object>();

/** Cork `socket` on the first write of a loop turn and uncork it in the check phase. Idempotent. */
export function coalesceSocketWrites(socket: Socket): void {
  if (coalesced.has(socket)) return;
  coalesced.add(socket);
  let corked = false;
  const flush = () => {
    corked = false;
    socket.uncork();
  };
  const write = socket.write;
  socket.write = function coalescedWrite(this: Socket, ...args: Parameters<Socket['write']>) {
    if (!corked && !socket.destroyed) {
      corked = true;
      socket.cork();
      setImmediate(flush);
    }
    return write.apply(this, args);
  } as Socket['write'];
}

function coalesceRedis(redis: Redis): void {
  const apply = () => {
    const stream = (redis as unknown as { stream?: Socket }).stream;
    if (stream) coalesceSocketWrites(stream);
  };
  apply();
  redis.on('connect', apply);
}

/** Coalesce the writes of a command client: its connection, or each Cluster node's as it appears. */
export function coalesceWrites(client: Redis | Cluster): void {
  if ((client as Cluster).isCluster) {
    const cluster = client as Cluster;
    for (const node of cluster.nodes('all')) coalesceRedis(node);
    cluster.on('+node', (node: Redis) => coalesceRedis(node));
    return;
  }
  coalesceRedis(client as Redis);
}
