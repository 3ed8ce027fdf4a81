// Writes whose HAM state is in the future wait here until due (GUN's rule), with one timer per
// room for the earliest of them. Bounded: past `max` pending writes, new ones are refused.
import type { DeferredWrite } from './graph-store.js';

const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout's ceiling; a later write is re-checked then

export class DeferredWrites {
  private queue: DeferredWrite[] = []; // sorted by state, ascending
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  constructor(private readonly onDue: (due: DeferredWrite[]) => void, readonly max = 10_000, private readonly now = Date.now) {}

  get size(): number { return this.queue.length; }

  /** The writes waiting, earliest first (a cluster node compares them with the engine's log). */
  pending(): readonly DeferredWrite[] { return this.queue; }

  /** False when the queue is full (the caller reports an error instead of losing the write). */
  add(writes: DeferredWrite[]): boolean {
    if (this.queue.length + writes.length > this.max) return false;
    for (const w of writes) {
      // binary search insert keeps the queue ordered by due time
      let lo = 0, hi = this.queue.length;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (this.queue[mid].state <= w.state) lo = mid + 1; else hi = mid; }
      // The same write twice (a cluster node loading its room's log again) waits once.
      if (this.waiting(w, lo)) continue;
      this.queue.splice(lo, 0, w);
    }
    this.arm();
    return true;
  }

  /** `w` is in the queue already: among the writes of its state, just before `end`. */
  private waiting(w: DeferredWrite, end: number): boolean {
    for (let j = end - 1; j >= 0 && this.queue[j].state === w.state; j--) {
      const q = this.queue[j];
      if (q.soul === w.soul && q.key === w.key && (q.value === w.value || JSON.stringify(q.value) === JSON.stringify(w.value))) return true;
    }
    return false;
  }

  private arm(): void {
    if (this.queue.length === 0) return;
    const at = this.queue[0].state;
    if (this.timer && at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.fire, Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(at - this.now()))));
    this.timer.unref();
  }

  private readonly fire = () => {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.now();
    let n = 0;
    while (n < this.queue.length && this.queue[n].state <= now) n++;
    const due = this.queue.splice(0, n);
    if (due.length) this.onDue(due);
    this.arm();
  };

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    this.queue = [];
  }
}
