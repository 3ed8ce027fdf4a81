// A latency histogram the hot path can afford: a fixed array of bucket counts bumped in place
// (a short scan over 14 bounds, no allocation, no label lookup), read on scrape as a Prometheus
// histogram (metrics.ts). prom-client's own Histogram looks its label set up on every observe.

/** Upper bounds in seconds: 0.5 ms (an ack on one node) to 10 s (a request near its timeout). */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

export class LatencyHistogram {
  /** Observations per bucket, not cumulative; the last slot is above the largest bound (+Inf). */
  readonly counts = new Float64Array(LATENCY_BUCKETS.length + 1);
  sum = 0;
  count = 0;

  /** Record one latency, in seconds. */
  observe(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]) i++;
    this.counts[i]++;
    this.sum += seconds;
    this.count++;
  }

  /** Record the time since `startedMs` (a performance.now() reading). */
  since(startedMs: number): void {
    this.observe((performance.now() - startedMs) / 1000);
  }
}
