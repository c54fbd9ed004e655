// Coalesced writes: the commands of one event-loop turn leave in one writev (or one per maxWrites), replies
// stay matched and in order, and the client survives a reconnect (the new socket is coalesced too).
import type { Socket } from 'node:net';
import { Redis } from 'ioredis';
import t from 'tap';
import { coalesceWrites } from '../../src/redis/coalesce.js';
import { connect, createRedis } from '../../src/redis/connection.js';
import { startRedis } from '../helpers/redis.js';

const redis = await startRedis(t);

/** Counts the socket-level writes (one per _write, one per _writev batch) of the client's current socket. */
function countWrites(client: Redis) {
  const socket = (client as unknown as { stream: Socket & { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void } }).stream;
  const counts = { write: 0, writev: 0 };
  const w = socket._write.bind(socket);
  const wv = socket._writev.bind(socket);
  socket._write = (...a: unknown[]) => (counts.write++, w(...a));
  socket._writev = (...a: unknown[]) => (counts.writev++, wv(...a));
  return counts;
}

async function client(t: { teardown(fn: () => unknown): void }, coalesce: boolean, maxWrites?: number, mode?: 'command' | 'blocking') {
  const c = createRedis({
    topology: { kind: 'standalone', url: redis.url },
    name: 'test:coalesce',
    ...(mode !== undefined ? { mode } : {}),
    connectTimeoutMs: 2_000,
    commandTimeoutMs: 2_000,
    coalesceWrites: coalesce,
    ...(maxWrites !== undefined ? { coalesceMaxWrites: maxWrites } : {}),
  }) as Redis;
  c.on('error', () => undefined);
  await connect(c);
  t.teardown(() => c.disconnect());
  return c;
}

t.test('the commands of one turn leave in one batched write, with every reply in its place', async (t) => {
  const c = await client(t, true);
  const counts = countWrites(c);
  const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => c.echo(`m${i}`)));
  t.same(replies, Array.from({ length: 50 }, (_, i) => `m${i}`));
  t.equal(counts.write + counts.writev, 1, '50 commands, one socket write');
  t.equal(counts.writev, 1);
});

t.test('the in-process handlers\' connection (blocking mode) is coalesced too', async (t) => {
  const c = await client(t, true, undefined, 'blocking');
  const counts = countWrites(c);
  t.same(await Promise.all(Array.from({ length: 20 }, (_, i) => c.echo(`b${i}`))), Array.from({ length: 20 }, (_, i) => `b${i}`));
  t.equal(counts.write + counts.writev, 1, '20 commands, one socket write');
});

t.test('a batch is flushed once it holds maxWrites writes, so Redis can start on it within the turn', async (t) => {
  const c = await client(t, true, 16);
  const counts = countWrites(c);
  const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => c.echo(`m${i}`)));
  t.same(replies, Array.from({ length: 50 }, (_, i) => `m${i}`));
  t.equal(counts.write + counts.writev, 4, '50 commands: batches of 16, 16, 16, then the last 2 in the check phase');
});

t.test('without coalescing each command is its own write (the comparison the test above relies on)', async (t) => {
  const c = await client(t, false);
  const counts = countWrites(c);
  await Promise.all(Array.from({ length: 50 }, (_, i) => c.echo(`m${i}`)));
  t.ok(counts.write + counts.writev > 1, `${counts.write} writes, ${counts.writev} batched`);
});

t.test('writes spread over turns each get flushed; the next turn is not held back', async (t) => {
  const c = await client(t, true);
  for (let i = 0; i < 20; i++) {
    t.equal(await c.incr('coalesce:n'), i + 1);
  }
});

t.test('after a reconnect the new socket is coalesced as well', async (t) => {
  const c = await client(t, true);
  const first = (c as unknown as { stream: Socket }).stream;
  const ready = new Promise((resolve) => c.once('ready', resolve));
  first.destroy();
  await ready;
  t.not((c as unknown as { stream: Socket }).stream, first, 'a new socket');
  const counts = countWrites(c);
  const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => c.echo(`r${i}`)));
  t.same(replies, Array.from({ length: 10 }, (_, i) => `r${i}`));
  t.equal(counts.write + counts.writev, 1, 'batched on the new socket too');
});

t.test('coalesceWrites on a client that is already connected', async (t) => {
  const c = await client(t, false);
  coalesceWrites(c);
  coalesceWrites(c); // twice is harmless
  const counts = countWrites(c);
  await Promise.all(Array.from({ length: 10 }, (_, i) => c.echo(`x${i}`)));
  t.equal(counts.write + counts.writev, 1);
});
