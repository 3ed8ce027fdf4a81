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

/** Server-wide settings, one object shared by every hub (per-room state is kept out of it). */
export interface HubOptions {
  historySize: number;
  historyTtlMs: number;
  historyBytes: number;
  maxPendingRequests: number;
  defaultRequestTimeoutMs: number;
  maxRequestTimeoutMs: number;
}

// Memory: a server may hold tens of thousands of idle members, so a member is one small object
// and the hub's per-room structures that most rooms never use (topic sets, the token index, the
// pending-request table) are made on first use.
export interface Member {
  readonly cid: string;
  readonly token: string;
  readonly conn: Connection;
  /** The token's `sub`, shown to others as `user`. */
  user: string | undefined;
  /** Perm bits of its token (copied from the connection's principal; checked per message). */
  perms: number;
  /** topic subscriptions; undefined until the first one */
  topics: Subscriptions | undefined;
  serving: boolean;
  pulling: boolean;
  pendingRequests: number;
}

/** How an answer reaches the asker: its connection, or (for an SSE POST) the HTTP response. */
export type Respond = (message: object, httpStatus?: number) => void;

interface PendingRequest {
  rid: string;
  requester: Member;
  clientId: string | number;
  target: Member;
  timer: NodeJS.Timeout;
  respond: Respond;
}

/** A puller whose connection holds more than this unsent is "busy" and skipped by push. */
const PULLER_BUSY_BYTES = 64 * 1024;

const q = JSON.stringify;

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

let cidCounter = 0;
const cidPrefix = randomBytes(3).toString('hex');

function newCid(): string {
  return 'c' + cidPrefix + (++cidCounter).toString(36);
}

export class ChannelHub {
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
  private pullCursor = 0;
  messagesIn = 0;
  messagesOut = 0;

  /**
   * @param opts        shared by every hub of the server
   * @param owned       a room made by /_/new: only the owner sees join/leave, and it closes with its owner
   * @param onOwnerLeft called when the owner of an owned room leaves: the room must close
   */
  constructor(readonly room: string, private readonly opts: HubOptions, private readonly owned: boolean, private readonly onOwnerLeft: () => void) {
    this.history = new History(opts.historySize, opts.historyTtlMs, opts.historyBytes);
  }

  get size(): number { return this.members.size; }

  memberByToken(token: string): Member | undefined {
    if (this.byToken === undefined) {
      this.byToken = new Map();
      for (const m of this.members.values()) this.byToken.set(m.token, m);
    }
    return this.byToken.get(token);
  }

  /** Admit a connection: connect message, replay since `since`, then join to the others. */
  join(conn: Connection, options: { since?: number; epoch?: string; topics?: string[] } = {}): Member {
    const member: Member = {
      cid: newCid(),
      token: randomBytes(16).toString('hex'),
      conn,
      user: conn.principal.user,
      perms: conn.principal.perms,
      topics: undefined,
      serving: false,
      pulling: false,
      pendingRequests: 0,
    };
    if (options.topics?.length) {
      member.topics = new Subscriptions();
      for (const t of options.topics) member.topics.add(t);
    }
    this.members.set(member.cid, member);
    this.byToken?.set(member.token, member);
    if (this.owner === null) this.owner = member.cid;
    // Direct: nothing is queued yet for a new connection, so `connect` (which lists every member,
    // kilobytes in a big room) is written at once instead of being copied again into this turn's
    // joined write with the frames that follow it.
    const seesPresence = (member.perms & Perm.PRESENCE) !== 0;
    const connect: Record<string, unknown> = {
      type: 'connect', room: this.room, cid: member.cid, token: member.token, owner: this.owner,
      members: seesPresence ? [...this.members.keys()] : [member.cid], seq: this.history.lastSeq, epoch: this.epoch,
    };
    if (member.user !== undefined) connect.user = member.user;
    const users = seesPresence ? this.users() : member.user !== undefined ? { [member.cid]: member.user } : undefined;
    if (users) connect.users = users;
    this.deliver(member, this.frame(connect as { type: string }), true);
    if (options.since !== undefined && member.perms & Perm.SUBSCRIBE) this.replay(member, options.since, options.epoch);
    const join = this.frame(member.user === undefined ? { type: 'join', cid: member.cid } : { type: 'join', cid: member.cid, user: member.user });
    this.announce(join, member);
    return member;
  }

  /** cid → user of the members whose token named one; undefined when none did (tokens off). */
  private users(): Record<string, string> | undefined {
    let out: Record<string, string> | undefined;
    for (const m of this.members.values()) if (m.user !== undefined) (out ??= {})[m.cid] = m.user;
    return out;
  }

  /**
   * A refreshed token for `member`: what it may do from now on. Offers it may no longer make
   * (serve, pull) are withdrawn; its topics stay but deliver nothing without `subscribe`.
   */
  authorize(member: Member, principal: Principal): void {
    member.perms = principal.perms;
    if (!(member.perms & Perm.SERVE)) member.serving = false;
    if (!(member.perms & Perm.PULL)) member.pulling = false;
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
  private announce(frame: OutFrame, about: Member): void {
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
        this.onOwnerLeft();
        return true;
      }
      // Ordinary rooms: the longest-present member (Map keeps insertion order) takes over.
      const next = this.members.keys().next();
      this.owner = next.done ? null : next.value;
      const leave = this.frame({ type: 'leave', cid: member.cid, owner: this.owner });
      this.announce(leave, member);
      return true;
    }
    this.announce(this.frame({ type: 'leave', cid: member.cid }), member);
    return true;
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

  dispose(): void {
    this.clearPending();
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
  receive(member: Member, msg: ClientMessage, respond: Respond = (m) => { if (m !== OK) this.deliver(member, this.frame(m as { type: string }), true); }): void {
    this.messagesIn++;
    const needed = NEEDED[msg.type];
    if (needed !== undefined && !(member.perms & needed)) {
      return respond(errorMessage('forbidden', `the token does not allow "${msg.type}" (it allows: ${permNames(member.perms).join(', ') || 'nothing'})`, msg.ref), 403);
    }
    switch (msg.type) {
      case 'publish': this.publish(member, msg.data, msg.topic, msg.echo); return respond(OK);
      case 'send': {
        const to = this.members.get(msg.to);
        if (!to) return respond(errorMessage('unknown_target', `no member "${msg.to}" in this room`, msg.ref), 404);
        this.deliver(to, this.frame({ type: 'message', kind: 'direct', from: member.cid, data: msg.data }), true);
        return respond(OK);
      }
      case 'subscribe': (member.topics ??= new Subscriptions()).add(msg.topic); return respond(OK);
      case 'unsubscribe': member.topics?.remove(msg.topic); return respond(OK);
      case 'serve': member.serving = true; return respond(OK);
      case 'unserve': member.serving = false; return respond(OK);
      case 'pull': member.pulling = true; return respond(OK);
      case 'unpull': member.pulling = false; return respond(OK);
      case 'presence': {
        const users = this.users();
        return respond(users ? { type: 'presence', members: [...this.members.keys()], owner: this.owner, users } : { type: 'presence', members: [...this.members.keys()], owner: this.owner });
      }
      case 'request': return this.request(member, msg, respond);
      case 'reply': return this.reply(member, msg, respond);
      case 'push': return this.push(member, msg.data, msg.ref, respond);
    }
  }

  private publish(from: Member, data: Json, topic: string | undefined, echo: boolean): void {
    const seq = this.history.nextSeq();
    const frame = this.frame(
      topic === undefined
        ? { type: 'message', kind: 'publish', from: from.cid, data, seq }
        : { type: 'message', kind: 'publish', from: from.cid, topic, data, seq },
      seq,
    );
    this.history.add({ seq, at: Date.now(), frame, from: from.cid, topic, echo });
    for (const m of this.members.values()) {
      if (m === from && !echo) continue;
      if (!(m.perms & Perm.SUBSCRIBE)) continue;
      if (topic !== undefined && !m.topics?.matches(topic)) continue;
      this.deliver(m, frame);
    }
  }

  private request(member: Member, msg: Extract<ClientMessage, { type: 'request' }>, respond: Respond): void {
    const replyError = (code: string, message: string, status: number) =>
      respond({ type: 'reply', id: msg.id, error: { code, message } }, status);
    if (member.pendingRequests >= this.opts.maxPendingRequests) {
      return respond(errorMessage('too_many_requests', `at most ${this.opts.maxPendingRequests} requests may wait for replies`, msg.ref), 429);
    }
    let target: Member | undefined;
    if (msg.to !== undefined) {
      target = this.members.get(msg.to);
      if (!target) return replyError('unknown_target', `no member "${msg.to}" in this room`, 404);
    } else {
      target = this.nextServer(member);
      if (!target) return replyError('no_responder', 'no member serves requests', 200);
    }
    const rid = 'r' + (++this.ridCounter).toString(36);
    const timeoutMs = Math.min(msg.timeout ?? this.opts.defaultRequestTimeoutMs, this.opts.maxRequestTimeoutMs);
    const pending: PendingRequest = {
      rid, requester: member, clientId: msg.id, target, respond,
      timer: setTimeout(() => this.finish(pending, { error: { code: 'timeout', message: `no reply within ${timeoutMs} ms` } }), timeoutMs),
    };
    member.pendingRequests++;
    (this.pending ??= new Map()).set(rid, pending);
    this.deliver(target, this.frame({ type: 'request', id: rid, from: member.cid, data: msg.data }), true);
  }

  /** Round-robin over members that serve, never the requester itself. */
  private nextServer(requester: Member): Member | undefined {
    const servers = [...this.members.values()].filter((m) => m.serving && m !== requester);
    if (servers.length === 0) return undefined;
    return servers[this.serveCursor++ % servers.length];
  }

  private reply(member: Member, msg: Extract<ClientMessage, { type: 'reply' }>, respond: Respond): void {
    const p = this.pending?.get(String(msg.id));
    if (!p || p.target !== member) {
      return respond(errorMessage('unknown_request', `no pending request "${msg.id}" for you (it may have timed out)`, msg.ref), 404);
    }
    this.finish(p, msg.error ? { error: msg.error } : { data: msg.data });
    respond(OK);
  }

  private finish(p: PendingRequest, outcome: { data?: Json; error?: { code: string; message: string } }): void {
    if (!this.pending || this.pending.get(p.rid) !== p) return;
    this.pending.delete(p.rid);
    clearTimeout(p.timer);
    p.requester.pendingRequests--;
    const base = { type: 'reply', id: p.clientId, from: p.target.cid };
    p.respond(outcome.error ? { ...base, error: outcome.error } : { ...base, data: outcome.data ?? null }, 200);
  }

  /** To one puller, round-robin; busy pullers (unsent backlog) are skipped while others are free. */
  private push(from: Member, data: Json, ref: Ref, respond: Respond): void {
    const pullers = [...this.members.values()].filter((m) => m.pulling && m !== from);
    if (pullers.length === 0) return respond(errorMessage('no_puller', 'no member pulls work', ref), 404);
    let chosen: Member | undefined;
    for (let i = 0; i < pullers.length; i++) {
      const m = pullers[(this.pullCursor + i) % pullers.length];
      if (m.conn.bufferedBytes < PULLER_BUSY_BYTES) { chosen = m; this.pullCursor += i + 1; break; }
    }
    if (!chosen) {
      // everyone is busy: the least backed-up one takes it rather than losing the work
      chosen = pullers.reduce((a, b) => (b.conn.bufferedBytes < a.conn.bufferedBytes ? b : a));
      this.pullCursor++;
    }
    this.deliver(chosen, this.frame({ type: 'message', kind: 'push', from: from.cid, data }), true);
    respond(OK);
  }

  private frame(message: { type: string } & Record<string, unknown>, seq?: number): OutFrame {
    return new OutFrame(q(message), message.type, seq);
  }

  /** `direct`: a frame for this member alone, which the transport may write at once. */
  private deliver(member: Member, frame: OutFrame, direct = false): void {
    this.messagesOut++;
    member.conn.send(frame, direct);
  }

  /** Send an error to a member's connection (used by the transports for undecodable input). */
  sendError(member: Member, code: string, message: string, ref?: Ref): void {
    this.deliver(member, this.frame(errorMessage(code, message, ref)), true);
  }
}

/** The `{"ok":true}` answer of a POST; over a WebSocket nothing is sent for it. */
export const OK = Object.freeze({ ok: true });

export function errorMessage(code: string, message: string, ref?: Ref): { type: 'error'; code: string; message: string; ref?: string | number } {
  return ref === undefined ? { type: 'error', code, message } : { type: 'error', code, message, ref };
}
