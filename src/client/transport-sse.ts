// The SSE transport: downstream a streamed `fetch()` of the room URL with
// `Accept: text/event-stream` (one event per server message, the event name being its `type`),
// upstream one POST per message carrying the connection's token, strictly one after another so
// they reach the server in order. fetch() rather than EventSource: a refused stream's status and
// error body are then readable in browsers and Node alike, and no package is needed.
//
// A POST's 200 answer is the server's acceptance: `{"ok":true}` (with `seq` for a publish, `job`
// for a push) is handed on as the `ack` message of its `ref`; an answer message (`reply`,
// `presence`) or a refusal (as an `error` message with the ref) likewise.
import { errorOf } from './door.js';
import { SseParser } from './sse-parser.js';
import { parseServerFrame, parseServerMessage, type AckMessage, type ClientMessage, type ParsedServerMessage } from './types.js';
import type { CloseInfo, Transport, TransportHandlers } from './transport.js';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

class SseTransport implements Transport {
  private token: string | undefined;
  /** Messages not yet accepted by the server, each with its JSON (made once, by the room). */
  private readonly queue: { msg: ClientMessage; json: string }[] = [];
  private posting = false;
  /** close() was called: deliver what is queued, report nothing. */
  private closing = false;
  /** No more POSTs, no more reports. */
  private dead = false;
  private opened = false;
  /** Aborts the stream (and, on a failure, the POSTs). */
  private readonly streamAborter = new AbortController();
  private readonly postAborter = new AbortController();
  private drained: (() => void) | undefined;
  /** The room URL without the stream's own query parameters. */
  private postUrl: string;

  constructor(private readonly url: URL, private readonly handlers: TransportHandlers) {
    const post = new URL(url.href);
    for (const key of ['since', 'epoch', 'topics', 'resume', 'info']) post.searchParams.delete(key);
    this.postUrl = post.href;
    void this.stream();
  }

  private async stream(): Promise<void> {
    if (typeof fetch !== 'function') return this.fail({ fatal: true, reason: 'no fetch() in this runtime' });
    let res: Response;
    try {
      res = await fetch(this.url.href, { headers: { accept: 'text/event-stream' }, signal: this.streamAborter.signal });
    } catch (err) {
      return this.fail({ reason: 'event stream failed', error: err instanceof Error ? err : new Error(String(err)) });
    }
    if (!res.ok || !res.body) {
      const { code, message } = await errorOf(res);
      return this.fail({ status: res.status, reason: message ?? `HTTP ${res.status}`, ...(code !== undefined ? { errorCode: code } : {}) });
    }
    const decoder = new TextDecoder();
    const parser = new SseParser((ev) => { for (const msg of parseServerFrame(ev.data)) this.deliver(msg); });
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (this.dead) return;
        parser.push(decoder.decode(value, { stream: true }));
      }
    } catch (err) {
      return this.fail({ reason: 'event stream broke', error: err instanceof Error ? err : new Error(String(err)) });
    }
    this.fail({ reason: 'event stream ended' });
  }

  private deliver(msg: ParsedServerMessage): void {
    if (this.closing || this.dead) return;
    if (msg.type === 'connect') {
      this.opened = true;
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

  send(msg: ClientMessage, json: string): void {
    if (this.closing || this.dead) return;
    // In a POST "token" is the connection's own, so a new room token (`auth`) travels as "jwt".
    const body = msg.type === 'auth' ? JSON.stringify({ type: 'auth', jwt: msg.token, ...(msg.ref !== undefined ? { ref: msg.ref } : {}) }) : json;
    this.queue.push({ msg, json: body });
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
        signal: this.postAborter.signal,
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
    if (this.dead && !this.closing) return false;
    if (res.ok) {
      this.handlers.written(msg);
      if (isObj(body) && typeof body.type === 'string') {
        const answer = parseServerMessage(body);
        if (answer) this.answer(answer);
      } else if (isObj(body) && body.ok === true && msg.ref !== undefined) {
        const ack: AckMessage = { type: 'ack', ref: msg.ref };
        if (typeof body.seq === 'number') ack.seq = body.seq;
        if (typeof body.job === 'string') ack.job = body.job;
        this.answer(ack);
      }
      return true;
    }
    // A refusal of this one message: report it as the `error` message it stands for.
    const code = typeof refused.code === 'string' ? refused.code : `http_${res.status}`;
    const message = typeof refused.message === 'string' ? refused.message : `HTTP ${res.status}`;
    this.answer({ type: 'error', code, message, ...(msg.ref !== undefined ? { ref: msg.ref } : {}) });
    return true;
  }

  /** An answer to a POST reaches the room even while close() drains the queue (its acks matter then). */
  private answer(msg: ParsedServerMessage): void {
    if (!this.dead) this.handlers.message(msg);
  }

  private fail(info: Omit<CloseInfo, 'unsent' | 'opened'>): void {
    if (this.dead) return;
    const report = !this.closing;
    this.shutdown();
    if (report) this.handlers.close({ ...info, opened: this.opened, unsent: this.queue.splice(0).map((item) => item.msg) });
  }

  private shutdown(): void {
    this.dead = true;
    this.streamAborter.abort();
    this.postAborter.abort();
    this.drained?.();
  }

  close(drainMs: number): Promise<void> {
    if (this.dead) return Promise.resolve();
    if (this.closing) return new Promise((resolve) => { const was = this.drained; this.drained = () => { was?.(); resolve(); }; });
    this.closing = true;
    if (this.token === undefined || (this.queue.length === 0 && !this.posting)) {
      this.shutdown();
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.shutdown(), drainMs);
      this.drained = () => { clearTimeout(timer); resolve(); };
      void this.pump();
    });
  }
}

export function openSse(url: URL, handlers: TransportHandlers): Transport {
  const httpUrl = new URL(url.href);
  if (httpUrl.protocol === 'ws:') httpUrl.protocol = 'http:';
  else if (httpUrl.protocol === 'wss:') httpUrl.protocol = 'https:';
  return new SseTransport(httpUrl, handlers);
}
