// What nodes say to each other about a room's native members and calls (docs/cluster.md,
// "Native membership and calls"): JSON payloads of ClusterBus messages, one kind each. They come
// sealed from nodes holding the cluster key, but are still parsed into typed values here, once:
// a payload that does not fit (another version of the server, a bug) is dropped, not thrown.
import type { Json } from '../channels/messages.js';

/** Room publications (every node subscribed to the room). */
export const ROOM_KINDS = { join: 'r.join', leave: 'r.leave', update: 'r.upd', snapshot: 'r.snap', gun: 'r.gun' } as const;
/** Node messages (one node's inbox); the room travels in the payload. */
export const NODE_KINDS = {
  who: 'r.who', members: 'r.members', send: 'r.send', request: 'r.req', reply: 'r.rep', cancel: 'r.cancel', post: 'r.post', postAnswer: 'r.post-ans',
  tell: 'r.tell', handover: 'r.hand', handoverAnswer: 'r.hand-ans', digest: 'r.dig',
} as const;

/** One member as its node describes it. */
export interface MemberRecord {
  cid: string;
  /** when it joined (ms, its node's clock): the longest-present member owns an ordinary room */
  at: number;
  user?: string;
  info?: Json;
  /** serves requests now (a member whose connection dropped does not) */
  serving: boolean;
  /** the owner of an owned room (/_/new) */
  owner?: boolean;
}

/**
 * Every change a node publishes, and every snapshot it answers, carries `v`: that node's count of
 * changes to the room. A receiver applies a change only if newer than the snapshot it applied,
 * and a snapshot only if not older than the changes it applied (the two travel on different
 * channels, which keep order each but not between them).
 */
export interface JoinNotice { v: number; s: number; member: MemberRecord }
export interface LeaveNotice { v: number; s: number; cid: string }
export interface UpdateNotice { v: number; s: number; cid: string; serving: boolean; info?: Json }
/** `s`: the sending node's start time (its incarnation: a restarted node with the same id is another one). */

export interface WhoAsk { room: string; q: number }
/**
 * The sender's latest change number `v` in each of `rooms` (as [room, v]), for the rooms it
 * changed lately and shares with the receiver: a receiver whose view of the sender is behind asks
 * it again (a lost last change). `s`: the sender's incarnation.
 */
export interface RosterDigest { s: number; rooms: [string, number][] }
/** A snapshot may come in pages (`page` of `pages`): one bus message is bounded (NATS: max_payload). */
/** `g`: the sender's GUN peers in the room (what --max-peers-per-room counts besides members). */
export interface MembersAnswer { room: string; q: number; v: number; s: number; owned: boolean; members: MemberRecord[]; page: number; pages: number; g: number }
/** A node's count of GUN peers in the room changed: one numbered change like a join or a leave. */
export interface GunCountNotice { v: number; s: number; n: number }
export interface SendCall { room: string; to: string; from: string; data: Json }
/** `origin`: the requester's node, when the call was forwarded by the target's former node (a member handed over). */
export interface RequestCall { room: string; rid: string; to: string; from: string; data: Json; timeoutMs: number; origin?: string }
export interface ReplyCall { room: string; rid: string; from: string; data?: Json; error?: { code: string; message: string } }
export interface CancelCall { room: string; rid: string }
export interface PostCall { room: string; q: number; body: Record<string, unknown> }
export interface PostAnswer { q: number; status: number; body: Json }

/** A ClusterBus call as a promise: the engines' buses may throw at once (NATS while disconnected) or reject. */
export function busCall(call: () => void | Promise<void>): Promise<void> {
  try {
    return Promise.resolve(call());
  } catch (err) {
    return Promise.reject(err);
  }
}

export function encode(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value));
}

type Obj = Record<string, unknown>;

function parse(payload: Uint8Array): Obj | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined;
  } catch {
    return undefined;
  }
}

const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 256;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function record(v: unknown): MemberRecord | undefined {
  const o = v as Obj;
  if (typeof o !== 'object' || o === null || !isStr(o.cid) || !isNum(o.at) || typeof o.serving !== 'boolean') return undefined;
  const r: MemberRecord = { cid: o.cid, at: o.at, serving: o.serving };
  if (typeof o.user === 'string') r.user = o.user;
  if (o.info !== undefined) r.info = o.info as Json;
  if (o.owner === true) r.owner = true;
  return r;
}

function errorOf(v: unknown): { code: string; message: string } | undefined {
  const e = v as Obj;
  if (typeof e !== 'object' || e === null || !isStr(e.code)) return undefined;
  return { code: e.code, message: typeof e.message === 'string' ? e.message : '' };
}

export function parseJoin(p: Uint8Array): JoinNotice | undefined {
  const o = parse(p);
  const member = o && record(o.member);
  return o && member && isNum(o.v) && isNum(o.s) ? { v: o.v, s: o.s, member } : undefined;
}

export function parseLeave(p: Uint8Array): LeaveNotice | undefined {
  const o = parse(p);
  return o && isNum(o.v) && isNum(o.s) && isStr(o.cid) ? { v: o.v, s: o.s, cid: o.cid } : undefined;
}

export function parseUpdate(p: Uint8Array): UpdateNotice | undefined {
  const o = parse(p);
  if (!o || !isNum(o.v) || !isNum(o.s) || !isStr(o.cid) || typeof o.serving !== 'boolean') return undefined;
  const u: UpdateNotice = { v: o.v, s: o.s, cid: o.cid, serving: o.serving };
  if (o.info !== undefined) u.info = o.info as Json;
  return u;
}

export function parseWho(p: Uint8Array): WhoAsk | undefined {
  const o = parse(p);
  return o && isStr(o.room) && isNum(o.q) ? { room: o.room, q: o.q } : undefined;
}

export function parseDigest(p: Uint8Array): RosterDigest | undefined {
  const o = parse(p);
  if (!o || !isNum(o.s) || !Array.isArray(o.rooms)) return undefined;
  const rooms: [string, number][] = [];
  for (const e of o.rooms) if (Array.isArray(e) && isStr(e[0]) && isNum(e[1])) rooms.push([e[0], e[1]]);
  return { s: o.s, rooms };
}

export function parseMembers(p: Uint8Array): MembersAnswer | undefined {
  const o = parse(p);
  if (!o || !isStr(o.room) || !isNum(o.q) || !isNum(o.v) || !isNum(o.s) || !Array.isArray(o.members)) return undefined;
  const members: MemberRecord[] = [];
  for (const m of o.members) {
    const r = record(m);
    if (!r) return undefined;
    members.push(r);
  }
  const pages = isNum(o.pages) && o.pages >= 1 && o.pages <= 100_000 ? o.pages : 1;
  const page = isNum(o.page) && o.page >= 0 && o.page < pages ? o.page : 0;
  const g = isNum(o.g) && o.g >= 0 ? o.g : 0;
  return { room: o.room, q: o.q, v: o.v, s: o.s, owned: o.owned === true, members, page, pages, g };
}

export function parseGunCount(p: Uint8Array): GunCountNotice | undefined {
  const o = parse(p);
  return o && isNum(o.v) && isNum(o.s) && isNum(o.n) && o.n >= 0 ? { v: o.v, s: o.s, n: o.n } : undefined;
}

export function parseSend(p: Uint8Array): SendCall | undefined {
  const o = parse(p);
  return o && isStr(o.room) && isStr(o.to) && isStr(o.from) ? { room: o.room, to: o.to, from: o.from, data: (o.data ?? null) as Json } : undefined;
}

export function parseRequest(p: Uint8Array): RequestCall | undefined {
  const o = parse(p);
  if (!o || !isStr(o.room) || !isStr(o.rid) || !isStr(o.to) || !isStr(o.from) || !isNum(o.timeoutMs)) return undefined;
  const c: RequestCall = { room: o.room, rid: o.rid, to: o.to, from: o.from, data: (o.data ?? null) as Json, timeoutMs: o.timeoutMs };
  if (isStr(o.origin)) c.origin = o.origin;
  return c;
}

export function parseReply(p: Uint8Array): ReplyCall | undefined {
  const o = parse(p);
  if (!o || !isStr(o.room) || !isStr(o.rid) || !isStr(o.from)) return undefined;
  const r: ReplyCall = { room: o.room, rid: o.rid, from: o.from };
  const error = errorOf(o.error);
  if (error) r.error = error;
  else r.data = (o.data ?? null) as Json;
  return r;
}

export function parseCancel(p: Uint8Array): CancelCall | undefined {
  const o = parse(p);
  return o && isStr(o.room) && isStr(o.rid) ? { room: o.room, rid: o.rid } : undefined;
}

export function parsePost(p: Uint8Array): PostCall | undefined {
  const o = parse(p);
  const body = o?.body as Obj | undefined;
  return o && isStr(o.room) && isNum(o.q) && typeof body === 'object' && body !== null && !Array.isArray(body) ? { room: o.room, q: o.q, body } : undefined;
}

export function parsePostAnswer(p: Uint8Array): PostAnswer | undefined {
  const o = parse(p);
  return o && isNum(o.q) && isNum(o.status) ? { q: o.q, status: o.status, body: (o.body ?? null) as Json } : undefined;
}

// ---------------------------------------------------------------------------------------------
// A member taken over by another node (member-handover.ts)

/** A message for one member alone (a reply, a job outcome…), from its former node to its new one. */
export interface TellCall { room: string; to: string; message: { type: string } & Record<string, unknown> }
/**
 * `th`: SHA-256 of the member's token (hex): the token itself never travels. `user`: the resuming
 * connection's. `origin`: the asking node, when a node that handed the member over before passes
 * the ask on to where it went (`hops` of them, bounded).
 */
export interface HandoverAsk { room: string; q: number; th: string; user?: string; seen?: number; origin?: string; hops?: number }
/** What the new node needs to go on with a member: `frames` are what it was sent after `seen`, as [event, text]. */
export interface HandedMember { cid: string; at: number; user?: string; info?: Json; owner?: boolean; seen: number; frames: [string, string][] }
/** `state` absent: no such member there (`why` says why). */
export interface HandoverAnswer { q: number; state?: HandedMember; why?: string }

export function parseTell(p: Uint8Array): TellCall | undefined {
  const o = parse(p);
  const m = o?.message as Obj | undefined;
  return o && isStr(o.room) && isStr(o.to) && typeof m === 'object' && m !== null && isStr(m.type) ? { room: o.room, to: o.to, message: m as TellCall['message'] } : undefined;
}

export function parseHandoverAsk(p: Uint8Array): HandoverAsk | undefined {
  const o = parse(p);
  if (!o || !isStr(o.room) || !isNum(o.q) || typeof o.th !== 'string' || !/^[0-9a-f]{64}$/.test(o.th)) return undefined;
  const a: HandoverAsk = { room: o.room, q: o.q, th: o.th };
  if (typeof o.user === 'string') a.user = o.user;
  if (isNum(o.seen) && o.seen >= 0) a.seen = o.seen;
  if (isStr(o.origin)) a.origin = o.origin;
  if (isNum(o.hops)) a.hops = o.hops;
  return a;
}

export function parseHandoverAnswer(p: Uint8Array): HandoverAnswer | undefined {
  const o = parse(p);
  if (!o || !isNum(o.q)) return undefined;
  const a: HandoverAnswer = { q: o.q };
  if (typeof o.why === 'string') a.why = o.why;
  const s = o.state as Obj | undefined;
  if (s === undefined) return a;
  if (typeof s !== 'object' || s === null || !isStr(s.cid) || !isNum(s.at) || !isNum(s.seen) || !Array.isArray(s.frames)) return undefined;
  const frames: [string, string][] = [];
  for (const f of s.frames) {
    if (!Array.isArray(f) || typeof f[0] !== 'string' || typeof f[1] !== 'string') return undefined;
    frames.push([f[0], f[1]]);
  }
  const state: HandedMember = { cid: s.cid, at: s.at, seen: s.seen, frames };
  if (typeof s.user === 'string') state.user = s.user;
  if (s.info !== undefined) state.info = s.info as Json;
  if (s.owner === true) state.owner = true;
  a.state = state;
  return a;
}
