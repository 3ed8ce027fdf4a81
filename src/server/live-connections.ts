// Every open connection of the server, and the heartbeat that keeps checking they are alive.
//
// Each connection is pinged once per heartbeat interval, but not all at once: connections are
// spread over slots and a tick (about every 100 ms) visits one slot. Pinging 10,000 sockets in
// one loop is 10,000 writes in one turn, a stall of tens of milliseconds for every room, and
// every client then answers in the same instant; the many-rooms benchmark showed it as a p99 tail.

/** What the heartbeat needs of a connection. */
export interface Beating {
  /** Ping, or drop the connection when the previous ping went unanswered. */
  beat(): void;
  /** The slot the heartbeat put this connection in (set by LiveConnections.add). */
  heartbeatSlot: number;
}

const TICK_MS = 100;
const MAX_SLOTS = 600;

export class LiveConnections<C extends Beating> {
  private readonly slots: Set<C>[];
  private count = 0;
  private nextSlot = 0;
  private tick = 0;
  private timer: NodeJS.Timeout | undefined;

  /** @param intervalMs how often each connection is pinged; 0 = never */
  constructor(private readonly intervalMs: number) {
    const n = intervalMs > 0 ? Math.max(1, Math.min(MAX_SLOTS, Math.round(intervalMs / TICK_MS))) : 1;
    this.slots = Array.from({ length: n }, () => new Set<C>());
  }

  get size(): number { return this.count; }

  add(conn: C): void {
    conn.heartbeatSlot = this.nextSlot++ % this.slots.length;
    const slot = this.slots[conn.heartbeatSlot];
    if (!slot.has(conn)) { slot.add(conn); this.count++; }
  }

  delete(conn: C): void {
    if (this.slots[conn.heartbeatSlot]?.delete(conn)) this.count--;
  }

  *[Symbol.iterator](): IterableIterator<C> {
    for (const slot of this.slots) yield* slot;
  }

  start(): void {
    if (this.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      const slot = this.slots[this.tick++ % this.slots.length];
      for (const conn of slot) conn.beat();
    }, this.intervalMs / this.slots.length);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
