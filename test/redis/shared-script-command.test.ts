// One command class for every Lua script (src/redis/shared-script-command.ts), with ioredis' behaviour kept:
// EVAL the first time a connection sees a script, EVALSHA after, recovery from SCRIPT FLUSH, pipelines,
// key prefixes, callbacks and script errors.
import { Redis } from 'ioredis';
import t from 'tap';
import { ScriptCommand, useSharedScriptCommand } from '../../src/redis/shared-script-command.js';
import { startRedis } from '../helpers/redis.js';

t.equal(useSharedScriptCommand(), true, 'this ioredis passes the probe');
t.equal(useSharedScriptCommand(), true, 'installing twice is harmless');

const redis = await startRedis(t);

const ECHO = { numberOfKeys: 1, lua: "redis.call('SET', KEYS[1], ARGV[1]); return {KEYS[1], ARGV[1]}" };
const COUNT = { numberOfKeys: 1, lua: "return redis.call('INCR', KEYS[1])" };
// Counts its runs before it fails: a Lua error reply does not undo the INCR, so the counter shows how often it ran.
const FAIL = { numberOfKeys: 1, lua: "redis.call('INCR', KEYS[1]); return redis.error_reply('ERR no good: ' .. ARGV[1])" };

interface Scripted extends Redis {
  echo2(key: string, value: string, callback?: (err: Error | null, result?: unknown) => void): Promise<[string, string]>;
  count2(key: string): Promise<number>;
  fail2(counter: string, why: string): Promise<never>;
}

function client(options: { keyPrefix?: string } = {}): Scripted {
  const c = new Redis(redis.url, options) as Scripted;
  c.defineCommand('echo2', ECHO);
  c.defineCommand('count2', COUNT);
  c.defineCommand('fail2', FAIL);
  t.teardown(() => c.disconnect());
  return c;
}

/** Calls of a command since the last CONFIG RESETSTAT, from INFO commandstats. */
async function calls(name: string): Promise<number> {
  const info = await redis.client.info('commandstats');
  return Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
}

t.test('every script builds its commands with the one class', async (t) => {
  const c = client();
  await c.ping();
  const sent: object[] = [];
  const send = c.sendCommand.bind(c);
  c.sendCommand = ((command: { name: string }, stream?: never) => {
    if (command.name.startsWith('eval')) sent.push(command);
    return send(command as never, stream);
  }) as typeof c.sendCommand;
  await c.echo2('class:a', '1');
  await c.count2('class:b');
  t.equal(sent.length, 2);
  t.ok(sent.every((command) => command instanceof ScriptCommand), 'both are ScriptCommands');
  t.equal(Object.getPrototypeOf(sent[0]), Object.getPrototypeOf(sent[1]), 'of the same class');
});

t.test('EVAL the first time a connection sees a script, EVALSHA after, per connection', async (t) => {
  const c = client();
  await c.ping();
  await redis.client.config('RESETSTAT');
  t.same(await c.echo2('seen:1', 'a'), ['seen:1', 'a']);
  t.same(await c.echo2('seen:2', 'b'), ['seen:2', 'b']);
  t.same(await c.echo2('seen:3', 'c'), ['seen:3', 'c']);
  t.equal(await calls('eval'), 1, 'one EVAL');
  t.equal(await calls('evalsha'), 2, 'then EVALSHA');
  const other = client();
  t.same(await other.echo2('seen:4', 'd'), ['seen:4', 'd']);
  t.equal(await calls('eval'), 2, 'a new connection starts with EVAL again');
  t.equal(await redis.client.get('seen:3'), 'c');
});

t.test('after SCRIPT FLUSH the command is resent as EVAL and later calls use EVALSHA again', async (t) => {
  const c = client();
  t.equal(await c.count2('flush:n'), 1);
  await redis.client.script('FLUSH');
  await redis.client.config('RESETSTAT');
  t.equal(await c.count2('flush:n'), 2, 'answered, and run once');
  t.equal(await calls('eval'), 1, 'resent as EVAL');
  t.equal(await c.count2('flush:n'), 3);
  t.equal(await calls('evalsha'), 2, 'the refused EVALSHA, then the next call');
  t.equal(await redis.client.get('flush:n'), '3', 'never run twice');
});

t.test('pipelines, key prefixes and callbacks work as before', async (t) => {
  const c = client();
  await c.echo2('pipe:warm', 'x');
  await redis.client.script('FLUSH');
  const results = await (c.pipeline() as unknown as { echo2(k: string, v: string): { count2(k: string): { exec(): Promise<[Error | null, unknown][]> } } })
    .echo2('pipe:a', '1')
    .count2('pipe:n')
    .exec();
  t.same(results, [[null, ['pipe:a', '1']], [null, 1]], 'a pipeline after a flush');

  const prefixed = client({ keyPrefix: 'pre:' });
  t.same(await prefixed.echo2('k', 'v'), ['pre:k', 'v']);
  t.equal(await redis.client.get('pre:k'), 'v', 'the key carries the prefix');

  const viaCallback = await new Promise((resolve, reject) => {
    void c.echo2('cb:k', 'cb', (err, result) => (err ? reject(err) : resolve(result)));
  });
  t.same(viaCallback, ['cb:k', 'cb']);
});

t.test('a script error rejects with the error, and the script ran once', async (t) => {
  const c = client();
  await t.rejects(c.fail2('fail:runs', 'first'), /ERR no good: first/);
  t.equal(await redis.client.get('fail:runs'), '1', 'an error is not a NOSCRIPT: no resend');
  await redis.client.script('FLUSH');
  await t.rejects(c.fail2('fail:runs', 'after flush'), /ERR no good: after flush/);
  t.equal(await redis.client.get('fail:runs'), '2', 'after a flush: the refused EVALSHA did not run, the EVAL ran once');
  t.equal(await c.count2('fail:alive'), 1, 'the connection still works');
});
