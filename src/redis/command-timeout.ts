// Command timeouts without a timer per command. ioredis' own `commandTimeout` arms a setTimeout for every
// command, clears it on the reply and then deletes the property (which leaves each command object in
// dictionary mode): on a cache hit that was 1.2 µs of about 25 µs of CPU (measured on 2026-12-06, README:
// Benchmark). Here one interval per connection does the same job.
//
// Every `timeoutMs / 4` the watchdog notes the newest command in flight. A command noted at least `timeoutMs`
// ago that is still unsettled has waited at least that long, and so has every command ahead of it in the
// queue (Redis answers in order): each is rejected with ioredis' own "Command timed out" error, which the
// service maps to 503. Its reply, should it still come, is matched to it and ignored, exactly as with ioredis'
// timer. A command therefore fails after between `timeoutMs` and 1.5 × `timeoutMs`, never sooner.
import type { Cluster, Redis } from 'ioredis';
import { onEveryConnection } from './every-connection.js';

/** What the watchdog reads of an ioredis command and of its in-flight queue (Denque). */
interface PendingCommand {
  isSettled?: boolean;
  reject(err: Error): void;
}
interface QueueItem {
  command: PendingCommand;
}
interface CommandQueue {
  readonly length: number;
  peekBack(): QueueItem | undefined;
  peekAt(index: number): QueueItem | undefined;
}

const TIMED_OUT = 'Command timed out';

/** Rejects `noted` and every unsettled command ahead of it in the queue (all of them waited long enough). */
function expire(queue: CommandQueue, noted: PendingCommand): void {
  const ahead: PendingCommand[] = [];
  for (let i = 0; i < queue.length; i++) {
    const command = (queue.peekAt(i) as QueueItem).command;
    if (command === noted) {
      for (const c of ahead) c.reject(new Error(TIMED_OUT));
      break;
    }
    if (!command.isSettled) ahead.push(command);
  }
  // Not in the current queue (re-sent after a reconnect, or no longer in flight): only it is known to be old.
  if (!noted.isSettled) noted.reject(new Error(TIMED_OUT));
}

/** The newest command in flight at one check, and when that was. */
interface Note {
  at: number;
  command: PendingCommand;
}

function watchConnection(redis: Redis, timeoutMs: number): void {
  const tickMs = Math.max(10, Math.floor(timeoutMs / 4));
  const notes: Note[] = [];
  const tick = () => {
    // ioredis replaces the queue on every reconnect: read it afresh.
    const queue = (redis as unknown as { commandQueue: CommandQueue }).commandQueue;
    const now = Date.now();
    for (let oldest = notes[0]; oldest !== undefined && now - oldest.at >= timeoutMs; oldest = notes[0]) {
      notes.shift();
      if (!oldest.command.isSettled) expire(queue, oldest.command);
    }
    const newest = queue.peekBack()?.command;
    if (newest !== undefined && !newest.isSettled && notes[notes.length - 1]?.command !== newest) {
      notes.push({ at: now, command: newest });
    }
  };
  const interval = setInterval(tick, tickMs);
  interval.unref();
  redis.once('end', () => clearInterval(interval));
}

/** Fail any command of `client` that waits longer than `timeoutMs` for its reply (each Cluster node as it appears). */
export function watchCommandTimeouts(client: Redis | Cluster, timeoutMs: number): void {
  onEveryConnection(client, (connection) => watchConnection(connection, timeoutMs));
}
