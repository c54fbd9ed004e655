// A task's state changes (started, progress, completed, …) for its event streams, published in two steps so
// that the common case, a type nobody streams, costs one EXISTS per type per event-loop turn and nothing per
// task. Before, every change of every task built its marker key and channel and rode in a publish-marked
// script call: two of them per in-process task were about 7 µs of its 53 µs of worker CPU (measured: a
// worker-only drain of 60 000 echo tasks).
//
// 1. The changes asked for during one turn are grouped by (tenant, type) and, in the turn's check phase, each
//    group asks whether its type is watched at all: the gate key (keys.tasks.watchedType), which an event
//    stream sets, with its task's marker, before it reads the state.
// 2. Only while the gate exists do the group's changes go to the marked publisher, which checks each task's own
//    marker and publishes (marked-publisher.ts).
// No change a stream needs is lost: a stream that read a state before a change had set both keys before the
// change, so the EXISTS that follows the change sees the gate, and the script after it the marker. Changes keep
// their order: the groups of successive turns ask on one connection, so their answers, and the publishes they
// lead to, come in the order asked.
import type { RedisClient } from '../redis/connection.js';
import type { Keys } from '../redis/keys.js';

export type PublishIfMarked = (marker: string, channel: string, message: string) => void;

interface Group {
  jobIds: string[];
  /** The task id where the caller had it (else encoded from the job id when needed). */
  ids: (string | undefined)[];
  messages: string[];
}

export interface StatePublisherOptions {
  redis: RedisClient;
  keys: Keys;
  publishIfMarked: PublishIfMarked;
  /** The channel of a task's event streams. */
  channelOf(tenant: string, id: string): string;
  /** The task id of a job of a type. */
  idOf(type: string, jobId: string): string;
}

export function createStatePublisher(o: StatePublisherOptions) {
  // tenant → type → this turn's changes (two lookups, no key string per change)
  let pending = new Map<string, Map<string, Group>>();
  let scheduled = false;

  const release = (tenant: string, type: string, g: Group) => {
    for (let i = 0; i < g.jobIds.length; i++) {
      const jobId = g.jobIds[i] as string;
      const id = g.ids[i] ?? o.idOf(type, jobId);
      o.publishIfMarked(o.keys.tasks.watched(tenant, type, jobId), o.channelOf(tenant, id), g.messages[i] as string);
    }
  };

  const flush = () => {
    scheduled = false;
    const turn = pending;
    pending = new Map();
    for (const [tenant, types] of turn) {
      for (const [type, g] of types) {
        o.redis.exists(o.keys.tasks.watchedType(tenant, type)).then(
          (watched) => watched === 1 && release(tenant, type, g),
          () => undefined, // Redis down: the streams re-read the state when they resume
        );
      }
    }
  };

  /** Tell the task's event streams, if any, that it changed (`message` names the change). */
  return function publishTaskState(tenant: string, type: string, jobId: string, message: string, id?: string): void {
    let types = pending.get(tenant);
    if (!types) pending.set(tenant, (types = new Map()));
    let g = types.get(type);
    if (!g) types.set(type, (g = { jobIds: [], ids: [], messages: [] }));
    g.jobIds.push(jobId);
    g.ids.push(id);
    g.messages.push(message);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}
