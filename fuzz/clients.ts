// The fuzzer's own clients: a WebSocket that pipelines frames and waits on a round trip now and
// then (so a fast generator cannot queue without bound), an SSE reader, and bounded raw-socket
// and HTTP exchanges. Each records answers that betray a server fault.
import http from 'node:http';
import net from 'node:net';
import WebSocket from 'ws';
import { Rng } from './rng.ts';
import { answerGet } from './doors/gun.ts';

export type Suspicion = (what: string) => void;

/** A GUN or native WebSocket of one worker; `ok` false once it failed to open or closed. */
export class FuzzSocket {
  readonly ws: WebSocket;
  readonly opened: Promise<boolean>;
  closed = false;
  private waiters = new Map<string, () => void>();
  private barriers = 0;
  /** when set, the socket answers some of what other peers ask it (forwarded gets, requests) */
  answerer: Rng | undefined;
  /** a native socket's connect message */
  onConnect: ((hello: Record<string, unknown>) => void) | undefined;

  constructor(url: string, readonly native: boolean, private readonly suspicious: Suspicion, readonly tag: string) {
    this.ws = new WebSocket(url, native ? 'multisocket.v1' : [], { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    this.opened = new Promise((resolve) => {
      this.ws.once('open', () => resolve(true));
      this.ws.once('unexpected-response', (_req, res) => { res.resume(); this.closed = true; this.ws.terminate(); resolve(false); });
      this.ws.once('error', () => { this.closed = true; resolve(false); });
    });
    this.ws.on('error', () => { this.closed = true; });
    this.ws.on('close', () => { this.closed = true; for (const w of this.waiters.values()) w(); this.waiters.clear(); });
    this.ws.on('message', (data: Buffer) => this.onMessage(data.toString('utf8')));
  }

  private onMessage(text: string): void {
    let m: unknown;
    try { m = JSON.parse(text); } catch { return this.suspicious(`non-JSON frame from the server: ${text.slice(0, 200)}`); }
    if (typeof m !== 'object' || m === null) return;
    const msg = m as Record<string, unknown>;
    if (this.native) {
      if (msg.type === 'error' && msg.code === 'internal') this.suspicious(`native error "internal": ${text.slice(0, 300)}`);
      if (msg.type === 'connect') this.onConnect?.(msg);
      const key = msg.type === 'presence' ? 'presence' : msg.type === 'error' && typeof msg.ref === 'string' ? msg.ref : undefined;
      if (key !== undefined) this.wake(key);
      const rng = this.answerer;
      if (rng && msg.type === 'request' && rng.chance(0.6)) {
        const reply = rng.chance(0.8) ? { type: 'reply', id: msg.id, data: rng.int(0, 1e6) } : { type: 'reply', id: msg.id, error: rng.chance(0.5) ? { code: rng.word(), message: rng.word() } : rng.word() };
        this.send(JSON.stringify(reply), false);
        if (rng.chance(0.1)) this.send(JSON.stringify(reply), false); // a second reply: unknown_request
      }
    } else {
      if (msg.dam === '!' && msg.err === 'message could not be processed') this.suspicious(`GUN "message could not be processed": ${text.slice(0, 300)}`);
      if (typeof msg['@'] === 'string') this.wake(msg['@']);
      else if (this.answerer && msg.get !== undefined && typeof msg['#'] === 'string' && this.answerer.chance(0.4)) {
        this.send(answerGet(this.answerer, msg['#'], msg.get), false);
      }
    }
  }

  private wake(key: string): void {
    const w = this.waiters.get(key);
    if (w) { this.waiters.delete(key); w(); }
    if (key === 'presence') for (const [k, fn] of this.waiters) if (k.startsWith('presence:')) { this.waiters.delete(k); fn(); }
  }

  send(data: string | Buffer, binary: boolean): void {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(data, { binary });
  }

  /** A round trip: resolves true when the server answered (false: closed or `timeoutMs` passed). */
  barrier(timeoutMs: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    const n = ++this.barriers;
    const id = `${this.tag}-b${n}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.waiters.delete(key); resolve(false); }, timeoutMs);
      const key = this.native ? `presence:${id}` : id;
      this.waiters.set(key, () => { clearTimeout(timer); resolve(!this.closed); });
      if (this.native) { this.waiters.set(id, this.waiters.get(key)!); this.send(JSON.stringify({ type: 'presence', ref: id }), false); }
      else this.send(JSON.stringify({ '#': id, get: { '#': 'fz-barrier' } }), false);
    });
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.ws.terminate(); }, 1000);
      this.ws.once('close', () => { clearTimeout(t); resolve(); });
      if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
      else this.ws.close();
    });
  }
}

export interface SseEvent { event: string; data: string }

/** A native member over SSE: its connect message, and every later event. */
export class SseReader {
  readonly req: http.ClientRequest;
  readonly connected: Promise<Record<string, unknown> | undefined>;
  readonly events: SseEvent[] = [];
  closed = false;
  private buf = '';

  constructor(url: string, onEvent?: (e: SseEvent) => void) {
    let resolveConnect!: (v: Record<string, unknown> | undefined) => void;
    this.connected = new Promise((r) => { resolveConnect = r; });
    const timer = setTimeout(() => resolveConnect(undefined), 5000);
    this.req = http.get(url, { headers: { accept: 'text/event-stream' }, agent: false }, (res) => {
      if (res.statusCode !== 200) { res.resume(); clearTimeout(timer); resolveConnect(undefined); return; }
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        this.buf += chunk;
        let i: number;
        while ((i = this.buf.indexOf('\n\n')) >= 0) {
          const block = this.buf.slice(0, i);
          this.buf = this.buf.slice(i + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length === 0) continue; // comments, retry
          const e = { event, data: data.join('\n') };
          if (event === 'connect') { clearTimeout(timer); try { resolveConnect(JSON.parse(e.data)); } catch { resolveConnect(undefined); } continue; }
          this.events.push(e);
          if (this.events.length > 1000) this.events.splice(0, 500);
          onEvent?.(e);
        }
      });
      res.on('close', () => { this.closed = true; clearTimeout(timer); resolveConnect(undefined); });
    });
    this.req.on('error', () => { this.closed = true; clearTimeout(timer); resolveConnect(undefined); });
  }

  close(): void {
    this.closed = true;
    this.req.destroy();
  }
}

export interface HttpAnswer { status: number; text: string; timedOut: boolean; error?: string }

/** One request on `agent`; the answer's first 64 KiB, or a timeout after `timeoutMs`. */
export function httpExchange(port: number, agent: http.Agent | false, method: string, path: string, headers: Record<string, string>, body: string | Buffer | undefined, timeoutMs: number, stream = false): Promise<HttpAnswer> {
  return new Promise((resolve) => {
    let req: http.ClientRequest;
    let settled = false;
    const finish = (a: HttpAnswer) => { if (settled) return; settled = true; clearTimeout(timer); resolve(a); };
    const timer = setTimeout(() => { req?.destroy(); finish({ status: 0, text: '', timedOut: true }); }, timeoutMs);
    try {
      req = http.request({ host: '127.0.0.1', port, method, path, headers, agent, setHost: true }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < 65536) chunks.push(c);
          size += c.length;
          if (stream) { req.destroy(); finish({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), timedOut: false }); }
        });
        res.on('end', () => finish({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), timedOut: false }));
        res.on('error', () => finish({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), timedOut: false }));
        res.on('close', () => finish({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), timedOut: false }));
      });
    } catch (err) {
      // the client library refused the input (a character it will not send): not a server answer
      clearTimeout(timer);
      settled = true;
      resolve({ status: -1, text: '', timedOut: false, error: (err as Error).message });
      return;
    }
    req.on('error', (err) => finish({ status: 0, text: '', timedOut: false, error: err.message }));
    req.end(body);
  });
}

export interface RawAnswer { text: string; closedByServer: boolean }

/** Write `chunks` on a fresh connection, `pauseMs` apart; collect the answer for `waitMs`. */
export function rawExchange(port: number, chunks: Buffer[], pauseMs: number, waitMs: number, onOpen?: (socket: net.Socket, received: () => string) => Promise<void>): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let closedByServer = false;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(hard);
      socket.destroy();
      resolve({ text: Buffer.concat(got).toString('latin1'), closedByServer });
    };
    const hard = setTimeout(finish, waitMs + pauseMs * chunks.length + 3000);
    socket.on('data', (c: Buffer) => { if (got.length < 64) got.push(c); });
    socket.on('end', () => { closedByServer = true; });
    socket.on('close', () => { closedByServer = true; finish(); });
    socket.on('error', () => { /* close follows */ });
    socket.on('connect', async () => {
      if (onOpen) await onOpen(socket, () => Buffer.concat(got).toString('latin1'));
      for (let i = 0; i < chunks.length && !done; i++) {
        if (i > 0 && pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
        if (!socket.destroyed) socket.write(chunks[i]);
      }
      setTimeout(finish, waitMs);
    });
  });
}

export type LineTarget = { port: number } | { path: string };

/**
 * A TCP or IPC stream of newline-delimited JSON (docs/protocol.md "TCP and IPC"): every line the
 * server sends is parsed, and answers that betray a fault are reported. Bounded: destroyed after
 * `hardMs` whatever happens.
 */
export class LineStream {
  readonly socket: net.Socket;
  readonly opened: Promise<boolean>;
  readonly messages: Record<string, unknown>[] = [];
  closed = false;
  ended = false;
  private buf = '';
  private waiters: Array<() => void> = [];
  private readonly hard: NodeJS.Timeout;
  private readonly answered = new Set<string>();

  constructor(target: LineTarget, private readonly suspicious: Suspicion, hardMs = 15_000, private readonly onMessage?: (m: Record<string, unknown>, text: string) => void) {
    this.socket = 'port' in target ? net.connect(target.port, '127.0.0.1') : net.connect(target.path);
    this.hard = setTimeout(() => this.socket.destroy(), hardMs);
    this.opened = new Promise((resolve) => {
      this.socket.once('connect', () => resolve(true));
      this.socket.once('error', () => resolve(false));
    });
    this.socket.setEncoding('utf8');
    this.socket.on('data', (chunk: string) => this.receive(chunk));
    this.socket.on('end', () => { this.ended = true; this.wake(); });
    this.socket.on('error', () => { /* close follows */ });
    this.socket.on('close', () => { this.closed = true; clearTimeout(this.hard); this.wake(); });
  }

  private receive(chunk: string): void {
    this.buf += chunk;
    let i: number;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      const text = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 1);
      let m: unknown;
      try { m = JSON.parse(text); } catch { this.suspicious(`non-JSON line from the server: ${text.slice(0, 200)}`); continue; }
      if (typeof m !== 'object' || m === null || Array.isArray(m)) { this.suspicious(`a line that is no message: ${text.slice(0, 200)}`); continue; }
      const msg = m as Record<string, unknown>;
      if (msg.type === 'error' && msg.code === 'internal') this.suspicious(`line error "internal": ${text.slice(0, 300)}`);
      if (msg.type === 'ping') this.write('{"type":"pong"}\n');
      if (this.messages.length < 2000) this.messages.push(msg);
      // answers to round trips, also past the first 2,000 messages (a flood of presences)
      if ((msg.type === 'presence' || msg.type === 'error') && typeof msg.ref === 'string') this.answered.add(msg.ref);
      this.onMessage?.(msg, text);
    }
    if (this.buf.length > 1 << 20) { this.suspicious(`a line over 1 MiB from the server: ${this.buf.slice(0, 200)}`); this.buf = ''; }
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves when `done()` holds, the stream closed, or `timeoutMs` passed (then false). */
  until(done: () => boolean, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const check = () => {
        if (done()) { clearTimeout(timer); resolve(true); return; }
        if (this.closed) { clearTimeout(timer); resolve(false); return; }
        this.waiters.push(check);
      };
      const timer = setTimeout(() => { this.waiters = this.waiters.filter((w) => w !== check); resolve(false); }, timeoutMs);
      check();
    });
  }

  write(data: string | Buffer): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(data);
  }

  /** A round trip: presence with `ref`, answered once every earlier line was handled (false: closed or no answer in `timeoutMs`). */
  async barrier(ref: string, timeoutMs: number): Promise<boolean> {
    // a newline first ends whatever unfinished line came before (an empty line is skipped)
    this.write('\n' + JSON.stringify({ type: 'presence', ref }) + '\n');
    // an error naming it (rate_limited after a flood) is an answer too: every earlier line was handled
    return this.until(() => this.answered.has(ref), timeoutMs);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.destroy();
    });
  }
}
