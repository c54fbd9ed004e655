// An AbortSignal that fires when the client goes away before its response was sent (a parked lock wait,
// lease wait, long poll or claim must then take nothing and leave the wait at once).
import type { FastifyReply } from 'fastify';

export function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  const res = reply.raw;
  const onClose = () => {
    if (!res.writableFinished) controller.abort();
  };
  res.once('close', onClose);
  return controller.signal;
}
