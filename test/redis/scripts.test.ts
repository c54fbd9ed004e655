// Every Lua script's header (KEYS[n] / ARGV[n] lines) matches its defineScript() call, and every .lua file
// under src/ is defined exactly once. Modules that define scripts are found by reading src/.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t from 'tap';
import { Redis } from 'ioredis';
import { defineScript, definedScripts } from '../../src/redis/scripts.js';
import { startRedis } from '../helpers/redis.js';

const srcDir = fileURLToPath(new URL('../../src', import.meta.url));
const walk = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
const files = walk(srcDir);
for (const f of files.filter((f) => f.endsWith('.ts') && !f.endsWith('scripts.ts'))) {
  if (readFileSync(f, 'utf8').includes('defineScript')) await import(pathToFileURL(f).href);
}

function header(source: string, kind: 'KEYS' | 'ARGV'): string[] {
  const names: string[] = [];
  for (const m of source.matchAll(new RegExp(`^--\\s*${kind}\\[(\\d+)\\]\\s+(\\S+)`, 'gm'))) {
    names[Number(m[1]) - 1] = m[2] as string;
  }
  return names;
}

t.test('each script header lists the KEYS and ARGV of its definition, in order', async (t) => {
  for (const s of definedScripts()) {
    const where = relative(srcDir, fileURLToPath(s.definition.file));
    t.same(header(s.source, 'KEYS'), [...s.definition.keys], `${where}: KEYS`);
    t.same(header(s.source, 'ARGV'), [...s.definition.args], `${where}: ARGV`);
    t.match(s.source, /^--\s*returns/m, `${where}: documents what it returns`);
    t.notMatch(s.source, /redis\.call\(\s*['"]KEYS['"]/i, `${where}: no KEYS command`);
    const body = s.source.split('\n').filter((l) => !l.startsWith('--')).join('\n');
    for (const m of body.matchAll(/KEYS\[(\d+)\]/g)) {
      t.ok(Number(m[1]) <= s.definition.keys.length, `${where}: KEYS[${m[1]}] is declared`);
    }
    for (const m of body.matchAll(/ARGV\[(\d+)\]/g)) {
      t.ok(Number(m[1]) <= s.definition.args.length, `${where}: ARGV[${m[1]}] is declared`);
    }
  }
});

t.test('every .lua file under src/ is defined exactly once', async (t) => {
  const lua = files.filter((f) => f.endsWith('.lua')).sort();
  const defined = definedScripts().map((s) => fileURLToPath(s.definition.file)).sort();
  t.same(defined, lua);
});

t.test('defineScript runs a script with typed keys and args, once per client, and survives SCRIPT FLUSH', async (t) => {
  const redis = await startRedis(t);
  const dir = fileURLToPath(new URL('./fixtures/', import.meta.url));
  const script = defineScript<[string, number]>({
    name: 'testEcho',
    file: pathToFileURL(join(dir, 'echo.lua')),
    keys: ['target'] as const,
    args: ['value'] as const,
  });
  const client = new Redis(redis.url);
  t.teardown(() => client.disconnect());
  t.same(await script.run(client, ['k1'], ['v1']), ['k1', 1]);
  t.equal(await client.get('k1'), 'v1');
  await client.script('FLUSH');
  t.same(await script.run(client, ['k2'], ['v2']), ['k2', 1], 'falls back to EVAL after a flush');
  t.throws(() => defineScript({ name: 'testEcho', file: pathToFileURL(join(dir, 'echo.lua')), keys: [], args: [] }), /defined twice/);
});

t.end();
