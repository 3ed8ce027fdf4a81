// A WebSocket connection from `ws`, adapted to Connection. Outgoing frames bypass ws's per-message
// send path: they are framed once (OutFrame) and written to the raw socket once per turn.
import type { WebSocket } from 'ws';
import type { Socket } from 'node:net';
import type { Connection } from './connection.js';
import { OPEN, type Principal } from '../access/principal.js';
import type { OutFrame } from './out-frame.js';
import type { FlushScheduler } from './flush-scheduler.js';
import { RateWindow } from './rate-window.js';
import { BatchedConnection } from './batched-connection.js';
import { loopTurn } from './loop-turn.js';
import { CloseCode } from './connection.js';

export interface WebSocketConnectionOptions {
  maxQueuedBytes: number;
  maxMessagesPerSecond: number;
}

let nextId = 0;

/**
 * Frames one peer may have handled in one event-loop turn; the rest wait for the next turn.
 * Without it a peer that got ahead of the server (libuv then reads up to 32 x 64 KiB from its
 * socket in one go) makes one turn of 10,000 puts: every subscriber waits for that whole turn,
 * its output is one huge write each, and the latency it causes feeds the next turn's size.
 */
const FRAMES_PER_TURN = 256;

/** Frames read but not yet handled, and what will let them through. */
interface Held {
  frames: Array<[Buffer, boolean]>;
  head: number;
  timer?: NodeJS.Timeout;
  immediate?: NodeJS.Immediate;
}
/** An empty ping: FIN + opcode 9, no payload (server frames are not masked). */
const PING_FRAME = Buffer.from([0x89, 0x00]);

export class WebSocketConnection extends BatchedConnection implements Connection {
  readonly id: string;
  readonly transport = 'websocket' as const;
  readonly remoteAddress: string;
  /** Cleared at each heartbeat ping; set by pong or any incoming data. */
  alive = true;
  heartbeatSlot = 0;
  principal: Principal = OPEN;
  tokenTimer: NodeJS.Timeout | undefined = undefined;
  private closing = false;
  private readonly socket: Socket;
  private readonly budget: RateWindow;
  private turn = 0; // loopTurn() when turnFrames was last reset
  private turnFrames = 0; // frames handled in that turn
  private held: Held | undefined; // frames waiting for the next turn or budget window, in order

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
    // ws closes by itself on a frame it cannot take (too big, bad UTF-8, bad opcode), then says why
    // in 'error': kept so the close is logged with its code like the server's own closes.
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code?.startsWith('WS_ERR_')) this.closedWith ??= { code: wsErrorClose(err.code), reason: err.code };
    });
  }

  get isOpen(): boolean {
    return !this.closing && this.ws.readyState === 1;
  }

  protected get unsent(): number { return this.socket.writableLength; }
  // ws's readyState (one field of an object the fan-out touches anyway) rather than the socket's
  // `destroyed` (a getter over both stream states, per delivery): ws leaves OPEN on a close frame,
  // on the socket's end or error and before it destroys the socket, so no write follows an end.
  protected get writable(): boolean { return !this.closing && this.ws.readyState === 1; }
  protected get accepting(): boolean { return !this.closing; }
  protected writeOut(data: Buffer): void { this.socket.write(data); }

  /**
   * Heartbeat: drop a peer that did not answer the previous ping, else ping it. The ping joins
   * this turn's queued frames, so a busy connection pays no extra write for it.
   */
  beat(): void {
    if (!this.alive) {
      this.closedWith ??= { code: CloseCode.DEAD_PEER, reason: 'dead_peer' };
      return this.terminate();
    }
    this.alive = false;
    this.enqueue(PING_FRAME);
  }

  send(frame: OutFrame, direct = false): void {
    if (!this.closing) this.enqueueMessage(frame, frame.ws, direct);
  }

  /**
   * Deliver incoming frames to `handler`, at most --max-messages-per-second and FRAMES_PER_TURN
   * per event-loop turn. Frames beyond either wait here in order and the socket stops being read
   * until the next turn or budget window: TCP pushes back on the sender and nothing is dropped
   * (what waits is at most what was already read).
   */
  onThrottledMessage(handler: (data: Buffer, isBinary: boolean) => void): void {
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.alive = true;
      if (this.held === undefined) {
        const wait = this.admit();
        if (wait === null) return handler(data, isBinary);
        this.held = { frames: [], head: 0 };
        this.ws.pause();
        this.release(handler, wait);
      }
      this.held.frames.push([data, isBinary]);
    });
  }

  /** null when one more frame may be handled now; else what it has to wait for. */
  private admit(): 'turn' | 'window' | null {
    const turn = loopTurn();
    if (turn !== this.turn) { this.turn = turn; this.turnFrames = 0; }
    if (this.turnFrames >= FRAMES_PER_TURN) return 'turn';
    if (!this.budget.take(Date.now())) return 'window';
    this.turnFrames++;
    return null;
  }

  /** Schedule the held frames' next release: at the next turn, or when the budget renews. */
  private release(handler: (data: Buffer, isBinary: boolean) => void, wait: 'turn' | 'window'): void {
    const held = this.held!;
    const run = () => {
      held.timer = held.immediate = undefined;
      if (this.closing || this.held !== held) return;
      let next: 'turn' | 'window' | null = null;
      while (held.head < held.frames.length && (next = this.admit()) === null) {
        const [data, isBinary] = held.frames[held.head];
        held.frames[held.head++] = undefined as unknown as [Buffer, boolean];
        handler(data, isBinary);
        if (this.held !== held) return; // closed by the handler
      }
      if (held.head < held.frames.length) return this.release(handler, next ?? 'turn');
      this.held = undefined;
      this.ws.resume();
    };
    if (wait === 'turn') held.immediate = setImmediate(run);
    else held.timer = setTimeout(run, this.budget.remaining(Date.now()));
  }

  private dropHeld(): void {
    const held = this.held;
    if (!held) return;
    if (held.timer) clearTimeout(held.timer);
    if (held.immediate) clearImmediate(held.immediate);
    this.held = undefined;
  }

  /** Count one incoming message against the per-second budget; false when over it (no pause). */
  withinBudget(now: number): boolean {
    this.alive = true;
    return this.budget.take(now);
  }

  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closedWith ??= { code, reason };
    this.writePending(false);
    this.closing = true;
    this.dropHeld();
    this.dropPending();
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
    this.dropHeld();
    this.ws.terminate();
  }
}

/** The close code ws sends for each of its receiver errors (ws/lib/receiver.js). */
function wsErrorClose(code: string): number {
  switch (code) {
    case 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH':
    case 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH': return CloseCode.TOO_BIG;
    case 'WS_ERR_INVALID_UTF8': return 1007; // invalid frame payload data
    case 'WS_ERR_TOO_MANY_BUFFERED_PARTS': return 1008; // policy violation
    default: return CloseCode.PROTOCOL_ERROR;
  }
}
