// A Server-Sent Events stream as a Connection (downstream only; upstream is HTTP POST). Writes
// are coalesced per event-loop turn like WebSocket writes, and bounded the same way.
import type { ServerResponse } from 'node:http';
import type { Connection } from './connection.js';
import { OPEN, type Principal } from '../access/principal.js';
import type { OutFrame } from './out-frame.js';
import type { FlushScheduler } from './flush-scheduler.js';
import { RateWindow } from './rate-window.js';
import { BatchedConnection } from './batched-connection.js';

let nextId = 0;
const PING = Buffer.from(': ping\n\n');

export class SseConnection extends BatchedConnection implements Connection {
  readonly id: string;
  readonly transport = 'sse' as const;
  private closed = false;
  private readonly closeHandlers: Array<() => void> = [];
  /** budget for this member's POSTs */
  readonly budget: RateWindow;

  constructor(
    private readonly res: ServerResponse,
    scheduler: FlushScheduler,
    maxQueuedBytes: number,
    maxMessagesPerSecond: number,
    readonly remoteAddress = '',
    headers: Record<string, string> = {},
  ) {
    super(scheduler, maxQueuedBytes);
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
    // A response queued behind another on a pipelined connection has no socket yet, and gets no
    // 'close' of its own when that connection ends: the request's socket tells (it stayed counted).
    if (!res.socket) res.req.socket.once('close', onGone);
    res.socket?.setNoDelay(true);
    res.socket?.setTimeout(0);
  }

  get isOpen(): boolean { return !this.closed; }
  protected get unsent(): number { return this.res.writableLength; }
  protected get writable(): boolean { return !this.closed; }
  protected get accepting(): boolean { return !this.closed; }
  protected writeOut(data: Buffer): void { this.res.write(data); }

  /** Run `fn` once the stream is gone; at once when it already is. */
  onClose(fn: () => void): void {
    if (this.closed) fn();
    else this.closeHandlers.push(fn);
  }

  send(frame: OutFrame, direct = false): void {
    if (!this.closed) this.enqueueMessage(frame, frame.sse, direct);
  }

  heartbeatSlot = 0;
  principal: Principal = OPEN;
  tokenTimer: NodeJS.Timeout | undefined = undefined;

  /** Heartbeat: SSE has no pong, so a comment line only keeps proxies from timing the stream out. */
  beat(): void { this.ping(); }

  /** Keep proxies from timing the stream out. */
  ping(): void {
    if (this.closed || this.res.writableLength >= this.maxQueuedBytes) return;
    this.traffic.bytesOut += PING.length;
    this.res.write(PING);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closedWith ??= { code, reason };
    this.writePending(false);
    this.res.end();
    this.gone();
    // a reader that is not reading would otherwise hold the socket until the kernel gives up
    const t = setTimeout(() => this.res.destroy(), 1000);
    t.unref();
  }

  private gone(): void {
    if (this.closed && this.closeHandlers.length === 0) return;
    this.closed = true;
    this.dropPending();
    const handlers = this.closeHandlers.splice(0);
    for (const h of handlers) h();
  }
}
