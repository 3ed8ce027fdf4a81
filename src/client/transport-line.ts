// The line transport (Node only): the native protocol as newline-delimited JSON over TCP
// (`tcp://host:port/<room>`), TLS (`tls://host:port/<room>`, also spelt `tcp+tls://`) or a unix
// socket (`ipc:///path/to.sock?room=/<room>`); docs/protocol.md "TCP and IPC". The first line is a
// `hello` carrying what a WebSocket puts in its URL (token, resume, seen, since, epoch, topics,
// info). node:net and node:tls are imported when first needed, so a browser bundle never asks for them.
import { parseServerFrame, type ClientMessage } from './types.js';
import type { CloseInfo, Transport, TransportHandlers } from './transport.js';
import { isKnownErrorCode, statusOf } from '../protocol/errors.js';

/** The parts of node:net's Socket this transport uses (node:tls's TLSSocket has them too). */
interface SocketLike {
  write(data: string): boolean;
  end(): void;
  destroy(): void;
  setNoDelay?(noDelay: boolean): void;
  setEncoding(encoding: 'utf8'): void;
  on(event: 'data', fn: (chunk: string) => void): void;
  on(event: 'close', fn: () => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
  once(event: string, fn: () => void): void;
  readonly destroyed: boolean;
}
type NetModule = { connect(options: { host?: string; port?: number; path?: string }): SocketLike };
type TlsModule = { connect(options: { host: string; port: number; servername?: string; ca?: unknown; rejectUnauthorized?: boolean }): SocketLike };

const LINE_SCHEMES = new Set(['tcp:', 'tls:', 'tcp+tls:', 'ipc:']);

/** Does this room URL ask for the line transport? */
export function isLineUrl(url: URL): boolean {
  return LINE_SCHEMES.has(url.protocol);
}

/** The room a line URL names: its path (tcp, tls), or its `room` parameter (ipc, whose path is the socket's). */
export function lineRoom(url: URL): string {
  return url.protocol === 'ipc:' ? url.searchParams.get('room') ?? '' : url.pathname;
}

/**
 * Options for TLS connections (`tls://`), e.g. `{ ca: readFileSync('ca.pem') }` for a server with
 * a private certificate. Set once per process; node:tls's defaults otherwise.
 */
export const lineTlsOptions: { ca?: unknown; rejectUnauthorized?: boolean } = {};

let netModule: Promise<NetModule> | undefined;
let tlsModule: Promise<TlsModule> | undefined;
const loadNet = () => (netModule ??= import(/* webpackIgnore: true */ /* @vite-ignore */ 'node:net' as string) as Promise<NetModule>);
const loadTls = () => (tlsModule ??= import(/* webpackIgnore: true */ /* @vite-ignore */ 'node:tls' as string) as Promise<TlsModule>);

/** The hello line: the room and the attempt's query (room-url.ts attemptUrl) as JSON fields. */
export function helloLine(url: URL): string {
  const q = url.searchParams;
  const hello: Record<string, unknown> = { type: 'hello', room: lineRoom(url) };
  const token = q.get('token');
  if (token !== null) hello.token = token;
  const resume = q.get('resume');
  if (resume !== null) hello.resume = resume;
  for (const name of ['seen', 'since'] as const) {
    const v = q.get(name);
    if (v !== null && /^\d+$/.test(v)) hello[name] = Number(v);
  }
  const epoch = q.get('epoch');
  if (epoch !== null) hello.epoch = epoch;
  const topics = q.get('topics');
  if (topics) hello.topics = topics.split(',');
  const info = q.get('info');
  if (info !== null) {
    try { hello.info = JSON.parse(info); } catch { hello.info = info; }
  }
  return JSON.stringify(hello) + '\n';
}

class LineTransport implements Transport {
  private socket: SocketLike | undefined;
  /** Written only once the server's `connect` shows the member was admitted (as a WebSocket waits for its open). */
  private readonly waiting: { msg: ClientMessage; json: string }[] = [];
  private detached = false;
  private opened = false;
  private partial = '';
  private closeCode: number | undefined;
  private closeReason: string | undefined;
  private refusal: string | undefined;
  private refusalMessage: string | undefined;
  private lastError: Error | undefined;
  private onClosed: (() => void) | undefined;

  constructor(private readonly url: URL, private readonly handlers: TransportHandlers) {
    const tls = url.protocol === 'tls:' || url.protocol === 'tcp+tls:';
    (tls ? loadTls() : loadNet()).then((mod) => {
      if (this.detached) return;
      let socket: SocketLike;
      if (url.protocol === 'ipc:') socket = (mod as NetModule).connect({ path: decodeURIComponent(url.pathname) });
      else {
        const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
        const port = Number(url.port);
        socket = tls
          ? (mod as TlsModule).connect({ host, port, servername: /^[\d.:]+$/.test(host) ? undefined : host, ...lineTlsOptions })
          : (mod as NetModule).connect({ host, port });
      }
      this.attach(socket);
    }, (err: unknown) => this.finish({
      fatal: true,
      reason: 'no node:net here: tcp://, tls:// and ipc:// rooms are for Node',
      error: err instanceof Error ? err : new Error(String(err)),
    }));
  }

  private attach(socket: SocketLike): void {
    this.socket = socket;
    socket.setNoDelay?.(true);
    socket.setEncoding('utf8');
    socket.write(helloLine(this.url));
    socket.on('data', (chunk) => {
      let text = this.partial + chunk;
      let start = 0;
      for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
        const line = text.slice(start, end);
        start = end + 1;
        if (line.trim() !== '') this.receive(line);
        if (this.detached) return;
      }
      text = text.slice(start);
      this.partial = text;
    });
    socket.on('error', (err) => { this.lastError = err; });
    socket.on('close', () => {
      this.onClosed?.();
      const status = this.refusal !== undefined && isKnownErrorCode(this.refusal) ? statusOf(this.refusal) : undefined;
      this.finish({
        ...(this.closeCode !== undefined ? { code: this.closeCode } : {}),
        reason: this.closeReason ?? this.refusalMessage ?? this.lastError?.message ?? '',
        ...(status !== undefined ? { status } : {}),
        ...(this.refusal !== undefined ? { errorCode: this.refusal } : {}),
        ...(this.lastError !== undefined ? { error: this.lastError } : {}),
      });
    });
  }

  private receive(line: string): void {
    // The stream's own lines: the heartbeat, and the close reason a WebSocket would carry in its close frame.
    if (line.length < 80) {
      if (line === '{"type":"ping"}') { this.socket?.write('{"type":"pong"}\n'); return; }
      if (line.startsWith('{"type":"close"')) {
        try {
          const close = JSON.parse(line) as { code?: unknown; reason?: unknown };
          if (typeof close.code === 'number') this.closeCode = close.code;
          if (typeof close.reason === 'string') this.closeReason = close.reason;
        } catch { /* not ours */ }
        return;
      }
    }
    for (const msg of parseServerFrame(line)) {
      if (this.detached) return;
      if (!this.opened) {
        if (msg.type === 'error') {
          // A refusal at the hello: one error line, then the stream ends.
          this.refusal = msg.code;
          this.refusalMessage = msg.message;
          continue;
        }
        if (msg.type === 'connect') this.open();
      }
      this.handlers.message(msg);
    }
  }

  private open(): void {
    this.opened = true;
    const socket = this.socket!;
    for (const { msg, json } of this.waiting.splice(0)) {
      socket.write(json + '\n');
      this.handlers.written(msg);
    }
  }

  private finish(info: Omit<CloseInfo, 'unsent' | 'opened'>): void {
    if (this.detached) return;
    this.detached = true;
    this.handlers.close({ ...info, opened: this.opened, unsent: this.waiting.splice(0).map((w) => w.msg) });
  }

  send(msg: ClientMessage, json: string): void {
    if (this.detached) return;
    if (this.opened && this.socket && !this.socket.destroyed) {
      this.socket.write(json + '\n');
      this.handlers.written(msg);
    } else this.waiting.push({ msg, json });
  }

  close(drainMs: number): Promise<void> {
    this.detached = true;
    const socket = this.socket;
    if (!socket || socket.destroyed) return Promise.resolve();
    // end() sends what was written first; waiting for the close means it has left this process.
    const closed = new Promise<void>((resolve) => {
      const timer = setTimeout(() => { socket.destroy(); resolve(); }, drainMs);
      this.onClosed = () => { clearTimeout(timer); resolve(); };
    });
    socket.end();
    return closed;
  }
}

export function openLine(url: URL, handlers: TransportHandlers): Transport {
  return new LineTransport(url, handlers);
}
