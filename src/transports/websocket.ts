// A WebSocket connection from `ws`, adapted to Connection. Outgoing frames bypass ws's per-message
// send path: they are framed once (OutFrame) and written to the raw socket once per turn.
import type { WebSocket } from 'ws';
import type { Socket } from 'node:net';
import type { Connection } from './connection.js';
import type { OutFrame } from './out-frame.js';
import type { FlushScheduler } from './flush-scheduler.js';
import { RateWindow } from './rate-window.js';
import { BatchedConnection } from './batched-connection.js';

export interface WebSocketConnectionOptions {
  maxQueuedBytes: number;
  maxMessagesPerSecond: number;
}

let nextId = 0;
/** An empty ping: FIN + opcode 9, no payload (server frames are not masked). */
const PING_FRAME = Buffer.from([0x89, 0x00]);

export class WebSocketConnection extends BatchedConnection implements Connection {
  readonly id: string;
  readonly transport = 'websocket' as const;
  readonly remoteAddress: string;
  /** Cleared at each heartbeat ping; set by pong or any incoming data. */
  alive = true;
  heartbeatSlot = 0;
  private closing = false;
  private readonly socket: Socket;
  private readonly budget: RateWindow;
  private backlog: Array<[Buffer, boolean]> | undefined; // frames over budget, in order
  private resumeTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly ws: WebSocket,
    scheduler: FlushScheduler,
    opts: WebSocketConnectionOptions,
    remoteAddress = '',
  ) {
    super(scheduler, opts.maxQueuedBytes);
    this.id = (++nextId).toString(36);
    this.remoteAddress = remoteAddress;
    // ws keeps the raw socket private; this module is the one place that reaches for it.
    this.socket = (ws as unknown as { _socket: Socket })._socket;
    this.budget = new RateWindow(opts.maxMessagesPerSecond);
    ws.on('pong', () => { this.alive = true; });
  }

  get isOpen(): boolean {
    return !this.closing && this.ws.readyState === 1;
  }

  protected get unsent(): number { return this.socket.writableLength; }
  protected get writable(): boolean { return !this.closing && !this.socket.destroyed; }
  protected writeOut(data: Buffer): void { this.socket.write(data); }

  /**
   * Heartbeat: drop a peer that did not answer the previous ping, else ping it. The ping joins
   * this turn's queued frames, so a busy connection pays no extra write for it.
   */
  beat(): void {
    if (!this.alive) return this.terminate();
    this.alive = false;
    this.enqueue(PING_FRAME);
  }

  send(frame: OutFrame, direct = false): void {
    if (!this.closing) this.enqueue(frame.ws, direct);
  }

  /**
   * Deliver incoming frames to `handler` at most --max-messages-per-second. Over budget, frames
   * wait here in order and the socket stops being read until the next window: TCP pushes back on
   * the sender and nothing is dropped (the backlog is at most what was already read).
   */
  onThrottledMessage(handler: (data: Buffer, isBinary: boolean) => void): void {
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.alive = true;
      if (this.backlog !== undefined || !this.budget.take(Date.now())) {
        (this.backlog ??= []).push([data, isBinary]);
        this.throttle(handler);
        return;
      }
      handler(data, isBinary);
    });
  }

  private throttle(handler: (data: Buffer, isBinary: boolean) => void): void {
    if (this.resumeTimer || this.closing) return;
    this.ws.pause();
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = undefined;
      if (this.closing) return;
      const now = Date.now();
      const backlog = this.backlog ?? [];
      while (backlog.length > 0 && this.budget.take(now)) {
        const [data, isBinary] = backlog.shift()!;
        handler(data, isBinary);
      }
      if (backlog.length > 0) this.throttle(handler);
      else { this.backlog = undefined; this.ws.resume(); }
    }, this.budget.remaining(Date.now()));
  }

  /** Count one incoming message against the per-second budget; false when over it (no pause). */
  withinBudget(now: number): boolean {
    this.alive = true;
    return this.budget.take(now);
  }

  close(code: number, reason: string): void {
    if (this.closing) return;
    this.flush();
    this.closing = true;
    if (this.resumeTimer) { clearTimeout(this.resumeTimer); this.resumeTimer = undefined; }
    this.dropPending();
    this.backlog = undefined;
    try {
      this.ws.close(code, reason);
    } catch {
      this.ws.terminate();
      return;
    }
    // A peer that does not read may never see the close frame; do not wait for it long.
    const t = setTimeout(() => this.ws.terminate(), 1000);
    t.unref();
    this.ws.once('close', () => clearTimeout(t));
  }

  terminate(): void {
    this.closing = true;
    if (this.resumeTimer) { clearTimeout(this.resumeTimer); this.resumeTimer = undefined; }
    this.ws.terminate();
  }
}
