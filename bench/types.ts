// The benchmark's case contract. Each area adds bench/cases/<area>.ts exporting `cases: BenchCase[]`;
// bench/run.ts measures the references (bare Fastify route, thin Fastify+ioredis proxy) and then every case
// in the same run, and prints requests/s, p50, p99 and the ratios, with each case's target beside it.
import { createKeys } from '../src/redis/keys.js';

export interface BenchContext {
  /** Baton's base URL, e.g. http://127.0.0.1:4100 */
  baseUrl: string;
  /** Headers with a valid API key (tenant "bench", all scopes). */
  headers: Record<string, string>;
  /** Redis URL Baton uses (for seeding data directly). */
  redisUrl: string;
  /** The CPU the servers are pinned to (taskset), for a case that starts a server-like process of its own. */
  serverCpu?: string;
  /** The naive server (bench/references.ts naive): Baton's scripts behind bare routes, for reading targets. */
  naiveUrl?: string;
  /** Seconds each load phase runs. */
  durationS: number;
  /** Rounds (BENCH_ROUNDS), for a case that alternates measurements of its own. */
  rounds: number;
  /** Concurrent connections. */
  connections: number;
}

export interface LoadResult {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** Responses outside 2xx (a cache miss case expects 404s). */
  non2xx?: number;
  /** A cost at the larger size of a case over the same cost at the smaller (for Target.maxGrowth). */
  growth?: number;
  /** Anything a case wants printed beside the numbers (e.g. messages/s). */
  note?: string;
}

export type Reference = 'bare' | 'proxyGet' | 'proxySet';

export interface Target {
  /** Compare requests/s with this reference… */
  reference: Reference;
  /** …and require at least this ratio (e.g. 0.9 = 90 %). */
  minRatio?: number;
  /** p99 at most this multiple of the reference's p99. */
  maxP99Ratio?: number;
  /** Absolute limits, for latency or throughput targets that are not ratios. */
  maxP50Ms?: number;
  maxP99Ms?: number;
  minPerSec?: number;
  /** A cost measured at two sizes (LoadResult.growth: larger over smaller) at most this multiple. */
  maxGrowth?: number;
}

export interface HttpCase {
  name: string;
  method: 'GET' | 'PUT' | 'POST' | 'DELETE' | 'HEAD';
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Runs once before the load (seed keys, create queues, …). */
  setup?: (ctx: BenchContext) => Promise<void>;
  target?: Target;
  /** Send to the naive server instead of Baton (a reading aid beside a Baton case, not a Baton case). */
  server?: 'naive';
}

export interface ScenarioCase {
  name: string;
  /** Drives its own load (dynamic bodies, multi-step cycles, latency probes) and reports the numbers. */
  run: (ctx: BenchContext) => Promise<LoadResult>;
  target?: Target;
  /**
   * Measure like a fixed-request case: a 1 s warm-up, then rounds alternating with the target's reference
   * (or with the yardstick), the ratio being the median of the per-round ratios. For throughput cases whose
   * target is a ratio: a single run compared with a reference taken minutes earlier mostly measures the
   * machine's drift.
   */
  inRounds?: boolean;
  /** Compare with this instead of the reference (e.g. raw BullMQ on the same Redis), in alternating rounds. */
  yardstick?: { label: string; run: (ctx: BenchContext) => Promise<LoadResult> };
  /** Drives another server than Baton (the naive server, raw BullMQ): its note does not say how busy Baton was. */
  notBaton?: boolean;
}

export type BenchCase = HttpCase | ScenarioCase;

/** The task cases' BullMQ queue (type baton.echo) and prefixes, from Baton's own key builder (tenant "bench"). */
export const ECHO_QUEUE = createKeys('baton').tasks.queueName('baton.echo');
export const BATON_TASK_PREFIX = createKeys('baton').tasks.bullPrefix('bench');
/** Where the naive reference server (bench/references.ts) keeps its task jobs: apart from Baton's idle handlers. */
export const NAIVE_TASK_PREFIX = createKeys('naive').tasks.bullPrefix('bench');
