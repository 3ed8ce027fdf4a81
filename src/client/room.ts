// The room handle: one member of one room, over whichever transport, across reconnects. It keeps
// what the application asked for (topics, serve, pull) and re-establishes it on every new
// connection, buffers writes while there is none, resumes the same member (`?resume=`) and the
// published stream from the last `seq` it saw, and turns writes, request/reply, presence and
// pushed jobs into Promises that settle exactly once, with a code from the protocol's table.
import { backoffDelay, restartDelay } from './backoff.js';
import { askDoor } from './door.js';
import { OwnPublishes } from './echoes.js';
import { Emitter } from './emitter.js';
import { handlerErrorInfo, MultisocketError, quiet } from './errors.js';
import type { ConnectEvent, RoomEvents, RoomState } from './events.js';
import type { ConnectOptions, PresenceOptions, PublishOptions, RequestHandler, RequestOptions, SendOptions, TransportName } from './options.js';
import { Puller, type PullHandler, type PullOptions } from './puller.js';
import { ResumeStore } from './resume-store.js';
import { attemptUrl, replaceNewRoom, resolveRoomUrls, roomKey, type RoomUrls } from './room-url.js';
import { postEnvelopeBytes, utf8Length } from './size.js';
import { refreshAt } from './token.js';
import { isValidTopic, topicMatches } from './topics.js';
import type { CloseInfo, Transport, TransportFactory } from './transport.js';
import { openSse } from './transport-sse.js';
import { openWebSocket } from './transport-ws.js';
import { isLineUrl, openLine } from './transport-line.js';
import type { Cid, ClientMessage, DataMessage, ErrorCode, ErrorMessage, ParsedConnect, ParsedServerMessage, ReplyCommand, ReplyMessage, RequestMessage, ServerLimits } from './types.js';
import { PendingCalls } from './calls.js';
import { PendingWrites, writeRef, type JobResult, type PublishResult, type WriteKind } from './writes.js';

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;

/** A message waiting for a connection: its JSON is made when it goes (a request's `timeout` is the time left then). */
interface Queued {
  msg: ClientMessage;
  /** A reply belongs to the member that got the request: dropped if the next connection is a new member. */
  member?: number;
}

/** Messages the server certainly did not get that go out again on the next connection. */
const RESENT_TYPES: ReadonlySet<ClientMessage['type']> = new Set(['publish', 'send', 'push', 'request', 'presence', 'reply', 'ack', 'nack']);

/** Refusals at the door (before a connection exists) that retrying will not change. */
const FINAL_STATUS: Readonly<Record<number, string>> = { 400: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'gone', 410: 'gone', 413: 'too_large' };

const FACTORIES: Record<TransportName, TransportFactory> = { websocket: openWebSocket, sse: openSse };

/** WebSocket close code 1012 (service restart): the server drains, as its `closed` `restart` says. */
const SERVICE_RESTART = 1012;

function rethrowLater(err: unknown): void {
  setTimeout(() => { throw err; }, 0);
}

const closedError = (what: string, why: string, ref?: string | number) => new MultisocketError('closed', `the room handle closed (${why}) before ${what}`, ref);

export class Room extends Emitter<RoomEvents> {
  /** This member's id (kept across a resumed reconnect; a new member after a drop gets a new one). */
  cid: Cid | undefined;
  owner: Cid | undefined;
  /** The room's path, e.g. `/chat` (known once connected). */
  room: string | undefined;
  /** The last publish `seq` seen (or the room's seq at the first connect); resumed from on reconnect. */
  lastSeq = 0;
  state: RoomState = 'connecting';

  /** The room incarnation `lastSeq` belongs to (from `connect`). */
  private epoch: string | undefined;
  /** The last `n` received of the messages sent to this member alone; a resume asks for the rest. */
  private lastN = 0;
  /** A sessionStorage write is due at the end of this turn. */
  private saveQueued = false;
  private memberList: Cid[] = [];
  private readonly userByCid = new Map<Cid, string>();
  private readonly infoByCid = new Map<Cid, unknown>();
  private serverLimits: Partial<ServerLimits> | undefined;
  /** The room on each server given, tried in turn: a restart or a failed connect moves to the next. */
  private readonly urls: URL[];
  private urlIndex = 0;
  /** The server said `closed` `restart` on this connection: reconnect after this many ms (its hint). */
  private restartHint: number | undefined;
  private readonly opts: ConnectOptions;
  private readonly transportName: TransportName;
  /** The transport given by the caller (the server's in-process pipe); otherwise chosen per URL. */
  private readonly factory: TransportFactory | undefined;
  /** JSON of the `info` option, sent as `?info=` on every connection. */
  private readonly infoJson: string | undefined;
  private transport: Transport | undefined;
  private everConnected = false;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** The `token` of the last `connect`: resumes this member on the next connection (`?resume=`). */
  private resumeToken: string | undefined;
  /** Which member this handle is: +1 for every connection that was not a resume. */
  private memberGeneration = 0;
  private readonly store: ResumeStore | undefined;
  /** Messages waiting for a connection, in order. */
  private outbox: Queued[] = [];
  private readonly writes = new PendingWrites();
  private readonly subscriptions = new Map<string, Set<(data: unknown, msg: DataMessage) => void>>();
  /** Topics the server holds for this member. */
  private serverTopics = new Set<string>();
  /** Topics put in the URL of the connection being opened. */
  private urlTopics: string[] = [];
  private serveHandler: RequestHandler | undefined;
  private serverServing = false;
  private pullHandler: PullHandler | undefined;
  private pullPrefetch = 1;
  private serverPulling = false;
  private readonly puller = new Puller((msg) => this.enqueue({ msg }));
  private nextRequestId = 0;
  private readonly requests = new PendingCalls<unknown>((id) => `request ${id}`, () => this.isOpen());
  private nextPresenceRef = 0;
  private readonly presenceWaiters = new PendingCalls<Cid[]>(() => 'presence', () => this.isOpen());
  private readonly own = new OwnPublishes();
  /** The room token the current (or next) connection uses. */
  private token: string | undefined;
  /** The server refused or expired `token`: get a new one before connecting again. */
  private tokenRefused = false;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private nextAuthRef = 0;
  /** close() was called: no new calls; flushing what is buffered. */
  private closing: Promise<void> | undefined;
  /** Resolves close()'s wait for the last acks. */
  private flushWaiter: (() => void) | undefined;
  private transportClosed: Promise<void> | undefined;
  /** The first connection already asks for a replay (`since` given, or resume state saved by an earlier page). */
  private readonly sinceKnown: boolean;

  /**
   * @param factory the transport to use instead of `opts.transport`'s: the server's in-process
   *   door (src/embed/in-process.ts) gives its pipe here; not part of the public `connect()`.
   */
  constructor(url: RoomUrls, opts: ConnectOptions = {}, factory?: TransportFactory) {
    super();
    this.urls = resolveRoomUrls(url);
    this.opts = opts;
    this.transportName = opts.transport ?? 'websocket';
    if (!FACTORIES[this.transportName]) throw new TypeError(`unknown transport ${JSON.stringify(opts.transport)}`);
    this.factory = factory;
    // tcp://, tls:// and ipc:// URLs choose the line transport themselves; SSE is an HTTP transport.
    if (this.transportName === 'sse' && this.urls.some(isLineUrl)) throw new TypeError('transport "sse" needs http(s):// room URLs, not tcp://, tls:// or ipc://');
    for (const topic of opts.topics ?? []) {
      if (!isValidTopic(topic)) throw new TypeError(`invalid topic ${JSON.stringify(topic)} (1–256 characters)`);
    }
    this.infoJson = opts.info === undefined ? undefined : JSON.stringify(opts.info);
    if (opts.since !== undefined) this.lastSeq = opts.since;
    this.token = opts.token;
    this.writes.onProgress = () => this.flushWaiter?.();
    if (opts.persist !== false) {
      this.store = ResumeStore.claim(roomKey(this.url));
      const saved = this.store?.load();
      if (saved) {
        this.resumeToken = saved.token;
        this.lastSeq = saved.lastSeq;
        this.epoch = saved.epoch;
        this.lastN = saved.seen ?? 0;
      }
    }
    this.sinceKnown = opts.since !== undefined || this.resumeToken !== undefined;
    this.open();
  }

  /** The URL the current (or next) connection goes to. */
  private get url(): URL {
    return this.urls[this.urlIndex];
  }

  /** The members present, this one included (in owned rooms only the owner is kept up to date). */
  get members(): Cid[] {
    return [...this.memberList];
  }

  /** cid → presence data (`info`) of the members that gave some, as of the last connect/join/leave/presence. */
  get infos(): Record<Cid, unknown> {
    return Object.fromEntries(this.infoByCid);
  }

  /** cid → user (room token `sub`) of the members whose tokens name one. */
  get users(): Record<Cid, string> {
    return Object.fromEntries(this.userByCid);
  }

  /** The server's limits, from the last `connect` (undefined before it). */
  get limits(): Partial<ServerLimits> | undefined {
    return this.serverLimits ? { ...this.serverLimits } : undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Writes

  /** To every member (or every subscriber of `topic`); stored in the room's history. */
  publish(data: unknown, opts: PublishOptions = {}): Promise<PublishResult> {
    if (opts.topic !== undefined && !isValidTopic(opts.topic)) throw new TypeError(`invalid topic ${JSON.stringify(opts.topic)}`);
    return this.write<PublishResult>('publish', opts.ack === true, (ref) => ({
      type: 'publish',
      data: data ?? null,
      ...(opts.topic !== undefined ? { topic: opts.topic } : {}),
      ...(opts.echo ? { echo: true } : {}),
      ref,
    }));
  }

  /** A direct message to the member `to`; resolves when the server delivered it (unless `ack: false`). */
  send(to: Cid, data: unknown, opts: SendOptions = {}): Promise<void> {
    return this.write<void>('send', opts.ack !== false, (ref) => ({ type: 'send', to, data: data ?? null, ref }));
  }

  /**
   * Work for exactly one member that called `pull`. Resolves with the outcome once a puller's
   * handler finished it; rejects `job_failed` when it failed on every attempt, `queue_full` when
   * the room's queue is full.
   */
  push<R = unknown>(data: unknown): Promise<JobResult<R>> {
    return this.write<JobResult<R>>('push', true, (ref) => ({ type: 'push', data: data ?? null, ref }));
  }

  private write<T>(kind: WriteKind, wantsAck: boolean, make: (ref: string) => ClientMessage): Promise<T> {
    if (this.state === 'closed' || this.closing) return quiet(Promise.reject(new MultisocketError('closed', `the room handle is closed: this ${kind} was not sent`)));
    const ref = this.writes.newRef();
    const msg = make(ref);
    if (wantsAck) (msg as { ack?: boolean }).ack = true;
    const json = JSON.stringify(msg); // data JSON cannot carry fails here, in the caller
    const promise = quiet(this.writes.add<T>(ref, kind, wantsAck));
    const over = this.oversize(json);
    if (over) this.failWrite(ref, over);
    else this.enqueue({ msg });
    return promise;
  }

  /**
   * Ask one member (`to`, or one that serves) and wait for its answer. Rejects at exactly
   * `timeout` with `timeout` (or `disconnected` if the connection is down then), or with the
   * reply's code (`gone`, `no_responder`, `unknown_target`, `handler_error` + `appCode`, …), or `closed`.
   */
  request<T = unknown>(data: unknown, opts: RequestOptions = {}): Promise<T> {
    if (this.state === 'closed' || this.closing) return Promise.reject(new MultisocketError('closed', 'the room handle is closed'));
    const timeout = this.timeoutOf(opts.timeout);
    const id = ++this.nextRequestId;
    return new Promise<T>((resolve, reject) => {
      const msg: ClientMessage = { type: 'request', id, ref: id, data: data ?? null, ...(opts.to !== undefined ? { to: opts.to } : {}) };
      const over = this.oversize(JSON.stringify(msg) + ',"timeout":2147483647');
      if (over) return reject(over);
      this.requests.add(String(id), timeout, resolve as (v: unknown) => void, reject);
      this.enqueue({ msg });
    });
  }

  /**
   * The members present, asked of the server; also refreshes `members`, `owner`, `users` and
   * `infos`. Rejects at exactly `timeout` like request().
   */
  presence(opts: PresenceOptions = {}): Promise<Cid[]> {
    if (this.state === 'closed' || this.closing) return Promise.reject(new MultisocketError('closed', 'the room handle is closed'));
    const timeout = this.timeoutOf(opts.timeout);
    const ref = `p${++this.nextPresenceRef}`;
    return new Promise<Cid[]>((resolve, reject) => {
      this.presenceWaiters.add(ref, timeout, resolve, reject);
      this.enqueue({ msg: { type: 'presence', ref } });
    });
  }

  private timeoutOf(given: number | undefined): number {
    const timeout = given ?? this.opts.requestTimeout ?? DEFAULT_TIMEOUT_MS;
    if (!(timeout > 0) || !Number.isFinite(timeout)) throw new TypeError(`timeout must be a positive number of ms, not ${String(timeout)}`);
    return timeout;
  }

  // -------------------------------------------------------------------------------------------
  // State kept across reconnects

  /** Receive published messages whose topic matches `topic` (`news.*`, `*`). Returns the undo. */
  subscribe<T = unknown>(topic: string, handler: (data: T, msg: DataMessage) => void): () => void {
    if (!isValidTopic(topic)) throw new TypeError(`invalid topic ${JSON.stringify(topic)} (1–256 characters)`);
    this.assertUsable();
    const fn = handler as (data: unknown, msg: DataMessage) => void;
    let handlers = this.subscriptions.get(topic);
    if (!handlers) this.subscriptions.set(topic, (handlers = new Set()));
    handlers.add(fn);
    if (this.isOpen() && !this.serverTopics.has(topic)) {
      this.serverTopics.add(topic);
      this.transmit({ msg: { type: 'subscribe', topic } });
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const set = this.subscriptions.get(topic);
      if (!set) return;
      set.delete(fn);
      if (set.size > 0) return;
      this.subscriptions.delete(topic);
      if (this.isOpen() && this.serverTopics.has(topic) && !this.wantedTopics().has(topic)) {
        this.serverTopics.delete(topic);
        this.transmit({ msg: { type: 'unsubscribe', topic } });
      }
    };
  }

  /** Answer requests sent without `to` (and be picked round-robin among the servers). */
  serve<In = any, Out = unknown>(handler: RequestHandler<In, Out>): void { // eslint-disable-line @typescript-eslint/no-explicit-any
    this.assertUsable();
    this.serveHandler = handler as RequestHandler;
    this.syncOffers();
  }

  unserve(): void {
    this.serveHandler = undefined;
    this.syncOffers();
  }

  /**
   * Take pushed work: the server gives this member at most `prefetch` jobs at once (default 1);
   * each is acked when the handler's promise resolves (its value goes to the pusher), and given to
   * another puller when it rejects.
   */
  pull<T = any>(handler: PullHandler<T>, opts: PullOptions = {}): void { // eslint-disable-line @typescript-eslint/no-explicit-any
    this.assertUsable();
    const prefetch = opts.prefetch ?? 1;
    if (!Number.isInteger(prefetch) || prefetch < 1 || prefetch > 1000) throw new TypeError(`prefetch must be an integer from 1 to 1000, not ${String(prefetch)}`);
    const changed = this.pullHandler !== undefined && prefetch !== this.pullPrefetch;
    this.pullHandler = handler as PullHandler;
    this.pullPrefetch = prefetch;
    if (changed) this.serverPulling = false; // say `pull` again with the new prefetch
    this.syncOffers();
  }

  unpull(): void {
    this.pullHandler = undefined;
    this.syncOffers();
  }

  /** Tell the server about serve/pull as the handlers now stand (only on an open connection). */
  private syncOffers(): void {
    if (!this.isOpen()) return;
    const serving = this.serveHandler !== undefined;
    if (serving !== this.serverServing) {
      this.serverServing = serving;
      this.transmit({ msg: { type: serving ? 'serve' : 'unserve' } });
    }
    const pulling = this.pullHandler !== undefined;
    if (pulling !== this.serverPulling) {
      this.serverPulling = pulling;
      this.transmit({ msg: pulling ? { type: 'pull', prefetch: this.pullPrefetch } : { type: 'unpull' } });
    }
  }

  /**
   * Leave the room for good. Buffered writes are flushed first (waiting for the connection and
   * the server's acks, at most `closeTimeout`); what could not be rejects with `closed`. Then
   * `leave` is sent, so others see this member go at once. Calls waiting for answers reject
   * with `closed` at once.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    if (this.state === 'closed') return Promise.resolve();
    this.closing = this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    const timeout = this.opts.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT_MS;
    const deadline = Date.now() + timeout;
    this.rejectCalls((what) => closedError(what, 'close() was called'));
    let why = 'close() was called';
    if (this.unflushed()) {
      // Waiting out a backoff delay helps nobody now: connect at once.
      if (this.reconnectTimer !== undefined) {
        clearTimeout(this.reconnectTimer);
        this.reconnectTimer = undefined;
        this.open();
      }
      if (!(await this.flushed(deadline))) {
        why = this.isOpen()
          ? `the server did not acknowledge it within closeTimeout (${timeout} ms)`
          : `there was no connection within closeTimeout (${timeout} ms)`;
      }
    }
    if (this.state === 'closed') return; // refused or closed by the server meanwhile
    if (this.isOpen()) this.transmit({ msg: { type: 'leave' } });
    this.finish('client', undefined, why);
    await this.transportClosed;
  }

  /** Whether buffered writes (or acks of jobs / replies) wait to go out or for the server's ack. */
  private unflushed(): boolean {
    return this.outbox.length > 0 || this.writes.unflushed > 0;
  }

  private flushed(deadline: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => done(false), Math.max(0, deadline - Date.now()));
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.flushWaiter = undefined;
        resolve(ok);
      };
      this.flushWaiter = () => { if (this.state === 'closed' || !this.unflushed()) done(this.state !== 'closed'); };
      this.flushWaiter();
    });
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
      this.retry({ unsent: [], opened: false, reason: 'token_unavailable' });
    });
  }

  private openTransport(): void {
    this.restartHint = undefined;
    // Topics in the URL are subscribed before replay; one with a comma cannot go there.
    this.urlTopics = [...this.wantedTopics()].filter((t) => !t.includes(','));
    const replay = this.everConnected || this.sinceKnown;
    const url = attemptUrl(this.url, {
      ...(this.token !== undefined ? { token: this.token } : {}),
      ...(this.resumeToken !== undefined ? { resume: this.resumeToken, seen: this.lastN } : {}),
      ...(replay ? { since: this.lastSeq, ...(this.epoch !== undefined ? { epoch: this.epoch } : {}) } : {}),
      topics: this.urlTopics,
      ...(this.infoJson !== undefined ? { info: this.infoJson } : {}),
    });
    let transport: Transport | undefined;
    const factory = this.factory ?? (isLineUrl(url) ? openLine : FACTORIES[this.transportName]);
    transport = factory(url, {
      message: (msg) => { if (this.transport === transport) this.onMessage(msg); },
      written: (msg) => { if (this.transport === transport) this.onWritten(msg); },
      close: (info) => { if (this.transport === transport) this.onTransportClose(info); },
    });
    this.transport = transport;
  }

  private isOpen(): boolean {
    return this.state === 'open' && this.transport !== undefined;
  }

  private onTransportClose(info: CloseInfo): void {
    this.transport = undefined;
    this.stopRefresh();
    if (this.state === 'closed') return;
    // Writes the server certainly did not get go out again on the next connection, first. State
    // (topics, serve, pull) is re-established there; calls already on the lost connection wait
    // for the next `connect`: a resumed member still gets their answers, a new one cannot.
    const resend: Queued[] = info.unsent.filter((msg) => RESENT_TYPES.has(msg.type)).map((msg) => ({ msg, member: this.memberGeneration }));
    for (const { msg } of resend) this.markSent(msg, false);
    // An unanswered presence is asked again (it is idempotent).
    for (const ref of this.presenceWaiters.sentKeys()) {
      this.presenceWaiters.markSent(ref, false);
      resend.push({ msg: { type: 'presence', ref } });
    }
    this.outbox.unshift(...resend);
    if (this.state === 'open') this.state = 'reconnecting';

    if (info.code === SERVICE_RESTART || this.restartHint !== undefined) return this.restart(info);
    if (info.code === 4000) return this.finish(info.reason || 'room_closed', 'room_closed');
    if (info.code === 4003) return this.finish('kicked', 'kicked');
    if (info.code === 4002) {
      // Another connection resumed this member (a duplicated tab, a stale reconnect): start afresh.
      this.resumeToken = undefined;
      this.attempt = 0;
      return this.retry(info);
    }
    if (info.fatal) {
      this.emit('error', new MultisocketError('transport_unavailable', info.reason ?? info.error?.message));
      return this.finish('failed', 'transport_unavailable');
    }
    // The token expired on the connection (4001): only a new one helps.
    if (info.code === 4001) {
      if (!this.opts.getToken) return this.finish('token_expired', 'token_expired');
      this.tokenRefused = true;
      return this.retry(info);
    }
    // A WebSocket refused at the handshake says why only in Node (and never the code): ask the door.
    const mayBeRefused = info.status === undefined || FINAL_STATUS[info.status] !== undefined;
    if (!info.opened && this.transportName === 'websocket' && !isLineUrl(this.url) && info.errorCode === undefined && mayBeRefused && !(info.status === 401 && this.opts.getToken)) {
      this.state = this.everConnected ? 'reconnecting' : 'connecting';
      void askDoor(this.url, this.token, undefined, this.room).then((door) => {
        if (this.state === 'closed' || this.transport !== undefined) return;
        if (door && door.status !== 204) this.refused({ ...info, status: door.status, ...(door.code !== undefined ? { errorCode: door.code } : {}) });
        else this.refused(info);
      });
      return;
    }
    this.refused(info);
  }

  /** End for good on a refusal retrying cannot change; otherwise reconnect. */
  private refused(info: CloseInfo): void {
    const status = info.status;
    const reason = status !== undefined ? FINAL_STATUS[status] : undefined;
    if (reason === undefined) return this.retry(info);
    if (status === 401 && this.opts.getToken) {
      this.tokenRefused = true;
      return this.retry(info);
    }
    this.finish(reason, (info.errorCode as ErrorCode | undefined) ?? undefined);
  }

  /** Connect again after a backoff delay (or close for good with reconnect: false). */
  private retry(info: CloseInfo): void {
    if (this.opts.reconnect === false) return this.finish('disconnected');
    // A connection that never opened: this server is down or refusing; try the next one.
    if (!info.opened) this.nextUrl();
    const delay = backoffDelay(this.attempt++, this.opts.backoff);
    this.schedule(delay, this.attempt, info);
  }

  /**
   * `closed` `restart`: the server drains and closes this connection next. Writes made from now on
   * wait for the next connection (this one will not carry them).
   */
  private onRestartNotice(retryMs: number | undefined): void {
    this.restartHint = retryMs ?? -1;
    if (this.state === 'open') this.state = 'reconnecting';
  }

  /**
   * The server drained (a `closed` `restart`, or close code 1012): reconnect, to the next URL,
   * after its hint. Not a failure: the backoff starts again from its first step, and what was in
   * flight follows the rules of any drop (a resumed member gets its answers, a new one rejects them).
   */
  private restart(info: CloseInfo): void {
    const hint = this.restartHint;
    this.restartHint = undefined;
    if (this.opts.reconnect === false) return this.finish('restart', 'shutting_down');
    this.nextUrl();
    this.attempt = 1; // this reconnect is the first attempt; a failure after it backs off from the start
    this.schedule(restartDelay(hint !== undefined && hint >= 0 ? hint : undefined), 1, { ...info, code: info.code ?? SERVICE_RESTART, reason: 'restart' });
  }

  private nextUrl(): void {
    this.urlIndex = (this.urlIndex + 1) % this.urls.length;
  }

  private schedule(delay: number, attempt: number, info: CloseInfo): void {
    this.state = this.everConnected ? 'reconnecting' : 'connecting';
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.state !== 'closed') this.open();
    }, delay);
    this.emit('reconnecting', {
      attempt,
      delay,
      ...(info.code !== undefined ? { code: info.code } : {}),
      ...(info.status !== undefined ? { status: info.status } : {}),
      ...(info.reason ? { reason: info.reason } : {}),
      ...(this.urls.length > 1 ? { url: this.url.href } : {}),
    });
  }

  /** Closed for good: everything still pending rejects with `closed`, saying why. */
  private finish(reason: string, code?: ErrorCode, why: string = reason): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.stopRefresh();
    const transport = this.transport;
    this.transport = undefined;
    this.transportClosed = transport?.close(Math.max(1000, this.opts.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT_MS));
    this.outbox = [];
    this.writes.failAll((kind, job, ref) => closedError(job !== undefined ? `the outcome of job ${job} arrived` : `this ${kind} was flushed: ${why}`, reason, ref));
    this.rejectCalls((what) => closedError(what, reason));
    if (reason === 'client') this.store?.clear();
    else this.store?.release();
    this.flushWaiter?.();
    this.emit('closed', { reason, ...(code !== undefined ? { code } : {}) });
  }

  private rejectCalls(make: (what: string) => MultisocketError): void {
    this.requests.rejectAll((what) => make(`${what} was answered`));
    this.presenceWaiters.rejectAll((what) => make(`${what} was answered`));
    this.outbox = this.outbox.filter((q) => q.msg.type !== 'request' && q.msg.type !== 'presence');
  }

  // -------------------------------------------------------------------------------------------
  // Incoming

  private onMessage(msg: ParsedServerMessage): void {
    const n = (msg as { n?: number }).n;
    if (n !== undefined && msg.type !== 'connect') {
      // Sent to this member alone: a resume resends from the last one seen, never before it.
      if (n <= this.lastN) return;
      this.lastN = n;
      this.save();
    }
    switch (msg.type) {
      case 'connect': return this.onConnect(msg);
      case 'message': return this.onData(msg);
      case 'join':
        if (msg.cid === this.cid) return;
        if (!this.memberList.includes(msg.cid)) this.memberList.push(msg.cid);
        if (msg.user !== undefined) this.userByCid.set(msg.cid, msg.user);
        if (msg.info !== undefined) this.infoByCid.set(msg.cid, msg.info);
        return this.emit('join', msg);
      case 'leave':
        this.memberList = this.memberList.filter((cid) => cid !== msg.cid);
        this.userByCid.delete(msg.cid);
        this.infoByCid.delete(msg.cid);
        if (msg.owner !== undefined) this.owner = msg.owner;
        return this.emit('leave', msg);
      case 'request': return void this.answer(msg);
      case 'reply': return this.onReply(msg);
      case 'presence': {
        this.memberList = [...msg.members];
        this.owner = msg.owner;
        this.replaceMap(this.userByCid, msg.users);
        this.replaceMap(this.infoByCid, msg.infos);
        // An older server does not echo the ref: the oldest question sent is the one answered.
        const ref = msg.ref !== undefined ? String(msg.ref) : this.presenceWaiters.sentKeys()[0];
        if (ref !== undefined) this.presenceWaiters.resolve(ref, [...msg.members]);
        return;
      }
      case 'gap': return this.onGap(msg);
      case 'error': return this.onError(msg);
      case 'closed':
        if (msg.reason === 'restart') return this.onRestartNotice(msg.retryMs);
        return this.finish(msg.reason, msg.reason === 'kicked' ? 'kicked' : 'room_closed');
      case 'auth':
        this.scheduleRefresh();
        return this.emit('auth', msg);
      case 'ack':
        this.puller.isOwnAnswer(msg.ref);
        return this.writes.ack(msg);
      case 'job': return this.writes.job(msg);
    }
  }

  private replaceMap<V>(map: Map<Cid, V>, from: Record<Cid, V> | undefined): void {
    map.clear();
    for (const [cid, v] of Object.entries(from ?? {})) map.set(cid, v);
  }

  private onConnect(msg: ParsedConnect): void {
    const reconnected = this.everConnected;
    const resumed = msg.resumed && this.resumeToken !== undefined;
    this.everConnected = true;
    this.state = 'open';
    this.attempt = 0;
    this.resumeToken = msg.token;
    if (msg.limits) this.serverLimits = { ...this.serverLimits, ...msg.limits };
    if (!resumed) {
      this.lastN = 0; // a new member: its own numbering
      this.memberGeneration++;
      // A new member: what the old one was waiting for will not come.
      if (reconnected) this.failInFlight();
    }
    const suspect = resumed ? this.writes.unanswered() : [];
    // Topics, serve and pull belong to the connection (a resumed one too): restated below.
    this.serverTopics = new Set(this.urlTopics);
    this.serverServing = false;
    this.serverPulling = false;
    this.cid = msg.cid;
    this.owner = msg.owner;
    this.memberList = [...msg.members];
    this.replaceMap(this.userByCid, msg.users);
    this.replaceMap(this.infoByCid, msg.infos);
    if (msg.info !== undefined) this.infoByCid.set(msg.cid, msg.info);
    this.room = msg.room;
    this.own.connected(msg.cid);
    // A room created by /_/new is rejoined by its own path.
    for (const url of this.urls) replaceNewRoom(url, msg.room);
    // The room's numbering restarted (a new server process, or the room was freed): the old
    // numbers mean nothing now; the server's reset gap and replay follow.
    const renumbered = msg.seq < this.lastSeq || (this.epoch !== undefined && msg.epoch !== undefined && msg.epoch !== this.epoch);
    if (!reconnected && !this.sinceKnown) this.lastSeq = msg.seq;
    else if (renumbered) this.lastSeq = 0;
    this.epoch = msg.epoch;

    // Re-establish what the application holds: topics (the URL's are already subscribed), serve, pull.
    const wanted = this.wantedTopics();
    for (const topic of wanted) {
      if (this.serverTopics.has(topic)) continue;
      this.serverTopics.add(topic);
      this.transmit({ msg: { type: 'subscribe', topic } });
    }
    for (const topic of [...this.serverTopics]) {
      if (wanted.has(topic)) continue;
      this.serverTopics.delete(topic);
      this.transmit({ msg: { type: 'unsubscribe', topic } });
    }
    this.syncOffers();
    for (const queued of this.outbox.splice(0)) this.transmit(queued);

    this.save();
    this.scheduleRefresh();
    const event: ConnectEvent = { room: msg.room, cid: msg.cid, owner: msg.owner, members: [...msg.members], seq: msg.seq, resumed, reconnected };
    if (msg.user !== undefined) event.user = msg.user;
    if (msg.users !== undefined) event.users = { ...msg.users };
    if (msg.info !== undefined) event.info = msg.info;
    if (msg.infos !== undefined) event.infos = { ...msg.infos };
    if (msg.limits !== undefined) event.limits = { ...msg.limits };
    this.emit('connect', event);
    if (suspect.length > 0) this.settleSuspects(suspect);
  }

  /**
   * Resumed: acks the server held for this member came right after `connect`. An ack written to
   * the old connection just before the server saw it drop is lost with it, so after one round
   * trip on this connection a write still unanswered will never be: it rejects `disconnected`.
   */
  private settleSuspects(refs: string[]): void {
    const check = () => {
      for (const ref of refs) {
        this.writes.fail(ref, new MultisocketError('disconnected', 'the connection dropped before the server\'s answer to this write arrived; it may or may not have been delivered', ref));
      }
    };
    this.presence().then(check, check);
  }

  /** Not resumed after a drop: calls and writes that went out on the old connection are lost. */
  private failInFlight(): void {
    this.requests.rejectAll((what) => new MultisocketError('disconnected', `the connection dropped and the server could not resume this member: ${what} will not be answered`), true);
    this.writes.failInFlight();
    // Replies to requests the old member got: nobody waits for them now.
    this.outbox = this.outbox.filter((q) => q.member === undefined || q.member === this.memberGeneration || q.msg.type !== 'reply');
  }

  private onGap(msg: ParsedServerMessage & { type: 'gap' }): void {
    // With reset, from..to is of the new numbering: what replay cannot bring starts after `to`.
    // A cluster names the new epoch in the gap when the numbering restarts live: adopt it.
    if (msg.reset && msg.epoch !== undefined && msg.epoch !== this.epoch) {
      this.epoch = msg.epoch;
      this.lastSeq = msg.to;
      this.save();
    } else if (msg.reset && msg.to > this.lastSeq) this.lastSeq = msg.to;
    this.emit('gap', msg);
  }

  private onData(msg: DataMessage): void {
    if (msg.kind === 'publish') {
      if (msg.seq !== undefined && msg.seq > this.lastSeq) {
        this.lastSeq = msg.seq;
        this.save();
      }
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
    } else if (msg.kind === 'push') {
      this.puller.take(msg, this.pullHandler, rethrowLater);
    }
  }

  private onReply(msg: ReplyMessage): void {
    const pending = this.requests.take(String(msg.id));
    if (!pending) return; // timed out here already, or not ours
    if (msg.error !== undefined) pending.reject(MultisocketError.from(msg.error));
    else pending.resolve(msg.data);
  }

  private onError(msg: ErrorMessage): void {
    const err = new MultisocketError(msg.code, msg.message, msg.ref);
    if (msg.ref !== undefined) {
      const key = String(msg.ref);
      if (this.writes.has(key)) {
        this.writes.fail(key, err);
        return this.emit('error', err);
      }
      if (this.requests.reject(key, err) || this.presenceWaiters.reject(key, err)) return;
      // An ack of a job the server already gave to another puller (after a drop): expected.
      if (this.puller.isOwnAnswer(msg.ref) && msg.code === 'unknown_job') return;
    }
    // Another connection resumed this member (an SSE stream has no close code to say so): the
    // next connection must start afresh, not take the member back.
    if (msg.code === 'replaced') {
      this.resumeToken = undefined;
      return;
    }
    this.emit('error', err);
  }

  private async answer(msg: RequestMessage): Promise<void> {
    const member = this.memberGeneration;
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
        reply = { type: 'reply', id: msg.id, error: handlerErrorInfo(err) };
      }
    }
    // The request belongs to this member: after a drop a resumed member still answers it.
    if (this.state !== 'closed' && member === this.memberGeneration) this.enqueue({ msg: reply, member });
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
        if (!this.isOpen() || this.transport !== transport || typeof token !== 'string' || token === '') return;
        this.token = token;
        this.transmit({ msg: { type: 'auth', token, ref: `auth-${++this.nextAuthRef}` } });
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

  // -------------------------------------------------------------------------------------------
  // Outgoing

  /** Send now on an open connection, else keep it for the next one. */
  private enqueue(q: Queued): void {
    if (this.isOpen()) this.transmit(q);
    else this.outbox.push(q);
  }

  /** Hand a message to the open connection, refusing one over the server's size limit. */
  private transmit(q: Queued): void {
    const transport = this.transport;
    if (!transport) return;
    let msg = q.msg;
    if (msg.type === 'request') {
      const pending = this.requests.get(String(msg.id));
      if (!pending) return; // it timed out (or closed) while waiting in the outbox
      // The server times out with the time left, so both ends agree on when it ended.
      const left = pending.deadline - Date.now();
      if (left <= 0) return;
      msg = { ...msg, timeout: Math.ceil(left) };
    }
    let json = JSON.stringify(msg);
    const over = this.oversize(json);
    if (over) {
      const replaced = this.refuseOversize(msg, over);
      if (!replaced) return;
      msg = replaced;
      json = JSON.stringify(msg);
    }
    this.markSent(msg, true);
    if (msg.type === 'publish' && msg.echo && this.cid !== undefined) this.own.sentEcho(this.cid, msg.topic, msg.data);
    transport.send(msg, json);
  }

  /** A message over the limit does not go; what the caller learns instead. Returns a stand-in to send, if any. */
  private refuseOversize(msg: ClientMessage, err: MultisocketError): ClientMessage | undefined {
    const ref = writeRef(msg);
    if (ref !== undefined) {
      this.failWrite(ref, err);
      return undefined;
    }
    if (msg.type === 'request') {
      this.requests.reject(String(msg.id), err);
      return undefined;
    }
    // The asker / pusher learns that the answer was too large rather than waiting for nothing.
    if (msg.type === 'reply') return { type: 'reply', id: msg.id, error: { code: 'too_large', message: `the reply was too large: ${err.message}` } };
    if (msg.type === 'ack') return { type: 'nack', job: msg.job, error: { code: 'too_large', message: `the result was too large: ${err.message}` }, ...(msg.ref !== undefined ? { ref: msg.ref } : {}) };
    this.emit('error', err);
    return undefined;
  }

  private failWrite(ref: string, err: MultisocketError): void {
    const e = new MultisocketError(err.code, err.message, ref);
    if (this.writes.fail(ref, e)) this.emit('error', e);
  }

  /** `too_large` if this JSON (with an SSE POST's envelope) is over the server's limit, when known. */
  private oversize(json: string): MultisocketError | undefined {
    const max = this.serverLimits?.maxMessageBytes;
    if (max === undefined) return undefined;
    const envelope = this.transportName === 'sse' && this.resumeToken !== undefined ? postEnvelopeBytes(this.resumeToken) : 0;
    const bytes = utf8Length(json) + envelope;
    if (bytes <= max) return undefined;
    return new MultisocketError('too_large', `the message is ${bytes} bytes, over the server's limit of ${max} (limits.maxMessageBytes); it was not sent`);
  }

  private onWritten(msg: ClientMessage): void {
    const ref = writeRef(msg);
    if (ref !== undefined) this.writes.written(ref);
  }

  private markSent(msg: ClientMessage, sent: boolean): void {
    const ref = writeRef(msg);
    if (ref !== undefined) return this.writes.markSent(ref, sent);
    if (msg.type === 'request') this.requests.markSent(String(msg.id), sent);
    else if (msg.type === 'presence' && msg.ref !== undefined) this.presenceWaiters.markSent(String(msg.ref), sent);
  }

  /** Keep what a page reload needs to come back as this member. */
  private save(): void {
    // Once per turn, not per message: a frame of a hundred messages is one sessionStorage write.
    if (!this.store || this.saveQueued) return;
    this.saveQueued = true;
    queueMicrotask(() => {
      this.saveQueued = false;
      this.writeSaved();
    });
  }

  private writeSaved(): void {
    if (!this.store || this.state === 'closed' || this.resumeToken === undefined || this.cid === undefined) return;
    this.store.save({ token: this.resumeToken, cid: this.cid, lastSeq: this.lastSeq, seen: this.lastN, ...(this.epoch !== undefined ? { epoch: this.epoch } : {}) });
  }

  private wantedTopics(): Set<string> {
    return new Set([...(this.opts.topics ?? []), ...this.subscriptions.keys()]);
  }

  private assertUsable(): void {
    if (this.state === 'closed' || this.closing) throw new MultisocketError('closed', 'the room handle is closed');
  }
}
