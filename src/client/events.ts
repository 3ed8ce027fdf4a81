// What a room handle tells its listeners (`room.on(name, fn)`).
import type { MultisocketError } from './errors.js';
import type { AuthMessage, Cid, DataMessage, ErrorCode, GapMessage, JoinMessage, LeaveMessage, ServerLimits } from './types.js';

export type RoomState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface ConnectEvent {
  room: string;
  cid: Cid;
  owner: Cid;
  members: Cid[];
  /** The room's last published seq when this connection opened. */
  seq: number;
  /**
   * True when the server resumed this member after a drop: same cid, others saw no leave/join,
   * replies and direct messages held for it are delivered now. False for a new member.
   */
  resumed: boolean;
  /** False for the handle's first connection, true for every later one. */
  reconnected: boolean;
  /** This member's user (its room token's `sub`), when it has one. */
  user?: string;
  /** cid → user of the members whose tokens name one. */
  users?: Record<Cid, string>;
  /** This member's presence data, when it gave some (`info` option). */
  info?: unknown;
  /** cid → presence data of the members that gave some. */
  infos?: Record<Cid, unknown>;
  /** What the server announced it accepts (fields an older server does not send are absent). */
  limits?: Partial<ServerLimits>;
}

export interface ReconnectingEvent {
  /** 1 for the first attempt after a drop. */
  attempt: number;
  /** ms until it. */
  delay: number;
  /** Why the last connection ended, where known. */
  /** 1012 and reason `restart` when the server drained (it asked the handle to come back). */
  code?: number;
  status?: number;
  reason?: string;
  /** The room URL of the next attempt, when connect() was given several. */
  url?: string;
}

export interface ClosedEvent {
  /**
   * Why the handle is closed for good: the server's (`owner_left`…), or `client` (close()),
   * `gone` (404/410), `unauthorized` (401 and no getToken), `forbidden` (403), `bad_request` (400),
   * `too_large` (413, e.g. an `info` over the cap), `token_expired` (4001 without getToken),
   * `disconnected` (the connection dropped and `reconnect: false`), `restart` (the server drained
   * and `reconnect: false`), `failed` (no transport).
   */
  reason: string;
  /** The table's code for it when the server gave one (`room_closed`, `token_expired`, `bad_path`…). */
  code?: ErrorCode;
}

/**
 * Published messages `from`..`to` are lost to this member. With `reset`, the room's numbering
 * restarted while it was away (a new server process, or the room was freed and made again): what
 * came after its last seq of the old numbering is unknown, and `from`..`to` is the lost part of
 * the new numbering (`to` 0: none of it).
 */
export type GapEvent = GapMessage;

export interface RoomEvents {
  connect: ConnectEvent;
  join: JoinMessage;
  leave: LeaveMessage;
  message: DataMessage;
  gap: GapEvent;
  closed: ClosedEvent;
  reconnecting: ReconnectingEvent;
  /** A new token was accepted on the open connection. */
  auth: AuthMessage;
  /**
   * A server `error` not answered by a rejected request (e.g. `rate_limited`), a write that failed
   * (its promise rejects too; `ref` names it), or a transport failure.
   */
  error: MultisocketError;
}
