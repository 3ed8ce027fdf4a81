// The native protocol's messages, version 1 (docs/protocol.md), as TypeScript types, and the one
// place where untrusted JSON from the server becomes one of them. Servers and tests import these
// too, so both ends of the wire agree on the shapes.

/** The WebSocket subprotocol that selects this protocol (without it a room speaks GUN). */
export const SUBPROTOCOL = 'multisocket.v1';

/** A connection's id in its room, e.g. `"c1a"`. */
export type Cid = string;
/** A request's id, chosen by the requester; a `reply` carries it back. */
export type RequestId = string | number;
/** Any client message may carry one; the server echoes it in an `error` the message causes. */
export type Ref = string | number;

/** `{code, message}` in a `reply` that failed. `code` is one of `RequestErrorCode` or a member's own. */
export interface ErrorInfo {
  code: string;
  message?: string;
}

/** Codes of `reply.error` the server itself gives, plus the SDK's `handler_error`. */
export type RequestErrorCode = 'timeout' | 'gone' | 'no_responder' | 'unknown_target' | 'handler_error';

/** Codes of the `error` message (and of POST refusals). */
export type ErrorCode =
  | 'bad_message'
  | 'unknown_target'
  | 'rate_limited'
  | 'too_many_requests'
  | 'unknown_request'
  | 'no_puller'
  | 'bad_token'
  | 'too_large'
  /** The room token does not allow this message (docs/protocol.md §8). */
  | 'forbidden'
  /** An `auth` whose token does not verify; or, just before a close, the token ran out. */
  | 'token_invalid'
  | 'token_expired';

// ---------------------------------------------------------------------------------------------
// Client → server (§3)

interface WithRef {
  ref?: Ref;
}
export interface PublishCommand extends WithRef {
  type: 'publish';
  data: unknown;
  topic?: string;
  echo?: boolean;
}
export interface SendCommand extends WithRef {
  type: 'send';
  to: Cid;
  data: unknown;
}
export interface SubscribeCommand extends WithRef {
  type: 'subscribe';
  topic: string;
}
export interface UnsubscribeCommand extends WithRef {
  type: 'unsubscribe';
  topic: string;
}
export interface RequestCommand extends WithRef {
  type: 'request';
  id: RequestId;
  data: unknown;
  to?: Cid;
  /** ms; the server's default is 10,000, its maximum 60,000. */
  timeout?: number;
}
export type ReplyCommand = WithRef & { type: 'reply'; id: RequestId } & ({ data: unknown } | { error: ErrorInfo });
export interface ServeCommand extends WithRef {
  type: 'serve';
}
export interface UnserveCommand extends WithRef {
  type: 'unserve';
}
export interface PushCommand extends WithRef {
  type: 'push';
  data: unknown;
}
export interface PullCommand extends WithRef {
  type: 'pull';
}
export interface UnpullCommand extends WithRef {
  type: 'unpull';
}
export interface PresenceCommand extends WithRef {
  type: 'presence';
}
/** A new room token for this connection, before the current one expires. */
export interface AuthCommand extends WithRef {
  type: 'auth';
  token: string;
}

export type ClientMessage =
  | PublishCommand
  | SendCommand
  | SubscribeCommand
  | UnsubscribeCommand
  | RequestCommand
  | ReplyCommand
  | ServeCommand
  | UnserveCommand
  | PushCommand
  | PullCommand
  | UnpullCommand
  | PresenceCommand
  | AuthCommand;

/** A client message as POSTed by an SSE client: the message plus its connection's token. */
export type PostedMessage = ClientMessage & { token: string };

// ---------------------------------------------------------------------------------------------
// Server → client (§4)

export interface ConnectMessage {
  type: 'connect';
  /** The room's path, e.g. `/chat` (for `/_/new`, the created `/r-…` path). */
  room: string;
  cid: Cid;
  token: string;
  owner: Cid;
  members: Cid[];
  /** This member's user (its room token's `sub`), when it has one. */
  user?: string;
  /** cid → user of the members whose tokens name one (those this member may see). */
  users?: Record<Cid, string>;
  /** The room's last published sequence number (0 if none). */
  seq: number;
  /** Names this incarnation of the room; sent back with `since` on a reconnect. */
  epoch?: string;
}
export type MessageKind = 'publish' | 'direct' | 'push';
export interface DataMessage {
  type: 'message';
  kind: MessageKind;
  from: Cid;
  data: unknown;
  topic?: string;
  /** Set on `publish`ed messages. */
  seq?: number;
}
export interface JoinMessage {
  type: 'join';
  cid: Cid;
  /** The member's user (its room token's `sub`), when it has one. */
  user?: string;
}
export interface LeaveMessage {
  type: 'leave';
  cid: Cid;
  /** The new owner, when the one who left was the owner. */
  owner?: Cid;
}
export interface RequestMessage {
  type: 'request';
  id: RequestId;
  from: Cid;
  data: unknown;
}
export type ReplyMessage = { type: 'reply'; id: RequestId; from?: Cid } & (
  | { data: unknown; error?: undefined }
  | { error: ErrorInfo }
);
export interface PresenceMessage {
  type: 'presence';
  members: Cid[];
  owner: Cid;
  users?: Record<Cid, string>;
}
/** The answer to `auth`: the new token was accepted. */
export interface AuthMessage {
  type: 'auth';
  /** What the token allows (`read`/`write` expanded into single permissions; `admin` for all). */
  perms: string[];
  user?: string;
  /** Expiry of the new token, seconds since the epoch. */
  exp?: number;
  ref?: Ref;
}
export interface GapMessage {
  type: 'gap';
  from: number;
  to: number;
}
export interface ErrorMessage {
  type: 'error';
  code: string;
  message: string;
  ref?: Ref;
}
export interface ClosedMessage {
  type: 'closed';
  reason: string;
}

export type ServerMessage =
  | ConnectMessage
  | DataMessage
  | JoinMessage
  | LeaveMessage
  | RequestMessage
  | ReplyMessage
  | PresenceMessage
  | GapMessage
  | ErrorMessage
  | ClosedMessage
  | AuthMessage;

export type ServerMessageType = ServerMessage['type'];

/** Every server message type, e.g. to add one SSE listener per event name. */
export const SERVER_MESSAGE_TYPES: readonly ServerMessageType[] = [
  'connect', 'message', 'join', 'leave', 'request', 'reply', 'presence', 'gap', 'error', 'closed', 'auth',
];

// ---------------------------------------------------------------------------------------------
// Parsing: untrusted JSON → ServerMessage, once, at the edge

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isOptStr = (v: unknown): v is string | undefined => v === undefined || isStr(v);
const isId = (v: unknown): v is RequestId => isStr(v) || isNum(v);
const isStrArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isStr);
/** A cid → user map, with anything that is not a string dropped. */
function usersOf(v: unknown): Record<string, string> | undefined {
  if (!isObj(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [cid, user] of Object.entries(v)) if (isStr(user)) out[cid] = user;
  return out;
}

function errorInfo(v: unknown): ErrorInfo | undefined {
  if (!isObj(v) || !isStr(v.code)) return undefined;
  return isStr(v.message) ? { code: v.code, message: v.message } : { code: v.code };
}

const KINDS: readonly string[] = ['publish', 'direct', 'push'];

/**
 * One decoded JSON value → a typed server message, or `undefined` when it is not one this client
 * knows (unknown `type`, or a known type with missing/mistyped fields). Unknown extra fields are
 * dropped, so nothing untyped leaks past this point.
 */
export function parseServerMessage(v: unknown): ServerMessage | undefined {
  if (!isObj(v) || !isStr(v.type)) return undefined;
  switch (v.type) {
    case 'connect':
      if (!isStr(v.room) || !isStr(v.cid) || !isStr(v.token) || !isStr(v.owner) || !isStrArray(v.members)) return undefined;
      return {
        type: 'connect', room: v.room, cid: v.cid, token: v.token, owner: v.owner, members: v.members, seq: isNum(v.seq) ? v.seq : 0,
        ...(isStr(v.epoch) ? { epoch: v.epoch } : {}),
        ...(isStr(v.user) ? { user: v.user } : {}),
        ...(usersOf(v.users) ? { users: usersOf(v.users) } : {}),
      };
    case 'message': {
      if (!isStr(v.kind) || !KINDS.includes(v.kind) || !isStr(v.from) || !isOptStr(v.topic)) return undefined;
      const m: DataMessage = { type: 'message', kind: v.kind as MessageKind, from: v.from, data: v.data ?? null };
      if (v.topic !== undefined) m.topic = v.topic;
      if (isNum(v.seq)) m.seq = v.seq;
      return m;
    }
    case 'join':
      if (!isStr(v.cid)) return undefined;
      return isStr(v.user) ? { type: 'join', cid: v.cid, user: v.user } : { type: 'join', cid: v.cid };
    case 'leave':
      if (!isStr(v.cid) || !isOptStr(v.owner)) return undefined;
      return v.owner === undefined ? { type: 'leave', cid: v.cid } : { type: 'leave', cid: v.cid, owner: v.owner };
    case 'request':
      if (!isId(v.id) || !isStr(v.from)) return undefined;
      return { type: 'request', id: v.id, from: v.from, data: v.data ?? null };
    case 'reply': {
      if (!isId(v.id) || !isOptStr(v.from)) return undefined;
      const from = v.from === undefined ? {} : { from: v.from };
      if (v.error !== undefined && v.error !== null) {
        const error = errorInfo(v.error);
        return error ? { type: 'reply', id: v.id, ...from, error } : undefined;
      }
      return { type: 'reply', id: v.id, ...from, data: v.data ?? null };
    }
    case 'presence':
      if (!isStrArray(v.members) || !isStr(v.owner)) return undefined;
      return { type: 'presence', members: v.members, owner: v.owner, ...(usersOf(v.users) ? { users: usersOf(v.users) } : {}) };
    case 'gap':
      return isNum(v.from) && isNum(v.to) ? { type: 'gap', from: v.from, to: v.to } : undefined;
    case 'error': {
      if (!isStr(v.code)) return undefined;
      const e: ErrorMessage = { type: 'error', code: v.code, message: isStr(v.message) ? v.message : v.code };
      if (isId(v.ref)) e.ref = v.ref;
      return e;
    }
    case 'closed':
      return { type: 'closed', reason: isStr(v.reason) ? v.reason : 'closed' };
    case 'auth': {
      const a: AuthMessage = { type: 'auth', perms: isStrArray(v.perms) ? v.perms : [] };
      if (isStr(v.user)) a.user = v.user;
      if (isNum(v.exp)) a.exp = v.exp;
      if (isId(v.ref)) a.ref = v.ref;
      return a;
    }
    default:
      return undefined;
  }
}

/**
 * One WebSocket text frame (or SSE `data:`) → its messages, in order: an object is one message, an
 * array a batch. Malformed JSON and unknown messages yield nothing.
 */
export function parseServerFrame(text: string): ServerMessage[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [];
  }
  const items = Array.isArray(value) ? value : [value];
  const out: ServerMessage[] = [];
  for (const item of items) {
    const msg = parseServerMessage(item);
    if (msg) out.push(msg);
  }
  return out;
}
