// A task's state changes ask for their type's gate once per type per turn, and reach the marked publisher only
// while the gate exists: a type nobody streams costs one EXISTS a turn and no script; a watched task's changes
// arrive in order across turns; an unwatched task of a watched type is still dropped.
import t, { type Test } from 'tap';
import { build } from '../helpers/build.js';
import { startRedis } from '../helpers/redis.js';
import { createMarkedPublisher } from '../../src/tasks/marked-publisher.js';
import { createStatePublisher } from '../../src/tasks/state-publisher.js';
import { encodeTaskId } from '../../src/tasks/service.js';

const redis = await startRedis(t);

async function setup(t: Test) {
  const app = await build(t, redis.url);
  const channelOf = (tenant: string, id: string) => app.keys.event(tenant, 'task', id);
  const publish = createStatePublisher({
    redis: app.redis,
    keys: app.keys,
    publishIfMarked: createMarkedPublisher(app.redis),
    channelOf,
    idOf: encodeTaskId,
  });
  // Every command the publishers send, by name.
  const sent: string[] = [];
  const client = app.redis as unknown as { sendCommand(c: { name: string }): unknown };
  const send = client.sendCommand.bind(client);
  client.sendCommand = (c) => {
    sent.push(c.name.toLowerCase());
    return send(c);
  };
  t.teardown(() => void (client.sendCommand = send));
  /** Messages on a task's channel, resolved once `n` arrived. */
  const listen = (tenant: string, type: string, jobId: string, n: number) => {
    const got: string[] = [];
    let done: (v: string[]) => void = () => undefined;
    const all = new Promise<string[]>((r) => (done = r));
    const stop = app.notifier.listen(channelOf(tenant, encodeTaskId(type, jobId)), (m) => {
      got.push(m);
      if (got.length === n) done(got);
    });
    t.teardown(stop);
    return { got, all };
  };
  /** Let the gate's question, its answer and the marked publisher's turn pass. */
  const settle = async () => {
    await new Promise((r) => setImmediate(r));
    await app.redis.ping();
    await new Promise((r) => setImmediate(r));
    await app.redis.ping();
  };
  return { app, publish, sent, listen, settle };
}

t.test('a type nobody streams: one EXISTS per type per turn, no script, nothing published even under a task marker', async (t) => {
  const { app, publish, sent, listen, settle } = await setup(t);
  // The task's own marker exists, the type's gate does not: the gate decides.
  await app.redis.set(app.keys.tasks.watched('t1', 'A', 'j1'), '1');
  const heard = listen('t1', 'A', 'j1', 1);
  sent.length = 0;
  for (let i = 0; i < 50; i++) publish('t1', 'A', 'j1', `m${i}`);
  publish('t1', 'B', 'j2', 'b');
  publish('t2', 'A', 'j3', 'c');
  t.same(sent, [], 'nothing sent before the check phase');
  await settle();
  t.same(sent.filter((c) => c !== 'ping').sort(), ['exists', 'exists', 'exists'], 'one EXISTS per (tenant, type), no script');
  t.same(heard.got, [], 'nothing published');
});

t.test('a watched type: the watched task hears every change in order across turns; an unwatched one is dropped', async (t) => {
  const { app, publish, sent, listen, settle } = await setup(t);
  await app.redis.set(app.keys.tasks.watchedType('t1', 'A'), '1');
  await app.redis.set(app.keys.tasks.watched('t1', 'A', 'j1'), '1');
  const watched = listen('t1', 'A', 'j1', 5);
  const unwatched = listen('t1', 'A', 'j2', 1);
  sent.length = 0;
  publish('t1', 'A', 'j1', 'started', encodeTaskId('A', 'j1'));
  publish('t1', 'A', 'j2', 'started');
  await new Promise((r) => setImmediate(r));
  publish('t1', 'A', 'j1', 'progress 1');
  await new Promise((r) => setImmediate(r));
  publish('t1', 'A', 'j1', 'progress 2');
  publish('t1', 'A', 'j2', 'completed');
  publish('t1', 'A', 'j1', 'progress 3');
  await new Promise((r) => setImmediate(r));
  publish('t1', 'A', 'j1', 'completed');
  t.same(await watched.all, ['started', 'progress 1', 'progress 2', 'progress 3', 'completed'], 'in order, given id or not');
  await settle();
  t.same(unwatched.got, [], 'a task without its marker hears nothing');
  t.ok(sent.some((c) => /^eval/.test(c)), 'the marked publisher ran');
});

t.test('Redis refusing the gate question drops the turn quietly', async (t) => {
  const { app, publish, listen } = await setup(t);
  await app.redis.set(app.keys.tasks.watchedType('t1', 'A'), '1');
  await app.redis.set(app.keys.tasks.watched('t1', 'A', 'j1'), '1');
  const heard = listen('t1', 'A', 'j1', 1);
  const client = app.redis as unknown as { exists(...a: unknown[]): Promise<number> };
  const exists = client.exists.bind(client);
  client.exists = () => Promise.reject(new Error('Connection is closed.'));
  t.teardown(() => void (client.exists = exists));
  publish('t1', 'A', 'j1', 'lost');
  await new Promise((r) => setImmediate(r));
  client.exists = exists;
  publish('t1', 'A', 'j1', 'next');
  t.same(await heard.all, ['next'], 'the refused turn is dropped, the next one goes out');
});
