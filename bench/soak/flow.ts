// One kind of traffic of the soak (GUN puts, publishes, requests, jobs, ...): what was sent and
// what came back, counted for the current 10-second window (reset by each sample) and for the
// whole run (the final accounting), with latencies measured from each item's scheduled send time.
import { Samples } from '../stats.js';

/** What a flow did in one window. Latencies in ms; null when nothing completed. */
export interface FlowWindow {
  sent: number;
  done: number; // deliveries, answers, acks: whatever completes this flow's items
  p50: number | null;
  p99: number | null;
  max: number | null;
  errors: number;
}

export class Flow {
  sent = 0;
  done = 0;
  errors = 0;
  /** Errors by code or kind over the whole run, with the first message of each. */
  readonly errorsByKind = new Map<string, { n: number; first: string }>();
  private win = { sent: 0, done: 0, errors: 0 };
  private lat = new Samples();

  constructor(readonly name: string) {}

  onSent(n = 1): void { this.sent += n; this.win.sent += n; }

  /** One completion; latency from the scheduled send time (ns, process.hrtime), if it has one. */
  onDone(schedNs?: number): void {
    this.done++;
    this.win.done++;
    if (schedNs !== undefined) this.lat.push((Number(process.hrtime.bigint()) - schedNs) / 1e6);
  }

  onError(kind: string, message: string): void {
    this.errors++;
    this.win.errors++;
    const e = this.errorsByKind.get(kind);
    if (e) e.n++; else this.errorsByKind.set(kind, { n: 1, first: message.slice(0, 300) });
  }

  /** The window since the last call, and a fresh one. */
  sample(): FlowWindow {
    const l = this.lat.summary();
    const w: FlowWindow = { ...this.win, p50: l?.p50 ?? null, p99: l?.p99 ?? null, max: l?.max ?? null };
    this.win = { sent: 0, done: 0, errors: 0 };
    this.lat = new Samples();
    return w;
  }

  errorList(): { kind: string; n: number; first: string }[] {
    return [...this.errorsByKind].map(([kind, e]) => ({ kind, ...e }));
  }
}
