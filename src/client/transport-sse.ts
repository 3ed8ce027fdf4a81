// The SSE transport: downstream an EventSource on the room URL (one event per server message, the
// event name being its `type`), upstream one POST per message carrying the connection's token,
// strictly one after another so they reach the server in order. Answers the server gives in a
// POST's body (a `reply`, a `presence`, or a refusal) are handed on like messages from the stream.
// Uses the platform's EventSource (browsers) and otherwise the `eventsource` package (Node).
import { SERVER_MESSAGE_TYPES, parseServerFrame, parseServerMessage, type ClientMessage, type ServerMessage } from './types.js';
import type { CloseInfo, Transport, TransportHandlers } from './transport.js';

/** The part of the EventSource API (WHATWG, and the `eventsource` package) this transport uses. */
interface EventSourceLike {
  readonly readyState: number;
  close(): void;
  addEventListener(type: string, listener: (ev: SseEvent) => void): void;
}
/** A MessageEvent (with `data`) or, for connection failures, an Event (the package adds `code`). */
interface SseEvent {
  data?: unknown;
  code?: unknown;
  message?: unknown;
}
type EventSourceCtor = new (url: string, init?: { withCredentials?: boolean }) => EventSourceLike;

let eventsourcePackage: Promise<EventSourceCtor> | undefined;

function loadEventSource(): Promise<EventSourceCtor> {
  const platform = (globalThis as { EventSource?: EventSourceCtor }).EventSource;
  if (platform) return Promise.resolve(platform);
  eventsourcePackage ??= import(/* webpackIgnore: true */ /* @vite-ignore */ 'eventsource').then((mod) => {
    const ctor: unknown = (mod as { EventSource?: unknown }).EventSource;
    if (typeof ctor !== 'function') throw new Error('the "eventsource" package has no EventSource export');
    return ctor as EventSourceCtor;
  });
  return eventsourcePackage;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** How long `close()` waits for queued POSTs before it gives up on them. */
const DRAIN_TIMEOUT_MS = 5000;

class SseTransport implements Transport {
  private source: EventSourceLike | undefined;
  private token: string | undefined;
  /** Messages not yet accepted by the server, each with its JSON (made once, in `send`). */
  private readonly queue: { msg: ClientMessage; json: string }[] = [];
  private posting = false;
  /** close() was called: deliver what is queued, report nothing. */
  private closing = false;
  /** No more POSTs, no more reports. */
  private dead = false;
  private readonly aborter = new AbortController();
  private drainTimer: ReturnType<typeof setTimeout> | undefined;
  /** The room URL without the stream's own query parameters. */
  private postUrl: string;

  constructor(url: URL, private readonly handlers: TransportHandlers) {
    const post = new URL(url.href);
    post.searchParams.delete('since');
    post.searchParams.delete('topics');
    this.postUrl = post.href;
    loadEventSource().then(
      (Ctor) => { if (!this.closing && !this.dead) this.attach(new Ctor(url.href)); },
      (err: unknown) => this.fail({
        fatal: true,
        reason: 'no EventSource implementation (install the "eventsource" package)',
        error: err instanceof Error ? err : new Error(String(err)),
      }),
    );
  }

  private attach(source: EventSourceLike): void {
    this.source = source;
    for (const type of SERVER_MESSAGE_TYPES) {
      source.addEventListener(type, (ev) => {
        if (typeof ev.data === 'string') {
          for (const msg of parseServerFrame(ev.data)) this.deliver(msg);
        } else if (type === 'error') {
          // Not a server `error` message but the stream failing (or ending): this connection is over.
          const status = typeof ev.code === 'number' ? ev.code : undefined;
          const reason = typeof ev.message === 'string' ? ev.message : 'event stream ended';
          this.fail({ reason, ...(status !== undefined ? { status } : {}) });
        }
      });
    }
  }

  private deliver(msg: ServerMessage): void {
    if (this.closing || this.dead) return;
    if (msg.type === 'connect') {
      this.token = msg.token;
      // A stream opened on /_/new made a room: its POSTs go to that room's path.
      const post = new URL(this.postUrl);
      if (post.pathname.endsWith('/_/new')) {
        post.pathname = post.pathname.slice(0, -'/_/new'.length) + msg.room;
        this.postUrl = post.href;
      }
      queueMicrotask(() => void this.pump());
    }
    this.handlers.message(msg);
  }

  send(msg: ClientMessage): void {
    if (this.closing || this.dead) return;
    // Serialise now so that data JSON cannot encode fails in the caller, not in the queue. In a
    // POST "token" is the connection's own, so a new room token (`auth`) travels as "jwt".
    const json = msg.type === 'auth' ? JSON.stringify({ type: 'auth', jwt: msg.token, ...(msg.ref !== undefined ? { ref: msg.ref } : {}) }) : JSON.stringify(msg);
    this.queue.push({ msg, json });
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.posting || this.token === undefined) return;
    this.posting = true;
    try {
      while (this.queue.length > 0 && !this.dead) {
        const item = this.queue[0];
        if (item.msg.type === 'request') {
          // A request's POST is answered only when its reply is ready (up to its timeout); later
          // writes go on meanwhile, so a member can still answer others while it waits.
          this.queue.shift();
          void this.post(item.msg, item.json);
          continue;
        }
        if (!(await this.post(item.msg, item.json))) break;
        this.queue.shift();
      }
    } finally {
      this.posting = false;
    }
    if (this.closing && (this.queue.length === 0 || this.dead)) this.shutdown();
  }

  /** POST one message; false when the connection is unusable (the message stays queued). */
  private async post(msg: ClientMessage, json: string): Promise<boolean> {
    let res: Response;
    let body: unknown;
    try {
      res = await fetch(this.postUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        // {"token":"…", <the message's own fields>}
        body: `{"token":${JSON.stringify(this.token)},${json.slice(1)}`,
        signal: this.aborter.signal,
      });
      const text = await res.text();
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = undefined;
      }
    } catch (err) {
      this.fail({ reason: 'POST failed', error: err instanceof Error ? err : new Error(String(err)) });
      return false;
    }
    const refused = isObj(body) && isObj(body.error) ? body.error : {};
    if (res.status === 401 && (refused.code === 'bad_token' || refused.code === undefined)) {
      // The connection's token is not (or no longer) valid: the stream is gone or going; reconnect.
      this.fail({ status: 401, reason: 'bad_token' });
      return false;
    }
    if (res.ok) {
      if (isObj(body) && typeof body.type === 'string') {
        const answer = parseServerMessage(body);
        if (answer) this.deliver(answer);
      }
      return true;
    }
    // A refusal of this one message: report it as the `error` message it stands for.
    const error = refused;
    const code = typeof error.code === 'string' ? error.code : `http_${res.status}`;
    const message = typeof error.message === 'string' ? error.message : `HTTP ${res.status}`;
    this.deliver({ type: 'error', code, message, ...(msg.ref !== undefined ? { ref: msg.ref } : {}) });
    return true;
  }

  private fail(info: Omit<CloseInfo, 'unsent'>): void {
    if (this.dead) return;
    const report = !this.closing;
    this.shutdown();
    if (report) this.handlers.close({ ...info, unsent: this.queue.splice(0).map((item) => item.msg) });
  }

  private shutdown(): void {
    this.dead = true;
    if (this.drainTimer !== undefined) clearTimeout(this.drainTimer);
    this.source?.close();
    this.aborter.abort();
  }

  close(): void {
    if (this.closing || this.dead) return;
    this.closing = true;
    if (this.token === undefined || (this.queue.length === 0 && !this.posting)) {
      this.shutdown();
      return;
    }
    this.drainTimer = setTimeout(() => this.shutdown(), DRAIN_TIMEOUT_MS);
    void this.pump();
  }
}

export function openSse(url: URL, handlers: TransportHandlers): Transport {
  const httpUrl = new URL(url.href);
  if (httpUrl.protocol === 'ws:') httpUrl.protocol = 'http:';
  else if (httpUrl.protocol === 'wss:') httpUrl.protocol = 'https:';
  return new SseTransport(httpUrl, handlers);
}
