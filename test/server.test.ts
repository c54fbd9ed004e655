// The process entry: a bad configuration stops the start naming the variable; with no REDIS_URL the server
// starts its own redis-server, serves, and on SIGTERM shuts down gracefully, stopping that redis-server.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { freePort } from '../src/redis/embedded.js';
import { TSX_ARGS, tsxChildEnv } from './helpers/tsx-child.js';

const root = new URL('..', import.meta.url).pathname;

function run(env: Record<string, string>) {
  const child = spawn(process.execPath, [...TSX_ARGS, 'src/server.ts'], {
    cwd: root,
    env: tsxChildEnv({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const waitFor = async (re: RegExp, ms = 20_000) => {
    const until = Date.now() + ms;
    while (!re.test(out)) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`did not see ${re}: ${out}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  return { child, exited, waitFor, output: () => out };
}

t.test('a bad value stops the start with a message naming the variable', async (t) => {
  const p = run({ PORT: 'eighty' });
  t.equal(await p.exited, 1);
  t.match(p.output(), /baton: invalid configuration:\s+PORT:/);
});

t.test('production without API keys refuses to start, saying which', async (t) => {
  const p = run({ NODE_ENV: 'production', REDIS_URL: 'redis://127.0.0.1:1' });
  t.equal(await p.exited, 1);
  t.match(p.output(), /BATON_API_KEYS: required in production/);
});

t.test('embedded redis: starts, serves, and SIGTERM stops both gracefully', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'baton-server-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const port = await freePort();
  const p = run({ PORT: String(port), REDIS_DATA_DIR: dataDir, LOG_LEVEL: 'info', BATON_SHUTDOWN_GRACE_MS: '5000' });
  await p.waitFor(/docs at http/);
  t.match(p.output(), /started an embedded redis-server/);
  const redisPid = Number(readFileSync(join(dataDir, 'redis.pid'), 'utf8'));
  const ready = await fetch(`http://127.0.0.1:${port}/health/ready`, { headers: { authorization: 'Bearer secret-token-in-header-42' } });
  t.equal(ready.status, 200);
  t.match(ready.headers.get('x-request-id'), /^[\w-]{12}-[0-9a-z]+$/, 'request id on every response');
  p.child.kill('SIGTERM');
  t.equal(await p.exited, 0, 'clean exit');
  let alive = true;
  for (let i = 0; i < 100 && alive; i++) {
    try {
      process.kill(redisPid, 0);
      await new Promise((r) => setTimeout(r, 20));
    } catch {
      alive = false;
    }
  }
  t.notOk(alive, 'the embedded redis-server stopped with Baton');
  t.match(p.output(), /shutting down/);
  t.notMatch(p.output(), /secret-token-in-header-42/, 'the Authorization header never reaches the logs');
  t.match(p.output(), /"reqId":"[\w-]{12}-[0-9a-z]+"/, 'request ids in log lines');
});

t.end();
