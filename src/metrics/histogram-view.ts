// A LatencyHistogram shown to prom-client's registry as a Prometheus histogram: registered as a
// metric object of its own (prom-client reads `name`, `help`, `type` and calls get() on scrape),
// so the counting stays in our plain array and prom-client only formats it.
import { LATENCY_BUCKETS, type LatencyHistogram } from './latency-histogram.js';

interface Sample { value: number; labels: Record<string, string | number>; metricName: string }

export class HistogramView {
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(readonly name: string, readonly help: string, private readonly histogram: LatencyHistogram) {}

  get(): { name: string; help: string; type: string; aggregator: string; values: Sample[] } {
    const h = this.histogram;
    const values: Sample[] = [];
    let cumulative = 0;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      cumulative += h.counts[i];
      values.push({ value: cumulative, labels: { le: LATENCY_BUCKETS[i] }, metricName: `${this.name}_bucket` });
    }
    values.push({ value: h.count, labels: { le: '+Inf' }, metricName: `${this.name}_bucket` });
    values.push({ value: h.sum, labels: {}, metricName: `${this.name}_sum` });
    values.push({ value: h.count, labels: {}, metricName: `${this.name}_count` });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** prom-client calls it on registry.resetMetrics(); the counts belong to the server and stay. */
  reset(): void {}
}
