// Open-loop pacing for every workload of the soak, on one 1 ms timer: item k of a stream is due
// at t0 + k/rate and is handed over stamped with that scheduled time, so a stall anywhere (server,
// kernel, this process) shows as latency, never as fewer sends (no coordinated omission).

export type Fire = (schedNs: bigint, k: number) => void;

interface Stream { rate: number; fire: Fire; sent: number }

export class Pacer {
  private streams: Stream[] = [];
  private t0 = 0n;
  private timer: NodeJS.Timeout | null = null;
  /** Worst lateness of a send against its schedule (ms): this process falling behind. */
  lagMaxMs = 0;

  /** A stream of `rate` items per second; fire() is called once per item, in order. */
  add(rate: number, fire: Fire): void {
    if (rate > 0) this.streams.push({ rate, fire, sent: 0 });
  }

  start(): void {
    this.t0 = process.hrtime.bigint() + 5_000_000n;
    const tick = () => {
      const now = process.hrtime.bigint();
      const elapsed = Number(now - this.t0) / 1e9;
      for (const s of this.streams) {
        const due = Math.floor(elapsed * s.rate) + 1;
        while (s.sent < due) {
          const sched = this.t0 + BigInt(Math.round((s.sent * 1e9) / s.rate));
          this.lagMaxMs = Math.max(this.lagMaxMs, Number(now - sched) / 1e6);
          s.fire(sched, s.sent++);
        }
      }
      this.timer = setTimeout(tick, 1);
    };
    this.timer = setTimeout(tick, 5);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
