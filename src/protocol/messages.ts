// The native protocol's messages, version 1 (docs/protocol.md), as TypeScript types: what a client
// sends (commands) and what the server sends (messages). The server's parser (channels/messages.ts)
// and the SDK (client/) both take their shapes from here, so both ends of the wire agree.
import type { ErrorCode } from './errors.js';

/** A connection's id in its room, e.g. `"c1a"`; kept across a resumed reconnect. */
export type Cid = string;
/** A request's id, chosen by the requester; a `reply` carries it back. */
export type RequestId = string | number;
/** Any client message may carry one; the server echoes it in the `ack` or `error` it causes. */
export type Ref = string | number;
/** A pushed job's id, given by the server (`ack.job`, `message.job`, `job.job`). */
export type JobId = string;

/** `{code, message}` in a failed `reply` or `job`. `code` is a table code or a member's own. */
export interface ErrorInfo {
  code: string;
  message?: string;
}

/** The limits of this server, announced in `connect` so a client can keep to them. */
export interface ServerLimits {
  /** Largest message (WebSocket frame, POST body) in bytes. */
  maxMessageBytes: number;
  /** Messages one connection may send per second. */
  maxMessagesPerSecond: number;
  /** Requests of one connection that may wait for replies at once. */
  maxPendingRequests: number;
  /** Largest `info` (JSON) in bytes. */
  maxInfoBytes: number;
  /** How long a dropped member is kept for a `resume` before others see it leave, ms. */
  resumeGraceMs: number;
  /** The longest request `timeout` the server honours, ms. */
  maxRequestTimeoutMs: number;
}

// ---------------------------------------------------------------------------------------------
// Client → server (§3)

interface WithRef {
  ref?: Ref;
}
/** `ack: true` asks for an `ack` message (an SSE POST's answer is the ack anyway). */
interface Ackable extends WithRef {
  ack?: boolean;
}
export interface PublishCommand extends Ackable {
  type: 'publish';
  data: unknown;
  topic?: string;
  echo?: boolean;
}
export interface SendCommand extends Ackable {
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
  /** ms; the server's default is 10,000, its maximum `limits.maxRequestTimeoutMs`. */
  timeout?: number;
}
export type ReplyCommand = WithRef & { type: 'reply'; id: RequestId } & ({ data: unknown } | { error: ErrorInfo });
export interface ServeCommand extends WithRef {
  type: 'serve';
}
export interface UnserveCommand extends WithRef {
  type: 'unserve';
}
/** Queue a job for one puller. With `ack: true` the server answers `ack` (queued, with `job`) and later `job` (the outcome). */
export interface PushCommand extends Ackable {
  type: 'push';
  data: unknown;
}
export interface PullCommand extends WithRef {
  type: 'pull';
  /** Jobs this member holds unacknowledged at once (1–1000, default 1). */
  prefetch?: number;
  /** false: every job counts as done once written to this member (no `ack`/`nack`, no redelivery). Default true. */
  ack?: boolean;
}
export interface UnpullCommand extends WithRef {
  type: 'unpull';
}
/** A job this member took is done; `data` goes to the pusher in `job`. */
export interface AckCommand extends WithRef {
  type: 'ack';
  job: JobId;
  data?: unknown;
}
/** A job this member took failed; it is given to another puller (up to `--job-max-attempts`). */
export interface NackCommand extends WithRef {
  type: 'nack';
  job: JobId;
  error?: ErrorInfo;
}
export interface PresenceCommand extends WithRef {
  type: 'presence';
}
/** A new room token for this connection, before the current one expires. */
export interface AuthCommand extends WithRef {
  type: 'auth';
  token: string;
}
/** Leave the room for good now: others see `leave` at once instead of after the resume grace. */
export interface LeaveCommand extends WithRef {
  type: 'leave';
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
  | AckCommand
  | NackCommand
  | PresenceCommand
  | AuthCommand
  | LeaveCommand;

/** A client message as POSTed by an SSE client: the message plus its connection's token. */
export type PostedMessage = ClientMessage & { token: string };

// ---------------------------------------------------------------------------------------------
// Server → client (§4)

/**
 * Messages sent to one member alone (direct and pushed messages, requests, replies, presence,
 * acks, job outcomes, errors) carry `n`: 1, 2, 3… per member. A client resuming after a drop
 * says the last it saw (`?seen=`) and gets the rest again (docs/protocol.md §2).
 */
interface Numbered {
  n?: number;
}

export interface ConnectMessage {
  type: 'connect';
  /** The room's path, e.g. `/chat` (for `/_/new`, the created `/r-…` path). */
  room: string;
  cid: Cid;
  /** Secret of this member: authenticates its POSTs, and resumes it after a drop (`?resume=`). */
  token: string;
  /** True when this connection resumed the member named by `?resume=` (same cid, no leave/join seen by others). */
  resumed: boolean;
  owner: Cid;
  members: Cid[];
  /** This member's user (its room token's `sub`), when it has one. */
  user?: string;
  /** cid → user of the members whose tokens name one (those this member may see). */
  users?: Record<Cid, string>;
  /** This member's presence data (`?info=`), when it gave some. */
  info?: unknown;
  /** cid → presence data of the members that gave some. */
  infos?: Record<Cid, unknown>;
  /** The room's last published sequence number (0 if none). */
  seq: number;
  /** Names this incarnation of the room; sent back with `since` on a reconnect. */
  epoch?: string;
  limits?: ServerLimits;
}
export type MessageKind = 'publish' | 'direct' | 'push';
export interface DataMessage extends Numbered {
  type: 'message';
  kind: MessageKind;
  from: Cid;
  data: unknown;
  topic?: string;
  /** Set on `publish`ed messages. */
  seq?: number;
  /** Set on pushed jobs of an acknowledging puller: answer with `ack`/`nack` and this id. */
  job?: JobId;
  /** Which delivery of the job this is (1 for the first). */
  attempt?: number;
}
export interface JoinMessage {
  type: 'join';
  cid: Cid;
  /** The member's user (its room token's `sub`), when it has one. */
  user?: string;
  /** The member's presence data, when it gave some. */
  info?: unknown;
}
export interface LeaveMessage {
  type: 'leave';
  cid: Cid;
  /** The new owner, when the one who left was the owner. */
  owner?: Cid;
}
export interface RequestMessage extends Numbered {
  type: 'request';
  id: RequestId;
  from: Cid;
  data: unknown;
}
export type ReplyMessage = Numbered & { type: 'reply'; id: RequestId; from?: Cid } & (
  | { data: unknown; error?: undefined }
  | { error: ErrorInfo }
);
export interface PresenceMessage extends Numbered {
  type: 'presence';
  members: Cid[];
  owner: Cid;
  users?: Record<Cid, string>;
  infos?: Record<Cid, unknown>;
  ref?: Ref;
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
/** The server accepted the message `ref` (it asked with `ack: true`). */
export interface AckMessage extends Numbered {
  type: 'ack';
  ref: Ref;
  /** A publish: its sequence number. */
  seq?: number;
  /** A push: the queued job's id (its outcome follows as `job`). */
  job?: JobId;
}
/** The outcome of a job pushed with `ack: true`. */
export type JobMessage = Numbered & {
  type: 'job';
  /** The push's `ref`. */
  ref: Ref;
  job: JobId;
  /** Deliveries made (1 when the first puller finished it). */
  attempts: number;
} & (
  | { status: 'done'; from: Cid; data: unknown }
  | { status: 'failed'; error: ErrorInfo }
);
export interface GapMessage {
  type: 'gap';
  /** Lost published messages `from`..`to` (with `reset`: of the new epoch; `to` 0 = none of it). */
  from: number;
  to: number;
  /** The room's numbering restarted (new epoch): what came after your last seq in the old one is unknown. */
  reset?: true;
  /** With `reset` on a cluster: the new epoch (live, without a new `connect`); resume with it. */
  epoch?: string;
  /** Cluster: the engine was away; messages published on other nodes meanwhile were delivered only there, unnumbered (from..to may be empty: from = to + 1). */
  outage?: true;
}
export interface ErrorMessage extends Numbered {
  type: 'error';
  code: ErrorCode | (string & {});
  message: string;
  ref?: Ref;
}
export interface ClosedMessage {
  type: 'closed';
  /** `owner_left` (owned room), `closed_by_admin`, `kicked` (an admin removed this member), `restart` (the server drains; reconnect), … */
  reason: string;
  /** With `kicked`: the admin's reason, when one was given. */
  message?: string;
  /** With `restart`: reconnect after about this many ms (spread per member by the server). */
  retryMs?: number;
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
  | AuthMessage
  | AckMessage
  | JobMessage;

export type ServerMessageType = ServerMessage['type'];

/** Every server message type, e.g. to add one SSE listener per event name. */
export const SERVER_MESSAGE_TYPES: readonly ServerMessageType[] = [
  'connect', 'message', 'join', 'leave', 'request', 'reply', 'presence', 'gap', 'error', 'closed', 'auth', 'ack', 'job',
];
