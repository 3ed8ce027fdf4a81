// What every connection does on the way out: queue frames during an event-loop turn, write them
// with one call when the FlushScheduler runs, and close a reader that does not keep up.
import { CloseCode } from './connection.js';
import type { FlushScheduler, Flushable } from './flush-scheduler.js';
import { loopTurn } from './loop-turn.js';
import type { OutFrame } from './out-frame.js';
import { Traffic } from '../metrics/tally.js';

const UNCOUNTED = new Traffic();

export abstract class BatchedConnection implements Flushable {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private directTurn = 0; // loopTurn() of the last frame written at once
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
  /** False once the connection is closing or gone. */
  protected abstract get writable(): boolean;
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
    if (!this.writable) return false;
    if (direct && this.pending.length === 0 && this.unsent === 0) {
      // Only the first of a turn: the others (300 acks to one busy peer) wait for the flush, so
      // that is two writes, not 300. A new turn may write at once again, even while a coalesced
      // flush (--coalesce-ms) is still ahead.
      const turn = loopTurn();
      if (turn !== this.directTurn) {
        this.directTurn = turn;
        this.traffic.bytesOut += bytes.length;
        this.writeOut(bytes);
        return true;
      }
    }
    if (this.pending.length === 0) {
      // What the kernel has not taken since earlier turns is the measure of a reader that does not
      // keep up; this turn's own writes do not count, so one big message never closes a fast reader.
      // Checked at the first frame of a batch: until the batch is flushed nothing is written to
      // this socket, so what is unsent can only shrink (a fan-out to 100 peers was 100 reads of
      // the stream's state per message).
      if (this.unsent > this.maxQueuedBytes) {
        this.close(CloseCode.SLOW_CONSUMER, 'slow consumer');
        return false;
      }
      // The first frame of a batch registers the connection for the next flush.
      this.scheduler.mark(this);
    }
    this.pending.push(bytes);
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
    const pending = this.pending;
    if (pending.length === 0) return;
    this.dropPending();
    if (!this.writable) return;
    const data = this.scheduler.join(pending);
    this.traffic.bytesOut += data.length;
    this.writeOut(data);
  }

  protected dropPending(): void {
    this.pending = [];
    this.pendingBytes = 0;
  }
}
