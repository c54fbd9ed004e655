// Each lock/semaphore Lua file's header names exactly the KEYS and ARGV its defineScript call declares, in order,
// and every KEYS[n] a script uses is declared.
import t from 'tap';
import '../../src/locks/service.js';
import { definedScripts } from '../../src/redis/scripts.js';

const ours = definedScripts().filter((s) => /^baton(Lock|Semaphore)/.test(s.definition.name));
t.equal(ours.length, 8, 'eight lock and semaphore scripts');
for (const s of ours) {
  const header = s.source.split('\n').filter((l) => l.startsWith('--'));
  const listed = (what: 'KEYS' | 'ARGV') =>
    header.map((l) => new RegExp(`^-- ${what}\\[(\\d+)\\] (\\S+)`).exec(l)).filter((m) => m !== null).map((m) => {
      return { i: Number(m[1]), name: m[2] };
    });
  const keys = listed('KEYS');
  const args = listed('ARGV');
  t.same(keys.map((k) => k.name), [...s.definition.keys], `${s.definition.name}: KEYS in the header`);
  t.same(keys.map((k) => k.i), s.definition.keys.map((_, i) => i + 1), `${s.definition.name}: KEYS numbered in order`);
  t.same(args.map((a) => a.name), [...s.definition.args], `${s.definition.name}: ARGV in the header`);
  t.same(args.map((a) => a.i), s.definition.args.map((_, i) => i + 1), `${s.definition.name}: ARGV numbered in order`);
  t.match(header[0] ?? '', /^-- \S/, `${s.definition.name}: starts with what it does`);
  t.ok(header.some((l) => l.startsWith('-- returns:')), `${s.definition.name}: says what it returns`);
  const body = s.source.split('\n').filter((l) => !l.startsWith('--')).join('\n');
  for (const m of body.matchAll(/KEYS\[(\d+)\]/g)) {
    t.ok(Number(m[1]) <= s.definition.keys.length, `${s.definition.name}: KEYS[${m[1]}] is declared`);
  }
}
t.end();
