// The room handle: one member of one room, over whichever transport, across reconnects. It keeps
// what the application asked for (topics, serve, pull) and re-establishes it on every new
// connection, buffers writes while there is none, resumes the published stream from the last
// `seq` it saw, and turns request/reply and presence into Promises.
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { OwnPublishes } from './echoes.js';
import { Emitter } from './emitter.js';
import { MultisocketError } from './errors.js';
import { isValidTopic, topicMatches } from './topics.js';
import type { CloseInfo, Transport, TransportFactory } from './transport.js';
import { openSse } from './transport-sse.js';
import { openWebSocket } from './transport-ws.js';
import { refreshAt } from './token.js';
import type {
  AuthMessage,
  Cid,
  ClientMessage,
  ConnectMessage,
  DataMessage,
  ErrorInfo,
  ErrorMessage,
  GapMessage,
  JoinMessage,
  LeaveMessage,
  ReplyCommand,
  ReplyMessage,
  RequestId,
  RequestMessage,
  ServerMessage,
} from './types.js';

export type TransportName = 'websocket' | 'sse';

export interface ConnectOptions {
  /** Default `websocket`. */
  transport?: TransportName;
  /** Topics to subscribe to from the start (before any replay), without a handler of their own. */
  topics?: string[];
  /** Reconnect after the connection drops (default true). Never after `close()` or `closed`. */
  reconnect?: boolean;
  /** Default timeout of `request()` and `presence()`, ms (the server's default is 10,000). */
  requestTimeout?: number;
  /** Reconnect delays (default 250 ms doubling to 10 s, ±50% jitter). */
  backoff?: BackoffOptions;
  /** Resume from this `seq` on the first connection too (e.g. one saved from an earlier session). */
  since?: number;
  /**
   * A room token (JWT) for a server that requires one (docs/security.md); sent as `?token=` when
   * connecting. A fixed token cannot be renewed: when it expires the room closes (`token_expired`).
   */
  token?: string;
  /**
   * Gets a room token: before the first connection, before every reconnect whose token is
   * missing, refused or about to expire, and again before the current one expires (the new one is
   * then sent on the open connection as an `auth` message, which the server checks). Wins over `token`.
   */
  getToken?: () => string | Promise<string>;
}

export interface PublishOptions {
  topic?: string;
  /** Deliver to this member too (default false). */
  echo?: boolean;
}

export interface RequestOptions {
  /** A member's cid; without it one member that called `serve` is picked (round-robin). */
  to?: Cid;
  /** ms; the server answers `timeout` after it (default: `requestTimeout`, else the server's 10 s). */
  timeout?: number;
}

export interface RequestContext {
  from: Cid;
  id: RequestId;
}
/**
 * Answers a request. Its return value (or what its Promise resolves to) is the reply's `data`; a
 * throw or rejection becomes the error reply `{code: 'handler_error', message}` (or the `code` of a
 * thrown MultisocketError).
 */
export type RequestHandler = (data: unknown, ctx: RequestContext) => unknown;

export interface PushContext {
  from: Cid;
}
export type PullHandler = (data: unknown, ctx: PushContext) => void;
export type TopicHandler = (data: unknown, msg: DataMessage) => void;

export type RoomState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface ConnectEvent {
  room: string;
  cid: Cid;
  owner: Cid;
  members: Cid[];
  /** The room's last published seq when this connection opened. */
  seq: number;
  /** False for the first connection, true after a reconnect. */
  resumed: boolean;
  /** This member's user (its room token's `sub`), when it has one. */
  user?: string;
  /** cid → user of the members whose tokens name one. */
  users?: Record<Cid, string>;
}
export interface ReconnectingEvent {
  /** 1 for the first attempt after a drop. */
  attempt: number;
  /** ms until it. */
  delay: number;
  /** Why the last connection ended, where known. */
  code?: number;
  status?: number;
  reason?: string;
}
export interface ClosedEvent {
  /** The server's (`owner_left`…), or `client` (close()), `gone` (HTTP 404/410), `disconnected` (reconnect: false), `failed`. */
  reason: string;
}

/**
 * Messages `from`..`to` are lost to this member. With `reset`, the room's numbering restarted
 * (a new server process, or the room was freed and made again: a new `epoch`) while it was away:
 * everything after its old `lastSeq` is unknown (`to` is then Number.MAX_SAFE_INTEGER). The
 * server then replays what it still keeps of the new numbering.
 */
export interface GapEvent extends GapMessage {
  reset?: true;
}

export interface RoomEvents {
  connect: ConnectEvent;
  join: JoinMessage;
  leave: LeaveMessage;
  message: DataMessage;
  gap: GapEvent;
  closed: ClosedEvent;
  reconnecting: ReconnectingEvent;
  /** A new token was accepted on the open connection. */
  auth: AuthMessage;
  /** A server `error` not tied to a pending request (e.g. `no_puller`, `rate_limited`), or a transport failure. */
  error: MultisocketError;
}

/** Added to a request's timeout on the client, so the server's `timeout` reply normally wins. */
const REQUEST_GRACE_MS = 1000;
const SERVER_DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

interface Pending<T> {
  resolve(value: T): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
  /** Handed to a connection (as opposed to waiting in the outbox). */
  sent: boolean;
}

const RESENT_TYPES: ReadonlySet<ClientMessage['type']> = new Set(['publish', 'send', 'push', 'request', 'presence']);

const FACTORIES: Record<TransportName, TransportFactory> = { websocket: openWebSocket, sse: openSse };

function rethrowLater(err: unknown): void {
  setTimeout(() => { throw err; }, 0);
}

function handlerError(err: unknown): ErrorInfo {
  if (err instanceof MultisocketError) return { code: err.code, message: err.message };
  return { code: 'handler_error', message: err instanceof Error ? err.message : String(err) };
}

export class Room extends Emitter<RoomEvents> {
  /** This member's id on the current connection (a reconnect gets a new one). */
  cid: Cid | undefined;
  owner: Cid | undefined;
  /** The room's path, e.g. `/chat` (known once connected). */
  room: string | undefined;
  /** The last publish `seq` seen (or the room's seq at the first connect); resumed from on reconnect. */
  lastSeq = 0;
  /** The room incarnation `lastSeq` belongs to (from `connect`). */
  private epoch: string | undefined;
  state: RoomState = 'connecting';

  private memberList: Cid[] = [];
  private readonly url: URL;
  private readonly opts: ConnectOptions;
  private transport: Transport | undefined;
  private everConnected = false;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** Writes made while there is no open connection, in order. */
  private outbox: ClientMessage[] = [];
  private readonly subscriptions = new Map<string, Set<TopicHandler>>();
  /** Topics the server holds for the current connection. */
  private serverTopics = new Set<string>();
  /** Topics put in the URL of the connection being opened. */
  private urlTopics: string[] = [];
  private serveHandler: RequestHandler | undefined;
  private pullHandler: PullHandler | undefined;
  private nextRequestId = 0;
  private readonly requests = new Map<string, Pending<unknown>>();
  private nextPresenceRef = 0;
  private readonly presenceWaiters: (Pending<Cid[]> & { ref: string })[] = [];
  private readonly own = new OwnPublishes();
  /** A reset gap was just reported; a gap from the server about the same loss is not repeated. */
  private resetReported = false;
  /** The room token the current (or next) connection uses. */
  private token: string | undefined;
  /** The server refused or expired `token`: get a new one before connecting again. */
  private tokenRefused = false;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private nextAuthRef = 0;

  constructor(url: string | URL, opts: ConnectOptions = {}) {
    super();
    this.url = new URL(url);
    this.opts = opts;
    for (const topic of opts.topics ?? []) {
      if (!isValidTopic(topic)) throw new TypeError(`invalid topic ${JSON.stringify(topic)} (1–256 characters)`);
    }
    if (opts.since !== undefined) this.lastSeq = opts.since;
    this.token = opts.token;
    this.open();
  }

  /** The members present, this one included (in owned rooms only the owner is kept up to date). */
  get members(): Cid[] {
    return [...this.memberList];
  }

  // -------------------------------------------------------------------------------------------
  // Writes

  /** To every member (or every subscriber of `topic`); stored in the room's history. */
  publish(data: unknown, opts: PublishOptions = {}): void {
    if (opts.topic !== undefined && !isValidTopic(opts.topic)) throw new TypeError(`invalid topic ${JSON.stringify(opts.topic)}`);
    this.write({
      type: 'publish',
      data: data ?? null,
      ...(opts.topic !== undefined ? { topic: opts.topic } : {}),
      ...(opts.echo ? { echo: true } : {}),
    });
  }

  /** A direct message to the member `to`. */
  send(to: Cid, data: unknown): void {
    this.write({ type: 'send', to, data: data ?? null });
  }

  /** Work for exactly one member that called `pull`. */
  push(data: unknown): void {
    this.write({ type: 'push', data: data ?? null });
  }

  /**
   * Ask one member (`to`, or one that serves) and wait for its answer. Rejects with a
   * MultisocketError whose `code` is the reply's (`timeout`, `gone`, `no_responder`,
   * `unknown_target`, `handler_error`, …), `disconnected` if the connection dropped after sending,
   * or `closed`.
   */
  request(data: unknown, opts: RequestOptions = {}): Promise<unknown> {
    if (this.state === 'closed') return Promise.reject(new MultisocketError('closed', 'the room handle is closed'));
    const id = ++this.nextRequestId;
    const timeout = opts.timeout ?? this.opts.requestTimeout;
    return new Promise<unknown>((resolve, reject) => {
      const wait = (timeout ?? SERVER_DEFAULT_REQUEST_TIMEOUT_MS) + REQUEST_GRACE_MS;
      const timer = setTimeout(() => {
        this.requests.delete(String(id));
        reject(new MultisocketError('timeout', `request ${id} got no reply in ${wait} ms`));
      }, wait);
      this.requests.set(String(id), { resolve, reject, timer, sent: false });
      try {
        this.write({
          type: 'request',
          id,
          ref: id,
          data: data ?? null,
          ...(opts.to !== undefined ? { to: opts.to } : {}),
          ...(timeout !== undefined ? { timeout } : {}),
        });
      } catch (err) {
        clearTimeout(timer);
        this.requests.delete(String(id));
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** The members present, asked of the server (also refreshes `members` and `owner`). */
  presence(): Promise<Cid[]> {
    if (this.state === 'closed') return Promise.reject(new MultisocketError('closed', 'the room handle is closed'));
    const ref = `presence-${++this.nextPresenceRef}`;
    return new Promise<Cid[]>((resolve, reject) => {
      const wait = (this.opts.requestTimeout ?? SERVER_DEFAULT_REQUEST_TIMEOUT_MS) + REQUEST_GRACE_MS;
      const waiter = {
        ref,
        resolve,
        reject,
        sent: false,
        timer: setTimeout(() => {
          this.dropPresenceWaiter(waiter);
          reject(new MultisocketError('timeout', `presence got no answer in ${wait} ms`));
        }, wait),
      };
      this.presenceWaiters.push(waiter);
      this.write({ type: 'presence', ref });
    });
  }

  // -------------------------------------------------------------------------------------------
  // State kept across reconnects

  /** Receive published messages whose topic matches `topic` (`news.*`, `*`). Returns the undo. */
  subscribe(topic: string, handler: TopicHandler): () => void {
    if (!isValidTopic(topic)) throw new TypeError(`invalid topic ${JSON.stringify(topic)} (1–256 characters)`);
    this.assertOpenForState();
    let handlers = this.subscriptions.get(topic);
    if (!handlers) this.subscriptions.set(topic, (handlers = new Set()));
    handlers.add(handler);
    if (this.state === 'open' && !this.serverTopics.has(topic)) {
      this.serverTopics.add(topic);
      this.transmit({ type: 'subscribe', topic });
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const set = this.subscriptions.get(topic);
      if (!set) return;
      set.delete(handler);
      if (set.size > 0) return;
      this.subscriptions.delete(topic);
      if (this.state === 'open' && this.serverTopics.has(topic) && !this.wantedTopics().has(topic)) {
        this.serverTopics.delete(topic);
        this.transmit({ type: 'unsubscribe', topic });
      }
    };
  }

  /** Answer requests sent without `to` (and be picked round-robin among the servers). */
  serve(handler: RequestHandler): void {
    this.assertOpenForState();
    const was = this.serveHandler;
    this.serveHandler = handler;
    if (!was && this.state === 'open') this.transmit({ type: 'serve' });
  }

  unserve(): void {
    const was = this.serveHandler;
    this.serveHandler = undefined;
    if (was && this.state === 'open') this.transmit({ type: 'unserve' });
  }

  /** Take pushed work (one member of those pulling gets each push). */
  pull(handler: PullHandler): void {
    this.assertOpenForState();
    const was = this.pullHandler;
    this.pullHandler = handler;
    if (!was && this.state === 'open') this.transmit({ type: 'pull' });
  }

  unpull(): void {
    const was = this.pullHandler;
    this.pullHandler = undefined;
    if (was && this.state === 'open') this.transmit({ type: 'unpull' });
  }

  /** Leave the room for good: pending calls reject with `closed`, queued writes are flushed where possible. */
  close(): void {
    this.finish('client');
  }

  // -------------------------------------------------------------------------------------------
  // Connections

  /** Connect, first getting a token when one is needed (none yet, refused, or about to expire). */
  private open(): void {
    const getToken = this.opts.getToken;
    if (!getToken) return this.openTransport();
    const due = this.token !== undefined ? refreshAt(this.token) : undefined;
    if (this.token !== undefined && !this.tokenRefused && (due === undefined || due > Date.now())) return this.openTransport();
    new Promise<string>((resolve) => resolve(getToken())).then((token) => {
      if (this.state === 'closed') return;
      if (typeof token !== 'string' || token === '') throw new TypeError('getToken() must give a non-empty string');
      this.token = token;
      this.tokenRefused = false;
      this.openTransport();
    }).catch((err: unknown) => {
      if (this.state === 'closed') return;
      this.emit('error', new MultisocketError('token_unavailable', `getToken() failed: ${err instanceof Error ? err.message : String(err)}`));
      this.retry({ unsent: [], reason: 'token_unavailable' });
    });
  }

  private openTransport(): void {
    const url = new URL(this.url.href);
    if (this.token !== undefined) url.searchParams.set('token', this.token);
    if (this.everConnected || this.opts.since !== undefined) {
      url.searchParams.set('since', String(this.lastSeq));
      if (this.epoch !== undefined) url.searchParams.set('epoch', this.epoch);
    }
    // Topics in the URL are subscribed before replay; one with a comma cannot go there.
    this.urlTopics = [...this.wantedTopics()].filter((t) => !t.includes(','));
    if (this.urlTopics.length > 0) url.searchParams.set('topics', this.urlTopics.join(','));
    const factory = FACTORIES[this.opts.transport ?? 'websocket'];
    if (!factory) throw new TypeError(`unknown transport ${JSON.stringify(this.opts.transport)}`);
    let transport: Transport | undefined;
    transport = factory(url, {
      message: (msg) => { if (this.transport === transport) this.onMessage(msg); },
      close: (info) => { if (this.transport === transport) this.onTransportClose(info); },
    });
    this.transport = transport;
  }

  private onTransportClose(info: CloseInfo): void {
    this.transport = undefined;
    this.stopRefresh();
    if (this.state === 'closed') return;
    // Writes the server certainly did not get go out again on the next connection, first. State
    // (topics, serve, pull) is re-established from scratch there anyway, and a reply belongs to the
    // lost connection's request.
    const resend = info.unsent.filter((msg) => RESENT_TYPES.has(msg.type));
    for (const msg of resend) this.markUnsent(msg);
    this.outbox.unshift(...resend);
    // Calls already on the lost connection can no longer be answered there.
    for (const [id, pending] of this.requests) {
      if (!pending.sent) continue;
      this.requests.delete(id);
      clearTimeout(pending.timer);
      pending.reject(new MultisocketError('disconnected', `the connection dropped before request ${id} was answered`));
    }
    for (const waiter of [...this.presenceWaiters]) {
      if (!waiter.sent) continue;
      this.dropPresenceWaiter(waiter);
      clearTimeout(waiter.timer);
      waiter.reject(new MultisocketError('disconnected', 'the connection dropped before presence was answered'));
    }
    if (info.code === 4000) return this.finish(info.reason || 'room_closed');
    if (info.status === 404 || info.status === 410) return this.finish('gone');
    if (info.fatal) {
      this.emit('error', new MultisocketError('transport_unavailable', info.reason ?? info.error?.message));
      return this.finish('failed');
    }
    // The token expired on the connection (4001) or was refused at the door (401): only a new one
    // helps. A 403 (a token for other rooms, an origin not allowed) will not change by retrying.
    if (info.code === 4001 || info.status === 401) {
      if (!this.opts.getToken) return this.finish(info.code === 4001 ? 'token_expired' : 'unauthorized');
      this.tokenRefused = true;
    }
    if (info.status === 403) return this.finish('forbidden');
    this.retry(info);
  }

  /** Connect again after a backoff delay (or close for good with reconnect: false). */
  private retry(info: CloseInfo): void {
    if (this.opts.reconnect === false) return this.finish('disconnected');
    this.state = this.everConnected ? 'reconnecting' : 'connecting';
    const delay = backoffDelay(this.attempt++, this.opts.backoff);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.state !== 'closed') this.open();
    }, delay);
    this.emit('reconnecting', {
      attempt: this.attempt,
      delay,
      ...(info.code !== undefined ? { code: info.code } : {}),
      ...(info.status !== undefined ? { status: info.status } : {}),
      ...(info.reason ? { reason: info.reason } : {}),
    });
  }

  private finish(reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.stopRefresh();
    const transport = this.transport;
    this.transport = undefined;
    transport?.close();
    this.outbox = [];
    for (const [id, pending] of this.requests) {
      this.requests.delete(id);
      clearTimeout(pending.timer);
      pending.reject(new MultisocketError('closed', `the room handle closed (${reason}) before request ${id} was answered`));
    }
    for (const waiter of this.presenceWaiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new MultisocketError('closed', `the room handle closed (${reason})`));
    }
    this.emit('closed', { reason });
  }

  // -------------------------------------------------------------------------------------------
  // Incoming

  private onMessage(msg: ServerMessage): void {
    switch (msg.type) {
      case 'connect': return this.onConnect(msg);
      case 'message': return this.onData(msg);
      case 'join':
        if (msg.cid === this.cid) return;
        if (!this.memberList.includes(msg.cid)) this.memberList.push(msg.cid);
        return this.emit('join', msg);
      case 'leave':
        this.memberList = this.memberList.filter((cid) => cid !== msg.cid);
        if (msg.owner !== undefined) this.owner = msg.owner;
        return this.emit('leave', msg);
      case 'request': return void this.answer(msg);
      case 'reply': return this.onReply(msg);
      case 'presence': {
        this.memberList = [...msg.members];
        this.owner = msg.owner;
        const waiter = this.presenceWaiters.find((w) => w.sent);
        if (!waiter) return;
        this.dropPresenceWaiter(waiter);
        clearTimeout(waiter.timer);
        return waiter.resolve([...msg.members]);
      }
      case 'gap':
        if (this.resetReported) return;
        return this.emit('gap', msg);
      case 'error': return this.onError(msg);
      case 'closed': return this.finish(msg.reason);
      case 'auth':
        this.scheduleRefresh();
        return this.emit('auth', msg);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Room tokens

  /** With getToken and a token that expires: fetch the next one in time and send it as `auth`. */
  private scheduleRefresh(): void {
    this.stopRefresh();
    if (!this.opts.getToken || this.token === undefined) return;
    const at = refreshAt(this.token);
    if (at === undefined) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      const transport = this.transport;
      new Promise<string>((resolve) => resolve(this.opts.getToken!())).then((token) => {
        if (this.state !== 'open' || this.transport !== transport || typeof token !== 'string' || token === '') return;
        this.token = token;
        this.transmit({ type: 'auth', token, ref: `auth-${++this.nextAuthRef}` });
      }).catch((err: unknown) => {
        // The server closes the connection at expiry (4001); the reconnect asks getToken() again.
        this.emit('error', new MultisocketError('token_unavailable', `getToken() failed: ${err instanceof Error ? err.message : String(err)}`));
      });
    }, Math.max(0, at - Date.now()));
    (this.refreshTimer as { unref?: () => void }).unref?.();
  }

  private stopRefresh(): void {
    if (this.refreshTimer !== undefined) clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
  }

  private onConnect(msg: ConnectMessage): void {
    const resumed = this.everConnected;
    this.everConnected = true;
    this.state = 'open';
    this.attempt = 0;
    this.cid = msg.cid;
    this.owner = msg.owner;
    this.memberList = [...msg.members];
    this.room = msg.room;
    this.own.connected(msg.cid);
    // A room created by /_/new is rejoined by its own path.
    if (this.url.pathname.endsWith('/_/new')) this.url.pathname = this.url.pathname.slice(0, -'/_/new'.length) + msg.room;
    // The room's numbering restarted (a new server process, or the room was freed): the old
    // numbers mean nothing now, and what came after them cannot be replayed.
    const renumbered = msg.seq < this.lastSeq || (this.epoch !== undefined && msg.epoch !== undefined && msg.epoch !== this.epoch);
    const reset = resumed && renumbered ? { type: 'gap' as const, from: this.lastSeq + 1, to: Number.MAX_SAFE_INTEGER, reset: true as const } : undefined;
    this.epoch = msg.epoch;
    this.resetReported = reset !== undefined;
    if ((!resumed && this.opts.since === undefined) || reset) this.lastSeq = msg.seq;

    // Re-establish what the application holds: topics (the URL's are already subscribed), serve, pull.
    this.serverTopics = new Set(this.urlTopics);
    const wanted = this.wantedTopics();
    for (const topic of wanted) {
      if (this.serverTopics.has(topic)) continue;
      this.serverTopics.add(topic);
      this.transmit({ type: 'subscribe', topic });
    }
    for (const topic of [...this.serverTopics]) {
      if (wanted.has(topic)) continue;
      this.serverTopics.delete(topic);
      this.transmit({ type: 'unsubscribe', topic });
    }
    if (this.serveHandler) this.transmit({ type: 'serve' });
    if (this.pullHandler) this.transmit({ type: 'pull' });
    for (const queued of this.outbox.splice(0)) this.transmit(queued);

    this.scheduleRefresh();
    this.emit('connect', {
      room: msg.room, cid: msg.cid, owner: msg.owner, members: [...msg.members], seq: msg.seq, resumed,
      ...(msg.user !== undefined ? { user: msg.user } : {}),
      ...(msg.users !== undefined ? { users: { ...msg.users } } : {}),
    });
    if (reset && this.state === 'open') this.emit('gap', reset);
  }

  private onData(msg: DataMessage): void {
    this.resetReported = false;
    if (msg.kind === 'publish') {
      if (msg.seq !== undefined && msg.seq > this.lastSeq) this.lastSeq = msg.seq;
      if (!this.own.accept(msg)) return; // a replay of this handle's own publish (not echoed)
    }
    this.emit('message', msg);
    if (msg.kind === 'publish' && msg.topic !== undefined) {
      for (const [pattern, handlers] of this.subscriptions) {
        if (!topicMatches(pattern, msg.topic)) continue;
        for (const handler of [...handlers]) {
          try {
            handler(msg.data, msg);
          } catch (err) {
            rethrowLater(err);
          }
        }
      }
    } else if (msg.kind === 'push' && this.pullHandler) {
      try {
        this.pullHandler(msg.data, { from: msg.from });
      } catch (err) {
        rethrowLater(err);
      }
    }
  }

  private onReply(msg: ReplyMessage): void {
    const key = String(msg.id);
    const pending = this.requests.get(key);
    if (!pending) return; // timed out here already, or not ours
    this.requests.delete(key);
    clearTimeout(pending.timer);
    if (msg.error !== undefined) pending.reject(new MultisocketError(msg.error.code, msg.error.message ?? msg.error.code));
    else pending.resolve(msg.data);
  }

  private onError(msg: ErrorMessage): void {
    const err = new MultisocketError(msg.code, msg.message, msg.ref);
    if (msg.ref !== undefined) {
      const key = String(msg.ref);
      const pending = this.requests.get(key);
      if (pending) {
        this.requests.delete(key);
        clearTimeout(pending.timer);
        return pending.reject(err);
      }
      const waiter = this.presenceWaiters.find((w) => w.ref === key);
      if (waiter) {
        this.dropPresenceWaiter(waiter);
        clearTimeout(waiter.timer);
        return waiter.reject(err);
      }
    }
    this.emit('error', err);
  }

  private async answer(msg: RequestMessage): Promise<void> {
    const transport = this.transport;
    const handler = this.serveHandler;
    let reply: ReplyCommand;
    if (!handler) {
      reply = { type: 'reply', id: msg.id, error: { code: 'no_responder', message: 'this member does not serve requests' } };
    } else {
      try {
        const data: unknown = await handler(msg.data, { from: msg.from, id: msg.id });
        JSON.stringify(data); // an answer JSON cannot carry is the handler's error, not the transport's
        reply = { type: 'reply', id: msg.id, data: data ?? null };
      } catch (err) {
        reply = { type: 'reply', id: msg.id, error: handlerError(err) };
      }
    }
    // The request belongs to the connection it came on; after a reconnect nobody waits for it.
    if (transport && this.transport === transport && this.state === 'open') transport.send(reply);
  }

  // -------------------------------------------------------------------------------------------
  // Helpers

  private write(msg: ClientMessage): void {
    if (this.state === 'closed') throw new MultisocketError('closed', 'the room handle is closed');
    if (this.state === 'open' && this.transport) return this.transmit(msg);
    JSON.stringify(msg); // fail now, in the caller, if the data cannot be sent
    this.outbox.push(msg);
  }

  /** Hand a message to the open connection. */
  private transmit(msg: ClientMessage): void {
    const transport = this.transport;
    if (!transport) return;
    if (msg.type === 'request') {
      const pending = this.requests.get(String(msg.id));
      if (!pending) return; // it timed out while waiting in the outbox
      pending.sent = true;
    } else if (msg.type === 'presence') {
      const waiter = this.presenceWaiters.find((w) => w.ref === msg.ref);
      if (!waiter) return;
      waiter.sent = true;
    } else if (msg.type === 'publish' && msg.echo && this.cid !== undefined) {
      this.own.sentEcho(this.cid, msg.topic, msg.data);
    }
    transport.send(msg);
  }

  private markUnsent(msg: ClientMessage): void {
    if (msg.type === 'request') {
      const pending = this.requests.get(String(msg.id));
      if (pending) pending.sent = false;
    } else if (msg.type === 'presence') {
      const waiter = this.presenceWaiters.find((w) => w.ref === msg.ref);
      if (waiter) waiter.sent = false;
    }
  }

  private dropPresenceWaiter(waiter: { ref: string }): void {
    const i = this.presenceWaiters.findIndex((w) => w.ref === waiter.ref);
    if (i >= 0) this.presenceWaiters.splice(i, 1);
  }

  private wantedTopics(): Set<string> {
    return new Set([...(this.opts.topics ?? []), ...this.subscriptions.keys()]);
  }

  private assertOpenForState(): void {
    if (this.state === 'closed') throw new MultisocketError('closed', 'the room handle is closed');
  }
}
