// Per-event-loop-turn write coalescing: connections with queued frames register here once per
// turn, and one setImmediate flushes each of them with a single socket write. Under load a turn
// carries many messages per socket, which is what lets fan-out scale (see docs/performance.md).
//
// Members of one room are marked one after another by the same broadcasts, so consecutive
// connections usually queue the very same frames: `join` builds the write buffer once and hands
// the same bytes to each of them, instead of copying the frames again for every connection.

export interface Flushable {
  flush(): void;
}

export class FlushScheduler {
  private dirty: Flushable[] = [];
  private scheduled = false;
  private lastFrames: Buffer[] = [];
  private lastJoined: Buffer | undefined;
  private lastRun = -Infinity;

  /**
   * @param coalesceMs under load, flush at most once per this many ms. A flush writes once to
   *   every socket with queued frames, whatever they hold, so when turns come faster than that
   *   (a busy publisher wakes the loop every few hundred µs) the writes, which are most of a
   *   fan-out's cost, would be spent on tiny batches. A quiet server flushes at the end of the
   *   turn as before; frames for one connection alone (replies, acks) are written at once.
   */
  constructor(private readonly coalesceMs = 0) {}

  private readonly run = () => {
    this.scheduled = false;
    if (this.coalesceMs > 0) this.lastRun = performance.now();
    const batch = this.dirty;
    this.dirty = [];
    for (let i = 0; i < batch.length; i++) batch[i].flush();
    this.lastFrames = [];
    this.lastJoined = undefined;
  };

  /** Call when a connection queues the first frame of a batch (it is flushed once per call). */
  mark(conn: Flushable): void {
    this.dirty.push(conn);
    if (this.scheduled) return;
    this.scheduled = true;
    const wait = this.coalesceMs > 0 ? this.lastRun + this.coalesceMs - performance.now() : 0;
    if (wait > 0) setTimeout(this.run, wait);
    else setImmediate(this.run);
  }

  /** The frames as one buffer; the same buffer as last time when the frames are the same. */
  join(frames: Buffer[]): Buffer {
    if (frames.length === 1) return frames[0];
    const last = this.lastFrames;
    if (last.length === frames.length && this.lastJoined) {
      let same = true;
      for (let i = 0; i < frames.length; i++) if (frames[i] !== last[i]) { same = false; break; }
      if (same) return this.lastJoined;
    }
    this.lastFrames = frames;
    return (this.lastJoined = Buffer.concat(frames));
  }
}
