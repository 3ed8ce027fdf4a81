// Counts events in one-second windows: the per-connection message budget.

export class RateWindow {
  private start = 0;
  private count = 0;

  constructor(private readonly perSecond: number) {}

  /** Count one event at `now`; false when the window's budget is already spent. */
  take(now: number): boolean {
    if (now - this.start >= 1000) { this.start = now; this.count = 0; }
    return ++this.count <= this.perSecond;
  }

  /** ms until the current window ends */
  remaining(now: number): number {
    return Math.max(1, 1000 - (now - this.start));
  }

  reset(now: number): void {
    this.start = now;
    this.count = 0;
  }
}
