// A room's publications across nodes (docs/cluster.md, "Native across nodes"): the native half
// of the room's link that owns publish, seq and replay.
//
// - publish appends to the room's stream in the engine (RoomStreams.append: one seq per room,
//   cluster-wide); the publisher's ack carries that seq once the append resolves.
// - Delivery to this node's members comes only from the stream's watch (the publishing node's
//   too: one path), so every node delivers a room's publications in seq order, and a publication
//   whose append failed is delivered nowhere (the publisher gets `broker_unavailable`).
// - A seq jump in the watch (entries missed while the engine connection was away) is a `gap` to
//   the members; an entry of a new epoch is a `gap` with `reset` and the new `epoch`.
// - Replay (`since`, `epoch`, Last-Event-ID) reads the stream; live frames for that member wait
//   until the replay is delivered and are then given after it, minus those it already contained.
// - While the engine is away (cluster state `down`), publications are delivered to this node's
//   members only, unnumbered (no `seq`, so no SSE id: a resume position is never a number the
//   room's stream does not have) and not kept; when it is back, every member gets a `gap` with
//   `outage: true` (docs/cluster.md, "Failure").
import type { ClusterNode } from './cluster-node.js';
import type { Room } from '../rooms/room.js';
import type { LiveEntry, PublishRecord, StreamEntry } from './room-stream.js';
import { RoomStreamError } from './stream-replay.js';
import { OutFrame } from '../transports/out-frame.js';
import { Perm } from '../access/permissions.js';
import { statusOf, type KnownErrorCode } from '../protocol/errors.js';
import type { ClientMessage, Ref } from '../channels/messages.js';
import type { Member, Respond } from '../channels/hub.js';
import type { BusState } from './cluster-bus.js';
import { logFailure } from '../log-throttle.js';

/** What the hub lends its publications: its local members and its way of delivering a frame. */
export interface PublicationHost {
  readonly members: ReadonlyMap<string, Member>;
  deliver(member: Member, frame: OutFrame): void;
  /** Told once per publication delivered here (the server's own listeners; src/channels/room-tap.ts). */
  published?(record: PublishRecord, seq: number | undefined): void;
}

type PublishMessage = Extract<ClientMessage, { type: 'publish' }>;

/** A live frame held for a member while its replay is read: given after it unless the replay had it. */
interface Held { epoch: string | undefined; seq: number; frame: OutFrame }

const q = JSON.stringify;

/** Rooms of one node, so that one state handler per node reaches them all (ClusterNode has no removal). */
const linked = new WeakMap<ClusterNode, Set<RoomPublications>>();

export class RoomPublications {
  /** The last seq this node has seen of the room (watch or position): `connect`'s `seq`. */
  seq = 0;
  /** The stream's epoch as this node knows it: `connect`'s `epoch`. */
  epoch: string | undefined;
  /** Publications delivered locally, unnumbered, while the engine was away (for stats and tests). */
  localOnly = 0;
  private host: PublicationHost | undefined;
  /** members whose replay is being read → live frames held for them */
  private replaying: Map<Member, Held[]> | undefined;
  /** members whose replay went further than this node's watch → the last seq it brought them */
  private floors: Map<Member, number> | undefined;
  /** The engine went away while this room was linked: members get a gap when it is back. */
  private outage = false;
  private disposed = false;
  private readiness: Promise<void> | undefined;

  constructor(readonly cluster: ClusterNode, readonly room: Room) {}

  /** Watch the room's stream, then read its position (so `connect` carries the cluster-wide seq/epoch). */
  ready(): Promise<void> {
    this.readiness ??= this.start().catch((err: unknown) => { this.readiness = undefined; throw err; });
    return this.readiness;
  }

  private async start(): Promise<void> {
    const streams = this.cluster.streams;
    await streams.watch(this.room.name, (entry, epoch) => this.onEntry(entry, epoch));
    const position = await streams.position(this.room.name);
    if (this.disposed) return;
    if (this.epoch === undefined || this.epoch !== position.epoch) {
      this.epoch = position.epoch;
      this.seq = position.seq;
    } else if (position.seq > this.seq) {
      this.seq = position.seq; // entries still on their way to the watch: before any member's connect
    }
    let set = linked.get(this.cluster);
    if (!set) {
      linked.set(this.cluster, (set = new Set()));
      this.cluster.onState((state) => { for (const p of set!) p.onState(state); });
    }
    set.add(this);
  }

  /** The hub of this room (made after ready()): where publications are delivered. */
  attach(host: PublicationHost): void {
    this.host = host;
  }

  dispose(): void {
    this.disposed = true;
    linked.get(this.cluster)?.delete(this);
    this.host = undefined;
    this.replaying = undefined;
    this.floors = undefined;
    Promise.resolve(this.cluster.streams?.unwatch(this.room.name)).catch(() => { /* the engine is away: nothing to stop */ });
  }

  /** A publish by member `from` (permission already checked by the hub), or by the server (SERVER_SENDER). */
  publish(from: string, msg: Pick<PublishMessage, 'data' | 'topic' | 'echo' | 'ack' | 'ref'>, respond: Respond): void {
    const record: PublishRecord = { from, echo: msg.echo, data: q(msg.data), at: Date.now() };
    if (msg.topic !== undefined) record.topic = msg.topic;
    if (this.cluster.state === 'down') return this.publishLocally(record, msg, respond);
    callEngine(() => this.cluster.streams.append(this.room.name, record)).then(
      (position) => answer(respond, msg, position.seq),
      (err: unknown) => {
        // Never delivered here instead: a timed-out append may still land and come back through
        // the watch (delivered twice otherwise). The publisher is told, and may retry.
        if (err instanceof RoomStreamError && err.code === 'ERR_ROOM_STREAM_TOO_BIG') return refuse(respond, 'too_large', `the message is too big for the cluster's engine: ${err.message}`, msg.ref);
        const timedOut = err instanceof RoomStreamError && err.code === 'ERR_ROOM_STREAM_TIMEOUT';
        logFailure(this.room.log, 'warn', 'publish not appended', { room: this.room.name, err: (err as Error)?.message });
        refuse(respond, 'broker_unavailable', timedOut
          ? 'the cluster\'s engine did not answer in time; the message may still be delivered'
          : 'the cluster\'s engine refused or lost the message; it was not delivered (retry)', msg.ref);
      },
    );
  }

  /** The engine is away: to this node's members only, unnumbered, not kept. */
  private publishLocally(record: PublishRecord, msg: Pick<PublishMessage, 'ack' | 'ref'>, respond: Respond): void {
    this.outage = true;
    this.localOnly++;
    this.fanOut(record, publicationFrame(record, undefined), Infinity);
    answer(respond, msg, undefined);
  }

  /** The replay a joining member asked for (`since` of `epoch`), then the live frames held meanwhile. */
  replay(member: Member, since: number, epoch: string | undefined): void {
    const held: Held[] = [];
    (this.replaying ??= new Map()).set(member, held);
    const finish = (deliverReplay: () => { epoch: string; seq: number } | undefined) => {
      if (this.replaying?.get(member) === held) this.replaying.delete(member);
      const host = this.host;
      if (!host || host.members.get(member.cid) !== member) return;
      const upTo = deliverReplay();
      for (const h of held) {
        if (upTo && h.epoch === upTo.epoch && h.seq <= upTo.seq) continue; // the replay had it
        host.deliver(member, h.frame);
      }
      // The engine can be ahead of this node's watch: entries the replay brought may still be on
      // their way here. Until the watch has passed them, they are not given to this member again.
      if (upTo && upTo.epoch === this.epoch && upTo.seq > this.seq) (this.floors ??= new Map()).set(member, upTo.seq);
    };
    const reading = this.cluster.state === 'down'
      ? Promise.reject(new Error('the engine is away'))
      : callEngine(() => this.cluster.streams.since(this.room.name, since, epoch));
    reading.then((r) => finish(() => {
      const host = this.host!;
      if (r.reset) host.deliver(member, gapFrame({ reset: true, from: 1, to: r.gap ? r.gap.to : 0, epoch: r.position.epoch }));
      else if (r.gap) host.deliver(member, gapFrame({ from: r.gap.from, to: r.gap.to }));
      for (const e of r.entries) {
        if (e.topic !== undefined && !member.topics?.matches(e.topic)) continue;
        host.deliver(member, publicationFrame(e, e.seq));
      }
      return r.position;
    }), (err: unknown) => finish(() => {
      // Not silent: what it may have missed is named; live delivery goes on.
      this.room.log.warn('replay not read', { room: this.room.name, err: (err as Error)?.message });
      const sameEpoch = epoch === undefined || epoch === this.epoch;
      if (sameEpoch && since >= this.seq) return undefined;
      this.host!.deliver(member, gapFrame(sameEpoch ? { from: since + 1, to: this.seq } : { reset: true, from: 1, to: this.seq, epoch: this.epoch }));
      return undefined;
    }));
  }

  /** An entry of the room's stream, from any node (this one included), in seq order. */
  private onEntry(entry: LiveEntry, epoch: string): void {
    if (this.disposed) return;
    if (this.epoch === undefined) {
      this.epoch = epoch; // before position() answered: no member yet
      this.seq = entry.seq - 1;
    } else if (epoch !== this.epoch) {
      // The stream started again (its keys expired, the engine lost them, the room was dropped).
      this.epoch = epoch;
      this.seq = entry.seq - 1;
      this.floors = undefined; // seqs of the old epoch
      this.gapToAll({ reset: true, from: 1, to: this.seq, epoch });
    }
    if (entry.seq <= this.seq) return; // already counted (position read ahead of the watch)
    if (entry.seq > this.seq + 1) this.gapToAll({ from: this.seq + 1, to: entry.seq - 1 });
    this.seq = entry.seq;
    if ('lost' in entry) this.gapToAll({ from: entry.seq, to: entry.seq });
    else this.fanOut(entry, publicationFrame(entry, entry.seq), entry.seq);
    if (this.floors) {
      for (const [m, floor] of this.floors) if (floor <= this.seq) this.floors.delete(m);
      if (this.floors.size === 0) this.floors = undefined;
    }
  }

  private fanOut(record: PublishRecord, frame: OutFrame, seq: number): void {
    const host = this.host;
    if (!host) return;
    host.published?.(record, Number.isFinite(seq) ? seq : undefined);
    for (const m of host.members.values()) {
      if (m.cid === record.from && !record.echo) continue;
      if (!(m.perms & Perm.SUBSCRIBE)) continue;
      if (record.topic !== undefined && !m.topics?.matches(record.topic)) continue;
      if (this.floors && seq <= (this.floors.get(m) ?? 0)) continue; // its replay brought it
      const held = this.replaying?.get(m);
      if (held) held.push({ epoch: this.epoch, seq, frame });
      else host.deliver(m, frame);
    }
  }

  private gapToAll(gap: Gap): void {
    const host = this.host;
    if (!host) return;
    const frame = gapFrame(gap);
    for (const m of host.members.values()) {
      if (!(m.perms & Perm.SUBSCRIBE)) continue;
      if (!gap.reset && this.floors && gap.to <= (this.floors.get(m) ?? 0)) continue; // its replay brought those
      const held = this.replaying?.get(m);
      // A gap held during a replay is given after it, unless the replay covered all of it.
      if (held) held.push({ epoch: gap.reset ? undefined : this.epoch, seq: gap.to, frame });
      else host.deliver(m, frame);
    }
  }

  private onState(state: BusState): void {
    if (this.disposed) return;
    if (state === 'down') { this.outage = true; return; }
    if (this.outage) this.resync(0);
  }

  private resync(attempt: number): void {
    if (this.disposed || this.cluster.state === 'down') return; // the next `up` tries again
    this.outage = false;
    // Back: where does the stream stand? What this node's watch missed is a gap; what other nodes
    // delivered only to their own members meanwhile has no number: `outage` says it may exist.
    callEngine(() => this.cluster.streams.position(this.room.name)).then((position) => {
      if (this.disposed) return;
      if (position.epoch !== this.epoch) {
        this.epoch = position.epoch;
        this.seq = position.seq;
        this.gapToAll({ reset: true, from: 1, to: position.seq, epoch: position.epoch, outage: true });
        return;
      }
      const from = this.seq + 1;
      this.seq = Math.max(this.seq, position.seq);
      this.gapToAll({ from, to: this.seq, outage: true });
    }, (err: unknown) => {
      // The bus is back before the stream's connection (or JetStream) is: try again shortly.
      this.outage = true;
      if (attempt === 0) this.room.log.warn('stream position not read after the engine came back; retrying', { room: this.room.name, err: (err as Error)?.message });
      setTimeout(() => { if (this.outage) this.resync(attempt + 1); }, Math.min(250 * 2 ** attempt, 5000)).unref();
    });
  }
}

/** The engine call as a promise: a synchronous throw becomes a rejection (the caller answers it). */
function callEngine<T>(call: () => T | Promise<T>): Promise<T> {
  return new Promise<T>((resolve) => resolve(call()));
}

interface Gap { from: number; to: number; reset?: true; epoch?: string; outage?: true }

function gapFrame(gap: Gap): OutFrame {
  return new OutFrame(q({ type: 'gap', ...gap }), 'gap');
}

/** The `message` frame of a publication, byte for byte what one node sends (the data's JSON text as kept). */
function publicationFrame(r: PublishRecord | StreamEntry, seq: number | undefined): OutFrame {
  const text = '{"type":"message","kind":"publish","from":' + q(r.from) + (r.topic !== undefined ? ',"topic":' + q(r.topic) : '')
    + ',"data":' + r.data + (seq !== undefined ? ',"seq":' + seq : '') + '}';
  return new OutFrame(text, 'message', seq);
}

/** The hub's `accepted`: with `ack`, an `ack` (with the seq when numbered); a POST answers {ok, seq?}. */
function answer(respond: Respond, msg: Pick<PublishMessage, 'ack' | 'ref'>, seq: number | undefined): void {
  const extra = seq !== undefined ? { seq } : {};
  if (msg.ack) return respond({ type: 'ack', ref: msg.ref ?? null, ...extra });
  respond({ ok: true, ...extra });
}

function refuse(respond: Respond, code: KnownErrorCode, message: string, ref: Ref): void {
  respond(ref === undefined ? { type: 'error', code, message } : { type: 'error', code, message, ref }, statusOf(code));
}
