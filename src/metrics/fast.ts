// Hot-path metrics. prom-client validates and hashes the label object on every inc() and observe(), even
// on a child made by labels(): measured here, the HTTP histogram's observe alone was about 4 µs per request,
// a sixth of a whole /health/live. These record into plain numbers per label set, resolved once:
//   - fastCounter wraps a prom-client Counter: increments wait in memory and are added to the Counter when
//     it is collected (a scrape), so the exposition, the HELP/TYPE lines and the registry stay prom-client's;
//   - FastHistogram is a prom-client-compatible metric of its own (a histogram cannot take a batch of
//     observations through prom-client's API), registered in a Registry and rendered in the same format.
import type { Counter, Registry } from 'prom-client';

type LabelValues<L extends string> = Partial<Record<L, string | number>>;

export interface FastCounterChild {
  inc(n?: number): void;
}

/**
 * Handles on the label sets of `counter`, one per label set (made on first use, then the same object): inc()
 * only adds to a number; pending increments are added to the Counter when it is collected.
 */
export function fastCounter<L extends string>(counter: Counter<L>): (labels: LabelValues<L>) => FastCounterChild {
  const children = new Map<string, FastCounterChild & { labels: LabelValues<L>; pending: number }>();
  const target = counter as unknown as { collect?: () => unknown };
  const ownCollect = target.collect;
  target.collect = function flush(this: unknown) {
    for (const child of children.values()) {
      if (child.pending === 0) continue;
      counter.inc(child.labels, child.pending);
      child.pending = 0;
    }
    return ownCollect?.call(this);
  };
  return (labels) => {
    const id = Object.values(labels).join('\u0000');
    let child = children.get(id);
    if (child === undefined) {
      counter.inc(labels, 0); // the series exists (at 0) from its first use, as with prom-client
      const c = {
        labels,
        pending: 0,
        inc(n = 1) {
          c.pending += n;
        },
      };
      children.set(id, (child = c));
    }
    return child;
  };
}

/**
 * `make(a, b)` remembered per pair: two Map lookups per call, where a label object and its joined key cost about
 * 1 % of an in-process task's CPU (session 19). For the series of two labels on hot paths; the pairs stay as
 * bounded as the label values the caller passes.
 */
export function rememberPairs<A, B, C>(make: (a: A, b: B) => C): (a: A, b: B) => C {
  const cache = new Map<A, Map<B, C>>();
  return (a, b) => {
    let inner = cache.get(a);
    if (inner === undefined) cache.set(a, (inner = new Map()));
    let value = inner.get(b);
    if (value === undefined) inner.set(b, (value = make(a, b)));
    return value;
  };
}

export interface FastHistogramChild {
  observe(value: number): void;
}

interface Series extends FastHistogramChild {
  labels: Record<string, string>;
  counts: number[];
  sum: number;
  count: number;
}

/** A labelled histogram with prom-client's exposition (cumulative `_bucket{le}`, `_sum`, `_count`). */
export class FastHistogram<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** The handle for one label set (made on first use, then the same object): observe() is a bucket search and three additions. */
  child(labels: Record<L, string>): FastHistogramChild {
    const id = this.labelNames.map((n) => labels[n]).join('\u0000');
    let s = this.series.get(id);
    if (s === undefined) {
      const ordered: Record<string, string> = {};
      for (const n of this.labelNames) ordered[n] = labels[n];
      const counts = new Array<number>(this.buckets.length + 1).fill(0);
      const buckets = this.buckets;
      const series: Series = {
        labels: ordered,
        counts,
        sum: 0,
        count: 0,
        observe(value: number) {
          let i = 0;
          while (i < buckets.length && value > (buckets[i] as number)) i++;
          (counts[i] as number)++;
          series.sum += value;
          series.count++;
        },
      };
      this.series.set(id, (s = series));
    }
    return s;
  }

  /** What prom-client's Registry renders (the same shape prom-client's own Histogram returns). */
  get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cumulative += s.counts[i] as number;
        values.push({ labels: { le: this.buckets[i] as number, ...s.labels }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.series.clear();
  }
}
