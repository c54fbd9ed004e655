// Whether the client went away before its response was sent (a parked lock wait, lease wait, long poll or
// claim must then take nothing and leave the wait at once).
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { WaitingClient } from '../../src/tasks/service.js';

/** Node marks the response destroyed when its socket closes, and after it was sent: only the first is a departure. */
const departed = (res: ServerResponse) => res.destroyed && !res.writableFinished;

/**
 * The AbortSignal and its 'close' listener are made only when a wait asks for them: a worker's complete with
 * `next` usually gets the next task with the finish and never waits, and the controller, its EventTarget and
 * the listener cost about 2 % of Baton's CPU per HTTP-worker task (CPU profile, session 19).
 */
class WatchedClient implements WaitingClient {
  #controller: AbortController | undefined;

  constructor(private readonly res: ServerResponse) {}

  get gone(): boolean {
    return this.#controller ? this.#controller.signal.aborted : departed(this.res);
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      const controller = new AbortController();
      this.#controller = controller;
      const res = this.res;
      if (departed(res)) controller.abort();
      else res.once('close', () => departed(res) && controller.abort());
    }
    return this.#controller.signal;
  }
}

/** A request's client, as a wait sees it: `gone` is cheap to read; `signal` is made on first use. */
export function watchClient(reply: FastifyReply): WaitingClient {
  return new WatchedClient(reply.raw);
}

/** An AbortSignal that fires when the client goes away before its response was sent. */
export function clientGone(reply: FastifyReply): AbortSignal {
  return watchClient(reply).signal;
}
