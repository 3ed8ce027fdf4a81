// A raw GUN-wire client for tests: one WebSocket to `${base}/<room>`, every incoming frame parsed
// (a frame is one JSON object or a JSON array of objects; batches are flattened) and kept in order.
// Tests wait on predicates over what has arrived (`waitFor`) or check that something never does
// (`expectNone`). No GUN library involved: this is exactly what goes over the wire.
import WebSocket from 'ws';
import { before, after } from 'node:test';
import { startServer, type RunningServer } from './server.ts';
import { AssertionError } from 'node:assert';
import type { IncomingMessage } from 'node:http';

import { MessageLog, closeSocket, describeSocket, sleep, short, type Msg, type Pred } from './message-log.ts';
export { sleep, type Msg, type Pred };

let counter = 0;
/** A message id that no other test in this process uses. */
export function uid(prefix = 'm'): string {
  counter += 1;
  return `${prefix}-${process.pid.toString(36)}-${counter.toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}

/** A GUN node: `{_:{"#":soul,">":{field:state}}, field:value}`; `state` is one number or one per field. */
export function node(soul: string, fields: Record<string, unknown>, state: number | Record<string, number> = 1): Msg {
  const states: Record<string, number> = {};
  for (const k of Object.keys(fields)) states[k] = typeof state === 'number' ? state : state[k];
  return { _: { '#': soul, '>': states }, ...fields };
}

/** Field names of a node, without `_`. */
export function fieldsOf(n: Msg | undefined): string[] {
  return n ? Object.keys(n).filter((k) => k !== '_').sort() : [];
}


export interface ConnectOptions extends WebSocket.ClientOptions {
  /** Wait for the server's DAM greeting before resolving (default true). */
  greeting?: boolean;
  timeoutMs?: number;
}

export type UpgradeResult =
  | { kind: 'open'; ws: WebSocket }
  | { kind: 'rejected'; statusCode: number; body: string }
  | { kind: 'error'; error: Error };

/** Try a WebSocket upgrade and report how it ended: opened, refused with an HTTP status, or failed. */
export function tryUpgrade(url: string, opts: WebSocket.ClientOptions = {}, timeoutMs = 3000): Promise<UpgradeResult> {
  return awaitUpgrade(new WebSocket(url, { perMessageDeflate: false, ...opts }), timeoutMs);
}

/** Wait for a just-created socket's upgrade to end. */
export function awaitUpgrade(ws: WebSocket, timeoutMs = 3000): Promise<UpgradeResult> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { ws.terminate(); resolve({ kind: 'error', error: new Error(`upgrade to ${ws.url} timed out`) }); }, timeoutMs);
    ws.once('open', () => { clearTimeout(timer); resolve({ kind: 'open', ws }); });
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      clearTimeout(timer);
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      let settled = false;
      const done = () => { if (settled) return; settled = true; ws.terminate(); resolve({ kind: 'rejected', statusCode: res.statusCode ?? 0, body }); };
      res.once('end', done);
      res.once('error', done);
      res.once('close', done);
    });
    ws.once('error', (error) => { clearTimeout(timer); resolve({ kind: 'error', error }); });
  });
}

export class GunPeer extends MessageLog {
  /** Every text frame as received (for evidence in failure messages). */
  readonly frames: string[] = [];
  /** Frames that were not JSON objects / arrays of objects. */
  readonly odd: string[] = [];
  pings = 0;
  greeting?: Msg;
  readonly closed: Promise<{ code: number; reason: string }>;

  get label(): string { return this.room; }

  constructor(readonly ws: WebSocket, readonly room: string) {
    super();
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => this.onFrame(data, isBinary));
    ws.on('ping', () => { this.pings += 1; this.notify(); });
    this.closed = this.trackClose(ws);
  }

  /** Connect to `${base}${room}` and (by default) wait for the server's `dam:"?"` greeting. */
  static async connect(base: string, room: string, opts: ConnectOptions = {}): Promise<GunPeer> {
    const { greeting = true, timeoutMs = 3000, ...wsOpts } = opts;
    // Listeners go on before the upgrade completes: the greeting can arrive in the same TCP chunk
    // as the 101 response and be emitted before an `await` after 'open' would resume.
    const peer = new GunPeer(new WebSocket(base + room, { perMessageDeflate: false, ...wsOpts }), room);
    const r = await awaitUpgrade(peer.ws, timeoutMs);
    if (r.kind === 'rejected') throw new Error(`upgrade to ${room} refused: HTTP ${r.statusCode} ${r.body}`);
    if (r.kind === 'error') throw r.error;
    if (greeting) {
      peer.greeting = await peer.waitFor((m) => m.dam === '?' && m['@'] === undefined, timeoutMs, 'DAM greeting');
    }
    return peer;
  }

  get serverPid(): unknown { return this.greeting?.pid; }
  get isOpen(): boolean { return this.ws.readyState === WebSocket.OPEN; }

  private onFrame(data: WebSocket.RawData, isBinary: boolean): void {
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
    this.frames.push(isBinary ? `<binary>${text}` : text);
    let parsed: unknown;
    try { parsed = JSON.parse(text); } catch { this.odd.push(text); this.notify(); return; }
    const list = Array.isArray(parsed) ? parsed : [parsed];
    for (const m of list) {
      if (m && typeof m === 'object' && !Array.isArray(m)) this.messages.push(m as Msg);
      else this.odd.push(short(m));
    }
    this.notify();
  }

  /** Send an object, a batch (array) or a raw string as one text frame. */
  send(x: Msg | Msg[] | string): void {
    this.ws.send(typeof x === 'string' ? x : JSON.stringify(x));
  }

  /** Put a graph; returns the message id. */
  put(graph: unknown, id = uid('put'), extra: Msg = {}): string {
    this.send({ '#': id, put: graph, ...extra });
    return id;
  }

  /** Put and wait for the first reply `{"@":id}` (ack or err). */
  async putAck(graph: unknown, timeoutMs = 2000): Promise<Msg> {
    const id = this.put(graph);
    return this.waitFor((m) => m['@'] === id, timeoutMs, `ack of put ${id}`);
  }

  /** Send a get; returns the message id. */
  get(lex: Msg, id = uid('get')): string {
    this.send({ '#': id, get: lex });
    return id;
  }

  /** Send a get and wait for the first reply `{"@":id}`. */
  async ask(lex: Msg, timeoutMs = 2000): Promise<Msg> {
    const id = this.get(lex);
    return this.waitFor((m) => m['@'] === id, timeoutMs, `reply to get ${id} ${short(lex)}`);
  }

  /** Recent traffic, for failure messages. */
  describe(n = 8): string { return describeSocket(this, this.ws, this.odd, n); }

  /** Close politely; terminate if the server does not answer the close within 1 s. */
  close(): Promise<void> { return closeSocket(this.ws, this.closed); }
}

/** Keeps every peer a test opens so that one `after` hook closes them all. */
export class PeerPool {
  readonly peers: GunPeer[] = [];
  constructor(public base: string) {}
  async connect(room: string, opts: ConnectOptions = {}): Promise<GunPeer> {
    const p = await GunPeer.connect(this.base, room, opts);
    this.peers.push(p);
    return p;
  }
  async closeAll(): Promise<void> {
    await Promise.all(this.peers.splice(0).map((p) => p.close()));
  }
}

/**
 * One server and one peer pool for a whole test file: started before its first test, closed
 * after its last. `use` receives them once they exist.
 */
export function sharedGunServer(use: (server: RunningServer, pool: PeerPool) => void): void {
  let server: RunningServer | undefined;
  let pool: PeerPool | undefined;
  before(async () => {
    server = await startServer();
    pool = new PeerPool(server.ws);
    use(server, pool);
  });
  after(async () => {
    await pool?.closeAll();
    await server?.stop();
  });
}


/** Poll `fn` until it returns a truthy value; returns that value, or throws after `timeoutMs`. */
export async function poll<T>(fn: () => Promise<T> | T, timeoutMs = 3000, everyMs = 50, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (e) { last = e; }
    if (Date.now() > deadline) throw new AssertionError({ message: `timed out after ${timeoutMs} ms waiting for ${what}; last: ${short(last)}` });
    await sleep(everyMs);
  }
}

/** GET a URL and return status, headers and body (parsed as JSON when it is JSON). */
export async function httpGet(url: string, timeoutMs = 2000): Promise<{ status: number; type: string; text: string; json: Msg | undefined }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let json: Msg | undefined;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, type: res.headers.get('content-type') ?? '', text, json };
}
