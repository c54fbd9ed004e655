// Built-in handler `baton.echo`: the payload is the result. For smoke tests of a deployment (submit →
// SUCCESS with no worker running) and for measuring the in-process path against raw BullMQ.
import type { TaskHandler } from './types.js';

export const ECHO_TYPE = 'baton.echo';

export function echoHandler(): TaskHandler {
  return {
    type: ECHO_TYPE,
    validate() {
      // any payload
    },
    async run({ payload }) {
      return payload ?? null;
    },
  };
}
