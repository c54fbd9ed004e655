// The benchmark's raw HTTP/1.1 client (bench/client.ts): the answers Baton gives (Content-Length, chunked, 204
// without a body, Connection: close) are read whole, keep-alive connections are reused one request at a time,
// and a connection the server closes is not handed out again.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { postJson, send } from '../../bench/client.js';

const sockets = new Set<unknown>();
const server = http.createServer((req, res) => {
  sockets.add(req.socket);
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    if (req.url === '/echo') {
      const text = JSON.stringify({ got: JSON.parse(body || 'null'), auth: req.headers.authorization ?? null, méthode: req.method });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
    } else if (req.url === '/chunked') {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.write('{"parts":');
      setTimeout(() => res.end('["a","b"]}'), 5);
    } else if (req.url === '/none') {
      res.writeHead(204).end();
    } else if (req.url === '/close') {
      res.writeHead(200, { connection: 'close', 'content-length': 2 }).end('{}');
    } else {
      res.writeHead(404, { 'content-length': 0 }).end();
    }
  });
});
await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
t.teardown(() => new Promise<void>((ok) => server.close(() => ok())));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

t.test('a JSON answer with its Content-Length, the request body and headers as sent', async (t) => {
  const big = 'é'.repeat(100_000); // spans many TCP segments
  const r = await postJson<{ got: { big: string }; auth: string; méthode: string }>(base, '/echo', { authorization: 'Bearer k' }, { big });
  t.equal(r.status, 200);
  t.equal(r.json.got.big, big);
  t.equal(r.json.auth, 'Bearer k');
  t.equal(r.json.méthode, 'POST');
});

t.test('a chunked answer, and 204 / 404 without a body', async (t) => {
  const c = await postJson<{ parts: string[] }>(base, '/chunked', {}, {});
  t.equal(c.status, 201);
  t.same(c.json, { parts: ['a', 'b'] });
  const none = await send(base, 'POST', '/none', {}, {});
  t.equal(none.status, 204);
  t.equal(none.text, '');
  t.equal((await send(base, 'GET', '/missing', {})).status, 404);
});

t.test('keep-alive: sequential requests share a connection; concurrent ones do not', async (t) => {
  sockets.clear();
  for (let i = 0; i < 5; i++) await postJson(base, '/echo', {}, { i });
  t.equal(sockets.size, 1, 'five requests in turn over one connection');
  sockets.clear();
  const all = await Promise.all(Array.from({ length: 4 }, (_, i) => postJson<{ got: { i: number } }>(base, '/echo', {}, { i })));
  t.same(all.map((r) => r.json.got.i), [0, 1, 2, 3], 'each answer belongs to its own request');
  t.ok(sockets.size >= 2, 'requests in flight together use connections of their own');
});

t.test('Connection: close — the next request opens a new connection', async (t) => {
  sockets.clear();
  t.equal((await postJson(base, '/close', {}, {})).status, 200);
  t.equal((await postJson(base, '/echo', {}, { after: true })).status, 200);
  t.equal(sockets.size, 2);
});
