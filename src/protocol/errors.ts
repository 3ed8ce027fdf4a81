// Every error code multisocket gives, in one table: where it appears, the HTTP status it is
// answered with, and the WebSocket close code that goes with it. The server builds its answers
// from here, the SDK's `ErrorCode` type is derived from here, and docs/protocol.md §7 is checked
// against it by test/protocol-table.test.ts (so the three cannot drift apart).

/** Where a code can reach a client. */
export type ErrorScope =
  /** an `error` message on the connection (a POST: its HTTP answer) */
  | 'message'
  /** `reply.error.code` of a request, or `job.error.code` of a push */
  | 'reply'
  /** an HTTP answer before a WebSocket / event stream exists, or of an endpoint */
  | 'door'
  /** the reason of a WebSocket close (an SSE stream just ends) */
  | 'close'
  /** made by the SDK itself, never sent by the server */
  | 'client';

export interface ErrorSpec {
  scope: readonly ErrorScope[];
  /** HTTP status when it is an HTTP answer (an SSE member's POST, a refused door, an endpoint) */
  status?: number;
  /** WebSocket close code when the connection ends for it */
  close?: number;
  /** one line for the docs */
  meaning: string;
}

export const ERRORS = {
  // --- a message was refused (the connection stays up)
  bad_message: { scope: ['message', 'door'], status: 400, meaning: 'malformed message, or JSON nested deeper than 1,000 levels' },
  bad_json: { scope: ['door'], status: 400, meaning: 'an HTTP body that is not JSON' },
  unknown_target: { scope: ['message', 'reply'], status: 404, meaning: '`send`/`request` to a cid that is not in the room' },
  unknown_request: { scope: ['message'], status: 404, meaning: 'a `reply` to no request pending for this member (it may have timed out)' },
  unknown_job: { scope: ['message'], status: 404, meaning: 'an `ack`/`nack` of a job this member does not hold (redelivered after its ack wait, or never given)' },
  rate_limited: { scope: ['message'], status: 429, meaning: 'over `--max-messages-per-second`; the message was dropped' },
  too_many_requests: { scope: ['message'], status: 429, meaning: 'over `--max-pending-requests` requests of this member waiting for replies' },
  queue_full: { scope: ['message'], status: 429, meaning: 'the room\'s work queue holds `--max-queued-jobs` jobs (or `--max-queued-job-bytes`); the push was not queued' },
  too_large: { scope: ['message', 'door', 'close'], status: 413, close: 1009, meaning: 'over `--max-message-bytes` (the SDK refuses it before sending; a WebSocket frame over it closes with 1009); `info` over `--max-info-bytes`' },
  forbidden: { scope: ['message', 'door'], status: 403, meaning: 'the room token does not allow this message, room or endpoint' },
  internal: { scope: ['message', 'door', 'close'], status: 500, close: 1011, meaning: 'a server fault handling this one message or request (logged); the connection stays up' },
  // --- request/reply and push/pull outcomes
  timeout: { scope: ['reply'], status: 504, meaning: 'no reply within the request\'s `timeout`' },
  gone: { scope: ['reply'], status: 410, meaning: 'the member answering left (or the asking SSE stream closed) before the reply' },
  no_responder: { scope: ['reply'], status: 404, meaning: 'no member serves requests' },
  handler_error: { scope: ['reply'], status: 500, meaning: 'the answering member\'s handler threw or rejected (made by the SDK; a member may give its own codes, which the SDK reports as `handler_error` with `appCode`)' },
  job_failed: { scope: ['reply'], status: 500, meaning: 'a pushed job failed on `--job-max-attempts` pullers (each handler rejected, or its puller left or ran past the ack wait)' },
  room_closed: { scope: ['reply', 'door', 'close'], status: 410, close: 4000, meaning: 'the owned room closed (its owner left; `closed` reason `owner_left`), an admin closed the room (`DELETE /_/rooms/<room>`; reason `closed_by_admin`), or a path that was an owned room (410 for the room TTL)' },
  // --- doors: refused before a connection exists, and endpoints
  bad_path: { scope: ['door'], status: 400, meaning: 'the path is not a valid room name (docs/rooms.md)' },
  bad_request: { scope: ['door'], status: 400, meaning: 'a request the endpoint cannot take (e.g. `/_/new` without the native subprotocol, a malformed `info` or `resume`)' },
  bad_callback: { scope: ['door'], status: 400, meaning: 'a JSONP callback that is not an identifier path' },
  unsupported_subprotocol: { scope: ['door'], status: 400, meaning: 'a WebSocket offering `multisocket.*` subprotocols none of which this server speaks' },
  not_found: { scope: ['door'], status: 404, meaning: 'no such endpoint under `/_/`' },
  method_not_allowed: { scope: ['door'], status: 405, meaning: 'an HTTP method the path does not take' },
  bad_token: { scope: ['message', 'door'], status: 401, meaning: 'a POST whose connection token is unknown in this room (its stream is gone), or a native message POSTed without one' },
  token_required: { scope: ['door'], status: 401, meaning: 'the room needs a room token and none was given' },
  token_invalid: { scope: ['message', 'door'], status: 401, meaning: 'the room token does not verify' },
  token_expired: { scope: ['message', 'door', 'close'], status: 401, close: 4001, meaning: 'the room token expired (on an open connection: not refreshed in time)' },
  origin_forbidden: { scope: ['door'], status: 403, meaning: 'the page\'s Origin is not in `--allowed-origins`' },
  sea_rejected: { scope: ['door'], status: 403, meaning: 'a GUN write whose SEA signature, certificate or hash does not verify' },
  room_full: { scope: ['door'], status: 503, meaning: 'the room has `--max-peers-per-room` peers and members' },
  too_many_rooms: { scope: ['door'], status: 503, meaning: 'the server holds `--max-rooms` rooms' },
  too_many_connections: { scope: ['door'], status: 503, meaning: 'the server holds `--max-connections` connections' },
  too_many_connections_from_address: { scope: ['door'], status: 429, meaning: 'this client address holds `--max-connections-per-ip` connections' },
  connect_rate_limited: { scope: ['door'], status: 429, meaning: 'this client address opened more than `--connect-rate-per-ip` connections in the last second' },
  room_create_rate_limited: { scope: ['door'], status: 429, meaning: 'this client address created `--new-rooms-per-ip` rooms in the last minute' },
  broker_unavailable: { scope: ['message', 'reply', 'door'], status: 503, meaning: 'the cluster\'s engine (`--broker`) did not answer: the message was not taken (retry), or an endpoint that asks the engine (`/_/nodes`) could not' },
  shutting_down: { scope: ['door', 'close'], status: 503, close: 1001, meaning: 'the server is shutting down (draining): doors answer 503, GUN peers are closed with 1001 (native members with 1012 after `closed` `restart`)' },
  // --- why a connection ended
  replaced: { scope: ['message', 'close'], status: 409, close: 4002, meaning: 'another connection resumed this member (same `resume` token); an event stream gets it as an `error` before it ends. The SDK then starts afresh with a new cid' },
  slow_consumer: { scope: ['close'], close: 4008, meaning: 'more than `--max-queued-bytes` waited to be written to this connection' },
  kicked: { scope: ['close'], close: 4003, meaning: 'an admin removed this member or GUN peer (`POST /_/rooms/<room>/kick`; a member gets `closed` reason `kicked` first). The SDK does not reconnect' },
  dead_peer: { scope: ['close'], close: 4009, meaning: 'no pong within a heartbeat interval' },
  // --- made by the SDK
  disconnected: { scope: ['client'], meaning: 'the connection was down when the call\'s time ran out, or the server could not resume this member after a drop' },
  closed: { scope: ['client'], meaning: '`close()` was called (or the room closed) while the call was pending' },
  token_unavailable: { scope: ['client'], meaning: '`getToken()` threw or gave no token (the SDK retries with backoff)' },
  transport_unavailable: { scope: ['client'], meaning: 'no WebSocket / fetch implementation in this runtime' },
} as const satisfies Record<string, ErrorSpec>;

/** A code from the table. */
export type KnownErrorCode = keyof typeof ERRORS;
/** A refused HTTP answer the SDK could not read a code from: `http_<status>`. */
export type HttpErrorCode = `http_${number}`;
/** Every code a client can meet. */
export type ErrorCode = KnownErrorCode | HttpErrorCode;

/** Codes the server sends in an `error` message or an HTTP answer. */
export type ServerErrorCode = { [K in KnownErrorCode]: (typeof ERRORS)[K]['scope'] extends readonly ('client')[] ? never : K }[KnownErrorCode];

export function isKnownErrorCode(code: string): code is KnownErrorCode {
  return Object.prototype.hasOwnProperty.call(ERRORS, code);
}

/** The HTTP status for a code (500 if it has none: a bug, but never a crash). */
export function statusOf(code: KnownErrorCode): number {
  return (ERRORS[code] as ErrorSpec).status ?? 500;
}

/** The one error body of every HTTP answer: `{"error":{code,message}}`, plus GUN's `err` text. */
export interface ErrorBody {
  err: string;
  error: { code: string; message: string };
}

export function errorBody(code: KnownErrorCode, message: string): ErrorBody {
  return { err: message, error: { code, message } };
}

/** WebSocket close codes, each with the error code it stands for (docs/protocol.md §7). */
export const CLOSE_CODES = {
  NORMAL: 1000,
  GOING_AWAY: 1001, // shutting_down
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003, // a binary frame on a text protocol
  TOO_BIG: 1009, // too_large (sent by ws itself)
  INTERNAL_ERROR: 1011, // internal
  SERVICE_RESTART: 1012, // the server drains (SIGTERM, POST /_/drain): after `closed` `restart` with `retryMs`
  TRY_AGAIN_LATER: 1013, // refused right after the handshake (the reason is the door's code, e.g. room_full)
  ROOM_CLOSED: 4000, // room_closed
  TOKEN_EXPIRED: 4001, // token_expired
  REPLACED: 4002, // replaced
  KICKED: 4003, // kicked
  SLOW_CONSUMER: 4008, // slow_consumer
  DEAD_PEER: 4009, // dead_peer
} as const;
