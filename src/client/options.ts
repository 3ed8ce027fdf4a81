// What a caller can ask of a room handle: the options of connect() and of each call.
import type { BackoffOptions } from './backoff.js';
import type { Cid, DataMessage, RequestId } from './types.js';

export type TransportName = 'websocket' | 'sse';

export interface ConnectOptions {
  /** Default `websocket`. */
  transport?: TransportName;
  /** Topics to subscribe to from the start (before any replay), without a handler of their own. */
  topics?: string[];
  /** Reconnect after the connection drops (default true). Never after `close()` or `closed`. */
  reconnect?: boolean;
  /** Default timeout of `request()` and `presence()`, ms (default 10,000). */
  requestTimeout?: number;
  /** How long `close()` waits to flush buffered writes, ms (default 5,000). */
  closeTimeout?: number;
  /** Reconnect delays (default 250 ms doubling to 10 s, ±50% jitter). */
  backoff?: BackoffOptions;
  /** Resume from this `seq` on the first connection too (e.g. one saved from an earlier session). */
  since?: number;
  /**
   * This member's presence data (any JSON, small: the server caps it at `limits.maxInfoBytes`,
   * default 1,024 bytes), shown to others in `connect`, `join` and `presence`.
   */
  info?: unknown;
  /**
   * Keep the resume state in sessionStorage so a page reload comes back as the same member (same
   * cid, others see no leave/join). Default: true where `globalThis.sessionStorage` exists.
   */
  persist?: boolean;
  /**
   * A room token (JWT) for a server that requires one (docs/security.md); sent as `?token=` when
   * connecting. A fixed token cannot be renewed: when it expires the room closes (`token_expired`).
   */
  token?: string;
  /**
   * Gets a room token: before the first connection, before every reconnect whose token is
   * missing, refused or about to expire, and again before the current one expires (the new one is
   * then sent on the open connection as an `auth` message, which the server checks). Wins over `token`.
   */
  getToken?: () => string | Promise<string>;
}

export interface PublishOptions {
  topic?: string;
  /** Deliver to this member too (default false). */
  echo?: boolean;
  /** Resolve when the server has taken it (with its `seq`), not merely written it (default false). */
  ack?: boolean;
}

export interface SendOptions {
  /** Resolve when the server has delivered it to the member's connection (default true). */
  ack?: boolean;
}

export interface RequestOptions {
  /** A member's cid; without it one member that called `serve` is picked (round-robin). */
  to?: Cid;
  /** ms (default: `requestTimeout`, else 10,000); the promise rejects at exactly this time. */
  timeout?: number;
}

export interface PresenceOptions {
  /** ms (default: `requestTimeout`, else 10,000). */
  timeout?: number;
}

export interface RequestContext {
  from: Cid;
  id: RequestId;
}

/**
 * Answers a request. Its return value (or what its Promise resolves to) is the reply's `data`; a
 * throw or rejection becomes the error reply `{code: 'handler_error', message}` (or the code of a
 * thrown MultisocketError: the asker then gets `handler_error` with that code as `appCode`).
 */
export type RequestHandler<In = any, Out = unknown> = (data: In, ctx: RequestContext) => Out | Promise<Out>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Called with each published message whose topic matches a subscription. */
export type TopicHandler<T = unknown> = (data: T, msg: DataMessage) => void;
