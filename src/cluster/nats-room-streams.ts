// RoomStreams in NATS JetStream (@nats-io/jetstream 3.3, servers 2.9+): one stream `<P>_HIST`
// (subjects `<p>.hist.>`), one subject per room, `<p>.hist.<base64url(SHA-256(room))>` (43
// characters from [A-Za-z0-9_-], whatever the room string), with per-subject limits:
// max_msgs_per_subject = maxEntries + 1 and max_age = maxAgeMs + margin.
//
// Every message on a room's subject carries, in headers, `Ms-Epoch` and `Ms-Seq`; an entry also
// `Ms-Bytes` (bytes of data, clear) and its record sealed as the payload. The first message of an
// epoch is a marker (Ms-Seq 0, no payload). So the subject's LAST message always says where the
// room's stream stands (epoch, last seq), and no other store is needed: the epoch lives in the
// stream rather than in a KV bucket, so epoch and seq change in one write.
//
// Seq uniqueness: an append reads the subject's last message (direct get, or the value this node
// cached from its own last append), and publishes seq+1 of that epoch with
// `Nats-Expected-Last-Subject-Sequence` = that message's stream sequence. JetStream stores a
// message only if the subject's last message is still the one expected, atomically in the stream
// (one leader in a cluster), so of two nodes extending the same last message exactly one succeeds;
// the other gets "wrong last sequence" (10071), reads the new last message and retries. Seqs on a
// subject thus go up by exactly one per stored message, in stream order, and a conflict always
// means another appender made progress (no livelock; a retry loop is bounded by the call's
// deadline). There is no second step to crash between: an append is one conditional publish. A
// new epoch is a marker published with expected last subject sequence 0 (the subject is empty) or
// that of a foreign last message; of racing starters one wins and the others adopt its epoch.
// A timed-out publish is not retried (it may have been stored; the caller is told it timed out).
//
// Bounds: count by max_msgs_per_subject (+1 for the marker; the last message is never removed by
// count); bytes are NOT bounded in storage (JetStream has no per-subject byte limit): they are
// applied on read, like age (exactly to maxAgeMs; the storage's max_age has a margin so that a just
// expired history reads as a gap, not a reset). A message bigger than the byte bound is stored
// with its payload and the header `Ms-Lost: too-big` (`not-kept` when the history size is 0):
// readers see it and everything older as lost, but it is delivered live. A record over the
// server's max_payload cannot be published at all: the append rejects with ERR_ROOM_STREAM_TOO_BIG
// and takes no seq. A room idle for maxAgeMs + margin loses its last
// message, so its next call starts a new epoch (readers of the old one get a reset).
//
// Live delivery (watch): the stream republishes every message it STORES to
// `<p>.live.<token>` (JetStream's RePublish, with our headers plus Nats-Sequence), and a watcher
// is a core subscription there; republishes of different nodes' appends can pass each other, so
// the watcher puts them back in seq order (Watcher below). Not a core subscription on the history subject
// itself: that one also receives the publishes JetStream refuses (a 10071 conflict of two nodes
// extending the same last message), which would deliver a message under a seq another message got.
// All nodes must share the limits: the stream is configured by whichever node starts last.
import { randomBytes } from 'node:crypto';
import { Empty, headers, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import {
  AckPolicy, DeliverPolicy, DiscardPolicy, JetStreamApiError,
  type JetStreamClient, type JetStreamManager, type StreamConfig,
} from '@nats-io/jetstream';
import type { ClusterKey } from './cluster-key.js';
import { openStream } from './nats-stream.js';
import type { LiveEntry, PublishRecord, RoomStreams, StreamLimits, StreamPosition, StreamReplay, WatchHandler } from './room-stream.js';
import { openOrWhy, seal } from './seal.js';
import { roomToken } from './room-token.js';
import { newEpoch } from './memory-room-streams.js';
import {
  buildReplay, checkLimits, checkSince, dataBytes, decodeRecord, encodeRecord, HIST_KIND, newCounters, replayStart,
  RoomStreamError, withDeadline, type Candidate, type RoomStreamCounters,
} from './stream-replay.js';

export interface NatsRoomStreamsOptions {
  /** stream `<PREFIX>_HIST`, subjects `<prefix>.hist.>` (default 'ms'); [A-Za-z0-9_-] */
  prefix?: string;
  /** every call rejects with ERR_ROOM_STREAM_TIMEOUT after this (default 5000 ms) */
  timeoutMs?: number;
  /** added to maxAgeMs for the stream's max_age (default 60 s) */
  expiryMarginMs?: number;
  /** JetStream replicas of the stream (default 1) */
  replicas?: number;
  /** told of each entry a reader could not open (for a rate-limited log line) */
  onLost?: (room: string, seq: number, reason: string) => void;
}

export const H_EPOCH = 'Ms-Epoch';
export const H_SEQ = 'Ms-Seq';
export const H_BYTES = 'Ms-Bytes';
export const H_LOST = 'Ms-Lost';
const WRONG_LAST_SEQUENCE = 10071;
const HEADER_ALLOWANCE = 4096; // max_payload counts headers too
const TAILS_KEPT = 10_000; // cached last positions, per node

/**
 * A room's watch. The server republishes a stored message from the goroutine of the connection
 * that published it, so the republishes of two nodes' appends can pass each other (seen in the
 * contract test: 24 before 23). An entry that comes early is held until the ones before it arrive,
 * at most REORDER_WAIT_MS; then what is held goes out in seq order, and the hole is the caller's
 * gap. Within one epoch; an entry of another epoch first releases what is held.
 */
interface Watcher {
  sub: Subscription;
  handler: WatchHandler;
  epoch: string | undefined;
  /** the seq expected next (0: none yet) */
  next: number;
  early: Map<number, LiveEntry>;
  timer: NodeJS.Timeout | undefined;
}
const REORDER_WAIT_MS = 200;

/** Where a room's subject ends: its last message, as far as this node knows. */
interface Tail {
  /** undefined: the subject is empty (streamSeq 0) or its last message is not ours */
  epoch: string | undefined;
  seq: number;
  streamSeq: number;
}

export { roomToken };

export class NatsRoomStreams implements RoomStreams {
  readonly counters: RoomStreamCounters = newCounters();
  readonly stream: string;
  readonly #subjectRoot: string;
  readonly #timeoutMs: number;
  readonly #maxAgeStoredMs: number;
  readonly #replicas: number;
  readonly #onLost?: NatsRoomStreamsOptions['onLost'];
  readonly #source: NatsConnection | string;
  #ready?: Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }>;
  #nc?: NatsConnection;
  readonly #tails = new Map<string, Tail>(); // subject -> tail after this node's last append
  readonly #appending = new Map<string, Promise<unknown>>(); // room -> this node's appends, in order
  readonly #liveRoot: string;
  readonly #watched = new Map<string, Watcher>(); // room -> watcher

  constructor(nc: NatsConnection | string, private readonly key: ClusterKey | null, private readonly limits: StreamLimits, options: NatsRoomStreamsOptions = {}) {
    checkLimits(limits);
    const prefix = options.prefix ?? 'ms';
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(prefix)) throw new RangeError('the NATS prefix must be 1 to 32 characters from A-Z a-z 0-9 _ -');
    this.stream = `${prefix.toUpperCase()}_HIST`;
    this.#subjectRoot = `${prefix}.hist`;
    this.#liveRoot = `${prefix}.live`;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#maxAgeStoredMs = Number.isFinite(limits.maxAgeMs) ? Math.max(100, Math.ceil(limits.maxAgeMs + (options.expiryMarginMs ?? 60_000))) : 0;
    this.#replicas = options.replicas ?? 1;
    this.#onLost = options.onLost;
    this.#source = nc;
  }

  subject(room: string): string {
    return `${this.#subjectRoot}.${roomToken(room)}`;
  }

  /** Connects (if given a URL) and creates or updates the stream. Called by every operation. */
  ready(): Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }> {
    this.#ready ??= this.#setUp().catch((err) => { this.#ready = undefined; throw err; });
    return this.#ready;
  }

  async #setUp(): Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }> {
    const wanted: Partial<StreamConfig> = {
      subjects: [`${this.#subjectRoot}.>`],
      max_msgs_per_subject: Math.min(this.limits.maxEntries, 1e15) + 1,
      max_age: this.#maxAgeStoredMs * 1e6, // nanoseconds; 0 = none
      allow_direct: true,
      discard: DiscardPolicy.Old,
      republish: { src: `${this.#subjectRoot}.>`, dest: `${this.#liveRoot}.>` },
    };
    const open = await openStream(this.#source, this.stream, this.#replicas, this.#timeoutMs, wanted);
    if (open.owned) this.#nc = open.nc;
    return open;
  }

  append(room: string, record: PublishRecord): Promise<StreamPosition> {
    // One node's appends to one room go one at a time and in call order: no conflicts with itself,
    // and one publisher's messages keep their order. Conflicts are only with other nodes.
    const previous = this.#appending.get(room) ?? Promise.resolve();
    const run = withDeadline('append', this.#timeoutMs, async (deadline) => {
      await previous.catch(() => {});
      return this.#append(room, record, deadline);
    });
    const tail = run.catch(() => {});
    this.#appending.set(room, tail);
    void tail.then(() => { if (this.#appending.get(room) === tail) this.#appending.delete(room); });
    return run;
  }

  async #append(room: string, record: PublishRecord, deadline: number): Promise<StreamPosition> {
    const { js, nc } = await this.ready();
    const subject = this.subject(room);
    const bytes = dataBytes(record);
    const frame = seal(this.key, { kind: HIST_KIND, room }, encodeRecord(record));
    const maxPayload = nc.info?.max_payload ?? 1024 * 1024;
    if (frame.length > maxPayload - HEADER_ALLOWANCE) {
      throw new RoomStreamError('ERR_ROOM_STREAM_TOO_BIG', `append: ${frame.length} bytes sealed, over the NATS server's max_payload (${maxPayload}) less ${HEADER_ALLOWANCE} for headers`);
    }
    // Stored with its payload even when not replayable: the republish delivers it live.
    const lostReason = this.limits.maxEntries <= 0 ? 'not-kept' : bytes > this.limits.maxBytes ? 'too-big' : undefined;
    let tail = this.#tails.get(subject) ?? await this.#readTail(subject);
    for (;;) {
      if (Date.now() > deadline) throw new RoomStreamError('ERR_ROOM_STREAM_TIMEOUT', 'append: gave up retrying');
      if (tail.epoch === undefined) { tail = await this.#startEpoch(subject, tail); continue; }
      const seq = tail.seq + 1;
      const h = headers();
      h.set(H_EPOCH, tail.epoch);
      h.set(H_SEQ, String(seq));
      h.set(H_BYTES, String(bytes));
      if (lostReason) h.set(H_LOST, lostReason);
      try {
        const ack = await js.publish(subject, frame, { headers: h, expect: { lastSubjectSequence: tail.streamSeq } });
        const next = { epoch: tail.epoch, seq, streamSeq: ack.seq };
        this.#remember(subject, next);
        this.counters.appends++;
        return { seq, epoch: tail.epoch };
      } catch (err) {
        if (!isWrongLast(err)) { this.#tails.delete(subject); throw err; }
        this.#tails.delete(subject);
        tail = await this.#readTail(subject); // another node appended (or the room was dropped)
      }
    }
  }

  position(room: string): Promise<StreamPosition> {
    return withDeadline('position', this.#timeoutMs, async (deadline) => {
      const tail = await this.#currentTail(this.subject(room), deadline);
      return { seq: tail.seq, epoch: tail.epoch! };
    });
  }

  since(room: string, seq: number, epoch?: string): Promise<StreamReplay> {
    checkSince(seq);
    return withDeadline('since', this.#timeoutMs, async (deadline) => {
      const subject = this.subject(room);
      const tail = await this.#currentTail(subject, deadline);
      const position = { seq: tail.seq, epoch: tail.epoch! };
      const { reset, from } = replayStart(position, seq, epoch);
      const candidates = from < tail.seq ? await this.#read(room, subject, tail, from) : [];
      const replay = buildReplay(position, from, reset, candidates, this.limits, Date.now());
      this.counters.replayed += replay.entries.length;
      return replay;
    });
  }

  drop(room: string): Promise<void> {
    return withDeadline('drop', this.#timeoutMs, async () => {
      const { jsm } = await this.ready();
      const subject = this.subject(room);
      this.#tails.delete(subject);
      await jsm.streams.purge(this.stream, { filter: subject });
    });
  }

  liveSubject(room: string): string {
    return `${this.#liveRoot}.${roomToken(room)}`;
  }

  async watch(room: string, handler: WatchHandler): Promise<void> {
    const existing = this.#watched.get(room);
    if (existing) { existing.handler = handler; return; }
    await withDeadline('watch', this.#timeoutMs, async () => {
      const { nc } = await this.ready();
      if (this.#watched.has(room)) { this.#watched.get(room)!.handler = handler; return; }
      const watcher: Watcher = {
        handler, epoch: undefined, next: 0, early: new Map(), timer: undefined,
        sub: nc.subscribe(this.liveSubject(room), {
          callback: (err, msg) => {
            if (err || this.#watched.get(room) !== watcher || !msg.headers) return;
            this.#live(room, msg.headers, msg.data, watcher);
          },
        }),
      };
      this.#watched.set(room, watcher);
      await nc.flush(); // routed here from now on
    });
  }

  unwatch(room: string): void {
    const watcher = this.#watched.get(room);
    if (!watcher) return;
    this.#watched.delete(room);
    clearTimeout(watcher.timer);
    watcher.sub.unsubscribe();
  }

  #live(room: string, h: MsgHdrs, payload: Uint8Array, w: Watcher): void {
    const t = tailOf(h, 0);
    if (t.epoch === undefined) return;
    if (t.epoch !== w.epoch) {
      this.#release(w);
      w.epoch = t.epoch;
      w.next = t.seq === 0 ? 1 : t.seq;
    }
    if (t.seq === 0) return; // an epoch marker: no entry
    const entry = this.#liveEntry(room, t.seq, h, payload);
    if (t.seq < w.next) return this.#emit(w, entry); // late (its hole was given up) or a repeat: the caller decides
    if (t.seq > w.next) {
      w.early.set(t.seq, entry);
      w.timer ??= setTimeout(() => this.#release(w), REORDER_WAIT_MS);
      return;
    }
    this.#emit(w, entry);
    w.next++;
    for (let held = w.early.get(w.next); held; held = w.early.get(w.next)) {
      w.early.delete(w.next);
      this.#emit(w, held);
      w.next++;
    }
    if (w.early.size === 0 && w.timer) { clearTimeout(w.timer); w.timer = undefined; }
  }

  /** Give out what is held, in seq order (the holes stay holes). */
  #release(w: Watcher): void {
    clearTimeout(w.timer);
    w.timer = undefined;
    if (w.early.size === 0) return;
    const seqs = [...w.early.keys()].sort((a, b) => a - b);
    const held = seqs.map((seq) => w.early.get(seq)!);
    w.early.clear();
    w.next = seqs[seqs.length - 1] + 1;
    for (const entry of held) this.#emit(w, entry);
  }

  #emit(w: Watcher, entry: LiveEntry): void {
    try { w.handler(entry, w.epoch!); } catch (err) { process.nextTick(() => { throw err; }); }
  }

  #liveEntry(room: string, seq: number, h: MsgHdrs, payload: Uint8Array): LiveEntry {
    const bytes = parseInt(h.get(H_BYTES) || '0', 10);
    const opened = payload.length > 0 ? openOrWhy(this.key, { kind: HIST_KIND, room }, payload) : { ok: false as const, reason: h.get(H_LOST) || 'malformed' };
    const record = opened.ok ? decodeRecord(opened.plaintext) : undefined;
    if (record && Buffer.byteLength(record.data) === bytes) return { seq, ...record };
    const reason = opened.ok ? 'malformed' : opened.reason;
    this.counters.notOpened[reason] = (this.counters.notOpened[reason] ?? 0) + 1;
    this.#onLost?.(room, seq, reason);
    return { seq, lost: reason };
  }

  /** Closes the connection if this instance made it from a URL. */
  async close(): Promise<void> {
    for (const room of [...this.#watched.keys()]) this.unwatch(room);
    const nc = this.#nc;
    this.#nc = undefined;
    this.#ready = undefined;
    if (nc) await nc.close();
  }

  /** The subject's tail, starting an epoch when it has none. */
  async #currentTail(subject: string, deadline: number): Promise<Tail> {
    let tail = await this.#readTail(subject);
    while (tail.epoch === undefined) {
      if (Date.now() > deadline) throw new RoomStreamError('ERR_ROOM_STREAM_TIMEOUT', 'gave up starting an epoch');
      tail = await this.#startEpoch(subject, tail);
    }
    return tail;
  }

  async #readTail(subject: string): Promise<Tail> {
    const { jsm } = await this.ready();
    const m = await jsm.direct.getMessage(this.stream, { last_by_subj: subject });
    if (!m) return { epoch: undefined, seq: 0, streamSeq: 0 };
    const tail = tailOf(m.header, m.seq);
    this.#remember(subject, tail);
    return tail;
  }

  /** Publish a marker for a new epoch after `tail` (empty, or not ours); on a race, the winner's tail. */
  async #startEpoch(subject: string, tail: Tail): Promise<Tail> {
    const { js } = await this.ready();
    const epoch = newEpoch();
    const h = headers();
    h.set(H_EPOCH, epoch);
    h.set(H_SEQ, '0');
    try {
      const ack = await js.publish(subject, Empty, { headers: h, expect: { lastSubjectSequence: tail.streamSeq } });
      const started = { epoch, seq: 0, streamSeq: ack.seq };
      this.#remember(subject, started);
      return started;
    } catch (err) {
      if (!isWrongLast(err)) throw err;
      return this.#readTail(subject);
    }
  }

  /** The subject's messages after `from` up to the tail, as candidates for buildReplay. */
  async #read(room: string, subject: string, tail: Tail, from: number): Promise<Candidate[]> {
    const { js, jsm } = await this.ready();
    // An ephemeral consumer of this subject only, in memory, gone 10 s after its last use (and
    // deleted at once below). A subject holds at most maxEntries + 1 messages.
    const name = `r${randomBytes(8).toString('hex')}`;
    const ci = await jsm.consumers.add(this.stream, {
      name, filter_subject: subject, deliver_policy: DeliverPolicy.All, ack_policy: AckPolicy.None,
      mem_storage: true, num_replicas: 1, inactive_threshold: 10_000 * 1e6,
    });
    const candidates: Candidate[] = [];
    try {
      if (ci.num_pending === 0) return candidates;
      const consumer = js.consumers.getConsumerFromInfo(ci);
      const messages = await consumer.fetch({ max_messages: ci.num_pending, expires: 2000 });
      for await (const m of messages) {
        const t = m.headers ? tailOf(m.headers, m.seq) : undefined;
        if (t && t.epoch === tail.epoch && t.seq > from && t.seq <= tail.seq) candidates.push(this.#candidate(room, t.seq, m.headers!, m.data));
        if (m.seq >= tail.streamSeq || m.info.pending === 0) break;
      }
    } finally {
      jsm.consumers.delete(this.stream, name).catch(() => { /* it expires on its own */ });
    }
    return candidates;
  }

  #candidate(room: string, seq: number, h: MsgHdrs, payload: Uint8Array): Candidate {
    const bytes = parseInt(h.get(H_BYTES) || '0', 10);
    const lostHeader = h.get(H_LOST);
    if (lostHeader) return { seq, bytes, lost: lostHeader }; // too big when appended: not a failure to open
    const lost = (reason: string): Candidate => {
      this.counters.notOpened[reason] = (this.counters.notOpened[reason] ?? 0) + 1;
      this.#onLost?.(room, seq, reason);
      return { seq, bytes, lost: reason };
    };
    const opened = openOrWhy(this.key, { kind: HIST_KIND, room }, payload);
    if (!opened.ok) return lost(opened.reason);
    const record = decodeRecord(opened.plaintext);
    if (!record || Buffer.byteLength(record.data) !== bytes) return lost('malformed');
    return { seq, bytes, record };
  }

  #remember(subject: string, tail: Tail): void {
    if (this.#tails.size >= TAILS_KEPT && !this.#tails.has(subject)) this.#tails.clear();
    this.#tails.set(subject, tail);
  }
}

function tailOf(h: MsgHdrs, streamSeq: number): Tail {
  const epoch = h.get(H_EPOCH);
  const seq = Number(h.get(H_SEQ));
  if (!epoch || !Number.isSafeInteger(seq) || seq < 0) return { epoch: undefined, seq: 0, streamSeq };
  return { epoch, seq, streamSeq };
}

function isWrongLast(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE;
}
