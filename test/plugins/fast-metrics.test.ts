// The hot-path metrics must render exactly as prom-client's own Counter and Histogram would for the same
// observations: same series, same cumulative buckets, same sums and counts.
import { Counter, Histogram, Registry } from 'prom-client';
import t from 'tap';
import { FastHistogram, fastCounter, rememberPairs } from '../../src/metrics/fast.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];
const samples: [string, string, number][] = [
  ['/a', '200', 0.0005], ['/a', '200', 0.001], ['/a', '200', 0.05], ['/a', '200', 7],
  ['/b', '404', 0.2], ['/a', '500', 0.001001], ['/b', '404', 1],
];

t.test('FastHistogram renders what prom-client\'s Histogram renders', async (t) => {
  const reference = new Registry();
  const fast = new Registry();
  const h = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['route', 'status'] as const, buckets: BUCKETS, registers: [reference] });
  const f = new FastHistogram('x_seconds', 'h', ['route', 'status'] as const, BUCKETS, fast);
  for (const [route, status, v] of samples) {
    h.observe({ route, status }, v);
    f.child({ route, status }).observe(v);
  }
  t.equal(await fast.metrics(), await reference.metrics());
  t.match(await fast.metrics(), /x_seconds_bucket\{le="0.001",route="\/a",status="200"\} 2\n/, 'a value on a bound counts in that bucket');
  t.match(await fast.metrics(), /x_seconds_count\{route="\/b",status="404"\} 2/);
  t.equal(f.child({ route: '/a', status: '200' }), f.child({ route: '/a', status: '200' }), 'one handle per label set');
  f.reset();
  t.notMatch(await fast.metrics(), /x_seconds_count/, 'reset forgets every series');
});

t.test('fastCounter adds its increments when scraped, on top of direct ones', async (t) => {
  const registry = new Registry();
  const c = new Counter({ name: 'y_total', help: 'c', labelNames: ['op'] as const, registers: [registry] });
  const of = fastCounter(c);
  const put = of({ op: 'put' });
  t.match(await registry.metrics(), /y_total\{op="put"\} 0/, 'the series exists from its first use');
  t.equal(of({ op: 'put' }), put, 'one handle per label set: callers need no cache of their own');
  put.inc();
  put.inc(4);
  c.inc({ op: 'put' }, 10);
  of({ op: 'get' }).inc(2);
  const text = await registry.metrics();
  t.match(text, /y_total\{op="put"\} 15/);
  t.match(text, /y_total\{op="get"\} 2/);
  t.match(await registry.metrics(), /y_total\{op="put"\} 15/, 'a second scrape does not add them again');
});

t.test('rememberPairs makes each pair once and hands back the same series after', async (t) => {
  const made: string[] = [];
  const of = rememberPairs((a: string, b: string) => {
    made.push(`${a}/${b}`);
    return { a, b };
  });
  const first = of('lock', 'busy');
  t.equal(of('lock', 'busy'), first, 'the same object for the same pair');
  t.not(of('lock', 'acquired'), first);
  t.not(of('semaphore', 'busy'), first);
  of('semaphore', 'busy');
  t.same(made, ['lock/busy', 'lock/acquired', 'semaphore/busy'], 'made once per pair');
});
