// Shared by the test helpers: real server processes (redis-server, redis-server --sentinel) that are killed on
// process exit when a test file crashes, temp dirs removed likewise, and a bounded wait for states that no
// event announces.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { AppError } from '../../src/errors.js';
import { freePort } from '../../src/redis/embedded.js';

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Register a temp dir to be removed on process exit too (the teardown removes it first). */
export function trackDir(dir: string): void {
  dirs.add(dir);
}

/** Remove a tracked temp dir now (teardown). */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

export interface ServerProcess {
  port: number;
  child: ChildProcess;
  /** SIGKILL (or SIGTERM) the process; resolves once it has exited. */
  stop(graceful?: boolean): Promise<void>;
}

/**
 * Spawn `bin` (redis-server or redis-sentinel) with args and wait for `ready` in its output. The process is
 * killed on process exit if the caller never stops it.
 */
export async function spawnServer(bin: string, args: string[], port: number, ready = 'Ready to accept connections'): Promise<ServerProcess> {
  const c = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(c);
  c.once('exit', () => live.delete(c));
  let out = '';
  await new Promise<void>((ok, fail) => {
    const onData = (b: Buffer) => {
      out += b.toString();
      if (out.includes(ready)) ok();
    };
    c.stdout?.on('data', onData);
    c.stderr?.on('data', onData);
    c.once('exit', (code) => fail(new Error(`${bin} on ${port} exited (${code}): ${out.slice(-1500)}`)));
    c.once('error', fail);
  });
  c.stdout?.removeAllListeners('data');
  c.stderr?.removeAllListeners('data');
  c.stdout?.resume();
  c.stderr?.resume();
  return {
    port,
    child: c,
    stop: async (graceful = false) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill(graceful ? 'SIGTERM' : 'SIGKILL');
      await exited;
    },
  };
}

/** Poll `check` every `everyMs` until it is true or `timeoutMs` passes (for states with no event to wait on). */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000, everyMs = 100): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? ` (${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The AppError code a promise rejects with, or 'ok' (service-level tests assert on codes). */
export async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof AppError) return err.code;
    throw err;
  }
}

/**
 * A free port below the ephemeral range (32768+): while a test stops a redis-server, a reconnecting client's
 * outgoing socket could otherwise be handed the same port and block the restart (or a cluster bus port).
 */
export async function restartablePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (await portFree(port)) return port;
  }
  return freePort();
}

function portFree(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const srv = createServer();
    srv.once('error', () => ok(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => ok(true)));
  });
}

/**
 * Once a file's tests and teardowns are done, make sure its process ends. Rarely (after a Redis restart, about
 * one run in ten of test/locks/restart.test.ts) the process stayed alive with no handle of ours left: the only
 * active handle was a MessagePort, the TypeScript loader's, and tap killed the file at its timeout although every
 * assertion had passed. The timer is unref'd, so it never delays a process that ends by itself. Call it from the
 * root (file-level) teardown only: a subtest's servers end mid-file.
 */
let exitArmed = false;
export function exitWhenDone(): void {
  if (exitArmed) return;
  exitArmed = true;
  setTimeout(() => process.exit(), 3_000).unref();
}
