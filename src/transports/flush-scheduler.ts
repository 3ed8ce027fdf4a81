// Per-event-loop-turn write coalescing: connections with queued frames register here once per
// turn, and one setImmediate flushes each of them with a single socket write. Under load a turn
// carries many messages per socket, which is what lets fan-out scale (see docs/performance.md).

export interface Flushable {
  flush(): void;
}

export class FlushScheduler {
  private dirty: Flushable[] = [];
  private scheduled = false;

  private readonly run = () => {
    this.scheduled = false;
    const batch = this.dirty;
    this.dirty = [];
    for (let i = 0; i < batch.length; i++) batch[i].flush();
  };

  /** Call once per connection per turn (the connection tracks whether it is already marked). */
  mark(conn: Flushable): void {
    this.dirty.push(conn);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }
}
