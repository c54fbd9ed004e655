// Shutdown never hangs on Redis: with Redis frozen (CLIENT PAUSE: sockets open, no replies) the graceful close of
// BullMQ's handler Workers waits forever; app.close() must give up on it within its bound and cut the sockets.
import t from 'tap';
import { build } from '../helpers/build.js';
import { startRedis } from '../helpers/redis.js';
import { standaloneOnly } from '../helpers/topology.js';

const redis = await startRedis(t);
const PAUSE_MS = 10_000;

// CLIENT PAUSE freezes one server; a Cluster client or a Sentinel one would pause only the node it picks.
t.test('app.close() finishes while Redis is frozen', { skip: standaloneOnly }, async (t) => {
  const app = await build({ teardown: () => undefined }, redis.url);
  await redis.client.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
  const started = Date.now();
  await app.close();
  const took = Date.now() - started;
  t.ok(took < PAUSE_MS - 1_000, `closed in ${took} ms, before Redis came back (${PAUSE_MS} ms)`);
  // Let the pause run out, so the server is usable by the helper's teardown.
  await redis.client.call('CLIENT', 'UNPAUSE');
});
