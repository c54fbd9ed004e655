// src/pin-tick-object.ts keeps process.nextTick's inline caches monomorphic. A child node (with V8's natives
// syntax and an exposed GC) calls nextTick in bursts with a full GC between them, when no TickObject is alive,
// then prints nextTick's feedback: without the pin the literal's caches turn megamorphic (the pathology), with
// it they stay monomorphic.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { pinnedTickObject } from '../src/pin-tick-object.js';
import { TSX_ARGS, tsxChildEnv } from './helpers/tsx-child.js';

const root = new URL('..', import.meta.url).pathname;
const pinModule = new URL('../src/pin-tick-object.ts', import.meta.url).href;

// Natives syntax is compiled through Function so that no loader has to parse it.
const child = `
if (process.env.PIN === '1') await import(${JSON.stringify(pinModule)});
const noop = () => {};
for (let round = 0; round < 10; round++) {
  for (let i = 0; i < 100; i++) process.nextTick(noop);
  await new Promise((r) => setImmediate(r));
  globalThis.gc();
}
new Function('f', '%DebugPrint(f)')(process.nextTick);
`;

/** The IC states of nextTick's DefineKeyedOwnPropertyInLiteral slots (the TickObject literal's four keys). */
async function literalStates(pin: boolean): Promise<string[]> {
  // V8 prints through C stdio: into a pipe (non-blocking in a node child) the end of it can be lost; a file
  // takes all of it.
  const dir = mkdtempSync(join(tmpdir(), 'baton-tick-'));
  const file = join(dir, 'out.txt');
  const fd = openSync(file, 'w');
  try {
    const p = spawn(process.execPath, ['--allow-natives-syntax', '--expose-gc', ...TSX_ARGS, '--input-type=module', '-e', child], {
      cwd: root,
      env: tsxChildEnv({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PIN: pin ? '1' : '0' }),
      stdio: ['ignore', fd, 'pipe'],
    });
    let err = '';
    p.stderr?.on('data', (b: Buffer) => (err += b.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      p.once('error', reject);
      p.once('exit', resolve);
    });
    if (code !== 0) throw new Error(`child exited ${code}: ${err.slice(-500)}`);
    const out = readFileSync(file, 'latin1');
    return [...out.matchAll(/DefineKeyedOwnPropertyInLiteral (\w+)/g)].map((m) => m[1]!);
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

t.test('the pinned object is a TickObject', async (t) => {
  await new Promise((r) => setImmediate(r));
  const o = pinnedTickObject() as Record<string | symbol, unknown> | undefined;
  t.ok(o, 'pinned after the first tick');
  t.equal(typeof o?.callback, 'function', 'has the tick callback');
  t.ok(Object.getOwnPropertySymbols(o ?? {}).length >= 2, 'has the async id symbols');
});

t.test('without the pin, full GCs between ticks turn the literal megamorphic; with it, it stays monomorphic', async (t) => {
  const [without, withPin] = await Promise.all([literalStates(false), literalStates(true)]);
  t.equal(without.length, 4, 'four literal slots found');
  t.ok(without.includes('MEGAMORPHIC'), `without the pin: ${without.join(' ')}`);
  t.same(withPin, ['MONOMORPHIC', 'MONOMORPHIC', 'MONOMORPHIC', 'MONOMORPHIC'], 'with the pin');
});
