import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, EnvSchema, loadConfig } from '../src/config.js';

t.test('.env.example lists exactly the variables of the schema', async (t) => {
  const text = readFileSync(new URL('../.env.example', import.meta.url), 'utf8');
  const listed = [...text.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]).sort();
  const schema = Object.keys(EnvSchema.shape).sort();
  t.same(listed, schema);
});

t.test('defaults are safe for development', async (t) => {
  const c = loadConfig({});
  t.equal(c.port, 3000);
  t.equal(c.host, '127.0.0.1');
  t.equal(c.redis.kind, 'embedded');
  t.equal(c.apiKeys, undefined);
  t.equal(c.role, 'all');
  t.equal(c.limits.valueBytes, 1024 * 1024);
  t.ok(Object.isFrozen(c));
});

t.test('a bad value names the variable and what is wrong', async (t) => {
  t.throws(() => loadConfig({ PORT: 'eighty' }), { name: 'ConfigError', message: /PORT/ });
  t.throws(() => loadConfig({ PORT: '70000' }), { message: /PORT/ });
  t.throws(() => loadConfig({ BATON_ROLE: 'boss' }), { message: /BATON_ROLE/ });
  t.throws(() => loadConfig({ REDIS_URL: 'http://x' }), { message: /REDIS_URL.*redis:\/\//s });
  t.throws(() => loadConfig({ BATON_API_KEYS: '{nope' }), { message: /BATON_API_KEYS: not valid JSON/ });
  t.throws(() => loadConfig({ BATON_API_KEYS: '[{"key":"short","tenant":"a","scopes":["*"]}]' }), { message: /16 characters/ });
  t.throws(() => loadConfig({ BATON_API_KEYS: '[{"key":"0123456789abcdef0","tenant":"a*b","scopes":["*"]}]' }), { message: /tenant/ });
  t.throws(() => loadConfig({ BATON_API_KEYS: '[{"key":"0123456789abcdef0","tenant":"a","scopes":["root"]}]' }), { message: /scopes/ });
  t.throws(() => loadConfig({ REDIS_SENTINELS: 'nohost' }), { message: /REDIS_SENTINELS/ });
  t.throws(() => loadConfig({ BATON_LOCK_MIN_TTL_MS: '10', BATON_LOCK_MAX_TTL_MS: '5' }), { message: /BATON_LOCK_MIN_TTL_MS/ });
});

t.test('production refuses to start without Redis or API keys, saying which', async (t) => {
  t.throws(() => loadConfig({ NODE_ENV: 'production', REDIS_URL: 'redis://r:6379' }), { message: /BATON_API_KEYS/ });
  t.throws(() => loadConfig({ NODE_ENV: 'production', BATON_API_KEYS: '[]' }), { message: /REDIS_URL/ });
  const c = loadConfig({ NODE_ENV: 'production', BATON_API_KEYS: '[]', REDIS_URL: 'rediss://u:p@r:6380/2' });
  t.equal(c.host, '0.0.0.0');
  t.same(c.redis, { kind: 'standalone', url: 'rediss://u:p@r:6380/2' });
});

t.test('API keys: plain keys are kept only as sha256, keySha256 accepted, "*" expands, file variant', async (t) => {
  const c = loadConfig({
    BATON_API_KEYS: JSON.stringify([
      { key: 'plain-key-0123456789', tenant: 'a', scopes: ['*'] },
      { keySha256: 'A'.repeat(64), tenant: 'b', scopes: ['cache:read'] },
    ]),
  });
  t.equal(c.apiKeys?.length, 2);
  t.notMatch(JSON.stringify(c.apiKeys), /plain-key/);
  t.equal(c.apiKeys?.[0]?.scopes.size, 6);
  t.equal(c.apiKeys?.[1]?.sha256, 'a'.repeat(64));
  const dir = mkdtempSync(join(tmpdir(), 'baton-cfg-'));
  const file = join(dir, 'keys.json');
  writeFileSync(file, JSON.stringify([{ key: 'file-key-0123456789', tenant: 'f', scopes: ['queues'] }]));
  t.equal(loadConfig({ BATON_API_KEYS_FILE: file }).apiKeys?.[0]?.tenant, 'f');
  t.throws(() => loadConfig({ BATON_API_KEYS_FILE: join(dir, 'missing.json') }), ConfigError);
  t.throws(() => loadConfig({ BATON_API_KEYS_FILE: file, BATON_API_KEYS: '[]' }), { message: /not both/ });
});

t.test('topologies: sentinel and cluster', async (t) => {
  const s = loadConfig({ REDIS_SENTINELS: 'a:26379, b:26380', REDIS_SENTINEL_MASTER: 'm' });
  t.same(s.redis, { kind: 'sentinel', sentinels: [{ host: 'a', port: 26379 }, { host: 'b', port: 26380 }], masterName: 'm', url: undefined });
  const c = loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000,127.0.0.1:7001' });
  t.equal(c.redis.kind, 'cluster');
});
