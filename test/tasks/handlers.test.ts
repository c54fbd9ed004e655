import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { auth, build } from '../helpers/build.js';
import { publishedDuring } from '../helpers/published.js';
import { startRedis } from '../helpers/redis.js';
import { TOPOLOGY } from '../helpers/topology.js';
import { decodeTaskId } from '../../src/tasks/service.js';

const redis = await startRedis(t);
t.beforeEach(() => redis.flush());

// A local HTTP server on loopback: answers per path; records what it received.
const received: { path: string; body: string; headers: IncomingMessage['headers'] }[] = [];
let failuresLeft = 0;
let release: (() => void) | undefined;
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    received.push({ path: req.url ?? '', body, headers: req.headers });
    if (req.url === '/ok') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ echoed: JSON.parse(body) }));
    } else if (req.url === '/flaky' && failuresLeft-- > 0) {
      res.writeHead(500).end('try later');
    } else if (req.url === '/flaky') {
      res.writeHead(200).end('fine');
    } else if (req.url === '/hang') {
      release = () => {
        if (!res.headersSent) res.writeHead(200).end('late');
      };
    } else {
      res.writeHead(404).end();
    }
  });
});
await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
t.teardown(() => new Promise<void>((ok) => {
  release?.();
  server.close(() => ok());
  server.closeAllConnections();
}));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const env = { BATON_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', BATON_WEBHOOK_TIMEOUT_MS: '5000' };

type App = Awaited<ReturnType<typeof build>>;
async function until(app: App, id: string, states: string[]) {
  for (let i = 0; i < 400; i++) {
    const v = (await app.inject({ url: `/v1/tasks/${id}`, headers: auth() })).json();
    if (states.includes(v.state)) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`task ${id} never reached ${states.join('/')}`);
}

/** Whether the webhook job lands in BullMQ's failed set (within 5 s): failed for good, no retry left. */
async function failedForGood(app: App, jobId: string): Promise<boolean> {
  const failed = `${app.keys.tasks.bullPrefix('t1')}:${app.keys.tasks.queueName('webhook')}:failed`;
  for (let i = 0; i < 200; i++) {
    if ((await redis.client.zscore(failed, jobId)) !== null) return true;
    await new Promise((res) => setTimeout(res, 25));
  }
  return false;
}

t.test('webhook: the payload is POSTed and the 2xx body is the result (seen over SSE: PENDING → … → SUCCESS)', async (t) => {
  const app = await build(t, redis.url, { env, listen: true });
  const r = await app.inject({
    method: 'POST', url: '/v1/tasks', headers: auth(),
    payload: { type: 'webhook', payload: { url: `${base}/ok`, body: { n: 1 }, headers: { 'x-sig': 'abc' } } },
  });
  t.equal(r.statusCode, 202);
  const { id } = r.json();
  const res = await fetch(`${app.baseUrl}/v1/tasks/${id}/events`, { headers: auth() });
  const text = await res.text(); // the stream ends after the final state
  const states = [...text.matchAll(/"state":"([A-Z]+)"/g)].map((m) => m[1]);
  t.equal(states.at(-1), 'SUCCESS');
  t.ok(states.every((s) => ['PENDING', 'STARTED', 'SUCCESS'].includes(s!)), states.join(','));
  const v = await until(app, id, ['SUCCESS']);
  t.same(v.result, { echoed: { n: 1 } });
  const hit = received.find((x) => x.path === '/ok');
  t.equal(hit?.headers['x-sig'], 'abc');
  t.equal(hit?.headers['content-type'], 'application/json');
  const claim = await app.inject({ method: 'POST', url: '/v1/workers/webhook/claim', headers: auth(), payload: {} });
  t.equal(claim.statusCode, 400, 'HTTP workers cannot claim built-in types');
});

t.test('webhook: a non-2xx answer is a failed attempt, retried with backoff (RETRY), then SUCCESS', async (t) => {
  const app = await build(t, redis.url, { env });
  failuresLeft = 1;
  const r = await app.inject({
    method: 'POST', url: '/v1/tasks', headers: auth(),
    payload: { type: 'webhook', payload: { url: `${base}/flaky` }, attempts: 3, backoff: { type: 'fixed', delayMs: 500 } },
  });
  const { id } = r.json();
  const retry = await until(app, id, ['RETRY', 'SUCCESS']);
  t.equal(retry.state, 'RETRY');
  t.match(retry.error, /HTTP 500/);
  t.ok(retry.nextAttemptAt);
  const done = await until(app, id, ['SUCCESS', 'FAILURE']);
  t.equal(done.state, 'SUCCESS');
  t.equal(done.result, 'fine');
  t.equal(done.attempts, 2, 'one failed attempt, then the one that succeeded');
});

t.test('webhook: timeoutMs and revoke abort a running call', async (t) => {
  const app = await build(t, redis.url, { env });
  const slow = (await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { type: 'webhook', payload: { url: `${base}/hang` }, timeoutMs: 300 } })).json().id;
  const v = await until(app, slow, ['FAILURE', 'SUCCESS']);
  t.equal(v.state, 'FAILURE');
  t.match(v.error, /timed out|abort/i, String(v.error));
  release?.();
  release = undefined;

  const r = (await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { type: 'webhook', payload: { url: `${base}/hang` }, attempts: 3 } })).json().id;
  await until(app, r, ['STARTED']);
  const d = await app.inject({ method: 'DELETE', url: `/v1/tasks/${r}`, headers: auth() });
  t.equal(d.json().state, 'REVOKED');
  // The handler gets the abort and the job ends failed-as-revoked, for good (no retry).
  for (let i = 0; i < 200; i++) {
    const counts = await redis.client.zcard(`baton:t1:t:{webhook}:failed`);
    if (counts >= 2) break;
    await new Promise((res) => setTimeout(res, 25));
  }
  t.equal((await app.inject({ url: `/v1/tasks/${r}`, headers: auth() })).json().state, 'REVOKED');
  (release as (() => void) | undefined)?.();
});

t.test('baton.echo: the payload comes back as the result, no worker needed', async (t) => {
  const app = await build(t, redis.url);
  const { id } = (await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { type: 'baton.echo', payload: { hi: [1, 2] } } })).json();
  const v = await until(app, id, ['SUCCESS', 'FAILURE']);
  t.equal(v.state, 'SUCCESS');
  t.same(v.result, { hi: [1, 2] });
  const m = await app.inject({ url: '/metrics' });
  t.match(m.body, /baton_tasks_total\{type="baton.echo",state="SUCCESS"\} 1/);
  t.match(m.body, /baton_task_duration_seconds_count\{type="baton.echo",state="SUCCESS"\} 1/);
});

t.test('baton.echo: a batch submit runs every task in-process', async (t) => {
  const app = await build(t, redis.url);
  const r = await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { type: 'baton.echo', tasks: [{ payload: 1 }, { payload: 'two' }, { payload: [3] }] } });
  t.equal(r.statusCode, 202, r.body);
  const views = await Promise.all((r.json().tasks as { id: string }[]).map((x) => until(app, x.id, ['SUCCESS', 'FAILURE'])));
  t.same(views.map((v) => [v.state, v.result]), [['SUCCESS', 1], ['SUCCESS', 'two'], ['SUCCESS', [3]]]);
});

t.test('an in-process attempt that may have missed a revoke reads the tombstone, and does not run', async (t) => {
  const app = await build(t, redis.url, { env });
  // Fetched within a second of the app's subscription, the attempt cannot trust that it heard every revoke
  // (src/tasks/revoke-watch.ts): the tombstone alone, with no message, keeps it from running.
  const { id } = (await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { type: 'webhook', payload: { url: `${base}/ok` }, delayMs: 400, attempts: 3 } })).json();
  const jobId = decodeTaskId(id)!.jobId;
  await redis.client.set(app.keys.tasks.revoked('t1', 'webhook', jobId), JSON.stringify({ revokedAt: Date.now() }), 'PX', 60_000);
  const before = received.length;
  t.ok(await failedForGood(app, jobId), 'the attempt failed, for good, without retries');
  t.equal(received.length, before, 'the webhook was never called');
  t.equal((await app.inject({ url: `/v1/tasks/${id}`, headers: auth() })).json().state, 'REVOKED');
});

t.test('a revoke heard before the attempt starts refuses it without reading Redis', { skip: TOPOLOGY === 'cluster' ? 'on a Cluster every attempt reads the tombstone' : false }, async (t) => {
  const app = await build(t, redis.url, { env });
  // Fetched more than a second after the subscription: the attempt trusts what was heard. Only the message (as
  // revoke() publishes it, after trying to remove the job) and no tombstone: the refusal comes from what was heard.
  const { id } = (await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { type: 'webhook', payload: { url: `${base}/ok` }, delayMs: 1_500, attempts: 3 } })).json();
  const jobId = decodeTaskId(id)!.jobId;
  const channel = app.keys.event('t1', 'revokes', 'webhook');
  const heard = app.notifier.wait(channel, 5_000);
  await redis.client.publish(channel, jobId);
  t.equal(await heard.outcome, 'event');
  const before = received.length;
  t.ok(await failedForGood(app, jobId), 'the attempt failed, for good, without retries');
  t.equal(received.length, before, 'the webhook was never called');
});

t.test('webhook: hosts off the allow-list and bad payloads are 400 at submit', async (t) => {
  const app = await build(t, redis.url, { env });
  for (const payload of [{ url: 'http://example.com/x' }, { url: 'ftp://127.0.0.1/x' }, { url: 'not a url' }, { url: `${base}/ok`, extra: 1 }, 'just a string']) {
    const r = await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { type: 'webhook', payload } });
    t.equal(r.statusCode, 400, JSON.stringify(payload));
    t.equal(r.json().code, 'validation_failed');
  }
});

t.end();

t.test('a task of a built-in type is not announced to HTTP claims (nobody can claim it; a PUBLISH reaches every instance)', async (t) => {
  const app = await build(t, redis.url, { env });
  const typeChannel = app.keys.event('t1', 'tasks', 'webhook');
  // The announce would run on the claiming marker's slot; the probe comes from there. The marker is set, as by a
  // parked claim, so only the built-in type keeps the submit quiet.
  const marker = app.keys.tasks.claiming('t1', 'webhook');
  await app.redis.set(marker, '1', 'PX', 60_000);
  const seen = await publishedDuring(app, typeChannel, marker, async () => {
    const r = await app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: { type: 'webhook', payload: { url: `${base}/ok`, body: { n: 2 } } } });
    t.equal(r.statusCode, 202);
    await until(app, r.json().id, ['SUCCESS']);
  });
  t.same(seen, [], 'nothing was published on the type channel');
});
