// The embedded redis-server: starts on a free port with AOF, stops on stop(), dies with its parent even
// after a SIGKILL (the guardian pipe), and a stale one found by its pid file is stopped on the next start.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import t from 'tap';
import { RedisServerMissingError, startEmbeddedRedis, stopStale } from '../../src/redis/embedded.js';
import { TSX_ARGS, tsxChildEnv } from '../helpers/tsx-child.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function waitDead(pid: number, ms = 5000) {
  const until = Date.now() + ms;
  while (alive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  return !alive(pid);
}

const dir = mkdtempSync(join(tmpdir(), 'baton-embedded-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('starts with AOF on a free port, serves, and stop() ends it', async (t) => {
  const r = await startEmbeddedRedis({ dataDir: join(dir, 'a') });
  const client = new Redis(r.url);
  t.equal(await client.ping(), 'PONG');
  t.same(await client.config('GET', 'appendonly'), ['appendonly', 'yes']);
  client.disconnect();
  t.ok(existsSync(join(dir, 'a', 'redis.pid')));
  await r.stop();
  t.ok(await waitDead(r.pid), 'redis-server is gone');
  t.notOk(existsSync(join(dir, 'a', 'redis.pid')), 'pid file removed');
});

t.test('a SIGKILLed parent leaves no orphan: the guardian stops redis-server', async (t) => {
  const dataDir = join(dir, 'b');
  const script = `import { startEmbeddedRedis } from ${JSON.stringify(new URL('../../src/redis/embedded.ts', import.meta.url).pathname)};
const r = await startEmbeddedRedis({ dataDir: ${JSON.stringify(dataDir)} });
process.stdout.write('PID ' + r.pid + '\\n');
setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, [...TSX_ARGS, '--input-type=module', '-e', script], {
    env: tsxChildEnv(process.env),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const pid = await new Promise<number>((ok) => {
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /PID (\d+)/.exec(out);
      if (m) ok(Number(m[1]));
    });
  });
  t.ok(alive(pid), 'redis-server runs');
  child.kill('SIGKILL');
  t.ok(await waitDead(pid), 'redis-server stopped after its parent was SIGKILLed');
});

t.test('a stale server found by its pid file is stopped before a new one starts', async (t) => {
  const dataDir = join(dir, 'c');
  const first = await startEmbeddedRedis({ dataDir });
  // Simulate a leftover: forget the first handle, start again over the same data dir.
  const second = await startEmbeddedRedis({ dataDir });
  t.equal(second.staleStopped, first.pid, 'the earlier server was found and stopped');
  t.ok(await waitDead(first.pid));
  t.equal(Number(readFileSync(join(dataDir, 'redis.pid'), 'utf8')), second.pid);
  await second.stop();
  await first.stop(); // ends its guardian, whose server is already gone
  t.equal(await stopStale(join(dataDir, 'redis.pid')), undefined, 'nothing stale after a clean stop');
});

t.test('no redis-server on PATH: one line naming the fixes', async (t) => {
  await t.rejects(startEmbeddedRedis({ dataDir: join(dir, 'd'), bin: 'redis-server-that-does-not-exist' }), RedisServerMissingError);
  t.match(new RedisServerMissingError().message, /apt-get install redis-server.*brew install redis.*docker compose up/);
});

t.end();
