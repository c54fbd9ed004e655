// randomToken (src/random-token.ts): tokens of the asked size, none repeated across refills of the pool.
import t from 'tap';
import { randomToken } from '../src/random-token.js';

t.test('tokens have the asked length and do not repeat, across several refills of the pool', async (t) => {
  const tokens = Array.from({ length: 1000 }, () => randomToken(16)); // 16 000 bytes: four pools
  t.same(tokens.filter((s) => !/^[\w-]{22}$/.test(s)), [], '22 base64url characters for 16 bytes');
  t.equal(new Set(tokens).size, tokens.length, 'no repeats');
  t.match(randomToken(9), /^[\w-]{12}$/, '12 characters for 9 bytes');
  const odd = Array.from({ length: 600 }, () => randomToken(9)); // a token never straddles two pools
  t.equal(new Set(odd).size, odd.length);
});
