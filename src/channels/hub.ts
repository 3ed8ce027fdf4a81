// The native protocol for one room (docs/protocol.md): members and the owner, presence,
// publish/subscribe with history and replay, direct messages, request/reply with timeouts,
// push/pull work distribution. Transport-neutral: members are Connections, and SSE members'
// POSTs arrive here through the same receive() as WebSocket frames.
import { randomBytes } from 'node:crypto';
import type { Connection } from '../transports/connection.js';
import { OutFrame } from '../transports/out-frame.js';
import { Perm, permNames } from '../access/permissions.js';
import type { Principal } from '../access/principal.js';
import { History } from './history.js';
import type { ClientMessage, Json, Ref } from './messages.js';
import { Subscriptions } from './topics.js';
import { SentLog } from './sent-log.js';
import { WorkQueue, type Job, type JobOutcome, type Puller, type WorkQueueHost, type WorkQueueOptions } from './work-queue.js';
import { CLOSE_CODES, statusOf, type KnownErrorCode } from '../protocol/errors.js';
import type { ServerLimits } from '../protocol/messages.js';
import type { NativeRoomLink } from '../cluster/native-room-link.js';
import { RoomJobs, type DeliveredJob, type RoomJobsHost } from '../cluster/room-jobs.js';
import type { Outcome, RemoteMember } from '../cluster/room-roster.js';
import { newCid, newToken } from './cid.js';
import type { HandedMember } from '../cluster/roster-wire.js';
import { HANDOVER_MAX_BYTES, sameHash, tokenHash } from '../cluster/handover-token.js';
import { outcomeOf, type Tally } from '../metrics/tally.js';
import type { RoomTap, RoomTaps } from './room-tap.js';

/** Server-wide settings, one object shared by every hub (per-room state is kept out of it). */
export interface HubOptions {
  historySize: number;
  historyTtlMs: number;
  historyBytes: number;
  maxPendingRequests: number;
  defaultRequestTimeoutMs: number;
  maxRequestTimeoutMs: number;
  /** A dropped member is kept this long for a resume (0: it leaves at once). */
  resumeGraceMs: number;
  /** Bytes kept for a dropped member (direct messages, replies, jobs' outcomes) before a resume is given up. */
  maxHeldBytes: number;
  queue: WorkQueueOptions;
  /** Announced in `connect`. */
  limits: ServerLimits;
  /** The server's counts (requests by outcome); none in unit tests. */
  tally?: Tally;
  /** What the server's own code watches of its rooms (server.room(name).on); none in unit tests. */
  taps?: RoomTaps;
}

// Memory: a server may hold tens of thousands of idle members, so a member is one small object
// and the hub's per-room structures that most rooms never use (topic sets, the token index, the
// pending-request table) are made on first use.
export interface Member extends Puller {
  readonly cid: string;
  /** Secret: authenticates its POSTs, and resumes the member after a drop. */
  readonly token: string;
  /** Undefined while dropped and waiting (the resume grace) for a connection to resume it. */
  conn: Connection | undefined;
  /** The token's `sub`, shown to others as `user`. */
  user: string | undefined;
  /** Presence data given at connect (`?info=`). */
  info: Json | undefined;
  /** Perm bits of its token (copied from the connection's principal; checked per message). */
  perms: number;
  /** topic subscriptions; undefined until the first one */
  topics: Subscriptions | undefined;
  serving: boolean;
  pendingRequests: number;
  /** What was sent to it alone, numbered, for a resume to resend; made on first use. */
  sent: SentLog | undefined;
  /** `n` of the last such message when its connection dropped (what a client that says nothing saw). */
  sentAtDrop: number;
  graceTimer: NodeJS.Timeout | undefined;
  /** When it joined (ms; a member handed over from another node keeps its first join time): the admin API shows it. */
  readonly joinedAt: number;
}

/** What a connection asks of its membership (URL parameters of the door). */
export interface JoinRequest {
  since?: number;
  epoch?: string;
  topics?: string[];
  /** The `token` of a member to resume. */
  resume?: string;
  /** The last `n` the client saw of the messages sent to it alone. */
  seen?: number;
  info?: Json;
}

/** Told to the room (registry bookkeeping). */
export interface HubEvents {
  /** The owner of an owned room left: the room must close. */
  ownerLeft(): void;
  /** A member left for good (after its grace, or at once). */
  memberLeft(): void;
}

/** How an answer reaches the asker: its connection, or (for an SSE POST) the HTTP response. */
export type Respond = (message: object, httpStatus?: number) => void;

interface PendingRequest {
  rid: string;
  requester: Member;
  clientId: string | number;
  /** undefined when the target is on another node (cluster) */
  target: Member | undefined;
  targetCid: string;
  /** the target's node, when it is another one (cluster) */
  targetNode?: string;
  timer: NodeJS.Timeout;
  respond: Respond;
  /** performance.now() when it arrived: multisocket_native_request_reply_seconds */
  started: number;
}

/** How long a node forwards what still reaches it for a member it handed over to another node. */
const HANDED_MEMORY_MS = 60_000;

/** Departed members whose cid a late `resume` may still take back (bounded). */
const MAX_DEPARTED = 10_000;

/** `from` of a publish made by the server (admin API): never a cid (cids start with "c"). */
export const SERVER_SENDER = 'server';

/** What each client message needs of the sender's token; absent: nothing (undo, reply, auth). */
const NEEDED: Partial<Record<ClientMessage['type'], number>> = {
  publish: Perm.PUBLISH,
  send: Perm.SEND,
  subscribe: Perm.SUBSCRIBE,
  request: Perm.REQUEST,
  serve: Perm.SERVE,
  push: Perm.PUSH,
  pull: Perm.PULL,
  presence: Perm.PRESENCE,
};




export class ChannelHub implements WorkQueueHost, RoomJobsHost {
  readonly members = new Map<string, Member>();
  /** token → member, for POSTs; built on the first lookup (rooms of WebSocket members never need it) */
  private byToken: Map<string, Member> | undefined;
  owner: string | null = null;
  readonly history: History;
  /** Names this incarnation of the room: seq numbers from another epoch mean nothing here. */
  readonly epoch = randomBytes(6).toString('base64url');
  /** requests waiting for a reply, by server-side id; made on the first request */
  private pending: Map<string, PendingRequest> | undefined;
  private ridCounter = 0;
  private serveCursor = 0;
  /** push/pull; made on the first push or pull: in the room's memory, or (cluster) in the engine */
  private queue: WorkQueue | RoomJobs | undefined;
  /** resume token → cid of members that left, so a late resume keeps its cid (with leave/join seen) */
  private departed: Map<string, { cid: string; user: string | undefined; until: number }> | undefined;
  /** Cluster: members handed over to another node → that node (what is still addressed to them here goes there); made on first use */
  private handed: WeakMap<Member, string> | undefined;
  /** Cluster: SHA-256(token) → the node its member was handed over to, for a while (its SSE POSTs and a later hand-over that still come here go there) */
  private handedTokens: Map<string, { node: string; until: number }> | undefined;
  /** Cluster: SHA-256(token) → member, for hand-overs; rebuilt on a miss */
  private byTokenHash: Map<string, Member> | undefined;
  messagesIn = 0;
  messagesOut = 0;

  /**
   * @param opts        shared by every hub of the server
   * @param owned  a room made by /_/new: only the owner sees join/leave, and it closes with its owner
   */
  /**
   * @param link  cluster only: this room on the other nodes (undefined with the memory broker:
   *              every member is here, and the code below is all there is)
   */
  constructor(readonly room: string, private readonly opts: HubOptions, private readonly owned: boolean, private readonly events: HubEvents, readonly link?: NativeRoomLink) {
    this.history = new History(opts.historySize, opts.historyTtlMs, opts.historyBytes);
    if (link) {
      link.roster.attach(this);
      // An owned room reached on another node than its creator's: its owner is over there.
      if (owned) this.owner = link.roster.remoteOwner() ?? null;
      // Publications come from the room's stream (RoomPublications), delivered through here.
      link.publications.attach({
        members: this.members,
        deliver: (m, frame) => this.deliver(m, frame),
        published: (r, seq) => this.tap()?.published(r.from, r.topic, seq, () => JSON.parse(r.data) as Json),
      });
    }
  }

  get size(): number { return this.members.size; }

  /** This room's tap, if the server's code listens to it (one size check when nobody listens anywhere). */
  private tap(): RoomTap | undefined {
    const taps = this.opts.taps;
    return taps === undefined || taps.size === 0 ? undefined : taps.get(this.room);
  }

  memberByToken(token: string): Member | undefined {
    if (this.byToken === undefined) {
      this.byToken = new Map();
      for (const m of this.members.values()) this.byToken.set(m.token, m);
    }
    return this.byToken.get(token);
  }

  /**
   * Admit a connection: `connect`, replay since `since`, then `join` to the others. With `resume`
   * naming a member of this room (same user), the connection takes that member over instead: same
   * cid, no leave/join for the others, and what was sent to it alone since the `n` it saw follows the replay.
   */
  join(conn: Connection, request: JoinRequest = {}): Member {
    if (request.resume !== undefined) {
      const resumed = this.resume(conn, request);
      if (resumed) return resumed;
    }
    const again = request.resume !== undefined ? this.departedCid(request.resume, conn.principal.user) : undefined;
    const member: Member = {
      cid: again ?? newCid(),
      token: again !== undefined ? request.resume! : newToken(),
      conn,
      user: conn.principal.user,
      info: request.info,
      perms: conn.principal.perms,
      topics: undefined,
      serving: false,
      pulling: false,
      prefetch: 1,
      autoAck: false,
      holding: undefined,
      pendingRequests: 0,
      sent: undefined,
      sentAtDrop: 0,
      graceTimer: undefined,
      joinedAt: Date.now(),
    };
    this.subscribeFromUrl(member, request.topics);
    this.members.set(member.cid, member);
    this.byToken?.set(member.token, member);
    if (this.link) this.clusterJoined(member);
    else if (this.owner === null) this.owner = member.cid;
    this.welcome(member, request, false);
    const join: Record<string, unknown> = { type: 'join', cid: member.cid };
    if (member.user !== undefined) join.user = member.user;
    if (member.info !== undefined) join.info = member.info;
    this.announce(this.frame(join as { type: string }), member);
    this.tap()?.joined(member, true);
    return member;
  }

  /**
   * Cluster: the others are told; the owner of an ordinary room is the longest-present member
   * cluster-wide (every node computes the same from the same view); an owned room's is its creator.
   */
  private clusterJoined(member: Member): void {
    const roster = this.link!.roster;
    if (this.owned) {
      if (this.owner === null && roster.remote.size === 0) this.owner = member.cid;
      roster.localJoined(member);
    } else {
      roster.localJoined(member);
      this.owner = roster.oldest();
    }
  }

  /** Every member's cid, on every node (cluster). */
  private memberIds(): string[] {
    const ids = [...this.members.keys()];
    if (this.link) for (const cid of this.link.roster.remote.keys()) ids.push(cid);
    return ids;
  }

  private subscribeFromUrl(member: Member, topics: string[] | undefined): void {
    member.topics = undefined;
    if (!topics?.length) return;
    member.topics = new Subscriptions();
    for (const t of topics) member.topics.add(t);
  }

  /** `connect` (written at once), then the replay. */
  private welcome(member: Member, request: JoinRequest, resumed: boolean): void {
    // Direct: nothing is queued yet for a new connection, so `connect` (which lists every member,
    // kilobytes in a big room) is written at once instead of being copied again into this turn's
    // joined write with the frames that follow it.
    const seesPresence = (member.perms & Perm.PRESENCE) !== 0;
    const publications = this.link?.publications;
    const connect: Record<string, unknown> = {
      type: 'connect', room: this.room, cid: member.cid, token: member.token, resumed, owner: this.owner,
      members: seesPresence ? this.memberIds() : [member.cid],
      seq: publications ? publications.seq : this.history.lastSeq, epoch: publications ? publications.epoch : this.epoch,
      limits: this.opts.limits,
    };
    if (member.user !== undefined) connect.user = member.user;
    if (member.info !== undefined) connect.info = member.info;
    const users = seesPresence ? this.users() : member.user !== undefined ? { [member.cid]: member.user } : undefined;
    if (users) connect.users = users;
    const infos = seesPresence ? this.infos() : member.info !== undefined ? { [member.cid]: member.info } : undefined;
    if (infos) connect.infos = infos;
    this.deliver(member, this.frame(connect as { type: string }), true);
    if (request.since !== undefined && member.perms & Perm.SUBSCRIBE) {
      // Cluster: read from the room's stream (asynchronous; live frames wait behind it).
      if (publications) publications.replay(member, request.since, request.epoch);
      else this.replay(member, request.since, request.epoch);
    }
  }

  /** Take over the member `request.resume` names; undefined when there is none to take (a fresh member then). */
  private resume(conn: Connection, request: JoinRequest): Member | undefined {
    const member = this.memberByToken(request.resume!);
    if (!member || member.user !== conn.principal.user) return undefined;
    const seen = request.seen ?? (member.conn ? member.sent?.last ?? 0 : member.sentAtDrop);
    const missed = member.sent ? member.sent.since(seen) : seen === 0 ? [] : undefined;
    if (!missed) {
      // What it missed is no longer all kept: a resume would hide a loss. It leaves (others see
      // it) and the connection joins afresh, so the client knows its calls in flight are lost.
      this.leave(member);
      return undefined;
    }
    const old = member.conn;
    member.conn = conn;
    if (member.graceTimer) clearTimeout(member.graceTimer);
    member.graceTimer = undefined;
    // The old connection may still look open (a half-open TCP connection): this one replaces it.
    // An event stream has no close code, so it is told in a message first.
    if (old?.transport === 'sse') old.send(this.frame(errorMessage('replaced', 'another connection resumed this member')), true);
    old?.close(CLOSE_CODES.REPLACED, 'replaced');
    this.queue?.release(member);
    // What the connection offered is per connection (the client restates serve, pull and topics);
    // identity, ownership and pending requests are per member and carry over.
    member.perms = conn.principal.perms;
    member.serving = false;
    this.queue?.unpull(member);
    member.pulling = false;
    if (request.info !== undefined) member.info = request.info;
    this.subscribeFromUrl(member, request.topics);
    member.sent?.resumed();
    this.welcome(member, request, true);
    for (const frame of missed) this.deliver(member, frame);
    this.link?.roster.localChanged(member);
    return member;
  }

  /** A departed member's cid, for a resume after its grace (others saw it leave, and now see it join again). */
  private departedCid(token: string, user: string | undefined): string | undefined {
    const d = this.departed?.get(token);
    if (!d) return undefined;
    this.departed!.delete(token);
    if (d.until < Date.now() || d.user !== user || this.members.has(d.cid)) return undefined;
    return d.cid;
  }

  /**
   * Cluster, the old node: another node (`to`) takes over the member whose token hashes to
   * `th`, for a connection of the same user (member-handover.ts). It goes without a `leave`: the
   * new node resumes it with the same cid. Returns what the new node needs, or why not. What it
   * missed after `seen` no longer all kept: it leaves here (the others see it), as a local resume
   * would make it.
   */
  handOver(th: string, user: string | undefined, seen: number | undefined, to: string): HandedMember | { movedTo: string } | string {
    const member = this.memberByTokenHash(th);
    if (!member) {
      // Handed over from here before (its token still names this node): the ask goes on there.
      const h = this.handedTokens?.get(th);
      return h && h.until >= Date.now() && h.node !== to ? { movedTo: h.node } : 'no such member here';
    }
    if (member.user !== user) return 'no such member here';
    const from = seen ?? (member.conn ? member.sent?.last ?? 0 : member.sentAtDrop);
    const missed = member.sent ? member.sent.since(from) : from === 0 ? [] : undefined;
    let bytes = 0;
    for (const f of missed ?? []) bytes += f.text.length;
    if (!missed || bytes > HANDOVER_MAX_BYTES) {
      this.leave(member);
      return 'what was sent to it is no longer all kept';
    }
    const old = member.conn;
    this.members.delete(member.cid);
    this.byToken?.delete(member.token);
    if (member.graceTimer) clearTimeout(member.graceTimer);
    member.graceTimer = undefined;
    member.conn = undefined;
    member.sent = undefined;
    this.queue?.forget(member);
    (this.handed ??= new WeakMap()).set(member, to);
    const tokens = (this.handedTokens ??= new Map());
    const now = Date.now();
    for (const [t, h] of tokens) if (h.until < now) tokens.delete(t);
    if (tokens.size >= MAX_DEPARTED) tokens.delete(tokens.keys().next().value!);
    tokens.set(th, { node: to, until: now + HANDED_MEMORY_MS });
    const state: HandedMember = { cid: member.cid, at: 0, seen: from, frames: missed.map((f) => [f.event ?? 'message', f.text]) };
    if (member.user !== undefined) state.user = member.user;
    if (member.info !== undefined) state.info = member.info;
    if (this.owned && this.owner === member.cid) state.owner = true;
    state.at = this.link!.roster.handedOver(member, to);
    // Requests it was answering here end with `gone` (their frames went with it: a late reply
    // there is `unknown_request`); its own requests stay pending here, and their replies are
    // forwarded to it (directed()).
    if (this.pending) {
      for (const p of [...this.pending.values()]) if (p.target === member) this.finish(p, { error: { code: 'gone', message: `${member.cid} moved to another node before replying` } });
    }
    // A connection that still looks open here (half-open) is replaced, as by a local resume.
    if (old?.transport === 'sse') old.send(this.frame(errorMessage('replaced', 'another connection resumed this member')), true);
    old?.close(CLOSE_CODES.REPLACED, 'replaced');
    this.events.memberLeft();
    return state;
  }

  /**
   * Cluster, the new node: a member handed over by its old node, made here as a dropped member
   * waiting (the resume grace) for the connection that asked for it; no `join` for anyone. The
   * missed frames are its sent log, so the ordinary resume resends them after the replay.
   */
  adopt(state: HandedMember, token: string): Member | undefined {
    if (this.members.has(state.cid) || this.memberByToken(token) !== undefined) return undefined;
    this.handedTokens?.delete(tokenHash(token)); // back here: its POSTs are answered here again
    const frames = state.frames.map(([event, text]) => new OutFrame(text, event));
    const member: Member = {
      cid: state.cid, token, conn: undefined, user: state.user, info: state.info, perms: 0, topics: undefined, serving: false,
      pulling: false, prefetch: 1, autoAck: false, holding: undefined, pendingRequests: 0,
      sent: SentLog.handedOver(state.seen, frames, this.opts.maxHeldBytes), sentAtDrop: state.seen, graceTimer: undefined, joinedAt: state.at,
    };
    this.members.set(member.cid, member);
    this.byToken?.set(member.token, member);
    this.link!.roster.adopted(member, state.at);
    if (this.owned) { if (state.owner) this.owner = member.cid; }
    else this.owner = this.link!.roster.oldest();
    member.graceTimer = setTimeout(() => {
      member.graceTimer = undefined;
      this.leave(member);
    }, Math.max(this.opts.resumeGraceMs, 1000));
    return member;
  }

  /**
   * The member whose token's SHA-256 is `th`. The index is rebuilt when `th` is not in it (a drain's
   * many hand-overs then cost one pass over the members, not one each).
   */
  private memberByTokenHash(th: string): Member | undefined {
    let m = this.byTokenHash?.get(th);
    if (m === undefined || this.members.get(m.cid) !== m) {
      this.byTokenHash = new Map();
      for (const x of this.members.values()) this.byTokenHash.set(tokenHash(x.token), x);
      m = this.byTokenHash.get(th);
    }
    return m !== undefined && sameHash(tokenHash(m.token), th) ? m : undefined;
  }

  /** Cluster: the node the member with this token was lately handed over to, if it was. */
  handedTo(token: string): string | undefined {
    if (this.handedTokens === undefined) return undefined;
    const h = this.handedTokens.get(tokenHash(token));
    return h && h.until >= Date.now() ? h.node : undefined;
  }

  /**
   * The member's connection `conn` is gone. It stays a member (others see nothing) for the resume
   * grace, then leaves; a connection that resumes it within the grace takes it over.
   */
  detach(member: Member, conn: Connection): void {
    if (this.members.get(member.cid) !== member || member.conn !== conn) return;
    member.conn = undefined;
    member.sentAtDrop = member.sent?.last ?? 0;
    this.queue?.release(member);
    if (member.serving) this.link?.roster.localChanged(member); // a dropped member serves no one
    if (this.opts.resumeGraceMs <= 0) { this.leave(member); return; }
    member.graceTimer = setTimeout(() => {
      member.graceTimer = undefined;
      this.leave(member);
    }, this.opts.resumeGraceMs);
  }

  /** cid → info of the members that gave presence data; undefined when none did. */
  private infos(): Record<string, Json> | undefined {
    let out: Record<string, Json> | undefined;
    for (const m of this.members.values()) if (m.info !== undefined) (out ??= {})[m.cid] = m.info;
    if (this.link) for (const r of this.link.roster.remote.values()) if (r.info !== undefined) (out ??= {})[r.cid] = r.info;
    return out;
  }

  /** cid → user of the members whose token named one; undefined when none did (tokens off). */
  private users(): Record<string, string> | undefined {
    let out: Record<string, string> | undefined;
    for (const m of this.members.values()) if (m.user !== undefined) (out ??= {})[m.cid] = m.user;
    if (this.link) for (const r of this.link.roster.remote.values()) if (r.user !== undefined) (out ??= {})[r.cid] = r.user;
    return out;
  }

  /**
   * A refreshed token for `member`: what it may do from now on. Offers it may no longer make
   * (serve, pull) are withdrawn; its topics stay but deliver nothing without `subscribe`.
   */
  authorize(member: Member, principal: Principal): void {
    member.perms = principal.perms;
    if (!(member.perms & Perm.SERVE)) this.setServing(member, false);
    if (!(member.perms & Perm.PULL)) this.queue?.unpull(member);
  }

  private replay(member: Member, since: number, epoch: string | undefined): void {
    // A `since` from another incarnation of the room (server restart, room freed and recreated)
    // cannot be compared: say so with a reset gap and replay everything still kept.
    const reset = (epoch !== undefined && epoch !== this.epoch) || since > this.history.lastSeq;
    const r = this.history.since(reset ? 0 : since);
    if (reset) this.deliver(member, this.frame({ type: 'gap', reset: true, from: 1, to: r.gap ? r.gap.to : 0 }));
    else if (r.gap) this.deliver(member, this.frame({ type: 'gap', from: r.gap.from, to: r.gap.to }));
    for (const e of r.entries) {
      if (e.topic !== undefined && !member.topics?.matches(e.topic)) continue;
      this.deliver(member, e.frame);
    }
  }

  /** join/leave go to everyone in ordinary rooms, only to the owner in owned rooms; only to members allowed `presence`. */
  private announce(frame: OutFrame, about: Member | undefined): void {
    if (this.owned) {
      const owner = this.owner !== null ? this.members.get(this.owner) : undefined;
      if (owner && owner !== about && owner.perms & Perm.PRESENCE) this.deliver(owner, frame);
      return;
    }
    for (const m of this.members.values()) if (m !== about && m.perms & Perm.PRESENCE) this.deliver(m, frame);
  }

  /** Remove a member; false if it was not (or no longer) in the room. */
  leave(member: Member): boolean {
    if (this.members.get(member.cid) !== member) return false;
    this.members.delete(member.cid);
    this.byToken?.delete(member.token);
    if (member.graceTimer) clearTimeout(member.graceTimer);
    member.graceTimer = undefined;
    member.sent = undefined;
    this.queue?.forget(member);
    this.rememberDeparted(member);
    this.link?.roster.localLeft(member);
    this.tap()?.left(member.cid, true);
    // Requests this member was answering fail with `gone`, and so do its own: an SSE member's
    // request is an HTTP POST still waiting for its answer (dropping it left the POST open forever).
    if (this.pending) {
      for (const p of [...this.pending.values()]) {
        if (p.target === member) this.finish(p, { error: { code: 'gone', message: `${member.cid} left before replying` } });
        else if (p.requester === member) this.finish(p, { error: { code: 'gone', message: 'the requesting connection closed before the reply' } });
      }
    }
    if (this.owner === member.cid) {
      if (this.owned) {
        this.owner = null;
        this.events.ownerLeft();
        return true;
      }
      // Ordinary rooms: the longest-present member (Map keeps insertion order; cluster-wide: join time) takes over.
      if (this.link) this.owner = this.link.roster.oldest();
      else {
        const next = this.members.keys().next();
        this.owner = next.done ? null : next.value;
      }
      const leave = this.frame({ type: 'leave', cid: member.cid, owner: this.owner });
      this.announce(leave, member);
    } else {
      this.announce(this.frame({ type: 'leave', cid: member.cid }), member);
    }
    this.events.memberLeft();
    return true;
  }

  private rememberDeparted(member: Member): void {
    if (this.opts.historyTtlMs <= 0) return;
    const departed = (this.departed ??= new Map());
    if (departed.size >= MAX_DEPARTED) departed.delete(departed.keys().next().value!);
    departed.set(member.token, { cid: member.cid, user: member.user, until: Date.now() + this.opts.historyTtlMs });
  }

  /**
   * An admin removed this member (POST /_/rooms/<room>/kick): told why (`closed` `kicked`), gone
   * from the room at once (the others see `leave`, no resume grace), its connection closed with 4003.
   */
  kick(member: Member, message: string | undefined): void {
    const conn = member.conn;
    if (conn) this.deliver(member, this.frame(message === undefined ? { type: 'closed', reason: 'kicked' } : { type: 'closed', reason: 'kicked', message }));
    this.leave(member);
    conn?.close(CLOSE_CODES.KICKED, 'kicked');
  }

  /** Tell every member the room is closing (the caller then closes the connections). */
  closeAll(reason: string): void {
    const closed = this.frame({ type: 'closed', reason });
    for (const m of this.members.values()) this.deliver(m, closed);
    // Answered, not dropped: an SSE member's request is an HTTP POST still waiting for it.
    if (this.pending) {
      for (const p of [...this.pending.values()]) this.finish(p, { error: { code: 'room_closed', message: `the room closed (${reason}) before the reply` } });
    }
  }

  /**
   * The two ends of every pending request (a drain keeps both connected until it is answered);
   * an end on another node (cluster) is undefined: only this node's end waits.
   */
  inFlight(): Array<{ asker: Member | undefined; answerer: Member | undefined }> {
    const out: Array<{ asker: Member | undefined; answerer: Member | undefined }> = [];
    if (this.pending) for (const p of this.pending.values()) out.push({ asker: p.requester, answerer: p.target });
    if (this.link) for (const answerer of this.link.roster.answering()) out.push({ asker: undefined, answerer });
    return out;
  }

  dispose(): void {
    this.clearPending();
    for (const m of this.members.values()) if (m.graceTimer) clearTimeout(m.graceTimer);
    this.queue?.dispose();
    this.departed = undefined;
    this.byTokenHash = undefined;
    this.handedTokens = undefined;
    this.members.clear();
    this.byToken = undefined;
  }

  private clearPending(): void {
    if (!this.pending) return;
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
  }

  /**
   * Handle one message from `member`. `respond` carries answers meant for the asker (reply,
   * presence, errors); by default they go to its connection.
   */
  receive(member: Member, msg: ClientMessage, respond: Respond = (m) => { if ((m as { type?: string }).type !== undefined) this.directed(member, m as { type: string }); }): void {
    this.messagesIn++;
    if (this.members.get(member.cid) !== member) return refuse(respond, 'bad_token', 'this member has left the room', msg.ref);
    const needed = NEEDED[msg.type];
    if (needed !== undefined && !(member.perms & needed)) {
      return refuse(respond, 'forbidden', `the token does not allow "${msg.type}" (it allows: ${permNames(member.perms).join(', ') || 'nothing'})`, msg.ref);
    }
    switch (msg.type) {
      case 'publish':
        // Cluster: appended to the room's stream; answered and delivered once the engine numbered it.
        if (this.link) return this.link.publications.publish(member.cid, msg, respond);
        return accepted(respond, msg, { seq: this.publish(member.cid, msg.data, msg.topic, msg.echo) });
      case 'send': {
        const to = this.members.get(msg.to);
        if (!to) {
          if (msg.to === SERVER_SENDER && this.tap()?.direct(member.cid, msg.data)) return accepted(respond, msg);
          const remote = this.link?.roster.remote.get(msg.to);
          if (remote) return this.sendRemote(member, remote, msg, respond);
          return refuse(respond, 'unknown_target', `no member "${msg.to}" in this room`, msg.ref);
        }
        this.directed(to, { type: 'message', kind: 'direct', from: member.cid, data: msg.data });
        return accepted(respond, msg);
      }
      case 'subscribe': (member.topics ??= new Subscriptions()).add(msg.topic); return respond(OK);
      case 'unsubscribe': member.topics?.remove(msg.topic); return respond(OK);
      case 'serve': this.setServing(member, true); return respond(OK);
      case 'unserve': this.setServing(member, false); return respond(OK);
      case 'pull': (this.queue ??= this.makeQueue()).pull(member, msg.prefetch, !msg.ack); return respond(OK);
      case 'unpull': this.queue?.unpull(member); member.pulling = false; return respond(OK);
      case 'presence': {
        const answer: Record<string, unknown> = { type: 'presence', members: this.memberIds(), owner: this.owner };
        const users = this.users();
        if (users) answer.users = users;
        const infos = this.infos();
        if (infos) answer.infos = infos;
        if (msg.ref !== undefined) answer.ref = msg.ref;
        return respond(answer);
      }
      case 'request': return this.request(member, msg, respond);
      case 'reply': return this.reply(member, msg, respond);
      case 'push': {
        if (this.link) return this.pushToCluster(member, msg, respond);
        const queue = (this.queue ??= this.makeQueue()) as WorkQueue;
        const job = queue.push(member, msg.data, msg.ref, msg.ack);
        if (job === 'queue_full') return refuse(respond, 'queue_full', `the room's work queue is full (${queue.waitingCount} jobs waiting; --max-queued-jobs, --max-queued-job-bytes)`, msg.ref);
        // The pusher hears `ack` before any outcome: the job is given out only after it.
        accepted(respond, msg, { job: job.id });
        return queue.dispatch();
      }
      case 'ack':
        if (!this.queue?.ack(member, msg.job, msg.data)) return refuse(respond, 'unknown_job', `you hold no job "${msg.job}" (it may have gone to another puller)`, msg.ref);
        return respond(OK);
      case 'nack':
        if (!this.queue?.nack(member, msg.job, msg.error)) return refuse(respond, 'unknown_job', `you hold no job "${msg.job}" (it may have gone to another puller)`, msg.ref);
        return respond(OK);
      case 'leave':
        // Going for good: others see `leave` now rather than after the resume grace.
        this.leave(member);
        respond(OK);
        member.conn?.close(CLOSE_CODES.NORMAL, 'left');
        return;
    }
  }

  private setServing(member: Member, serving: boolean): void {
    if (member.serving === serving) return;
    member.serving = serving;
    this.link?.roster.localChanged(member);
  }

  /** `send` to a member on another node: accepted (acked) once the bus took it. */
  private sendRemote(member: Member, to: RemoteMember, msg: Extract<ClientMessage, { type: 'send' }>, respond: Respond): void {
    this.link!.roster.send(to, member.cid, msg.data).then(
      () => accepted(respond, msg),
      (err: unknown) => refuse(respond, 'broker_unavailable', `the message could not reach ${to.cid}'s node: ${(err as Error)?.message ?? err}`, msg.ref),
    );
  }

  /** Cluster (the roster): a member joined on another node. */
  remoteJoined(r: RemoteMember): void {
    if (this.owned) { if (r.owner) this.owner = r.cid; }
    else this.owner = this.link!.roster.oldest();
    const join: Record<string, unknown> = { type: 'join', cid: r.cid };
    if (r.user !== undefined) join.user = r.user;
    if (r.info !== undefined) join.info = r.info;
    this.announce(this.frame(join as { type: string }), undefined);
    this.tap()?.joined(r, false);
  }

  /** Cluster (the roster): a member on another node left, or its node is gone. */
  remoteLeft(cid: string, why: string): void {
    this.tap()?.left(cid, false);
    if (this.pending) {
      for (const p of [...this.pending.values()]) if (p.target === undefined && p.targetCid === cid) this.finish(p, { error: { code: 'gone', message: why } }, false);
    }
    if (this.owner === cid) {
      if (this.owned) {
        this.owner = null;
        this.events.ownerLeft();
        return;
      }
      this.owner = this.link!.roster.oldest();
      this.announce(this.frame({ type: 'leave', cid, owner: this.owner }), undefined);
    } else {
      this.announce(this.frame({ type: 'leave', cid }), undefined);
    }
  }

  /** Cluster (the roster): the outcome of a request this node sent to a member on another node. */
  finishRemote(rid: string, from: string, outcome: Outcome): void {
    const p = this.pending?.get(rid);
    if (p && p.target === undefined && p.targetCid === from) this.finish(p, outcome, false);
  }

  private makeQueue(): WorkQueue | RoomJobs {
    return this.link ? new RoomJobs(this.link.cluster, this.room, this.opts.queue, this) : new WorkQueue(this.opts.queue, this);
  }

  /** Cluster: the job goes to the engine's queue; the pusher hears `ack` once the engine took it. */
  private pushToCluster(member: Member, msg: Extract<ClientMessage, { type: 'push' }>, respond: Respond): void {
    const jobs = (this.queue ??= this.makeQueue()) as RoomJobs;
    jobs.push(member, msg.data, msg.ref, msg.ack).then((id) => {
      if (id === 'queue_full') return refuse(respond, 'queue_full', 'the room\'s work queue is full (--max-queued-jobs, --max-queued-job-bytes)', msg.ref);
      accepted(respond, msg, { job: id });
      jobs.pushAnswered(id);
    }, () => refuse(respond, 'broker_unavailable', 'the cluster\'s engine did not answer: the job may not have been queued (retry)', msg.ref));
  }

  /** WorkQueueHost and RoomJobsHost: a job to its puller. */
  deliverJob(to: Puller, job: Job | DeliveredJob): void {
    this.directed(to as Member, { type: 'message', kind: 'push', from: job.from, data: job.data, job: job.id, attempt: job.attempts });
  }

  /** WorkQueueHost: the outcome to the pusher that asked for it, if it is still here. */
  reportJob(job: Job, outcome: JobOutcome): void {
    const pusher = job.pusher as Member;
    if (this.members.get(pusher.cid) !== pusher) return;
    this.directed(pusher, { type: 'job', ref: job.ref ?? null, job: job.id, attempts: job.attempts, ...outcome });
  }

  /** RoomJobsHost: the outcome of a job pushed by `cid` (a member here), from whichever node settled it. */
  tellJobOutcome(cid: string, ref: string | number | null, id: string, attempts: number, outcome: JobOutcome): void {
    const pusher = this.members.get(cid);
    if (pusher) this.directed(pusher, { type: 'job', ref, job: id, attempts, ...outcome });
  }

  /**
   * A publish by the server itself (the admin API): `from` is SERVER_SENDER, every subscriber gets
   * it. Resolves with its seq (none while a cluster's engine is away), or rejects with the refusal.
   */
  serverPublish(data: Json, topic: string | undefined): Promise<{ seq?: number }> {
    if (!this.link) return Promise.resolve({ seq: this.publish(SERVER_SENDER, data, topic, true) });
    return new Promise((resolve, reject) => {
      this.link!.publications.publish(SERVER_SENDER, { data, topic, echo: true, ack: false, ref: undefined }, (answer) => {
        const a = answer as { type?: string; code?: string; message?: string; seq?: number };
        if (a.type === 'error') reject(Object.assign(new Error(a.message), { code: a.code }));
        else resolve(a.seq !== undefined ? { seq: a.seq } : {});
      });
    });
  }

  /**
   * A direct message from the server (server.room(name).send): to a member here, or (cluster) to
   * its node. Rejects `unknown_target` when there is no such member, `broker_unavailable` when its node could not be reached.
   */
  serverSend(cid: string, data: Json): Promise<void> {
    const to = this.members.get(cid);
    if (to) {
      this.directed(to, { type: 'message', kind: 'direct', from: SERVER_SENDER, data });
      return Promise.resolve();
    }
    const remote = this.link?.roster.remote.get(cid);
    if (remote) return this.link!.roster.send(remote, SERVER_SENDER, data).catch((err: unknown) => {
      throw Object.assign(new Error(`the message could not reach ${cid}'s node: ${(err as Error)?.message ?? err}`), { code: 'broker_unavailable' });
    });
    return Promise.reject(Object.assign(new Error(`no member "${cid}" in this room`), { code: 'unknown_target' }));
  }

  private publish(from: string, data: Json, topic: string | undefined, echo: boolean): number {
    const seq = this.history.nextSeq();
    const frame = this.frame(
      topic === undefined
        ? { type: 'message', kind: 'publish', from, data, seq }
        : { type: 'message', kind: 'publish', from, topic, data, seq },
      seq,
    );
    this.history.add(frame, topic);
    for (const m of this.members.values()) {
      if (m.cid === from && !echo) continue;
      if (!(m.perms & Perm.SUBSCRIBE)) continue;
      if (topic !== undefined && !m.topics?.matches(topic)) continue;
      this.deliver(m, frame);
    }
    this.tap()?.published(from, topic, seq, () => data);
    return seq;
  }

  private request(member: Member, msg: Extract<ClientMessage, { type: 'request' }>, respond: Respond): void {
    const replyError = (code: string, message: string, status: number) =>
      respond({ type: 'reply', id: msg.id, error: { code, message } }, status);
    if (member.pendingRequests >= this.opts.maxPendingRequests) {
      return refuse(respond, 'too_many_requests', `at most ${this.opts.maxPendingRequests} requests may wait for replies`, msg.ref);
    }
    let target: Member | RemoteMember | undefined;
    if (msg.to !== undefined) {
      target = this.members.get(msg.to) ?? this.link?.roster.remote.get(msg.to);
      if (!target) return replyError('unknown_target', `no member "${msg.to}" in this room`, 404);
    } else {
      target = this.nextServer(member);
      if (!target) {
        this.opts.tally?.requestDone('no_responder');
        return replyError('no_responder', 'no member serves requests', 200);
      }
    }
    const remote = 'node' in target ? target : undefined;
    const rid = 'r' + (++this.ridCounter).toString(36);
    const timeoutMs = Math.min(msg.timeout ?? this.opts.defaultRequestTimeoutMs, this.opts.maxRequestTimeoutMs);
    const pending: PendingRequest = {
      rid, requester: member, clientId: msg.id, target: remote ? undefined : target as Member, targetCid: target.cid, targetNode: remote?.node, respond, started: performance.now(),
      timer: setTimeout(() => this.finish(pending, { error: { code: 'timeout', message: `no reply within ${timeoutMs} ms` } }), timeoutMs),
    };
    member.pendingRequests++;
    (this.pending ??= new Map()).set(rid, pending);
    if (!remote) return this.directed(target as Member, { type: 'request', id: rid, from: member.cid, data: msg.data });
    this.link!.roster.request(remote, rid, member.cid, msg.data, timeoutMs).catch((err: unknown) => {
      this.finish(pending, { error: { code: 'broker_unavailable', message: `the request could not reach ${remote.cid}'s node: ${(err as Error)?.message ?? err}` } }, false);
    });
  }

  /** Round-robin over connected members that serve, never the requester itself (cluster: on every node). */
  private nextServer(requester: Member): Member | RemoteMember | undefined {
    const servers: (Member | RemoteMember)[] = [...this.members.values()].filter((m) => m.serving && m !== requester && m.conn !== undefined);
    if (this.link) for (const r of this.link.roster.remote.values()) if (r.serving) servers.push(r);
    if (servers.length === 0) return undefined;
    return servers[this.serveCursor++ % servers.length];
  }

  private reply(member: Member, msg: Extract<ClientMessage, { type: 'reply' }>, respond: Respond): void {
    const p = this.pending?.get(String(msg.id));
    if (!p || p.target !== member) {
      if (this.link?.roster.replyFromHere(member, String(msg.id), msg.error ? { error: msg.error } : { data: msg.data })) return respond(OK);
      return refuse(respond, 'unknown_request', `no pending request "${msg.id}" for you (it may have timed out)`, msg.ref);
    }
    this.finish(p, msg.error ? { error: msg.error } : { data: msg.data });
    respond(OK);
  }

  /** `cancel`: the target's node (another one) still waits for its reply and must forget it (a late reply is then `unknown_request`). */
  private finish(p: PendingRequest, outcome: { data?: Json; error?: { code: string; message: string } }, cancel = true): void {
    if (!this.pending || this.pending.get(p.rid) !== p) return;
    this.pending.delete(p.rid);
    clearTimeout(p.timer);
    if (cancel && p.targetNode !== undefined) this.link?.roster.cancel(p.targetNode, p.rid);
    p.requester.pendingRequests--;
    const ended = outcomeOf(outcome.error?.code);
    const tally = this.opts.tally;
    tally?.requestDone(ended);
    const base = { type: 'reply', id: p.clientId, from: p.targetCid };
    p.respond(outcome.error ? { ...base, error: outcome.error } : { ...base, data: outcome.data ?? null }, 200);
    // Only answers of the responder: a timeout would record its own bound, not a latency.
    if (tally && (ended === 'ok' || ended === 'handler_error')) tally.requestReply.since(p.started);
  }

  private frame(message: { type: string } & Record<string, unknown>, seq?: number): OutFrame {
    // The object travels with the frame: in-process members take it without a parse.
    return OutFrame.of(message, message.type, seq);
  }

  /** `direct`: a frame for this member alone, which the transport may write at once. */
  private deliver(member: Member, frame: OutFrame, direct = false): void {
    this.messagesOut++;
    member.conn?.send(frame, direct);
  }

  /**
   * A message to this member alone (direct message, request, reply, ack, job, error): numbered
   * `n` and kept in its sent log, so that a resume resends what a dying connection swallowed or
   * what came while the member was dropped.
   */
  private directed(member: Member, message: { type: string } & Record<string, unknown>): void {
    if (member.conn === undefined && this.handed !== undefined) {
      const node = this.handed.get(member);
      if (node !== undefined) return this.link!.roster.tell(node, member.cid, message);
    }
    const log = (member.sent ??= new SentLog());
    message.n = log.next();
    const frame = this.frame(message);
    log.add(frame, member.conn === undefined, this.opts.maxHeldBytes);
    this.deliver(member, frame, true);
  }

  /** A message for this member alone that could not go where it was meant to (e.g. its POST is gone). */
  tell(member: Member, message: { type: string } & Record<string, unknown>): void {
    if (this.members.get(member.cid) === member || this.handed?.has(member)) this.directed(member, { ...message });
  }

  /** Send an error to a member's connection (used by the transports for undecodable input). */
  sendError(member: Member, code: KnownErrorCode, message: string, ref?: Ref): void {
    this.directed(member, errorMessage(code, message, ref));
  }
}

/** Refuse one message: an `error` to the asker (a POST: its HTTP status from the table). */
function refuse(respond: Respond, code: KnownErrorCode, message: string, ref: Ref): void {
  respond(errorMessage(code, message, ref), statusOf(code));
}

/**
 * The message was taken: with `ack: true` an `ack` (carrying its seq or job id) goes to the
 * sender; otherwise nothing over a socket (a POST answers `{"ok":true,…}` either way).
 */
function accepted(respond: Respond, msg: { ack: boolean; ref: Ref }, extra?: { seq?: number; job?: string }): void {
  if (msg.ack) return respond({ type: 'ack', ref: msg.ref ?? null, ...extra });
  respond(extra ? { ok: true, ...extra } : OK);
}

/** The `{"ok":true}` answer of a POST; over a WebSocket nothing is sent for it. */
export const OK = Object.freeze({ ok: true });

export function errorMessage(code: KnownErrorCode, message: string, ref?: Ref): { type: 'error'; code: string; message: string; ref?: string | number } {
  return ref === undefined ? { type: 'error', code, message } : { type: 'error', code, message, ref };
}
