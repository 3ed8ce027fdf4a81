// Per-event-loop-turn write coalescing: connections with queued frames register here once per
// turn, and one setImmediate flushes each of them with a single socket write. Under load a turn
// carries many messages per socket, which is what lets fan-out scale (see docs/performance.md).
//
// Members of one room are marked one after another by the same broadcasts, so consecutive
// connections usually queue the very same frames: `join` builds the write buffer once and hands
// the same bytes to each of them, instead of copying the frames again for every connection.

/** Slots of the dirty list kept from turn to turn; a list that grew past this is let go. */
const KEEP_SLOTS = 65_536;

export interface Flushable {
  flush(): void;
}

export class FlushScheduler {
  // Connections to flush are dirty[0..count); the array is reused turn after turn (a new one
  // each turn was garbage the size of the busiest turn).
  private dirty: Flushable[] = [];
  private count = 0;
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
    // A flush may mark connections again (a slow consumer's close frame): they go to a new list,
    // flushed by the next run.
    const n = this.count;
    this.dirty = [];
    this.count = 0;
    for (let i = 0; i < n; i++) batch[i].flush();
    this.lastFrames = [];
    this.lastJoined = undefined;
    if (batch.length <= KEEP_SLOTS && this.count === 0) {
      for (let i = 0; i < n; i++) batch[i] = undefined as unknown as Flushable;
      this.dirty = batch;
    }
  };

  /** Call when a connection queues the first frame of a batch (it is flushed once per call). */
  mark(conn: Flushable): void {
    this.dirty[this.count++] = conn;
    if (this.scheduled) return;
    this.scheduled = true;
    const wait = this.coalesceMs > 0 ? this.lastRun + this.coalesceMs - performance.now() : 0;
    if (wait > 0) setTimeout(this.run, wait);
    else setImmediate(this.run);
  }

  /**
   * `first` and more[0..n-1) as one buffer; the same buffer as last time when the frames are the
   * same. The caller reuses its array, so the frames compared against are a copy.
   */
  join(first: Buffer, more: Buffer[], n: number): Buffer {
    const last = this.lastFrames;
    if (last.length === n && this.lastJoined && last[0] === first) {
      let same = true;
      for (let i = 1; i < n; i++) if (more[i - 1] !== last[i]) { same = false; break; }
      if (same) return this.lastJoined;
    }
    const frames = [first];
    for (let i = 0; i < n - 1; i++) frames.push(more[i]);
    this.lastFrames = frames;
    return (this.lastJoined = Buffer.concat(frames));
  }
}
