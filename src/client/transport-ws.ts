// The WebSocket transport: `new WebSocket(url, 'multisocket.v1')`, one JSON message per text frame.
// Uses the platform's WebSocket (browsers, Deno, Node ≥ 22) and otherwise the `ws` package.
import { SUBPROTOCOL, parseServerFrame, type ClientMessage } from './types.js';
import { statusFromError, type CloseInfo, type Transport, type TransportHandlers } from './transport.js';

/** The part of the WebSocket API (WHATWG, and `ws`'s compatible one) this transport uses. */
interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: { message?: unknown }) => void) | null;
}
type WebSocketCtor = new (url: string, protocols?: string | string[]) => WebSocketLike;

const OPEN = 1;
const CLOSED = 3;
let wsPackage: Promise<WebSocketCtor> | undefined;

function loadWebSocket(): Promise<WebSocketCtor> {
  const platform = (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
  if (platform) return Promise.resolve(platform);
  wsPackage ??= import(/* webpackIgnore: true */ /* @vite-ignore */ 'ws').then((mod) => {
    const ctor = (mod as { default?: unknown; WebSocket?: unknown }).WebSocket ?? mod.default;
    if (typeof ctor !== 'function') throw new Error('the "ws" package has no WebSocket export');
    return ctor as WebSocketCtor;
  });
  return wsPackage;
}

const decoder = new TextDecoder();

function frameText(data: unknown): string | undefined {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return decoder.decode(data);
  if (ArrayBuffer.isView(data)) return decoder.decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)); // ws: Buffers
  return undefined;
}

class WebSocketTransport implements Transport {
  private socket: WebSocketLike | undefined;
  private readonly waiting: { msg: ClientMessage; json: string }[] = []; // sent before the socket opens
  private detached = false;
  private opened = false;
  private lastError: string | undefined;
  /** Resolves the promise of close() when the socket has closed. */
  private onClosed: (() => void) | undefined;

  constructor(url: URL, private readonly handlers: TransportHandlers) {
    loadWebSocket().then(
      (Ctor) => { if (!this.detached) this.attach(new Ctor(url.href, SUBPROTOCOL)); },
      (err: unknown) => this.finish({
        fatal: true,
        reason: 'no WebSocket implementation (install the "ws" package)',
        error: err instanceof Error ? err : new Error(String(err)),
      }),
    );
  }

  private attach(socket: WebSocketLike): void {
    this.socket = socket;
    socket.onopen = () => {
      this.opened = true;
      for (const { msg, json } of this.waiting.splice(0)) {
        socket.send(json);
        this.handlers.written(msg);
      }
    };
    socket.onmessage = (ev) => {
      const text = frameText(ev.data);
      if (text === undefined) return;
      for (const msg of parseServerFrame(text)) {
        if (this.detached) return;
        this.handlers.message(msg);
      }
    };
    socket.onerror = (ev) => {
      if (typeof ev?.message === 'string') this.lastError = ev.message;
    };
    socket.onclose = (ev) => {
      this.onClosed?.();
      const status = statusFromError(this.lastError);
      this.finish({
        code: ev.code,
        reason: ev.reason || this.lastError || '',
        ...(status !== undefined ? { status } : {}),
        ...(this.lastError !== undefined ? { error: new Error(this.lastError) } : {}),
      });
    };
  }

  private finish(info: Omit<CloseInfo, 'unsent' | 'opened'>): void {
    if (this.detached) return;
    this.detached = true;
    this.handlers.close({ ...info, opened: this.opened, unsent: this.waiting.splice(0).map((w) => w.msg) });
  }

  send(msg: ClientMessage, json: string): void {
    if (this.detached) return;
    if (this.socket?.readyState === OPEN) {
      this.socket.send(json);
      this.handlers.written(msg);
    } else this.waiting.push({ msg, json });
  }

  close(drainMs: number): Promise<void> {
    this.detached = true;
    const socket = this.socket;
    if (!socket || socket.readyState === CLOSED) return Promise.resolve();
    socket.onerror = () => {}; // closing a socket that is still connecting reports an error
    // Frames already sent go out before the close frame; waiting for the close handshake means
    // they have left this process when close() resolves (a CLI may exit right after).
    const closed = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, drainMs);
      this.onClosed = () => { clearTimeout(timer); resolve(); };
      socket.onclose = () => this.onClosed?.();
    });
    try {
      socket.close(1000, 'client closed');
    } catch {
      return Promise.resolve(); // already closed
    }
    return closed;
  }
}

export function openWebSocket(url: URL, handlers: TransportHandlers): Transport {
  const wsUrl = new URL(url.href);
  if (wsUrl.protocol === 'http:') wsUrl.protocol = 'ws:';
  else if (wsUrl.protocol === 'https:') wsUrl.protocol = 'wss:';
  return new WebSocketTransport(wsUrl, handlers);
}
