// The raw BullMQ yardstick of the task cases (bench/cases/tasks.ts) as a process of its own, so that it runs
// where Baton runs: pinned to the server CPU, with Redis and the load on the other one.
// Run as: tsx bench/raw-bullmq.ts <redisUrl> <durationS> <concurrency>; prints one JSON LoadResult line.
// As Baton's entry does (src/pin-tick-object.ts), so that the ratios compare like with like.
import '../src/pin-tick-object.js';
import { rawBullmqHere } from './cases/tasks.js';

const [redisUrl, durationS, concurrency] = process.argv.slice(2);
const result = await rawBullmqHere(redisUrl ?? 'redis://127.0.0.1:6379', Number(durationS ?? 4), Number(concurrency ?? 32));
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
