// Command timeouts (src/redis/command-timeout.ts: one watchdog per connection instead of a timer per command).
// With Redis frozen by CLIENT PAUSE (socket open, no replies), a command fails with "Command timed out" once it
// has waited the timeout, never sooner, even when it was queued behind an older one; a command answered in time
// is untouched however many checks it spans; afterwards the connection works with every reply in its place;
// and through the app a hung Redis answers 503, then serves again by itself.
import { setTimeout as delay } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import t from 'tap';
import { connect, createRedis } from '../../src/redis/connection.js';
import { auth, build } from '../helpers/build.js';
import { startRedis } from '../helpers/redis.js';

const redis = await startRedis(t);
const TIMEOUT_MS = 400;
/** Long enough for every timeout below to fire first; CLIENT UNPAUSE itself waits until it ends. */
const PAUSE_MS = 2_500;

async function client(t: { teardown(fn: () => unknown): void }, coalesce: boolean): Promise<Redis> {
  const c = createRedis({
    topology: { kind: 'standalone', url: redis.url },
    name: 'test:timeout',
    connectTimeoutMs: 2_000,
    commandTimeoutMs: TIMEOUT_MS,
    coalesceWrites: coalesce,
  }) as Redis;
  c.on('error', () => undefined);
  await connect(c);
  t.teardown(() => c.disconnect());
  return c;
}

interface Outcome {
  error?: string;
  waitedMs: number;
}
/** How `command` settled, and how long after it was sent. */
function outcome(command: Promise<unknown>): Promise<Outcome> {
  const sent = Date.now();
  return command.then(
    () => ({ waitedMs: Date.now() - sent }),
    (err: Error) => ({ error: err.message, waitedMs: Date.now() - sent }),
  );
}

/** Freeze Redis for PAUSE_MS through a connection of its own (it stays blocked until the pause ends). */
async function freeze(): Promise<() => Promise<void>> {
  await redis.client.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
  return async () => {
    await redis.client.call('CLIENT', 'UNPAUSE');
  };
}

for (const coalesce of [false, true]) {
  t.test(`a command that waits longer than the timeout fails, after the timeout and not before (coalesced writes: ${coalesce})`, async (t) => {
    const c = await client(t, coalesce);
    await c.set('k', 'v');
    const thaw = await freeze();
    const first = outcome(c.get('k'));
    // A second command sent half a timeout later, behind the first in the queue: it must get its own full wait.
    await delay(TIMEOUT_MS / 2);
    const second = outcome(c.get('k'));
    const [a, b] = await Promise.all([first, second]);
    t.equal(a.error, 'Command timed out');
    t.equal(b.error, 'Command timed out');
    t.ok(a.waitedMs >= TIMEOUT_MS, `the first failed after ${a.waitedMs} ms, not before the timeout (${TIMEOUT_MS} ms)`);
    t.ok(b.waitedMs >= TIMEOUT_MS, `the second failed after ${b.waitedMs} ms of its own wait, not with the first`);
    t.ok(a.waitedMs < PAUSE_MS && b.waitedMs < PAUSE_MS, 'both failed while Redis was still frozen');
    await thaw();
    // The late replies to the two timed-out GETs are matched to them and dropped: nothing shifts.
    t.equal(await c.echo('after'), 'after');
    t.same(await Promise.all([c.get('k'), c.echo('x'), c.incr(`n:${coalesce}`)]), ['v', 'x', 1]);
  });
}

t.test('a command answered within the timeout succeeds, however many checks it spans', async (t) => {
  const c = await client(t, false);
  await c.set('slow', 'ok');
  const heldMs = Math.round(TIMEOUT_MS * 0.7);
  await redis.client.call('CLIENT', 'PAUSE', String(heldMs), 'ALL');
  const r = await outcome(c.get('slow'));
  t.equal(r.error, undefined, 'not timed out');
  t.ok(r.waitedMs >= heldMs - 50, `it was held ${r.waitedMs} ms (about ${heldMs} ms: several checks)`);
});

t.test('through the app, a hung Redis answers 503 and the service recovers by itself', async (t) => {
  const app = await build(t, redis.url, { env: { REDIS_COMMAND_TIMEOUT_MS: String(TIMEOUT_MS) } });
  const put = await app.inject({ method: 'PUT', url: '/v1/cache/hung', headers: { ...auth(), 'content-type': 'application/json' }, payload: '{"a":1}' });
  t.equal(put.statusCode, 204);
  const thaw = await freeze();
  const hung = await app.inject({ method: 'GET', url: '/v1/cache/hung', headers: auth() });
  t.equal(hung.statusCode, 503, hung.body);
  t.match(hung.headers['content-type'], /^application\/problem\+json/);
  await thaw();
  const back = await app.inject({ method: 'GET', url: '/v1/cache/hung', headers: auth() });
  t.equal(back.statusCode, 200);
  t.equal(back.body, '{"a":1}');
});
