// src/ids.ts: random tokens of the asked size, none repeated across refills of the pool; sequential ids.
import t from 'tap';
import { randomToken, sequentialIds } from '../src/ids.js';

t.test('tokens have the asked length and do not repeat, across several refills of the pool', async (t) => {
  const tokens = Array.from({ length: 1000 }, () => randomToken(16)); // 16 000 bytes: four pools
  t.same(tokens.filter((s) => !/^[\w-]{22}$/.test(s)), [], '22 base64url characters for 16 bytes');
  t.equal(new Set(tokens).size, tokens.length, 'no repeats');
  t.match(randomToken(9), /^[\w-]{12}$/, '12 characters for 9 bytes');
  const odd = Array.from({ length: 600 }, () => randomToken(9)); // a token never straddles two pools
  t.equal(new Set(odd).size, odd.length);
});

t.test('sequential ids: lead, a random prefix, the separator, a counter; two sequences never share a prefix', async (t) => {
  const a = sequentialIds('t', 12);
  const b = sequentialIds('t', 12);
  const [a0, a1, b0] = [a(), a(), b()];
  t.match(a0, /^t[\w-]{16}0$/);
  t.equal(a1, `${a0.slice(0, -1)}1`, 'the counter counts');
  t.not(b0.slice(0, 17), a0.slice(0, 17), 'another sequence, another prefix');
  t.match(sequentialIds('', 9, '-')(), /^[\w-]{12}-0$/);
});
