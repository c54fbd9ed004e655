// watchClient (routes/lib/client-gone.ts): `gone` without an AbortSignal, the signal made only when asked for,
// and a response that was sent is not a departure. Over a real node:http server and client.
import { once } from 'node:events';
import { createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyReply } from 'fastify';
import t from 'tap';
import { watchClient } from '../../routes/lib/client-gone.js';

/** A server whose single request hands its response to the test and is never answered by the server itself. */
async function serverWithOneRequest(t: { teardown(fn: () => unknown): void }) {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const responded = once(server, 'request') as Promise<[unknown, ServerResponse]>;
  const req = request({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', method: 'POST' });
  req.on('error', () => undefined);
  req.on('response', (r) => r.resume());
  req.write('x');
  const [, res] = await responded;
  return { res, client: watchClient({ raw: res } as FastifyReply), leave: () => req.destroy() };
}

t.test('a client that leaves is gone, whether or not its signal was made first', async (t) => {
  const before = await serverWithOneRequest(t);
  t.equal(before.client.gone, false, 'there while it waits');
  t.equal(before.res.listenerCount('close'), 0, 'no signal made yet, so nothing listens for the close');
  const signal = before.client.signal;
  t.equal(before.res.listenerCount('close'), 1, 'the signal listens for the close');
  t.equal(before.client.signal, signal, 'one signal per request');
  const aborted = once(signal, 'abort');
  before.leave();
  await aborted;
  t.equal(before.client.gone, true, 'gone, and the signal aborted');

  const after = await serverWithOneRequest(t);
  after.leave();
  await once(after.res, 'close');
  t.equal(after.client.gone, true, 'gone without a signal ever made');
  t.equal(after.client.signal.aborted, true, 'a signal made after the departure is aborted already');
});

t.test('a response that was sent is not a departure', async (t) => {
  const { res, client } = await serverWithOneRequest(t);
  const signal = client.signal;
  res.end('done');
  await once(res, 'close');
  t.equal(client.gone, false);
  t.equal(signal.aborted, false);
  t.equal(watchClient({ raw: res } as FastifyReply).gone, false, 'nor for a watcher made after the answer');
});
