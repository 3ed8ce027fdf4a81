// Raw clients of the native protocol (docs/protocol.md) for tests, no SDK involved:
// - WsMember: one `ws` WebSocket with the `multisocket.v1` subprotocol; `send` writes one frame.
// - SseMember: an `eventsource@4` EventSource on the room path for downstream, and `fetch` POSTs
//   with the connection's token for upstream; `send` returns the parsed HTTP answer.
// Both keep every server message in arrival order (`messages`), wait on predicates over them
// (`waitFor`, `waitUntil`) and check that something never arrives (`expectNone`).
import WebSocket from 'ws';
import { EventSource } from 'eventsource';
import { AssertionError } from 'node:assert';
import type { IncomingMessage } from 'node:http';

import { MessageLog, closeSocket, describeSocket, sleep, short, type Msg, type Pred } from './message-log.ts';
export { sleep, short, type Msg, type Pred };

import { SUBPROTOCOL } from '../../src/protocol/subprotocol.ts';
export { SUBPROTOCOL };


import { SERVER_MESSAGE_TYPES } from '../../src/protocol/messages.ts';
/** Every server → client message type (the SSE event names to listen to): the protocol's own list. */
export const SERVER_TYPES = SERVER_MESSAGE_TYPES;


/**
 * A message without its `n` (the per-member number of messages sent to one member alone, for
 * resume; docs/protocol.md §2), checked to be a positive integer when present: shape assertions
 * compare the rest.
 */
export function unnumbered(m: Msg): Msg {
  if (m === undefined || m === null || !('n' in m)) return m;
  const { n, ...rest } = m;
  if (!Number.isInteger(n) || n < 1) throw new AssertionError({ message: `"n" must be a positive integer: ${short(m)}` });
  return rest;
}

let counter = 0;
/** A name (room, id, payload) that no other test in this process uses. */
export function uid(prefix = 'n'): string {
  counter += 1;
  return `${prefix}-${process.pid.toString(36)}-${counter.toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}


/** Common: collected messages and waiting on them (MessageLog), plus the connect message. */
export abstract class Member extends MessageLog {
  /** The first connect message (set once connected). */
  hello!: Msg;

  constructor(public label: string) { super(); }

  abstract readonly transport: 'websocket' | 'sse';
  get cid(): string { return this.hello.cid; }
  get token(): string { return this.hello.token; }
  get room(): string { return this.hello.room; }

  protected push(m: Msg): void {
    this.messages.push(m);
    this.notify();
  }

  /** Forget what has arrived so far (later waits only see new messages). */
  clear(): void { this.messages.length = 0; }

  abstract close(): Promise<void>;
}

/** Resolve when `cond()` holds, re-checked whenever any of `members` receives something. */
export function until(members: Member[], cond: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
  return new Promise((resolve, reject) => {
    if (cond()) { resolve(); return; }
    const check = () => { if (cond()) { cleanup(); resolve(); } };
    const timer = setTimeout(() => {
      cleanup();
      reject(new AssertionError({ message: `timed out after ${timeoutMs} ms waiting for ${what}; ${members.map((m) => `${m.label}: ${m.describe(4)}`).join(' || ')}` }));
    }, timeoutMs);
    const cleanup = () => { clearTimeout(timer); for (const m of members) m.unwatch(check); };
    for (const m of members) m.watch(check);
  });
}

export type UpgradeRefusal = { statusCode: number; body: string };

// ---------------------------------------------------------------------------------------------
// WebSocket

export interface WsConnectOptions {
  /** query string without "?" (e.g. "since=3&topics=a,b") */
  query?: string;
  /** subprotocols to offer (default multisocket.v1) */
  protocols?: string | string[];
  /** wait for the connect message (default true) */
  awaitConnect?: boolean;
  timeoutMs?: number;
}

export class WsMember extends Member {
  readonly transport = 'websocket' as const;
  /** raw text frames as received */
  readonly frames: string[] = [];
  /** frames that were not JSON objects */
  readonly odd: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket, label: string) {
    super(label);
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
      this.frames.push(isBinary ? `<binary>${text}` : text);
      let parsed: unknown;
      try { parsed = JSON.parse(text); } catch { this.odd.push(text); this.notify(); return; }
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) this.push(parsed as Msg);
      else { this.odd.push(text); this.notify(); }
    });
    this.closed = this.trackClose(ws);
  }

  /** Connect to `${wsBase}${room}` with the native subprotocol and wait for `connect`. */
  static async connect(wsBase: string, room: string, opts: WsConnectOptions = {}): Promise<WsMember> {
    const url = wsBase + room + (opts.query ? (room.includes('?') ? '&' : '?') + opts.query : '');
    // Listeners go on before the upgrade completes: `connect` can share a TCP chunk with the 101.
    const m = new WsMember(new WebSocket(url, opts.protocols ?? SUBPROTOCOL, { perMessageDeflate: false }), `ws ${room}`);
    const timeoutMs = opts.timeoutMs ?? 3000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { m.ws.terminate(); reject(new Error(`upgrade to ${url} timed out`)); }, timeoutMs);
      m.ws.once('open', () => { clearTimeout(timer); resolve(); });
      m.ws.once('unexpected-response', (_req, res: IncomingMessage) => {
        clearTimeout(timer);
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { body += c; });
        res.once('end', () => { m.ws.terminate(); reject(Object.assign(new Error(`upgrade to ${url} refused: HTTP ${res.statusCode} ${body}`), { statusCode: res.statusCode, body })); });
      });
      m.ws.once('error', (e) => { clearTimeout(timer); reject(e); });
    });
    if (opts.awaitConnect !== false) {
      m.hello = await m.waitFor((x) => x.type === 'connect', timeoutMs, 'connect message');
      m.label = `ws ${m.hello.room} ${m.hello.cid}`;
    }
    return m;
  }

  get isOpen(): boolean { return this.ws.readyState === WebSocket.OPEN; }

  /** One message object, a batch (array) or a raw string, as one text frame. */
  send(x: Msg | Msg[] | string): void {
    this.ws.send(typeof x === 'string' ? x : JSON.stringify(x));
  }

  /** Resolves with the close code once the socket has closed (fails after `timeoutMs`). */
  async waitClosed(timeoutMs = 3000): Promise<{ code: number; reason: string }> {
    await this.waitUntil(() => this.closeInfo !== undefined, timeoutMs, 'the socket to close');
    return this.closeInfo!;
  }

  describe(n = 8): string { return describeSocket(this, this.ws, this.odd, n); }

  /** Close politely; terminate if the server does not answer the close within 1 s. */
  close(): Promise<void> { return closeSocket(this.ws, this.closed); }

  /** Drop the TCP connection without a close handshake. */
  async terminate(): Promise<void> {
    this.ws.terminate();
    await this.closed;
  }
}

// ---------------------------------------------------------------------------------------------
// SSE + POST

export interface PostResult {
  status: number;
  body: Msg;
  text: string;
}

export interface SseConnectOptions {
  query?: string;
  /** extra headers for the first GET only (e.g. Last-Event-ID) */
  headers?: Record<string, string>;
  awaitConnect?: boolean;
  timeoutMs?: number;
}

export class SseMember extends Member {
  readonly transport = 'sse' as const;
  readonly es: EventSource;
  /** the HTTP status of every GET the EventSource made */
  readonly statuses: number[] = [];
  /** Last-Event-ID header of every GET the EventSource made (undefined when none) */
  readonly lastEventIds: Array<string | undefined> = [];
  /** how many times a stream ended (server closed it, or `drop()`) */
  streamEnds = 0;
  /** EventSource error events (stream drops, refused reconnects): code and message */
  readonly esErrors: Array<{ code?: number; message?: string }> = [];
  /** SSE `id:` of each message, parallel to `messages` ('' when none) */
  readonly ids: string[] = [];
  private dropCurrent: (() => void) | undefined;
  private firstHeaders: Record<string, string> | undefined;

  constructor(readonly url: string, readonly httpBase: string, label: string, opts: SseConnectOptions = {}) {
    super(label);
    this.firstHeaders = opts.headers;
    this.es = new EventSource(url, { fetch: (input, init) => this.fetchStream(input, init) });
    for (const type of SERVER_TYPES) {
      this.es.addEventListener(type, (ev: Event) => {
        // `error` is also EventSource's own event name: only MessageEvents are server messages.
        if (!(ev instanceof MessageEvent) || typeof ev.data !== 'string') {
          const e = ev as Event & { code?: number; message?: string };
          if (type === 'error') { this.esErrors.push({ code: e.code, message: e.message }); this.notify(); }
          return;
        }
        let m: Msg;
        try { m = JSON.parse(ev.data); } catch { m = { type: '<bad json>', raw: ev.data }; }
        this.ids.push(ev.lastEventId);
        // the token follows the latest connection (EventSource reconnects get new ones)
        if (m.type === 'connect') this.current = m;
        this.push(m);
      });
    }
  }

  /** the latest connect message (after a reconnect, the new connection's) */
  current: Msg | undefined;
  override get cid(): string { return (this.current ?? this.hello).cid; }
  override get token(): string { return (this.current ?? this.hello).token; }

  private async fetchStream(input: string | URL, init: RequestInit & { headers?: Record<string, string> }): Promise<Response> {
    const headers: Record<string, string> = { ...(init.headers as Record<string, string>), ...this.firstHeaders };
    this.firstHeaders = undefined;
    this.lastEventIds.push(headers['Last-Event-ID']);
    const res = await fetch(input, { ...init, headers });
    this.statuses.push(res.status);
    this.notify();
    if (res.status !== 200 || !res.body) return res;
    // Pass the body through a stream of our own: we see when it ends, and `drop()` can end it
    // (the EventSource then reconnects by itself, with Last-Event-ID).
    const reader = res.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      pull: async (c) => {
        try {
          const { done, value } = await reader.read();
          if (done) { this.dropCurrent = undefined; this.streamEnds++; this.notify(); c.close(); } else c.enqueue(value);
        } catch (e) {
          this.dropCurrent = undefined; this.streamEnds++; this.notify(); c.error(e);
        }
      },
      cancel: (reason) => reader.cancel(reason),
    });
    this.dropCurrent = () => { reader.cancel().catch(() => {}); };
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  }

  /** Open `GET ${httpBase}${room}` as an event stream and wait for `connect`. */
  static async connect(httpBase: string, room: string, opts: SseConnectOptions = {}): Promise<SseMember> {
    const url = httpBase + room + (opts.query ? (room.includes('?') ? '&' : '?') + opts.query : '');
    const m = new SseMember(url, httpBase, `sse ${room}`, opts);
    if (opts.awaitConnect !== false) {
      try {
        m.hello = await m.waitFor((x) => x.type === 'connect', opts.timeoutMs ?? 3000, 'connect message');
      } catch (e) {
        m.es.close();
        throw e;
      }
      m.label = `sse ${m.hello.room} ${m.hello.cid}`;
    }
    return m;
  }

  get isOpen(): boolean { return this.es.readyState === EventSource.OPEN; }

  /** POST `{token, ...msg}` to the member's room; resolves with status and parsed body. */
  send(msg: Msg, opts: { token?: string; room?: string; timeoutMs?: number } = {}): Promise<PostResult> {
    // a request's POST waits for the reply; anything else must be answered at once
    const timeoutMs = opts.timeoutMs ?? (msg.type === 'request' ? (typeof msg.timeout === 'number' ? msg.timeout : 10_000) + 3000 : 3000);
    return this.post({ token: opts.token ?? this.token, ...msg }, opts.room, timeoutMs);
  }

  /** POST any body (an object is JSON-encoded, a string is sent as is) to the room. */
  post(body: unknown, room?: string, timeoutMs = 3000): Promise<PostResult> {
    return postJson(this.httpBase + (room ?? (this.current ?? this.hello).room), body, timeoutMs);
  }

  /** End the current stream from the client side; the EventSource reconnects after `retry`. */
  drop(): void {
    this.dropCurrent?.();
  }

  describe(n = 8): string {
    const recent = this.messages.slice(-n).map((m) => short(m, 200));
    const state = ['connecting', 'open', 'closed'][this.es.readyState];
    return `EventSource ${state}, GET statuses ${this.statuses.join(',')}, ${this.streamEnds} stream ends; ${this.messages.length} messages, last: [${recent.join(', ')}]`;
  }

  async close(): Promise<void> {
    this.es.close();
  }
}

/** POST a body (object → JSON) and parse the JSON answer. */
export async function postJson(url: string, body: unknown, timeoutMs = 3000): Promise<PostResult> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: payload,
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await res.text();
  } catch (e) {
    if ((e as Error).name === 'TimeoutError') throw new AssertionError({ message: `POST ${url} ${short(payload, 200)}: no answer within ${timeoutMs} ms` });
    throw e;
  }
  let parsed: Msg;
  try { parsed = JSON.parse(text); } catch { parsed = { '<text>': text }; }
  return { status: res.status, body: parsed, text };
}

/** GET a URL (optionally as an event stream, closed at once) and return status and body text. */
export async function httpStatus(url: string, headers: Record<string, string> = {}, timeoutMs = 3000): Promise<{ status: number; text: string }> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  try {
    const res = await fetch(url, { headers, signal: ctl.signal });
    if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      ctl.abort();
      return { status: res.status, text: '<event stream>' };
    }
    return { status: res.status, text: await res.text() };
  } finally {
    clearTimeout(timer);
  }
}

/** Keeps every member a test opens, so one hook closes them all (also on failure). */
export class MemberPool {
  readonly members: Member[] = [];
  constructor(readonly wsBase: string, readonly httpBase: string) {}

  async ws(room: string, opts: WsConnectOptions = {}): Promise<WsMember> {
    const m = await WsMember.connect(this.wsBase, room, opts);
    this.members.push(m);
    return m;
  }

  async sse(room: string, opts: SseConnectOptions = {}): Promise<SseMember> {
    const m = await SseMember.connect(this.httpBase, room, opts);
    this.members.push(m);
    return m;
  }

  /** A member over the given transport. */
  join(transport: 'websocket' | 'sse', room: string, opts: WsConnectOptions & SseConnectOptions = {}): Promise<WsMember | SseMember> {
    return transport === 'websocket' ? this.ws(room, opts) : this.sse(room, opts);
  }

  track<T extends Member>(m: T): T { this.members.push(m); return m; }

  async closeAll(): Promise<void> {
    await Promise.all(this.members.splice(0).map((m) => m.close().catch(() => {})));
  }
}
