import t from 'tap';
import { auth, build } from '../helpers/build.js';
import { publishedDuring } from '../helpers/published.js';
import { decodeTaskId } from '../../src/tasks/service.js';
import { startRedis } from '../helpers/redis.js';

const redis = await startRedis(t);
t.beforeEach(() => redis.flush());

interface SseEvent { event?: string; id?: string; data?: string }

/** A minimal SSE reader over fetch: next() resolves with the next event (comments skipped). */
async function openStream(url: string, headers: Record<string, string>) {
  const controller = new AbortController();
  const res = await fetch(url, { headers, signal: controller.signal });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let ended = false;
  const next = async (): Promise<SseEvent | undefined> => {
    for (;;) {
      const sep = buf.indexOf('\n\n');
      if (sep >= 0) {
        const block = buf.slice(0, sep);
        buf = buf.slice(sep + 2);
        const ev: SseEvent = {};
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const i = line.indexOf(':');
          const k = line.slice(0, i);
          const v = line.slice(i + 1).trimStart();
          if (k === 'event' || k === 'id' || k === 'data') ev[k] = v;
        }
        if (ev.event || ev.data) return ev;
        continue;
      }
      if (ended) return undefined;
      const { value, done } = await reader.read();
      if (done) ended = true;
      else buf += value;
    }
  };
  return { res, next, close: () => controller.abort() };
}

t.test('SSE: PENDING → STARTED → PROGRESS → SUCCESS, then the end; reconnect with Last-Event-ID', async (t) => {
  const app = await build(t, redis.url, { listen: true });
  const h = auth();
  const post = (url: string, body: object) => fetch(`${app.baseUrl}${url}`, { method: 'POST', headers: { ...h, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const { id } = (await (await post('/v1/tasks', { type: 'sse', payload: 1 })).json()) as { id: string };
  const s = await openStream(`${app.baseUrl}/v1/tasks/${id}/events`, h);
  t.equal(s.res.status, 200);
  t.match(s.res.headers.get('content-type'), /text\/event-stream/);
  const e1 = await s.next();
  t.equal(e1?.event, 'state');
  t.equal(JSON.parse(e1!.data!).state, 'PENDING');
  const claimedAt = Date.now();
  const { token } = (await (await post('/v1/workers/sse/claim', {})).json()) as { token: string };
  const e2 = await s.next();
  t.equal(JSON.parse(e2!.data!).state, 'STARTED');
  // The change is pushed to the stream (pub/sub), not found at the next keep-alive (15 s) re-read.
  t.ok(Date.now() - claimedAt < 7_500, `STARTED pushed after ${Date.now() - claimedAt} ms, not at the keep-alive`);
  await post(`/v1/tasks/${id}/progress`, { token, current: 1, total: 2 });
  const e3 = await s.next();
  const v3 = JSON.parse(e3!.data!);
  t.equal(v3.state, 'PROGRESS');
  t.same(v3.progress, { current: 1, total: 2 });
  s.close();

  // Reconnect with the last id seen: the unchanged state is not sent again; the next change is.
  const r = await openStream(`${app.baseUrl}/v1/tasks/${id}/events`, { ...h, 'last-event-id': e3!.id! });
  await post(`/v1/tasks/${id}/progress`, { token, current: 2, total: 2 });
  const r1 = await r.next();
  t.same(JSON.parse(r1!.data!).progress, { current: 2, total: 2 }, 'the first event after reconnecting is the new progress');
  const completedAt = Date.now();
  await post(`/v1/tasks/${id}/complete`, { token, result: 'done' });
  const r2 = await r.next();
  t.ok(Date.now() - completedAt < 7_500, 'SUCCESS pushed, not found at the keep-alive');
  const v = JSON.parse(r2!.data!);
  t.equal(v.state, 'SUCCESS');
  t.equal(v.result, 'done');
  const end = await r.next();
  t.equal(end?.event, 'end');
  t.equal(await r.next(), undefined, 'the stream closes after the final state');

  // A stream opened on a finished task: its state at once, then the end.
  const f = await openStream(`${app.baseUrl}/v1/tasks/${id}/events`, h);
  t.equal(JSON.parse((await f.next())!.data!).state, 'SUCCESS');
  t.equal((await f.next())?.event, 'end');

  const missing = await fetch(`${app.baseUrl}/v1/tasks/nope/events`, { headers: h });
  t.equal(missing.status, 404);
  await missing.body?.cancel();
});

t.test('SSE streams wait on the notifier, not a Redis connection each', async (t) => {
  const app = await build(t, redis.url, { listen: true });
  const h = auth();
  const sub = await app.inject({ method: 'POST', url: '/v1/tasks', headers: h, payload: { type: 'many', payload: 1 } });
  const { id } = sub.json();
  const before = await redis.connectedClients();
  const streams = await Promise.all(Array.from({ length: 20 }, () => openStream(`${app.baseUrl}/v1/tasks/${id}/events`, h)));
  for (const s of streams) t.equal(JSON.parse((await s.next())!.data!).state, 'PENDING');
  const during = await redis.connectedClients();
  t.ok(during - before < 10, `connections stay bounded: 20 streams, ${before} → ${during} connections`);
  await app.inject({ method: 'DELETE', url: `/v1/tasks/${id}`, headers: h });
  for (const s of streams) {
    t.equal(JSON.parse((await s.next())!.data!).state, 'REVOKED');
    t.equal((await s.next())?.event, 'end');
  }
});

t.end();

t.test('a task nobody streams publishes no state changes (every PUBLISH reaches every instance)', async (t) => {
  const app = await build(t, redis.url, { listen: true });
  const h = auth();
  const post = (url: string, body: object) => fetch(`${app.baseUrl}${url}`, { method: 'POST', headers: { ...h, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const { id } = (await (await post('/v1/tasks', { type: 'quiet', payload: 1 })).json()) as { id: string };
  const channel = app.keys.event('t1', 'task', id);
  const seen = await publishedDuring(app, channel, app.keys.tasks.watched('t1', 'quiet', decodeTaskId(id)!.jobId), async () => {
    const { token } = (await (await post('/v1/workers/quiet/claim', {})).json()) as { token: string };
    t.equal((await post(`/v1/tasks/${id}/progress`, { token, current: 1, total: 2 })).status, 200);
    t.equal((await post(`/v1/tasks/${id}/complete`, { token, result: 'done' })).status, 200);
  });
  t.same(seen, [], 'started, progress and completed were not published');
});
