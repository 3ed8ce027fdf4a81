// GraphLog in NATS JetStream (@nats-io/jetstream 3.3, servers 2.9+). One stream `<P>_G` (subjects
// `<p>.g.>`, file storage, max_age = the room TTL), and per room, under the token
// t = base64url(SHA-256(room)) (nats-room-streams.ts: a room name may hold `.`, `*`, `>`, spaces):
//   <p>.g.<t>.p           the puts, one message each, sealed; the offset is the stream sequence
//   <p>.g.<t>.s.<snapId>  a snapshot, sealed once and cut into chunks of max_payload - 4 KiB
//                         (header `Ms-Part: i`), so a snapshot is not bounded by max_payload
//                         (1 MiB by default) but by maxSnapshotBytes (64 MiB by default)
//   <p>.g.<t>.h           the snapshot's head: `Ms-Snap` (its id), `Ms-Parts`, `Ms-Upto`, no payload
// Watching a room: the stream RePublishes every message it stores from `<p>.g.>` to `<p>.gw.>`
// (nats-server 2.9+), with its stream sequence in the `Nats-Sequence` header (in stream order per
// publishing connection; two nodes' republishes may pass each other); a node watching a
// room has a core subscription on `<p>.gw.<t>.*` (its puts, and its snapshot heads: the
// snapshot notices). So live puts are learned from the append itself,
// after JetStream stored them and in stream order: a put is either stored before a load's consumer
// starts (and the load has it) or republished after the subscription that preceded the load.
// Why not the KV or object store: a KV value is one message (max_payload), and the object store's
// put is chunks + a meta message with a purge of the old chunks in between that a reader can
// trip over; here the head is published with Nats-Expected-Last-Subject-Sequence = the head the
// writer started from, so of two nodes compacting at once exactly one wins (the other deletes its
// chunks), heads only go forward, and a reader can always find a complete snapshot (see #read).
//
// append = one publish: durable in JetStream when the PubAck comes (a put bigger than
// max_payload - 4 KiB is refused with ERR_GRAPH_LOG_TOO_BIG). snapshot = chunks, head (CAS), then
// purge puts <= upTo, the old snapshot's chunks and older heads. A crash between these leaves
// extra messages that readers ignore (puts below the head's upTo, chunks of no head) and that
// max_age or the next snapshot removes.
//
// Expiry: JetStream 2.9 ages messages one by one (per-message TTLs came in 2.11), so a live room
// must not keep a message older than the TTL: touch() (every ttl/4 on each node holding the room)
// rewrites the room as a fresh snapshot when its oldest message is older than ttl/2. An abandoned
// room's messages all age out. All nodes must share the TTL: the stream is configured by whichever
// node starts last.
import { randomBytes } from 'node:crypto';
import { Empty, headers, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import {
  AckPolicy, DeliverPolicy, DiscardPolicy, JetStreamApiError,
  type JetStreamClient, type JetStreamManager, type StreamConfig,
} from '@nats-io/jetstream';
import type { ClusterKey } from './cluster-key.js';
import { openStream } from './nats-stream.js';
import {
  checkOffset, checkPut, compactGraphs, countLost, decodePut, decodeSnapshot, DEFAULT_GRAPH_LOG_TTL_MS, DEFAULT_MAX_SNAPSHOT_BYTES,
  encodePut, encodeSnapshot, GraphLogError, loadedGraphs, newGraphLogCounters, PUT_KIND, SNAP_KIND, withGraphDeadline,
  type GraphLoad, type GraphLog, type GraphLogCounters, type GraphLogOptions, type GraphPut, type PutWatcher,
} from './graph-log.js';
import { roomToken } from './nats-room-streams.js';
import { openOrWhy, seal } from './seal.js';

export interface NatsGraphLogOptions extends GraphLogOptions {
  /** stream `<PREFIX>_G`, subjects `<prefix>.g.>` (default 'ms'); [A-Za-z0-9_-] */
  prefix?: string;
  /** JetStream replicas of the stream (default 1) */
  replicas?: number;
}

export const H_SNAP = 'Ms-Snap';
export const H_PARTS = 'Ms-Parts';
export const H_PART = 'Ms-Part';
export const H_UPTO = 'Ms-Upto';
const WRONG_LAST_SEQUENCE = 10071;
const HEADER_ALLOWANCE = 4096; // max_payload counts headers too
const FETCH_BATCH = 256;

interface Head { snapId: string; parts: number; upTo: number; seq: number }

export class NatsGraphLog implements GraphLog {
  readonly stream: string;
  readonly counters: GraphLogCounters = newGraphLogCounters();
  readonly #root: string;
  readonly #watchRoot: string;
  readonly #watched = new Map<string, { sub: Subscription; watcher: PutWatcher }>();
  #statusWatch = false;
  #disconnected = false;
  readonly #timeoutMs: number;
  readonly #ttlMs: number;
  readonly #maxSnapshotBytes: number;
  readonly #replicas: number;
  readonly #onLost?: GraphLogOptions['onLost'];
  readonly #source: NatsConnection | string;
  #ready?: Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }>;
  #nc?: NatsConnection;

  constructor(nc: NatsConnection | string, private readonly key: ClusterKey | null, options: NatsGraphLogOptions = {}) {
    const prefix = options.prefix ?? 'ms';
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(prefix)) throw new RangeError('the NATS prefix must be 1 to 32 characters from A-Z a-z 0-9 _ -');
    this.stream = `${prefix.toUpperCase()}_G`;
    this.#root = `${prefix}.g`;
    this.#watchRoot = `${prefix}.gw`;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#ttlMs = Math.max(1000, Math.ceil(options.ttlMs ?? DEFAULT_GRAPH_LOG_TTL_MS));
    this.#maxSnapshotBytes = options.maxSnapshotBytes ?? DEFAULT_MAX_SNAPSHOT_BYTES;
    this.#replicas = options.replicas ?? 1;
    this.#onLost = options.onLost;
    this.#source = nc;
  }

  /** The room's subjects (for tests and operators). */
  subjects(room: string): { all: string; puts: string; head: string; snapshot: (snapId: string) => string } {
    const base = `${this.#root}.${roomToken(room)}`;
    return { all: `${base}.>`, puts: `${base}.p`, head: `${base}.h`, snapshot: (id) => `${base}.s.${id}` };
  }

  /** Connects (if given a URL) and creates or updates the stream. Called by every operation. */
  ready(): Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }> {
    this.#ready ??= this.#setUp().catch((err) => { this.#ready = undefined; throw err; });
    return this.#ready;
  }

  async #setUp(): Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }> {
    const wanted: Partial<StreamConfig> = {
      subjects: [`${this.#root}.>`],
      max_age: this.#ttlMs * 1e6, // nanoseconds
      allow_direct: true,
      discard: DiscardPolicy.Old,
      republish: { src: `${this.#root}.>`, dest: `${this.#watchRoot}.>` },
    };
    const open = await openStream(this.#source, this.stream, this.#replicas, this.#timeoutMs, wanted);
    if (open.owned) this.#nc = open.nc;
    if (!this.#statusWatch) { this.#statusWatch = true; void this.#watchStatus(open.nc); }
    return open;
  }

  append(room: string, put: GraphPut): Promise<{ offset: number }> {
    checkPut(put);
    return withGraphDeadline('append', this.#timeoutMs, async () => {
      const { js, nc } = await this.ready();
      // The client would buffer a publish while it reconnects and send it late: refused at once instead.
      if (this.#disconnected) throw new GraphLogError('ERR_GRAPH_LOG_DOWN', 'not connected to NATS');
      const frame = seal(this.key, { kind: PUT_KIND, room }, encodePut(put));
      const max = (nc.info?.max_payload ?? 1024 * 1024) - HEADER_ALLOWANCE;
      if (frame.length > max) throw new GraphLogError('ERR_GRAPH_LOG_TOO_BIG', `a put of ${frame.length} sealed bytes is over the NATS server's max_payload (${max + HEADER_ALLOWANCE} less ${HEADER_ALLOWANCE})`);
      const ack = await js.publish(this.subjects(room).puts, frame);
      this.counters.appends++;
      return { offset: ack.seq };
    });
  }

  load(room: string): Promise<GraphLoad> {
    return withGraphDeadline('load', this.#timeoutMs, () => this.#load(room));
  }

  async #load(room: string): Promise<GraphLoad> {
    const { heads, chunks, puts } = await this.#read(room);
    const load: GraphLoad = { puts: [], last: 0, lost: 0 };
    const lost = (offset: number, reason: string) => { load.lost++; countLost(this.counters, this.#onLost, room, offset, reason); };
    // The head with the greatest upTo whose chunks are all there. A head only goes forward (CAS),
    // and chunks are published before their head, so reading to the end always finds the latest
    // head complete, even when a compaction purged what an older one needed while we read.
    let upTo = 0;
    for (const head of heads.sort((a, b) => b.upTo - a.upTo)) {
      const parts = chunks.get(head.snapId);
      if (!parts || parts.size !== head.parts || [...Array(head.parts).keys()].some((i) => !parts.has(i))) continue;
      upTo = head.upTo;
      const frame = Buffer.concat([...Array(head.parts).keys()].map((i) => parts.get(i)!));
      const opened = openOrWhy(this.key, { kind: SNAP_KIND, room }, frame);
      const snap = opened.ok ? decodeSnapshot(opened.plaintext) : undefined;
      if (!opened.ok) lost(upTo, opened.reason);
      else if (!snap || snap.upTo !== upTo) lost(upTo, 'malformed');
      else load.snapshot = snap;
      break;
    }
    if (upTo === 0 && heads.length > 0) lost(heads[0].upTo, 'incomplete'); // its chunks aged out or were purged
    load.last = upTo;
    for (const m of puts) {
      if (m.seq <= upTo) continue; // left by a crash between head and purge
      load.last = m.seq;
      const opened = openOrWhy(this.key, { kind: PUT_KIND, room }, m.data);
      const put = opened.ok ? decodePut(opened.plaintext) : undefined;
      if (!opened.ok) lost(m.seq, opened.reason);
      else if (!put) lost(m.seq, 'malformed');
      else load.puts.push({ offset: m.seq, ...put });
    }
    this.counters.loaded += load.puts.length;
    return load;
  }

  /** Every message of the room, in stream order, read to the end. */
  async #read(room: string): Promise<{ heads: Head[]; chunks: Map<string, Map<number, Uint8Array>>; puts: { seq: number; data: Uint8Array }[] }> {
    const { js, jsm } = await this.ready();
    const s = this.subjects(room);
    const heads: Head[] = [];
    const chunks = new Map<string, Map<number, Uint8Array>>();
    const puts: { seq: number; data: Uint8Array }[] = [];
    const name = `g${randomBytes(8).toString('hex')}`;
    const ci = await jsm.consumers.add(this.stream, {
      name, filter_subject: s.all, deliver_policy: DeliverPolicy.All, ack_policy: AckPolicy.None,
      mem_storage: true, num_replicas: 1, inactive_threshold: 10_000 * 1e6,
    });
    try {
      if (ci.num_pending === 0) return { heads, chunks, puts };
      const consumer = js.consumers.getConsumerFromInfo(ci);
      for (let done = false; !done;) {
        let got = 0;
        const batch = await consumer.fetch({ max_messages: FETCH_BATCH, expires: 2000 });
        for await (const m of batch) {
          got++;
          if (m.subject === s.puts) puts.push({ seq: m.seq, data: m.data });
          else if (m.subject === s.head) {
            const head = headOf(m.headers, m.seq);
            if (head) heads.push(head);
          } else {
            const snapId = m.subject.slice(m.subject.lastIndexOf('.') + 1);
            const part = Number(m.headers?.get(H_PART));
            if (Number.isSafeInteger(part) && part >= 0) {
              let parts = chunks.get(snapId);
              if (!parts) { parts = new Map(); chunks.set(snapId, parts); }
              parts.set(part, m.data);
            }
          }
          if (m.info.pending === 0) { done = true; break; }
        }
        if (got === 0) done = true;
      }
    } finally {
      jsm.consumers.delete(this.stream, name).catch(() => { /* it expires on its own */ });
    }
    return { heads, chunks, puts };
  }

  snapshot(room: string, graph: string, upTo: number): Promise<boolean> {
    checkOffset(upTo);
    return withGraphDeadline('snapshot', this.#timeoutMs, () => this.#snapshot(room, graph, upTo, false));
  }

  async #snapshot(room: string, graph: string, upTo: number, refresh: boolean): Promise<boolean> {
    const { js, jsm, nc } = await this.ready();
    const s = this.subjects(room);
    const frame = seal(this.key, { kind: SNAP_KIND, room }, encodeSnapshot({ graph, upTo, at: Date.now() }));
    if (frame.length > this.#maxSnapshotBytes) throw new GraphLogError('ERR_GRAPH_LOG_TOO_BIG', `snapshot of ${frame.length} bytes is over the bound of ${this.#maxSnapshotBytes}`);
    const m = await jsm.direct.getMessage(this.stream, { last_by_subj: s.head });
    const current = m ? headOf(m.header, m.seq) : undefined;
    if (current && (refresh ? current.upTo > upTo : current.upTo >= upTo)) return false;
    const snapId = randomBytes(8).toString('hex');
    const chunkBytes = (nc.info?.max_payload ?? 1024 * 1024) - HEADER_ALLOWANCE;
    const parts = Math.max(1, Math.ceil(frame.length / chunkBytes));
    for (let i = 0; i < parts; i++) {
      const h = headers();
      h.set(H_PART, String(i));
      await js.publish(s.snapshot(snapId), frame.subarray(i * chunkBytes, (i + 1) * chunkBytes), { headers: h });
    }
    const h = headers();
    h.set(H_SNAP, snapId);
    h.set(H_PARTS, String(parts));
    h.set(H_UPTO, String(upTo));
    let headSeq: number;
    try {
      headSeq = (await js.publish(s.head, Empty, { headers: h, expect: { lastSubjectSequence: m?.seq ?? 0 } })).seq;
    } catch (err) {
      await jsm.streams.purge(this.stream, { filter: s.snapshot(snapId) }).catch(() => { /* ages out */ });
      if (err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE) return false; // another node compacted
      throw err;
    }
    this.counters.snapshots++;
    // Trim: what the new head covers. A failure here leaves messages readers ignore.
    await jsm.streams.purge(this.stream, { filter: s.puts, seq: upTo + 1 });
    if (current) await jsm.streams.purge(this.stream, { filter: s.snapshot(current.snapId) });
    await jsm.streams.purge(this.stream, { filter: s.head, seq: headSeq });
    return true;
  }

  touch(room: string): Promise<{ last: number }> {
    return withGraphDeadline('touch', this.#timeoutMs, async () => {
      const { jsm } = await this.ready();
      const s = this.subjects(room);
      const [head, first, lastPut] = await Promise.all([
        jsm.direct.getMessage(this.stream, { last_by_subj: s.head }),
        jsm.direct.getMessage(this.stream, { seq: 1, next_by_subj: s.puts }),
        jsm.direct.getMessage(this.stream, { last_by_subj: s.puts }),
      ]);
      const last = Math.max(lastPut?.seq ?? 0, (head && headOf(head.header, head.seq)?.upTo) || 0);
      const times = [head, first].filter((x) => x !== null).map((x) => x.time.getTime());
      if (times.length === 0 || Date.now() - Math.min(...times) < this.#ttlMs / 2) return { last };
      // Rewrite the room as one fresh snapshot (covering every put read), so nothing of a live
      // room is older than ttl/2 + the touch interval. Not by a node that cannot open it all.
      const load = await this.#load(room);
      if (load.lost > 0) return { last };
      await this.#snapshot(room, compactGraphs(loadedGraphs(load), Date.now()), load.last, true);
      return { last: Math.max(last, load.last) };
    });
  }

  drop(room: string): Promise<void> {
    return withGraphDeadline('drop', this.#timeoutMs, async () => {
      const { jsm } = await this.ready();
      await jsm.streams.purge(this.stream, { filter: this.subjects(room).all });
    });
  }

  /** Where a room's stored puts are republished (watch). */
  watchSubject(room: string): string {
    return `${this.#watchRoot}.${roomToken(room)}.p`;
  }

  watch(room: string, watcher: PutWatcher): Promise<void> {
    const existing = this.#watched.get(room);
    if (existing) { existing.watcher = watcher; return Promise.resolve(); }
    return withGraphDeadline('watch', this.#timeoutMs, async () => {
      const { nc } = await this.ready();
      const entry = {
        watcher,
        // `.p` (puts) and `.h` (snapshot heads, in order with the puts); not `.s.<id>` (chunks)
        sub: nc.subscribe(`${this.#watchRoot}.${roomToken(room)}.*`, {
          callback: (err, msg) => {
            if (err || this.#watched.get(room) !== entry) return;
            if (msg.subject.endsWith('.h')) {
              const head = headOf(msg.headers, 0);
              if (head) entry.watcher.snapshot?.(head.upTo);
              return;
            }
            const offset = Number(msg.headers?.get('Nats-Sequence'));
            if (!Number.isSafeInteger(offset) || offset <= 0) return countLost(this.counters, this.#onLost, room, 0, 'malformed');
            const opened = openOrWhy(this.key, { kind: PUT_KIND, room }, msg.data);
            const put = opened.ok ? decodePut(opened.plaintext) : undefined;
            if (!opened.ok) return countLost(this.counters, this.#onLost, room, offset, opened.reason);
            if (!put) return countLost(this.counters, this.#onLost, room, offset, 'malformed');
            entry.watcher.put({ offset, ...put });
          },
        }),
      };
      this.#watched.set(room, entry);
      await nc.flush(); // the server routes the room's puts here from now on
    });
  }

  async unwatch(room: string): Promise<void> {
    const entry = this.#watched.get(room);
    if (!entry) return;
    this.#watched.delete(room);
    entry.sub.unsubscribe();
  }

  /** Tracks the connection (appends fail fast while it is down); after a reconnect the client has subscribed again, and once the server has them (flush) watchers reload. */
  async #watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') this.#disconnected = true;
      if (s.type !== 'reconnect') continue;
      this.#disconnected = false;
      nc.flush().then(() => {
        for (const { watcher } of this.#watched.values()) watcher.resumed();
      }, () => { /* broke again: the next reconnect tells them */ });
    }
  }

  /** Closes the connection if this instance made it from a URL. */
  async close(): Promise<void> {
    for (const { sub } of this.#watched.values()) sub.unsubscribe();
    this.#watched.clear();
    const nc = this.#nc;
    this.#nc = undefined;
    this.#ready = undefined;
    if (nc) await nc.close();
  }
}

function headOf(h: { get(k: string): string } | undefined, seq: number): Head | undefined {
  if (!h) return undefined;
  const snapId = h.get(H_SNAP);
  const parts = Number(h.get(H_PARTS));
  const upTo = Number(h.get(H_UPTO));
  if (!snapId || !Number.isSafeInteger(parts) || parts < 1 || !Number.isSafeInteger(upTo) || upTo < 0) return undefined;
  return { snapId, parts, upTo, seq };
}
