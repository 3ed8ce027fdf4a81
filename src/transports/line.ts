// A TCP or unix-socket (IPC) stream speaking newline-delimited JSON, adapted to Connection. Like
// the WebSocket connection, outgoing messages are framed once (OutFrame.line: the JSON text plus
// '\n') and queued frames are written with one call per event-loop turn (BatchedConnection).
//
// A stream has no close frame, so the reason travels as a last line before the end:
// `{"type":"close","code":4008,"reason":"slow_consumer"}`, with the WebSocket close codes.
import type { Socket } from 'node:net';
import type { Connection } from './connection.js';
import { CloseCode } from './connection.js';
import { OPEN, type Principal } from '../access/principal.js';
import type { OutFrame } from './out-frame.js';
import type { FlushScheduler } from './flush-scheduler.js';
import { RateWindow } from './rate-window.js';
import { BatchedConnection } from './batched-connection.js';
import { LineReader } from './line-reader.js';
import { ERRORS } from '../protocol/errors.js';

export interface LineConnectionOptions {
  maxQueuedBytes: number;
  maxMessagesPerSecond: number;
  /** Longest line taken (--max-message-bytes); a longer one ends the connection with 1009. */
  maxLineBytes: number;
}

/** What the connection hands up: each line, or that a line was too long (then it closes). */
export interface LineHandler {
  line(this: void, text: string): void;
  tooLong(this: void): void;
}

let nextId = 0;

const PING_LINE = Buffer.from('{"type":"ping"}\n');
const PONG_LINE = Buffer.from('{"type":"pong"}\n');

/** A close code's name in the error table (4008 → slow_consumer), else the reason given. */
function closeReason(code: number, reason: string): string {
  for (const [name, spec] of Object.entries(ERRORS)) {
    if ((spec as { close?: number }).close === code) return name;
  }
  return reason;
}

export class LineConnection extends BatchedConnection implements Connection {
  readonly id: string;
  /** Cleared at each heartbeat ping; set by any incoming line. */
  alive = true;
  heartbeatSlot = 0;
  principal: Principal = OPEN;
  tokenTimer: NodeJS.Timeout | undefined = undefined;
  /** The code it was closed with, for the close tally: the server's, 1000 when the peer ended the stream, 1006 when it broke. */
  closeCode = 1006;
  private closing = false;
  private readonly budget: RateWindow;
  private readonly reader: LineReader;
  private handler: LineHandler | undefined;
  private readonly closeHandlers: Array<() => void> = [];
  private gone = false;
  /** Lines are not handed up (the door is admitting the hello); the rest wait in the reader. */
  private held = false;

  constructor(
    readonly socket: Socket,
    readonly transport: 'tcp' | 'ipc',
    scheduler: FlushScheduler,
    opts: LineConnectionOptions,
    readonly remoteAddress: string,
  ) {
    super(scheduler, opts.maxQueuedBytes);
    this.id = (transport === 'tcp' ? 't' : 'i') + (++nextId).toString(36);
    this.budget = new RateWindow(opts.maxMessagesPerSecond);
    this.reader = new LineReader(opts.maxLineBytes);
    socket.setNoDelay?.(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('end', () => { if (!this.closing) this.closeCode = CloseCode.NORMAL; });
    socket.on('close', () => this.onGone());
  }

  get isOpen(): boolean { return !this.closing && !this.socket.destroyed; }
  protected get unsent(): number { return this.socket.writableLength; }
  protected get writable(): boolean { return !this.closing && !this.socket.destroyed; }
  protected get accepting(): boolean { return !this.closing; }
  protected writeOut(data: Buffer): void { this.socket.write(data); }

  /** Where lines go from now on (the door's hello handler first, then the member's). */
  onLines(handler: LineHandler): void {
    this.handler = handler;
  }

  /** Run `fn` once the stream is gone; at once when it already is. */
  onClose(fn: () => void): void {
    if (this.gone) fn();
    else this.closeHandlers.push(fn);
  }

  /** Stop handing lines up until release(): what was read waits, and the socket is not read meanwhile. */
  hold(): void {
    this.held = true;
    this.socket.pause();
  }

  /** Hand up what waited, then read on. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    this.drain();
    if (!this.held && !this.closing) this.socket.resume();
  }

  private receive(chunk: Buffer): void {
    this.reader.push(chunk);
    this.drain();
  }

  private drain(): void {
    for (;;) {
      if (this.closing || this.held) return;
      const next = this.reader.next();
      if (next === 'need_more') return;
      this.alive = true;
      if (next === 'too_long') {
        // Stop reading at once: what follows is the rest of a line we will not take.
        this.socket.pause();
        this.handler?.tooLong();
        return;
      }
      this.handler?.line(next.toString('utf8'));
    }
  }

  send(frame: OutFrame, direct = false): void {
    if (!this.closing) this.enqueueMessage(frame, frame.line, direct);
  }

  /** A client's `{"type":"ping"}` is answered at once. */
  pong(): void {
    if (!this.closing) this.enqueue(PONG_LINE, true);
  }

  /** Heartbeat: close a peer that sent nothing since the previous ping (4009), else ping it. */
  beat(): void {
    if (!this.alive) return this.close(CloseCode.DEAD_PEER, 'dead_peer');
    this.alive = false;
    this.enqueue(PING_LINE);
  }

  /** Count one incoming message against the per-second budget; false when over it. */
  withinBudget(now: number): boolean {
    return this.budget.take(now);
  }

  /** Write what is queued, then the close line, then end the stream (destroyed after 1 s at most). */
  close(code: number, reason: string): void {
    if (this.closing) return;
    this.writePending(false);
    this.closing = true;
    this.closeCode = code;
    this.dropPending();
    const socket = this.socket;
    if (socket.destroyed) return;
    socket.end(JSON.stringify({ type: 'close', code, reason: closeReason(code, reason) }) + '\n');
    // A peer that does not read never lets the end through; do not wait for it long.
    const t = setTimeout(() => socket.destroy(), 1000);
    t.unref();
    socket.once('close', () => clearTimeout(t));
  }

  terminate(): void {
    this.closing = true;
    this.socket.destroy();
  }

  private onGone(): void {
    if (this.gone) return;
    this.gone = true;
    this.closing = true;
    this.dropPending();
    for (const fn of this.closeHandlers.splice(0)) fn();
  }
}
