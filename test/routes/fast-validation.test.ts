// The fast checks in front of zod (routes/lib/fast-validation.ts) may only let through what zod accepts and
// returns unchanged: otherwise a request would skip a refusal, or reach its handler in another shape. Each
// check is run on boundary values and on random mixes of them; every input it passes must parse with zod to an
// equal value. The inputs the benchmark sends must pass (else the fast path is silently gone).
import { isDeepStrictEqual } from 'node:util';
import t, { type Test } from 'tap';
import type { z } from 'zod';
import { fastCheckOf } from '../../routes/lib/fast-validation.js';
import { AckBody, DequeueBody, EnqueueBody, QueueParams } from '../../routes/queues.js';
import { lockSchemas } from '../../routes/locks.js';
import { ClaimBody, CompleteBody, IdParams, SubmitBodies, TypeParams } from '../../routes/tasks.js';

const INTS = [-1, -0, 0, 1, 1.5, 5, 9, 10, 99, 100, 101, 999, 1000, 1001, 20_000, 20_001, 3_600_000, 3_600_001, 86_400_000, 86_400_001, 31_536_000_000, 31_536_000_001, 604_800_000, 604_800_001, 2_147_483_647, 2_147_483_648, 1e21];
const OTHERS = ['5', '', null, true, [], {}, { a: 1 }, 'x'.repeat(513)];
const VALUES = [...INTS, ...OTHERS];

let seed = 42;
const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;

function randomObject(fields: readonly string[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const f of fields) if (random() < 0.5) o[f] = pick(VALUES);
  return o;
}

function agree(t: Test, name: string, schema: z.ZodType, inputs: unknown[]) {
  const check = fastCheckOf(schema);
  if (!check) return t.fail(`${name} has no fast check`);
  let passed = 0;
  for (const input of inputs) {
    if (!check(input)) continue;
    passed++;
    const parsed = schema.safeParse(input);
    if (!parsed.success) return t.fail(`${name}: the fast check passed what zod refuses: ${JSON.stringify(input)}`);
    if (!isDeepStrictEqual(parsed.data, input)) return t.fail(`${name}: zod would change ${JSON.stringify(input)}`);
  }
  t.ok(passed > 0, `${name}: the fast check passed ${passed} of ${inputs.length} inputs, each as zod does`);
}

const BODY = { user: 42, name: 'Ada Lovelace', roles: ['admin', 'dev'], bio: 'x'.repeat(200) };
const messageFields = ['body', 'priority', 'delayMs', 'maxAttempts', 'dedupId', 'extra'];

t.test('queue params', async (t) => {
  const check = fastCheckOf(QueueParams)!;
  t.ok(check({ queue: 'bench-deep' }));
  const names = ['orders', 'a.b:c_d-e', '', 'x'.repeat(128), 'x'.repeat(129), 'has space', 'ünïcode', 'a/b', 'a*', 5, null];
  agree(t, 'QueueParams', QueueParams, [...names.map((queue) => ({ queue })), {}]);
});

t.test('enqueue bodies: one message or a batch', async (t) => {
  const check = fastCheckOf(EnqueueBody)!;
  t.ok(check({ body: BODY }), 'the benchmark\'s single enqueue takes the fast path');
  t.ok(check({ messages: Array.from({ length: 10 }, () => ({ body: BODY })) }), 'and its batch of 10');
  t.notOk(check({ body: 1, dedupId: 'd' }), 'a dedupId goes to zod');
  t.notOk(check({ priority: 1 }), 'no body: zod decides');
  const singles = Array.from({ length: 4000 }, () => randomObject(messageFields));
  const batches = Array.from({ length: 1000 }, () => {
    const n = pick([0, 1, 2, 3, 100, 101]);
    const b: Record<string, unknown> = { messages: Array.from({ length: n }, () => (random() < 0.9 ? { body: BODY } : randomObject(messageFields))) };
    if (random() < 0.1) b.extra = 1;
    return b;
  });
  agree(t, 'EnqueueBody', EnqueueBody, [...singles, ...batches, { messages: 'x' }, { messages: {} }, null, [], 'x']);
});

t.test('dequeue bodies', async (t) => {
  const check = fastCheckOf(DequeueBody)!;
  t.ok(check({ max: 10, visibilityMs: 30_000 }), 'the benchmark\'s dequeue takes the fast path');
  agree(t, 'DequeueBody', DequeueBody, Array.from({ length: 4000 }, () => randomObject(['max', 'visibilityMs', 'waitMs', 'extra'])));
});

t.test('ack bodies', async (t) => {
  const check = fastCheckOf(AckBody)!;
  t.ok(check({ receipts: ['k3Jx9aQ2b1c.1.Zq8xW0pLr3Ta'] }));
  const receipts = ['r', 'x'.repeat(512), 'x'.repeat(513), '', 5, null];
  const inputs = Array.from({ length: 2000 }, () => {
    const b: Record<string, unknown> = { receipts: Array.from({ length: pick([0, 1, 2, 100, 101]) }, () => (random() < 0.9 ? 'r.1.x' : pick(receipts))) };
    if (random() < 0.1) b.extra = 1;
    return b;
  });
  agree(t, 'AckBody', AckBody, [...inputs, { receipts: 'r' }, {}, null]);
});

t.test('task params', async (t) => {
  t.ok(fastCheckOf(IdParams)!({ id: 'c2VuZC1lbWFpbHx0M2Y0' }));
  t.ok(fastCheckOf(TypeParams)!({ type: 'baton.echo' }));
  const ids = ['c2VuZC1lbWFpbHx0M2Y0', '', 'x'.repeat(1024), 'x'.repeat(1025), 5, null];
  agree(t, 'IdParams', IdParams, [...ids.map((id) => ({ id })), {}]);
  const types = ['send-email', 'baton.echo', '', 'x'.repeat(128), 'x'.repeat(129), 'a b', 'a/b', 5];
  agree(t, 'TypeParams', TypeParams, [...types.map((type) => ({ type })), {}]);
});

t.test('submit, claim and complete bodies', async (t) => {
  t.ok(fastCheckOf(SubmitBodies)!({ type: 'baton.echo', payload: 1 }), 'the benchmark\'s submit takes the fast path');
  t.ok(fastCheckOf(ClaimBody)!({ waitMs: 1000 }), 'and its claim');
  t.ok(fastCheckOf(CompleteBody)!({ token: 'tok', result: 1, next: { waitMs: 1000 } }), 'and its complete with next');
  t.notOk(fastCheckOf(SubmitBodies)!({ type: 'x', payload: 1, backoff: { delayMs: 1 } }), 'a backoff goes to zod');
  const types = ['baton.echo', '', 'a b', 5];
  const submits = Array.from({ length: 4000 }, () => {
    const b = randomObject(['delayMs', 'priority', 'attempts', 'timeoutMs', 'idempotencyKey', 'extra']);
    if (random() < 0.9) b.type = pick(types);
    if (random() < 0.9) b.payload = pick([...VALUES, BODY]);
    return b;
  });
  agree(t, 'SubmitBodies', SubmitBodies, [...submits, { type: 'x', tasks: [{ payload: 1 }] }]);
  agree(t, 'ClaimBody', ClaimBody, Array.from({ length: 3000 }, () => randomObject(['waitMs', 'lockMs', 'extra'])));
  const tokens = ['tok', '', 'x'.repeat(200), 'x'.repeat(201), 5, null];
  const completes = Array.from({ length: 4000 }, () => {
    const b = randomObject(['result', 'extra']);
    if (random() < 0.9) b.token = pick(tokens);
    if (random() < 0.6) b.next = random() < 0.8 ? randomObject(['waitMs', 'lockMs', 'extra']) : pick(VALUES);
    return b;
  });
  agree(t, 'CompleteBody', CompleteBody, completes);
});

t.test('lock params, acquire and release bodies', async (t) => {
  // The default bounds (src/config.ts): ttlMs 100-3 600 000, waitMs up to 60 000, names up to 512 bytes.
  const { LockParams, AcquireBody, ReleaseBody } = lockSchemas({ minTtlMs: 100, maxTtlMs: 3_600_000, maxWaitMs: 60_000 }, 512);
  t.ok(fastCheckOf(LockParams)!({ name: 'bench-1a2b3c4d-17' }), 'the benchmark\'s lock name takes the fast path');
  t.ok(fastCheckOf(AcquireBody)!({ ttlMs: 10_000 }), 'and its acquire');
  t.ok(fastCheckOf(ReleaseBody)!({ token: 'hT3kq1xVdQ2b9w0cE7pNzA' }), 'and its release');
  t.notOk(fastCheckOf(AcquireBody)!({ ttlMs: 10_000, owner: 'w' }), 'an owner goes to zod');
  const names = ['invoice-42', 'orders/42', 'ünïcode ✓', '', 'x'.repeat(512), 'x'.repeat(513), 'é'.repeat(256), 'é'.repeat(257), '😀'.repeat(128), '😀'.repeat(129), 'a\u0000b', 'tab\there', 'lone \ud800 surrogate', 5, null];
  agree(t, 'LockParams', LockParams, [...names.map((name) => ({ name })), {}]);
  agree(t, 'AcquireBody', AcquireBody, [...Array.from({ length: 4000 }, () => randomObject(['ttlMs', 'waitMs', 'extra'])), null, [], 'x']);
  const tokens = ['t', 'x'.repeat(128), 'x'.repeat(129), '', 5, null];
  const releases = Array.from({ length: 2000 }, () => {
    const b = randomObject(['extra']);
    if (random() < 0.9) b.token = pick(tokens);
    return b;
  });
  agree(t, 'ReleaseBody', ReleaseBody, [...releases, null]);
});
