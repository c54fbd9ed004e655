// Publishes under a marker are batched per event-loop turn: one script call per hash tag, every message in
// order, none whose marker is missing, big turns split.
import t from 'tap';
import { build } from '../helpers/build.js';
import { startRedis } from '../helpers/redis.js';
import { createMarkedPublisher, slotTag } from '../../src/tasks/marked-publisher.js';

const redis = await startRedis(t);

t.test('slotTag is the part of a key that picks its Cluster slot', async (t) => {
  t.equal(slotTag('p:t:tw:{type}:job'), 'type');
  t.equal(slotTag('p:t:tc:{a}{b}'), 'a');
  t.equal(slotTag('p:{}:x{y}'), 'p:{}:x{y}', 'an empty first tag: the whole key');
  t.equal(slotTag('plain'), 'plain');
  t.equal(slotTag('open{only'), 'open{only');
});

t.test('one script call per hash tag per turn; messages in order, only under an existing marker', async (t) => {
  const app = await build(t, redis.url);
  const publish = createMarkedPublisher(app.redis);
  const [a1, a2, b] = [app.keys.tasks.watched('t1', 'A', 'j1'), app.keys.tasks.watched('t1', 'A', 'j2'), app.keys.tasks.claiming('t1', 'B')];
  await app.redis.set(a1, '1');
  await app.redis.set(b, '1');
  const chA = app.keys.event('t1', 'task', 'A');
  const chB = app.keys.event('t1', 'task', 'B');
  const got: Record<string, string[]> = { [chA]: [], [chB]: [] };
  let arrived: () => void = () => undefined;
  const all = new Promise<void>((r) => (arrived = r));
  const expected = 2 + 150 + 1;
  let n = 0;
  const onMessage = (ch: string) => (m: string) => {
    got[ch]!.push(m);
    if (++n === expected) arrived();
  };
  const stops = [app.notifier.listen(chA, onMessage(chA)), app.notifier.listen(chB, onMessage(chB))];
  t.teardown(() => stops.forEach((s) => s()));

  let calls = 0;
  const client = app.redis as unknown as { sendCommand(c: { name: string }): unknown };
  const send = client.sendCommand.bind(client);
  client.sendCommand = (c) => {
    if (/^eval/i.test(c.name)) calls++;
    return send(c);
  };
  t.teardown(() => void (client.sendCommand = send));

  publish(a1, chA, 'first');
  publish(a2, chA, 'not watched: dropped');
  publish(b, chB, 'b');
  publish(a1, chA, 'second');
  t.equal(calls, 0, 'nothing sent before the check phase');
  await new Promise((r) => setImmediate(r));
  t.equal(calls, 2, 'one call per hash tag (A and B)');
  for (let i = 0; i < 150; i++) publish(a1, chA, `m${i}`);
  await new Promise((r) => setImmediate(r));
  t.equal(calls, 2 + 3, '150 messages of one tag in calls of at most 64');
  await all;
  t.same(got[chA], ['first', 'second', ...Array.from({ length: 150 }, (_, i) => `m${i}`)]);
  t.same(got[chB], ['b']);
});
