// The faster encoding of commands with Buffer arguments (src/redis/fast-writable.ts) writes exactly ioredis'
// bytes, and a real Redis reads them back: binary values, multi-byte strings, empty arguments.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import t from 'tap';
import { encodeWithBuffers, ioredisEncoding, useFastCommandEncoding } from '../../src/redis/fast-writable.js';
import { startRedis } from '../helpers/redis.js';

const redis = await startRedis(t);

/** A random argument: ASCII, multi-byte or empty text, or random, empty or CR/LF-laden bytes. */
function randomArg(i: number): string | Buffer {
  switch (i % 7) {
    case 0: return `key:${i}`;
    case 1: return 'ünïcödé €𝄞 '.repeat(i % 5);
    case 2: return '';
    case 3: return randomBytes(i % 300);
    case 4: return Buffer.alloc(0);
    case 5: return Buffer.from('\r\n$3\r\n*', 'latin1');
    default: return String(i * 7919);
  }
}

t.test('the same bytes as ioredis for any mix of strings and Buffers', async (t) => {
  let compared = 0;
  for (let n = 0; n < 2000; n++) {
    const count = 1 + (n % 23);
    const args = Array.from({ length: count }, (_, j) => randomArg(n * 31 + j));
    if (!args.some(Buffer.isBuffer)) args.push(randomBytes(n % 17));
    const name = n % 2 ? 'evalsha' : 'set';
    const expected = ioredisEncoding(name, args);
    if (!Buffer.isBuffer(expected) || !expected.equals(encodeWithBuffers(name, args))) {
      t.fail(`command ${n} differs: ${JSON.stringify(args.map((a) => (Buffer.isBuffer(a) ? `<${a.length} bytes>` : a)))}`);
      return;
    }
    compared++;
  }
  t.equal(compared, 2000);
});

t.test('installed on ioredis, and a real Redis reads what it writes', async (t) => {
  t.equal(useFastCommandEncoding(), true, 'this ioredis passes the probe');
  t.equal(useFastCommandEncoding(), true, 'installing twice is harmless');
  const client = new Redis(redis.port, '127.0.0.1', { lazyConnect: true });
  await client.connect();
  t.teardown(() => client.disconnect());
  const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  await client.set('bin:€', every);
  t.same(await client.getBuffer('bin:€'), every, 'every byte value survives');
  await client.set(Buffer.from('empty'), Buffer.alloc(0));
  t.equal(await client.get('empty'), '', 'an empty Buffer');
  const echoed = (await client.callBuffer('EVAL', 'return ARGV', 0, 'ä', every, '', Buffer.from('\r\n'))) as Buffer[];
  t.same(echoed.map((b) => b.toString('hex')), [Buffer.from('ä').toString('hex'), every.toString('hex'), '', '0d0a'], 'a script gets its arguments intact');
});
