// One per ClusterNode: routes the node messages of the native roster (who, members, send,
// request, reply, forwarded POSTs) to the room's RoomRoster, and tells every roster when a node
// is gone or the bus is back. ClusterNode.onNode takes one handler per kind for the whole node,
// hence this directory by room name.
import type { ClusterNode } from './cluster-node.js';
import type { BusMessage } from './cluster-bus.js';
import type { RoomRoster } from './room-roster.js';
import {
  busCall, encode, NODE_KINDS, parseCancel, parseDigest, parseMembers, parsePost, parsePostAnswer, parseReply, parseRequest, parseSend, parseTell, parseWho,
  type MembersAnswer, type PostAnswer, type PostCall,
} from './roster-wire.js';

const directories = new WeakMap<ClusterNode, RosterDirectory>();

/** How often each node sends its roster digest (one message per peer node, rooms changed lately). */
export const DIGEST_MS = 3000;
/** Rooms in one digest message: bounded well under NATS max_payload (1 MiB) with 256-char names. */
const DIGEST_ROOMS_PER_MESSAGE = 1000;

/** Test hook, off unless set: this node publishes no `r.leave` (a lost last change, for the digest's test). */
export const DROP_LEAVES_FOR_TEST = process.env.MULTISOCKET_TEST_DROP_ROSTER_LEAVES === '1';

/** Handles a POST forwarded from another node (set by the server: it owns the HTTP side). */
export type PostHandler = (call: PostCall, answer: (status: number, body: unknown) => void) => void;

export class RosterDirectory {
  private readonly rosters = new Map<string, RoomRoster>();
  private postHandler: PostHandler | undefined;
  private readonly posts = new Map<number, (a: PostAnswer | undefined) => void>();
  private postCounter = 0;
  private digestTimer: NodeJS.Timeout | undefined;

  static of(cluster: ClusterNode): RosterDirectory {
    let d = directories.get(cluster);
    if (!d) directories.set(cluster, (d = new RosterDirectory(cluster)));
    return d;
  }

  private constructor(readonly cluster: ClusterNode) {
    cluster.onNode(NODE_KINDS.who, (m) => this.onWho(m));
    cluster.onNode(NODE_KINDS.members, (m) => {
      const a = parseMembers(m.payload);
      if (a) this.rosters.get(a.room)?.onMembers(m.from, a);
    });
    cluster.onNode(NODE_KINDS.send, (m) => {
      const c = parseSend(m.payload);
      if (c) this.rosters.get(c.room)?.onSend(c);
    });
    cluster.onNode(NODE_KINDS.request, (m) => {
      const c = parseRequest(m.payload);
      if (!c) return;
      const roster = this.rosters.get(c.room);
      if (roster) return roster.onRequest(c.origin ?? m.from, c);
      // The room is not here (any more): neither is its member.
      void busCall(() => cluster.bus.toNode(c.origin ?? m.from, NODE_KINDS.reply, encode({ room: c.room, rid: c.rid, from: c.to, error: { code: 'gone', message: `${c.to} left before replying` } }))).catch(() => {});
    });
    cluster.onNode(NODE_KINDS.reply, (m) => {
      const c = parseReply(m.payload);
      if (c) this.rosters.get(c.room)?.onReply(c);
    });
    cluster.onNode(NODE_KINDS.cancel, (m) => {
      const c = parseCancel(m.payload);
      if (c) this.rosters.get(c.room)?.onCancel(m.from, c.rid);
    });
    cluster.onNode(NODE_KINDS.tell, (m) => {
      const c = parseTell(m.payload);
      if (c) this.rosters.get(c.room)?.onTell(c);
    });
    cluster.onNode(NODE_KINDS.post, (m) => this.onPost(m));
    cluster.onNode(NODE_KINDS.postAnswer, (m) => {
      const a = parsePostAnswer(m.payload);
      if (!a) return;
      const waiter = this.posts.get(a.q);
      this.posts.delete(a.q);
      waiter?.(a);
    });
    cluster.onNodeGone((gone) => { for (const r of [...this.rosters.values()]) r.nodeGone(gone); });
    cluster.onState((state) => { if (state === 'up') for (const r of this.rosters.values()) r.reconcile(); });
    // Stalled past the TTL: the others dropped this node's members; its snapshots bring them back.
    cluster.onLapsed(() => { for (const r of this.rosters.values()) r.reconcile(); });
    cluster.onNode(NODE_KINDS.digest, (m) => {
      const d = parseDigest(m.payload);
      if (d) for (const [room, v] of d.rooms) this.rosters.get(room)?.onDigest(m.from, d.s, v);
    });
  }

  /**
   * The bus is at most once: a change lost with no later one would stay lost. Every DIGEST_MS,
   * each peer node is sent one message listing, for the rooms it shares with this node and that
   * changed lately here, this node's latest `v`; a peer that is behind re-asks (RoomRoster.onDigest).
   */
  private sendDigests(): void {
    const now = Date.now();
    const perPeer = new Map<string, [string, number][]>();
    for (const r of this.rosters.values()) {
      const d = r.digest(now);
      if (!d) continue;
      for (const peer of d.peers) {
        let rooms = perPeer.get(peer);
        if (!rooms) perPeer.set(peer, (rooms = []));
        rooms.push([r.room.name, d.v]);
      }
    }
    for (const [peer, rooms] of perPeer) {
      for (let i = 0; i < rooms.length; i += DIGEST_ROOMS_PER_MESSAGE) {
        const payload = encode({ s: this.cluster.startedAt, rooms: rooms.slice(i, i + DIGEST_ROOMS_PER_MESSAGE) });
        void busCall(() => this.cluster.bus.toNode(peer, NODE_KINDS.digest, payload)).catch(() => { /* the next one, or the reconcile when the bus is back */ });
      }
    }
  }

  add(roster: RoomRoster): void {
    this.rosters.set(roster.room.name, roster);
    if (!this.digestTimer) {
      this.digestTimer = setInterval(() => this.sendDigests(), DIGEST_MS);
      this.digestTimer.unref();
    }
  }

  remove(roster: RoomRoster): void {
    if (this.rosters.get(roster.room.name) === roster) this.rosters.delete(roster.room.name);
    if (this.rosters.size === 0) { clearInterval(this.digestTimer); this.digestTimer = undefined; }
  }

  get(room: string): RoomRoster | undefined {
    return this.rosters.get(room);
  }

  /** Every node answers, possibly with no members: the asker waits for all live nodes. */
  private onWho(m: BusMessage): void {
    const ask = parseWho(m.payload);
    if (!ask) return;
    const roster = this.rosters.get(ask.room);
    roster?.peerAsked(m.from);
    const answers: MembersAnswer[] = roster
      ? roster.snapshot(ask.q)
      : [{ room: ask.room, q: ask.q, v: 0, s: this.cluster.startedAt, owned: false, members: [], page: 0, pages: 1, g: 0 }];
    for (const answer of answers) void busCall(() => this.cluster.bus.toNode(m.from, NODE_KINDS.members, encode(answer))).catch(() => {});
  }

  // ---------------------------------------------------------------------------------------------
  // An SSE member's POST that reached a node that does not hold the member

  setPostHandler(handler: PostHandler): void {
    this.postHandler = handler;
  }

  /** Forward a POST to `node`; resolves with its answer, or undefined when none came within `timeoutMs`. */
  forwardPost(node: string, room: string, body: Record<string, unknown>, timeoutMs: number): Promise<PostAnswer | undefined> {
    const q = ++this.postCounter;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.posts.delete(q); resolve(undefined); }, timeoutMs);
      this.posts.set(q, (a) => { clearTimeout(timer); resolve(a); });
      busCall(() => this.cluster.bus.toNode(node, NODE_KINDS.post, encode({ room, q, body }))).catch((err: unknown) => {
        clearTimeout(timer);
        this.posts.delete(q);
        reject(err);
      });
    });
  }

  private onPost(m: BusMessage): void {
    const call = parsePost(m.payload);
    if (!call) return;
    const answer = (status: number, body: unknown) => {
      void busCall(() => this.cluster.bus.toNode(m.from, NODE_KINDS.postAnswer, encode({ q: call.q, status, body }))).catch(() => {});
    };
    if (!this.postHandler) return answer(401, { error: { code: 'bad_token', message: 'unknown token for this room (its connection may be gone)' } });
    this.postHandler(call, answer);
  }
}
