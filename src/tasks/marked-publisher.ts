// Publishes that happen only while a marker key exists (lua/publish-marked.lua), batched: every such publish
// asked for during one turn of the event loop goes out in the loop's check phase, one script call per hash tag
// (keys of one slot, so it runs on Redis Cluster too), like the coalesced writes of src/redis/coalesce.ts.
// Under load a task costs three of them (the claim announce of its submit, `started`, `completed`), each a
// script call of its own before; now a turn's worth of tasks of a type shares one. Messages keep their order.
import type { RedisClient } from '../redis/connection.js';
import { defineScript } from '../redis/scripts.js';

const publishMarked = defineScript<number>({
  name: 'batonTaskPublishMarked',
  file: new URL('./lua/publish-marked.lua', import.meta.url),
  keys: ['marker'] as const,
  args: ['channel', 'message'] as const,
  repeated: true,
});

/** Messages per script call at most; a larger turn's batch is split. */
const MAX_PER_CALL = 64;

/** The part of a key that picks its Cluster slot: the first non-empty {…}, else the whole key. */
export function slotTag(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

export function createMarkedPublisher(redis: RedisClient) {
  let pending = new Map<string, { keys: string[]; args: string[] }>();
  let scheduled = false;

  const flush = () => {
    scheduled = false;
    const batches = pending;
    pending = new Map();
    for (const { keys, args } of batches.values()) {
      for (let i = 0; i < keys.length; i += MAX_PER_CALL) {
        publishMarked.runMany(redis, keys.slice(i, i + MAX_PER_CALL), args.slice(2 * i, 2 * (i + MAX_PER_CALL))).catch(() => undefined);
      }
    }
  };

  /** PUBLISH `message` on `channel` in this turn's batch, if `marker` exists when the batch runs. */
  return function publishIfMarked(marker: string, channel: string, message: string): void {
    const tag = slotTag(marker);
    let batch = pending.get(tag);
    if (!batch) pending.set(tag, (batch = { keys: [], args: [] }));
    batch.keys.push(marker);
    batch.args.push(channel, message);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}
