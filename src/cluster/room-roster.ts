// A room's native members on the other nodes, and the calls that reach them (docs/cluster.md,
// "Native membership and calls"). Membership is soft state: each node is the authority for its
// own members and tells the others over the bus — `r.join`/`r.leave`/`r.upd` on the room as they
// happen, and a snapshot (`r.members`) to a node that asks (`r.who`) when it joins the room or
// when the bus comes back. Nothing is stored in the engine: a node that dies takes its members
// with it, and the others drop them when the registry reports it gone.
//
// The hub (channels/hub.ts) keeps its local members in `hub.members` as on one node; this class
// keeps the others (`remote`) and the requests other nodes sent to local members (`inbound`).
import type { ClusterNode } from './cluster-node.js';
import type { Room } from '../rooms/room.js';
import type { ChannelHub, Member } from '../channels/hub.js';
import type { Json } from '../channels/messages.js';
import type { BusMessage } from './cluster-bus.js';
import type { NodeGone } from './node-registry.js';
import { DROP_LEAVES_FOR_TEST, RosterDirectory } from './roster-directory.js';
import {
  busCall, encode, NODE_KINDS, parseGunCount, parseJoin, parseLeave, parseMembers, parseUpdate, ROOM_KINDS,
  type HandedMember, type MemberRecord, type MembersAnswer, type ReplyCall, type RequestCall, type SendCall, type TellCall,
} from './roster-wire.js';
import { logFailure } from '../log-throttle.js';

/** How long ready() waits for the live nodes' snapshots; later ones are merged as they come. */
export const ASK_BOUND_MS = 1000;
/** After the bus is back, the exchange of snapshots is done again this much later (for nodes that were not yet back). */
const RECONCILE_AGAIN_MS = 2000;
/** Departed cids remembered so that a snapshot older than their leave does not bring them back. */
const LEFT_MEMORY_MS = 60_000;
const MAX_LEFT = 10_000;
/** A snapshot page's members, in JSON bytes (a member with the largest --max-info-bytes is about 1 KiB). */
const PAGE_BYTES = 64 * 1024;
/** Pages of a snapshot still incomplete after this long are dropped (one was lost: at most once). */
const PARTIAL_MS = 10_000;
/** A node re-asked (a gap, a digest ahead) is not asked again for this long unless it answers (the answer may be lost). */
const REASK_MS = 5000;
/** A room is in this node's digests from this long after its last change (its notices are in flight before)… */
const DIGEST_SETTLE_MS = 500;
/** …until this long after it: about ten digests, each of which can repair a lost last change. */
const DIGEST_WINDOW_MS = 30_000;

export interface RemoteMember extends MemberRecord {
  node: string;
}

/** A request from another node to a member here: its reply goes back to that node. */
interface InboundRequest {
  member: Member;
  origin: string;
  rid: string;
  timer: NodeJS.Timeout;
}

export type Outcome = { data?: Json; error?: { code: string; message: string } };

export class RoomRoster {
  readonly remote = new Map<string, RemoteMember>();
  /** GUN peers in the room on each other node, as that node last said (its snapshot's `g`, `r.gun`) */
  readonly remoteGun = new Map<string, number>();
  /** the sum of remoteGun: what --max-peers-per-room adds for the other nodes' GUN peers */
  remoteGunPeers = 0;
  private hub: ChannelHub | undefined;
  /** cid → join time of this node's members (the owner is the longest-present member cluster-wide) */
  private readonly localAt = new Map<string, number>();
  /** per other node: its incarnation and the last change of it applied here */
  private readonly seen = new Map<string, { s: number; v: number }>();
  private readonly left = new Map<string, number>();
  /** nodes asked again because a change of theirs was missed (a gap in `v`, a digest ahead), until they answer or REASK_MS */
  private readonly gapAsked = new Map<string, number>();
  /** nodes that asked this node for its members of the room (they have it open), besides those in `seen` */
  private readonly askers = new Set<string>();
  /** when `v` last changed here (the digest covers the rooms changed lately) */
  private changedAt = 0;
  /** snapshots arriving in pages, by sender, incarnation, version and ask */
  private readonly partial = new Map<string, { pages: (MemberRecord[] | undefined)[]; got: number; at: number }>();
  /** this node's count of changes to the room (what `v` says to the others) */
  private v = 0;
  private readonly inbound = new Map<string, InboundRequest>();
  /** cid → the node a member was handed over to (member-handover.ts): what still comes here for it is forwarded there, for a while */
  private readonly moved = new Map<string, { node: string; until: number }>();
  private inboundCounter = 0;
  private readiness: Promise<void> | undefined;
  private asking: { q: number; waiting: Set<string>; done: () => void } | undefined;
  private askCounter = 0;
  private disposed = false;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private readonly directory: RosterDirectory;

  constructor(readonly cluster: ClusterNode, readonly room: Room) {
    this.directory = RosterDirectory.of(cluster);
  }

  get self(): string { return this.cluster.nodeId; }

  // ---------------------------------------------------------------------------------------------
  // Joining the room with the cluster

  /** Subscribed to the room's membership traffic and holding the live nodes' snapshots (or ASK_BOUND_MS passed). */
  ready(): Promise<void> {
    this.readiness ??= this.start().catch((err: unknown) => {
      this.readiness = undefined;
      throw err;
    });
    return this.readiness;
  }

  private async start(): Promise<void> {
    this.directory.add(this);
    const name = this.room.name;
    await Promise.all([
      this.cluster.subscribe(name, ROOM_KINDS.join, (m) => this.onJoin(m)),
      this.cluster.subscribe(name, ROOM_KINDS.leave, (m) => this.onLeave(m)),
      this.cluster.subscribe(name, ROOM_KINDS.update, (m) => this.onUpdate(m)),
      this.cluster.subscribe(name, ROOM_KINDS.gun, (m) => this.onGunCount(m)),
      this.cluster.subscribe(name, ROOM_KINDS.snapshot, (m) => {
        const a = parseMembers(m.payload);
        if (a) this.onMembers(m.from, a);
      }),
    ]);
    // Freed while subscribing: dispose() ran before these subscriptions existed.
    if (this.disposed) return this.unsubscribeAll();
    await this.ask(ASK_BOUND_MS);
  }

  /** Ask every live node for its members of the room; resolves when all answered or after `boundMs`. */
  async ask(boundMs: number, known: Iterable<string> = []): Promise<void> {
    const ids = new Set(known);
    for (const n of await this.cluster.nodes()) ids.add(n.id);
    ids.delete(this.self);
    const nodes = [...ids];
    if (nodes.length === 0 || this.disposed) return;
    const q = ++this.askCounter;
    let timer: NodeJS.Timeout | undefined;
    const answered = new Promise<void>((resolve) => {
      this.asking = { q, waiting: new Set(nodes), done: resolve };
      timer = setTimeout(resolve, boundMs);
    });
    const payload = encode({ room: this.room.name, q });
    await Promise.all(nodes.map((id) => busCall(() => this.cluster.bus.toNode(id, NODE_KINDS.who, payload))));
    await answered;
    clearTimeout(timer);
    if (this.asking?.q === q) this.asking = undefined;
  }

  /**
   * The bus is back: what was published meanwhile is lost. Snapshots reconcile, both ways: this
   * node asks the others, and publishes its own for those that came back before it (their ask
   * did not reach it). Once more a little later, for nodes that were not back yet.
   */
  reconcile(again = true): void {
    if (!this.readiness || this.disposed) return;
    clearTimeout(this.reconcileTimer);
    if (again) {
      this.reconcileTimer = setTimeout(() => this.reconcile(false), RECONCILE_AGAIN_MS);
      this.reconcileTimer.unref();
    }
    // publish() also puts the room in the digests for DIGEST_WINDOW_MS: a node that drops this
    // one's members after applying the snapshot (its report of a lapse came late) re-asks.
    for (const page of this.snapshot(0)) this.publish(ROOM_KINDS.snapshot, page);
    // Also the nodes this one knew: a Redis restarted without persistence lists no node until
    // each has beaten again. A dead one does not answer (the registry reports it gone).
    const known = new Set(this.seen.keys());
    for (const r of this.remote.values()) known.add(r.node);
    this.ask(ASK_BOUND_MS, known).catch((err: unknown) => this.room.log.warn('roster reconcile failed', { room: this.room.name, err: (err as Error)?.message }));
  }

  attach(hub: ChannelHub): void {
    this.hub = hub;
  }

  /** This node's snapshot for `r.members` / `r.snap`, in pages of at most PAGE_BYTES of members. */
  snapshot(q: number): MembersAnswer[] {
    const pages: MemberRecord[][] = [[]];
    let bytes = 0;
    if (this.hub) {
      for (const m of this.hub.members.values()) {
        const r = this.record(m);
        const size = JSON.stringify(r).length + 1;
        if (bytes + size > PAGE_BYTES && pages[pages.length - 1].length > 0) { pages.push([]); bytes = 0; }
        pages[pages.length - 1].push(r);
        bytes += size;
      }
    }
    const g = this.room.peers.size;
    return pages.map((members, page) => ({ room: this.room.name, q, v: this.v, s: this.cluster.startedAt, owned: this.room.owned, members, page, pages: pages.length, g }));
  }

  /** The whole snapshot once every page of it is here; undefined until then. */
  private assemble(from: string, a: MembersAnswer): MembersAnswer | undefined {
    if (a.pages === 1) return a;
    const now = Date.now();
    for (const [k, p] of this.partial) if (now - p.at > PARTIAL_MS) this.partial.delete(k);
    const key = `${from} ${a.s} ${a.v} ${a.q}`;
    let p = this.partial.get(key);
    if (!p) this.partial.set(key, (p = { pages: new Array<MemberRecord[] | undefined>(a.pages), got: 0, at: now }));
    if (p.pages.length !== a.pages || p.pages[a.page] !== undefined) return undefined;
    p.pages[a.page] = a.members;
    if (++p.got < a.pages) return undefined;
    this.partial.delete(key);
    return { ...a, members: p.pages.flatMap((m) => m!), page: 0, pages: 1 };
  }

  private record(m: Member): MemberRecord {
    const r: MemberRecord = { cid: m.cid, at: this.localAt.get(m.cid) ?? 0, serving: m.serving && m.conn !== undefined };
    if (m.user !== undefined) r.user = m.user;
    if (m.info !== undefined) r.info = m.info;
    if (this.room.owned && this.hub?.owner === m.cid) r.owner = true;
    return r;
  }

  // ---------------------------------------------------------------------------------------------
  // This node's members (called by the hub)

  localJoined(member: Member): void {
    this.localAt.set(member.cid, Date.now());
    this.publish(ROOM_KINDS.join, { v: ++this.v, s: this.cluster.startedAt, member: this.record(member) });
  }

  localLeft(member: Member): void {
    this.localAt.delete(member.cid);
    this.inboundGone(member, `${member.cid} left before replying`);
    this.publish(ROOM_KINDS.leave, { v: ++this.v, s: this.cluster.startedAt, cid: member.cid });
  }

  /** Requests from other nodes that `member` was answering end with `gone`. */
  private inboundGone(member: Member, message: string): void {
    for (const [xrid, r] of this.inbound) {
      if (r.member !== member) continue;
      this.inbound.delete(xrid);
      clearTimeout(r.timer);
      this.replyTo(r.origin, { room: this.room.name, rid: r.rid, from: member.cid, error: { code: 'gone', message } });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // A member resumed on another node (member-handover.ts)

  /** The old node: the member whose token hashes to `th` goes to node `to`; its state, or why not. */
  handOver(th: string, user: string | undefined, seen: number | undefined, to: string): HandedMember | { movedTo: string } | string {
    return this.hub ? this.hub.handOver(th, user, seen, to) : 'the room is not on this node';
  }

  /**
   * The old node, once the hub took the member out: it is now a member of node `to` in this
   * node's view (no `leave` to anyone here; `to`'s `r.join` finds it known), and sends and
   * requests that other nodes still address here are forwarded there. Returns its join time.
   */
  handedOver(member: Member, to: string): number {
    const rec = this.record(member);
    this.localAt.delete(member.cid);
    this.inboundGone(member, `${member.cid} moved to another node before replying`);
    rec.serving = false;
    this.remote.set(member.cid, { ...rec, node: to });
    const now = Date.now();
    for (const [cid, m] of this.moved) if (m.until < now) this.moved.delete(cid);
    if (this.moved.size >= MAX_LEFT) this.moved.delete(this.moved.keys().next().value!);
    this.moved.set(member.cid, { node: to, until: now + LEFT_MEMORY_MS });
    return rec.at;
  }

  /** The new node: a handed-over member, made here by the hub; undefined if its room is gone here. */
  adopt(state: HandedMember, token: string): Member | undefined {
    return this.hub?.adopt(state, token);
  }

  /**
   * The new node, for the hub: the member is now this node's, with its first join time (the
   * owner of an ordinary room stays the same). Its `r.join` moves it in the others' views: they
   * know its cid already, so none of them announces a join.
   */
  adopted(member: Member, at: number): void {
    this.remote.delete(member.cid);
    this.left.delete(member.cid);
    this.moved.delete(member.cid);
    this.localAt.set(member.cid, at);
    this.publish(ROOM_KINDS.join, { v: ++this.v, s: this.cluster.startedAt, member: this.record(member) });
  }

  /** Where a member that was here went, if it was handed over lately. */
  private movedTo(cid: string): string | undefined {
    const m = this.moved.get(cid);
    if (!m) return undefined;
    if (m.until >= Date.now()) return m.node;
    this.moved.delete(cid);
    return undefined;
  }

  /** A message for a member handed over to `node` (a reply to its request still pending here, …). */
  tell(node: string, cid: string, message: { type: string } & Record<string, unknown>): void {
    const call: TellCall = { room: this.room.name, to: cid, message };
    busCall(() => this.cluster.bus.toNode(node, NODE_KINDS.tell, encode(call))).catch((err: unknown) => {
      logFailure(this.room.log, 'warn', 'message for a handed-over member not forwarded', { room: this.room.name, node, cid, type: message.type, err: (err as Error)?.message });
    });
  }

  onTell(call: TellCall): void {
    const member = this.hub?.members.get(call.to);
    if (member) return this.hub!.tell(member, call.message);
    const node = this.movedTo(call.to);
    if (node) this.tell(node, call.to, call.message);
  }

  /** Its `serving` (or presence info) may have changed. */
  localChanged(member: Member): void {
    const r = this.record(member);
    this.publish(ROOM_KINDS.update, { v: ++this.v, s: this.cluster.startedAt, cid: member.cid, serving: r.serving, info: r.info });
  }

  /** This node's GUN peers in the room changed (a peer came or went): a numbered change, as a join. */
  gunPeersChanged(): void {
    if (this.disposed) return;
    this.publish(ROOM_KINDS.gun, { v: ++this.v, s: this.cluster.startedAt, n: this.room.peers.size });
  }

  private publish(kind: string, notice: object): void {
    this.changedAt = Date.now();
    if (DROP_LEAVES_FOR_TEST && kind === ROOM_KINDS.leave) return;
    // Lost while the bus is down: the others re-ask when it is back (reconcile).
    busCall(() => this.cluster.bus.publishRoom(this.room.name, kind, encode(notice))).catch((err: unknown) => {
      this.room.log.debug('roster notice not published', { room: this.room.name, kind, err: (err as Error)?.message });
    });
  }

  // ---------------------------------------------------------------------------------------------
  // The cluster-wide view (asked by the hub)

  /** The longest-present member anywhere (join time, then cid): every node computes the same owner from the same view. */
  oldest(): string | null {
    let best: string | null = null;
    let bestAt = Infinity;
    const consider = (cid: string, at: number) => {
      if (at < bestAt || (at === bestAt && best !== null && cid < best)) { best = cid; bestAt = at; }
    };
    for (const [cid, at] of this.localAt) consider(cid, at);
    for (const r of this.remote.values()) consider(r.cid, r.at);
    return best;
  }

  /** The owner of an owned room, when it is on another node. */
  remoteOwner(): string | undefined {
    for (const r of this.remote.values()) if (r.owner) return r.cid;
    return undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Calls to members on other nodes

  send(to: RemoteMember, from: string, data: Json): Promise<void> {
    const call: SendCall = { room: this.room.name, to: to.cid, from, data };
    return busCall(() => this.cluster.bus.toNode(to.node, NODE_KINDS.send, encode(call)));
  }

  request(to: RemoteMember, rid: string, from: string, data: Json, timeoutMs: number): Promise<void> {
    const call: RequestCall = { room: this.room.name, rid, to: to.cid, from, data, timeoutMs };
    return busCall(() => this.cluster.bus.toNode(to.node, NODE_KINDS.request, encode(call)));
  }

  /** A member here replies to a request that came from another node: true if it was one. */
  replyFromHere(member: Member, id: string, outcome: Outcome): boolean {
    const r = this.inbound.get(id);
    if (!r || r.member !== member) return false;
    this.inbound.delete(id);
    clearTimeout(r.timer);
    this.replyTo(r.origin, { room: this.room.name, rid: r.rid, from: member.cid, ...(outcome.error ? { error: outcome.error } : { data: outcome.data ?? null }) });
    return true;
  }

  private replyTo(node: string, call: ReplyCall): void {
    busCall(() => this.cluster.bus.toNode(node, NODE_KINDS.reply, encode(call))).catch((err: unknown) => {
      // The requester's node times the request out.
      this.room.log.debug('reply not forwarded', { room: this.room.name, node, err: (err as Error)?.message });
    });
  }

  // ---------------------------------------------------------------------------------------------
  // From other nodes

  onSend(call: SendCall): void {
    const member = this.hub?.members.get(call.to);
    const node = member ? undefined : this.movedTo(call.to);
    if (node) {
      void busCall(() => this.cluster.bus.toNode(node, NODE_KINDS.send, encode(call))).catch(() => { /* at most once, as any send */ });
      return;
    }
    // Gone meanwhile: dropped, as a message to a member that leaves in the same instant would be.
    if (member) this.hub!.tell(member, { type: 'message', kind: 'direct', from: call.from, data: call.data });
  }

  onRequest(origin: string, call: RequestCall): void {
    const member = this.hub?.members.get(call.to);
    const node = member ? undefined : this.movedTo(call.to);
    if (node) {
      // Its reply goes from there straight to the requester's node.
      const forwarded: RequestCall = { ...call, origin };
      void busCall(() => this.cluster.bus.toNode(node, NODE_KINDS.request, encode(forwarded))).catch(() => {
        this.replyTo(origin, { room: call.room, rid: call.rid, from: call.to, error: { code: 'gone', message: `${call.to} moved to another node, which could not be reached` } });
      });
      return;
    }
    if (!member) {
      this.replyTo(origin, { room: call.room, rid: call.rid, from: call.to, error: { code: 'gone', message: `${call.to} left before replying` } });
      return;
    }
    const xrid = 'x' + (++this.inboundCounter).toString(36);
    // The requester's node owns the timer; this one only forgets, so a late reply is `unknown_request` as on one node.
    const timer = setTimeout(() => this.inbound.delete(xrid), call.timeoutMs);
    timer.unref();
    this.inbound.set(xrid, { member, origin, rid: call.rid, timer });
    this.hub!.tell(member, { type: 'request', id: xrid, from: call.from, data: call.data });
  }

  /** The requester's node gave up on a request (timeout, its requester left): a late reply is `unknown_request`. */
  cancel(node: string, rid: string): void {
    busCall(() => this.cluster.bus.toNode(node, NODE_KINDS.cancel, encode({ room: this.room.name, rid }))).catch(() => { /* it forgets at its own timeout */ });
  }

  onCancel(origin: string, rid: string): void {
    for (const [xrid, r] of this.inbound) {
      if (r.origin !== origin || r.rid !== rid) continue;
      clearTimeout(r.timer);
      this.inbound.delete(xrid);
      return;
    }
  }

  onReply(call: ReplyCall): void {
    this.hub?.finishRemote(call.rid, call.from, call.error ? { error: call.error } : { data: call.data });
  }

  /** Is `v` of node `from` (incarnation `s`) newer than what was applied? Records it if so. */
  private fresh(from: string, s: number, v: number): boolean {
    const seen = this.seen.get(from);
    if (seen && seen.s === s && v <= seen.v) return false;
    if (seen && seen.s > s) return false; // an older incarnation's straggler
    if (seen && seen.s < s) this.dropNode(from, 'its node restarted');
    // Its changes are numbered one by one: a gap is a change the bus lost (at most once), or one it
    // could not publish. Its snapshot repairs the view.
    if (seen && seen.s === s && v > seen.v + 1) this.askAgain(from);
    this.seen.set(from, { s, v });
    return true;
  }

  private onJoin(m: BusMessage): void {
    if (m.from === this.self) return;
    const n = parseJoin(m.payload);
    if (!n || !this.fresh(m.from, n.s, n.v)) return;
    this.upsert(m.from, n.member);
  }

  private onLeave(m: BusMessage): void {
    if (m.from === this.self) return;
    const n = parseLeave(m.payload);
    if (!n || !this.fresh(m.from, n.s, n.v)) return;
    this.remove(n.cid, `${n.cid} left before replying`);
  }

  private onUpdate(m: BusMessage): void {
    if (m.from === this.self) return;
    const n = parseUpdate(m.payload);
    if (!n || !this.fresh(m.from, n.s, n.v)) return;
    const r = this.remote.get(n.cid);
    // Not (or no longer) that node's member: a change from before the member was handed over.
    if (!r || r.node !== m.from) return;
    r.serving = n.serving;
    if (n.info !== undefined) r.info = n.info;
    else delete r.info;
  }

  private onGunCount(m: BusMessage): void {
    if (m.from === this.self) return;
    const n = parseGunCount(m.payload);
    if (!n || !this.fresh(m.from, n.s, n.v)) return;
    this.setGun(m.from, n.n);
  }

  private setGun(node: string, n: number): void {
    this.remoteGunPeers += n - (this.remoteGun.get(node) ?? 0);
    if (n > 0) this.remoteGun.set(node, n);
    else this.remoteGun.delete(node);
  }

  private askAgain(node: string): void {
    const now = Date.now();
    if ((this.gapAsked.get(node) ?? 0) > now - REASK_MS) return;
    this.gapAsked.set(node, now);
    busCall(() => this.cluster.bus.toNode(node, NODE_KINDS.who, encode({ room: this.room.name, q: 0 }))).catch(() => this.gapAsked.delete(node));
  }

  /** Another node has the room open (it asked for the members): it gets this node's digests. */
  peerAsked(node: string): void {
    if (node !== this.self) this.askers.add(node);
  }

  /** This node's digest entry for the room, if it changed lately and another node has the room open. */
  digest(now: number): { v: number; peers: string[] } | undefined {
    if (!this.readiness || this.disposed || this.v === 0) return undefined;
    const age = now - this.changedAt;
    if (age < DIGEST_SETTLE_MS || age > DIGEST_WINDOW_MS) return undefined;
    const peers = new Set(this.askers);
    for (const node of this.seen.keys()) peers.add(node);
    peers.delete(this.self);
    return peers.size > 0 ? { v: this.v, peers: [...peers] } : undefined;
  }

  /** Node `from` (incarnation `s`) says its latest change to the room is `v`: behind it, ask it again. */
  onDigest(from: string, s: number, v: number): void {
    if (from === this.self || !this.readiness || this.disposed) return;
    const seen = this.seen.get(from);
    if (seen && (seen.s > s || (seen.s === s && seen.v >= v))) return;
    this.askAgain(from);
  }

  onMembers(from: string, page: MembersAnswer): void {
    if (from === this.self) return;
    const a = this.assemble(from, page);
    if (!a) return;
    this.gapAsked.delete(from);
    const seen = this.seen.get(from);
    const stale = seen !== undefined && seen.s === a.s && a.v < seen.v;
    if (seen && seen.s > a.s) return;
    if (!stale) {
      if (seen && seen.s < a.s) this.dropNode(from, 'its node restarted');
      this.seen.set(from, { s: a.s, v: a.v });
      // The snapshot is the node's whole truth: who is not in it has left.
      const listed = new Set(a.members.map((r) => r.cid));
      for (const r of [...this.remote.values()]) if (r.node === from && !listed.has(r.cid)) this.remove(r.cid, `${r.cid} left before replying`);
      this.setGun(from, a.g);
    }
    if (a.owned && !this.room.owned && !this.hub) this.room.owned = true;
    for (const r of a.members) {
      // Older than a change already applied: it may only add members not seen leaving since.
      if (stale && (this.remote.has(r.cid) || this.recentlyLeft(r.cid))) continue;
      this.upsert(from, r);
    }
    const asking = this.asking;
    if (asking && asking.q === a.q) {
      asking.waiting.delete(from);
      if (asking.waiting.size === 0) asking.done();
    }
  }

  private upsert(node: string, rec: MemberRecord): void {
    const known = this.remote.get(rec.cid);
    const entry: RemoteMember = { ...rec, node };
    this.remote.set(rec.cid, entry);
    this.left.delete(rec.cid);
    if (!known) this.hub?.remoteJoined(entry);
  }

  private remove(cid: string, why: string): void {
    if (!this.remote.delete(cid)) return;
    if (this.left.size >= MAX_LEFT) this.left.delete(this.left.keys().next().value!);
    this.left.set(cid, Date.now() + LEFT_MEMORY_MS);
    this.hub?.remoteLeft(cid, why);
  }

  private recentlyLeft(cid: string): boolean {
    const until = this.left.get(cid);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.left.delete(cid);
    return false;
  }

  /** A node died or stopped: its members leave, requests pending on them end with `gone`. */
  nodeGone(gone: NodeGone): void {
    const seen = this.seen.get(gone.id);
    if (seen && gone.startedAt !== undefined && seen.s > gone.startedAt) return; // an earlier incarnation: this one is alive
    this.dropNode(gone.id, gone.reason === 'stopped' ? 'its node stopped' : 'its node died');
    this.seen.delete(gone.id);
    this.askers.delete(gone.id);
    this.gapAsked.delete(gone.id);
    for (const [xrid, r] of this.inbound) {
      if (r.origin !== gone.id) continue;
      clearTimeout(r.timer);
      this.inbound.delete(xrid);
    }
    const asking = this.asking;
    if (asking?.waiting.delete(gone.id) && asking.waiting.size === 0) asking.done();
  }

  private dropNode(node: string, why: string): void {
    this.setGun(node, 0);
    for (const r of [...this.remote.values()]) if (r.node === node) this.remove(r.cid, `${r.cid} is gone (${why}) before replying`);
  }

  private unsubscribeAll(): void {
    for (const kind of Object.values(ROOM_KINDS)) void this.cluster.unsubscribe(this.room.name, kind).catch(() => {});
  }

  /** Local members answering a request from another node (a drain keeps them until they reply). */
  answering(): Member[] {
    const out: Member[] = [];
    for (const r of this.inbound.values()) out.push(r.member);
    return out;
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.reconcileTimer);
    this.directory.remove(this);
    this.unsubscribeAll();
    for (const r of this.inbound.values()) clearTimeout(r.timer);
    this.inbound.clear();
    this.asking?.done();
    this.hub = undefined;
  }
}
