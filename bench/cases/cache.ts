// Cache hot paths against the thin Fastify+ioredis proxy (same value as the reference: ~250 bytes of JSON).
// Target (issue 3): everything Baton adds (auth, tenancy, validation, metrics, content type, ETag, TTL)
// costs at most 10 %: GET hit ≥ 0.9× and PUT ≥ 0.85× the proxy's requests/s, p99 ≤ 1.5× its p99.
import type { BenchCase, BenchContext } from '../types.js';

const VALUE = JSON.stringify({ user: 42, name: 'Ada Lovelace', roles: ['admin', 'dev'], bio: 'x'.repeat(200) });
const MULTI_KEYS = Array.from({ length: 10 }, (_, i) => `bench:multi:${i}`);

async function seed(ctx: BenchContext, key: string): Promise<void> {
  const r = await fetch(`${ctx.baseUrl}/v1/cache/${encodeURIComponent(key)}`, {
    method: 'PUT',
    headers: { ...ctx.headers, 'content-type': 'application/json' },
    body: VALUE,
  });
  if (r.status !== 204) throw new Error(`seeding ${key}: ${r.status} ${await r.text()}`);
}

export const cases: BenchCase[] = [
  {
    name: 'cache GET (hit)',
    method: 'GET',
    path: '/v1/cache/bench:hit',
    setup: (ctx) => seed(ctx, 'bench:hit'),
    target: { reference: 'proxyGet', minRatio: 0.9, maxP99Ratio: 1.5 },
  },
  {
    // Not a Baton case: the same GET (value format, ETag and Cache-Status headers) behind a bare route, with
    // Baton's coalesced writes. What the operation itself reaches against the proxy (reading aid).
    name: 'cache GET (hit): naive server, same value format (reading aid)',
    method: 'GET',
    path: '/v1/cache/bench:hit',
    setup: (ctx) => seed(ctx, 'bench:hit'),
    server: 'naive',
    target: { reference: 'proxyGet' },
  },
  {
    name: 'cache GET (miss, 404 problem)',
    method: 'GET',
    path: '/v1/cache/bench:absent',
    setup: async (ctx) => {
      await fetch(`${ctx.baseUrl}/v1/cache/bench:absent`, { method: 'DELETE', headers: ctx.headers });
    },
    target: { reference: 'proxyGet' },
  },
  {
    name: 'cache PUT',
    method: 'PUT',
    path: '/v1/cache/bench:put',
    headers: { 'content-type': 'application/json' },
    body: VALUE,
    target: { reference: 'proxySet', minRatio: 0.85, maxP99Ratio: 1.5 },
  },
  {
    // Not a Baton case: the JSON check, the packed value and the lease-invalidating set script behind a bare
    // route (reading aid for the target above).
    name: 'cache PUT: naive server, same check and script (reading aid)',
    method: 'PUT',
    path: '/v1/cache/bench:put',
    headers: { 'content-type': 'application/json' },
    body: VALUE,
    server: 'naive',
    target: { reference: 'proxySet' },
  },
  {
    name: 'cache multi-get (10 keys)',
    method: 'GET',
    path: `/v1/cache?${MULTI_KEYS.map((k) => `key=${encodeURIComponent(k)}`).join('&')}`,
    setup: async (ctx) => {
      for (const k of MULTI_KEYS) await seed(ctx, k);
    },
    target: { reference: 'proxyGet' },
  },
];
