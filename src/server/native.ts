// Native-protocol members over WebSocket and SSE: admission to the room's hub, decoding of
// incoming frames, and cleanup when the transport goes away.
import type http from 'node:http';
import type { Connection } from '../transports/connection.js';
import type { Room } from '../rooms/room.js';
import type { RoomRegistry } from '../rooms/registry.js';
import { errorMessage, type JoinRequest, type Member, type Respond } from '../channels/hub.js';
import { parseClientMessage, type Json, type Ref } from '../channels/messages.js';
import type { RoomAccess } from '../access/room-access.js';
import { isRefusal } from '../access/principal.js';
import { permNames } from '../access/permissions.js';
import { OutFrame } from '../transports/out-frame.js';
import { setPrincipal } from './token-expiry.js';
import { queryParams } from './query-params.js';
import { nestsTooDeep, TOO_DEEP } from '../json-depth.js';
import type { KnownErrorCode } from '../protocol/errors.js';
import { logFailure } from '../log-throttle.js';

export type JoinOptions = JoinRequest;

/** A resume token as `connect` gives them (hex); anything else cannot name a member. */
const RESUME_TOKEN = /^[0-9a-f]{16,64}$/;

/**
 * What a native connection asks of its membership, from the URL: replay (`since`, `epoch`, or
 * SSE's Last-Event-ID), `topics`, `resume` (a member's token) and presence `info` (JSON, at most
 * `maxInfoBytes`). A malformed one is refused at the door, before any connection exists.
 */
export function joinOptions(req: http.IncomingMessage, maxInfoBytes: number): JoinOptions | JoinRefusal {
  const params = queryParams(req.url ?? '/');
  if (params.get('since') === null && req.headers['last-event-id'] !== undefined) params.set('since', String(req.headers['last-event-id']));
  return joinOptionsFrom(params, maxInfoBytes);
}

export interface JoinRefusal { refused: KnownErrorCode; message: string }

/** joinOptions from a request target (path and query) and an SSE Last-Event-ID, if any (the in-process door has no request). */
export function joinOptionsOf(target: string, maxInfoBytes: number, lastEventId?: string): JoinOptions | JoinRefusal {
  const params = queryParams(target);
  if (params.get('since') === null && lastEventId !== undefined) params.set('since', lastEventId);
  return joinOptionsFrom(params, maxInfoBytes);
}

/**
 * The same, from named text values: a URL query, or a line stream's `hello` (line-door.ts turns
 * its JSON fields into these texts, so that both are checked by this one function).
 */
export function joinOptionsFrom(params: { get(name: string): string | null }, maxInfoBytes: number): JoinOptions | JoinRefusal {
  const out: JoinOptions = {};
  const resume = params.get('resume');
  if (resume !== null && resume !== '') {
    if (!RESUME_TOKEN.test(resume)) return { refused: 'bad_request', message: '"resume" must be the token of an earlier connect' };
    out.resume = resume;
    const seen = params.get('seen');
    if (seen !== null) {
      if (!/^\d{1,15}$/.test(seen)) return { refused: 'bad_request', message: '"seen" must be the last "n" received' };
      out.seen = Number(seen);
    }
  }
  const info = params.get('info');
  if (info !== null) {
    if (Buffer.byteLength(info) > maxInfoBytes) return { refused: 'too_large', message: `"info" is over --max-info-bytes (${maxInfoBytes})` };
    try {
      out.info = JSON.parse(info) as Json;
    } catch {
      return { refused: 'bad_request', message: '"info" must be JSON (URL-encoded)' };
    }
    if (nestsTooDeep(out.info, info.length)) return { refused: 'bad_request', message: `"info": ${TOO_DEEP}` };
  }
  const epoch = params.get('epoch');
  if (epoch && epoch.length <= 64) out.epoch = epoch;
  const raw = params.get('since');
  if (raw !== null && /^\d{1,15}$/.test(raw.trim())) out.since = Number(raw.trim());
  const topics = params.get('topics');
  if (topics) out.topics = topics.split(',').map((t) => t.trim()).filter((t) => t.length > 0 && t.length <= 256).slice(0, 100);
  return out;
}

/** Add a connection to the room's hub. When the transport goes, call leaveHub with the member and it. */
export function joinHub(rooms: RoomRegistry, room: Room, conn: Connection, options: JoinOptions): Member {
  const hub = room.channels();
  rooms.joined(room);
  return hub.join(conn, options);
}

/**
 * The connection of a member that joined with joinHub is gone: the member waits for a resume
 * (the grace), then leaves; a no-op when it already left, its room was closed, or another
 * connection took it over. A function rather than a closure per member: idle members are kept small.
 */
export function leaveHub(room: Room, member: Member, conn: Connection): void {
  room.channels().detach(member, conn);
}

/** Sent to a native member just before its connection closes because its token expired. */
const TOKEN_EXPIRED_FRAME = new OutFrame(JSON.stringify(errorMessage('token_expired', 'the room token expired and was not refreshed (send {"type":"auth","token":…} before it expires)')), 'error');

/** setPrincipal's beforeClose for native members: a function, not a closure per member. */
export function tellTokenExpired(conn: Connection): void {
  conn.send(TOKEN_EXPIRED_FRAME, true);
}

/**
 * A native `auth` message: verify the new token for this room and apply it to the member (what
 * it may do, when it expires). Messages the member sent after it and before this answer were
 * judged by the old token (verification is asynchronous).
 */
export async function refreshMember(access: RoomAccess, room: Room, member: Member, conn: Connection, token: string, ref: Ref, respond: Respond): Promise<void> {
  let next;
  try {
    next = await access.refresh(room.name, token, conn.principal);
  } catch (err) {
    room.log.error('token refresh failed', { room: room.name, err: (err as Error).stack });
    return respond(errorMessage('internal', 'the server failed to check this token', ref), 500);
  }
  if (isRefusal(next)) return respond(errorMessage(next.code, next.message, ref), next.status);
  if (!conn.isOpen || member.conn !== conn || room.channels().members.get(member.cid) !== member) return;
  room.channels().authorize(member, next);
  setPrincipal(conn, next, tellTokenExpired);
  const answer: Record<string, unknown> = { type: 'auth', perms: permNames(next.perms) };
  if (next.user !== undefined) answer.user = next.user;
  if (next.expiresAt !== undefined) answer.exp = Math.floor(next.expiresAt / 1000);
  if (ref !== undefined) answer.ref = ref;
  respond(answer, 200);
}

/** Answers to a WebSocket member go to its connection, written at once. */
function answerOverSocket(this: Connection, message: object): void {
  const m = message as { type?: string };
  if (m.type !== undefined) this.send(OutFrame.of(message, m.type), true);
}

/** A connection that counts a member's messages against --max-messages-per-second. */
export type BudgetedConnection = Connection & { withinBudget(now: number): boolean };

/** Handle one WebSocket text frame from a native member: one message object or a batch. */
export function receiveNativeFrame(access: RoomAccess, room: Room, member: Member, conn: BudgetedConnection, text: string): void {
  const value = parseNativeText(room, member, text, 'frame');
  if (value !== undefined) receiveNativeValue(access, room, member, conn, value);
}

/** The JSON of one frame or line, or undefined when it is none (the member was told: bad_message). */
export function parseNativeText(room: Room, member: Member, text: string, what: 'frame' | 'line'): unknown {
  const hub = room.channels();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    hub.sendError(member, 'bad_message', `${what} is not JSON`);
    return undefined;
  }
  if (nestsTooDeep(value, text.length)) {
    hub.sendError(member, 'bad_message', TOO_DEEP);
    return undefined;
  }
  return value;
}

/** Handle one parsed frame or line of a native member, whatever its transport: a message or a batch. */
export function receiveNativeValue(access: RoomAccess, room: Room, member: Member, conn: BudgetedConnection, value: unknown): void {
  const hub = room.channels();
  const batch = Array.isArray(value) ? value : [value];
  const now = Date.now();
  for (const item of batch) {
    if (!conn.withinBudget(now)) {
      if (room.tally) room.tally.rateLimited++;
      hub.sendError(member, 'rate_limited', 'over --max-messages-per-second; message dropped', refOf(item));
      continue;
    }
    receiveNativeMessage(access, room, member, conn, item);
  }
}

/**
 * One message of a native member, whatever its door (a socket's frame or line, an in-process
 * handle): checked against the protocol, then an `auth` refreshes the member's token and anything
 * else goes to the hub. Budgets and batches are the caller's.
 */
export function receiveNativeMessage(access: RoomAccess, room: Room, member: Member, conn: Connection, item: unknown): void {
  const hub = room.channels();
  const parsed = parseClientMessage(item);
  if (!parsed.ok) return hub.sendError(member, 'bad_message', parsed.message, parsed.ref);
  if (parsed.msg.type === 'auth') {
    void refreshMember(access, room, member, conn, parsed.msg.token, parsed.msg.ref, answerOverSocket.bind(conn));
    return;
  }
  try {
    hub.receive(member, parsed.msg);
  } catch (err) {
    // A bug must cost one message, not the process and every room in it.
    logFailure(room.log, 'error', 'native message failed', { room: room.name, type: parsed.msg.type, err: (err as Error).stack });
    hub.sendError(member, 'internal', 'the server failed to handle this message', parsed.msg.ref);
  }
}

function refOf(v: unknown): string | number | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = (v as Record<string, unknown>).ref;
  return typeof r === 'string' || typeof r === 'number' ? r : undefined;
}
