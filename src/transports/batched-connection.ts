// What every connection does on the way out: queue frames during an event-loop turn, write them
// with one call when the FlushScheduler runs, and close a reader that does not keep up.
import { CloseCode } from './connection.js';
import type { FlushScheduler, Flushable } from './flush-scheduler.js';
import { loopTurn } from './loop-turn.js';
import type { OutFrame } from './out-frame.js';
import { Traffic } from '../metrics/tally.js';

const UNCOUNTED = new Traffic();

/** Slots a connection's queue may keep between flushes; a queue that grew past this is let go. */
const KEEP_SLOTS = 64;

export abstract class BatchedConnection implements Flushable {
  // The frames queued this turn: `first`, then more[0..count-1). Most flushes in many small rooms
  // carry one frame, which then touches no array at all. The array is reused from flush to flush:
  // a fresh one per flush lived until the connection's next message (in 1,000 small rooms ~140 ms,
  // longer than a scavenge) and so was promoted and marked, which made many small rooms GC-bound.
  private first: Buffer | undefined = undefined;
  private more: Buffer[] | undefined = undefined;
  private count = 0;
  private pendingBytes = 0;
  private directTurn = 0; // loopTurn() of the last frame written at once
  private wroteDirect = false; // a frame was written at once since the last flush
  /**
   * Where this connection's traffic is counted (the server's per-protocol Traffic, set when the
   * protocol is known); a connection nobody counts writes to a throwaway one.
   */
  traffic: Traffic = UNCOUNTED;
  /** The code and reason the server closed with; undefined while open or when the client went first. */
  closedWith: { code: number; reason: string } | undefined = undefined;

  constructor(protected readonly scheduler: FlushScheduler, protected readonly maxQueuedBytes: number) {}

  /** Bytes earlier writes left with the transport (not yet taken by the kernel). */
  protected abstract get unsent(): number;
  /** False once the connection is closing or gone. Read once per flush and per direct write. */
  protected abstract get writable(): boolean;
  /**
   * False once this side closed: what enqueue checks per frame. Kept apart from `writable`, which
   * reads the transport's state: a fan-out to 10 sockets in 1,000 rooms touched every socket twice
   * per message (queue, then write), and each touch of a cold socket is a cache miss.
   */
  protected abstract get accepting(): boolean;
  protected abstract writeOut(data: Buffer): void;
  abstract close(code: number, reason: string): void;

  get bufferedBytes(): number {
    return this.pendingBytes + this.unsent;
  }

  /**
   * @param direct a frame for this one connection (a reply, a request, a direct message): when
   *   nothing is queued or unsent it is written at once, which saves a reply the wait for the end
   *   of the turn. Fan-out frames always wait, so a turn's broadcasts share one write per socket.
   */
  protected enqueue(bytes: Buffer, direct = false): boolean {
    if (!this.accepting) return false;
    if (direct && this.count === 0 && this.writable && this.unsent === 0) {
      // Only the first of a turn: the others (300 acks to one busy peer) wait for the flush, so
      // that is two writes, not 300. A new turn may write at once again, even while a coalesced
      // flush (--coalesce-ms) is still ahead.
      const turn = loopTurn();
      if (turn !== this.directTurn) {
        this.directTurn = turn;
        this.wroteDirect = true;
        this.traffic.bytesOut += bytes.length;
        this.writeOut(bytes);
        return true;
      }
    }
    // The first frame of a batch registers the connection for the next flush.
    if (this.count === 0) {
      this.scheduler.mark(this);
      this.first = bytes;
    } else {
      (this.more ??= [])[this.count - 1] = bytes;
    }
    this.count++;
    this.pendingBytes += bytes.length;
    return true;
  }

  /** Queue a message's bytes for this transport, and count it: a delivery, and a message the first time the frame goes anywhere. */
  protected enqueueMessage(frame: OutFrame, bytes: Buffer, direct: boolean): void {
    if (!this.enqueue(bytes, direct)) return;
    const traffic = this.traffic;
    traffic.deliveries++;
    if (!frame.counted) {
      frame.counted = true;
      traffic.messagesOut++;
    }
  }

  flush(): void {
    this.writePending(true);
  }

  /**
   * Write the queued frames. `checkReader`: close a reader that did not keep up instead (the
   * scheduler's flush); a close writes what is queued before its close frame without it.
   */
  protected writePending(checkReader: boolean): void {
    const n = this.count;
    if (n === 0) return;
    if (!this.writable) return this.dropPending();
    // What the kernel has not taken since earlier flushes is the measure of a reader that does not
    // keep up. Nothing of this batch is written yet, and a frame written at once since the last
    // flush does not count (it may be this turn's own big reply), so one big message never closes
    // a fast reader.
    const direct = this.wroteDirect;
    this.wroteDirect = false;
    if (checkReader && !direct && this.unsent > this.maxQueuedBytes) {
      this.dropPending();
      return this.close(CloseCode.SLOW_CONSUMER, 'slow consumer');
    }
    const data = n === 1 ? this.first! : this.scheduler.join(this.first!, this.more!, n);
    this.dropPending();
    this.traffic.bytesOut += data.length;
    this.writeOut(data);
  }

  protected dropPending(): void {
    this.first = undefined;
    const more = this.more;
    if (more !== undefined) {
      if (more.length > KEEP_SLOTS) this.more = undefined;
      else for (let i = 0; i < this.count - 1; i++) more[i] = undefined as unknown as Buffer; // the frames may go
    }
    this.count = 0;
    this.pendingBytes = 0;
  }
}
