// A Server-Sent Events stream as a Connection (downstream only; upstream is HTTP POST). Writes
// are coalesced per event-loop turn like WebSocket writes, and bounded the same way.
import type { ServerResponse } from 'node:http';
import type { Connection } from './connection.js';
import type { OutFrame } from './out-frame.js';
import type { FlushScheduler, Flushable } from './flush-scheduler.js';
import { RateWindow } from './rate-window.js';

let nextId = 0;
const PING = Buffer.from(': ping\n\n');

export class SseConnection implements Connection, Flushable {
  readonly id: string;
  readonly transport = 'sse' as const;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private marked = false;
  private closed = false;
  private readonly closeHandlers: Array<() => void> = [];
  /** budget for this member's POSTs */
  readonly budget: RateWindow;

  constructor(
    private readonly res: ServerResponse,
    private readonly scheduler: FlushScheduler,
    private readonly maxQueuedBytes: number,
    maxMessagesPerSecond: number,
    readonly remoteAddress = '',
    headers: Record<string, string> = {},
  ) {
    this.id = 's' + (++nextId).toString(36);
    this.budget = new RateWindow(maxMessagesPerSecond);
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no', // nginx: do not buffer the stream
      ...headers,
    });
    res.write('retry: 2000\n\n');
    const onGone = () => this.gone();
    res.on('close', onGone);
    res.socket?.setNoDelay(true);
    res.socket?.setTimeout(0);
  }

  get isOpen(): boolean { return !this.closed; }
  get bufferedBytes(): number { return this.pendingBytes + this.res.writableLength; }

  onClose(fn: () => void): void { this.closeHandlers.push(fn); }

  send(frame: OutFrame): void {
    if (this.closed) return;
    const bytes = frame.sse;
    // Like WebSocket: only what earlier turns left unsent counts (docs/protocol.md §7).
    if (this.res.writableLength > this.maxQueuedBytes) {
      // No close code exists for SSE: end the stream; the client sees it drop.
      this.close(4008, 'slow consumer');
      return;
    }
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    if (!this.marked) { this.marked = true; this.scheduler.mark(this); }
  }

  flush(): void {
    this.marked = false;
    if (this.closed || this.pending.length === 0) return;
    const pending = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.res.write(this.scheduler.join(pending));
  }

  /** Keep proxies from timing the stream out. */
  ping(): void {
    if (!this.closed && this.res.writableLength < this.maxQueuedBytes) this.res.write(PING);
  }

  close(_code: number, _reason: string): void {
    if (this.closed) return;
    this.flush();
    this.res.end();
    this.gone();
    // a reader that is not reading would otherwise hold the socket until the kernel gives up
    const t = setTimeout(() => this.res.destroy(), 1000);
    t.unref();
  }

  private gone(): void {
    if (this.closed && this.closeHandlers.length === 0) return;
    this.closed = true;
    this.pending = [];
    this.pendingBytes = 0;
    const handlers = this.closeHandlers.splice(0);
    for (const h of handlers) h();
  }
}
