// What the room handle needs from a transport: ordered writes of client messages, typed server
// messages in, a notice per write that reached an open connection, and one notice when the
// connection is over. One Transport = one connection; the room opens a new one to reconnect.
import type { ClientMessage, ParsedServerMessage } from './types.js';

export interface CloseInfo {
  /** WebSocket close code, if there was a close frame (4000 = room closed, 4002 = replaced…). */
  code?: number;
  reason?: string;
  /** HTTP status of a refused upgrade / stream (410 = room gone, 503 = room full…), when known. */
  status?: number;
  /** The error code of a refused stream's body (`room_closed`, `forbidden`…), when known. */
  errorCode?: string;
  /** The connection got as far as open (a handshake that failed never did). */
  opened: boolean;
  /** Reconnecting cannot help (e.g. no WebSocket / fetch implementation). */
  fatal?: boolean;
  error?: Error;
  /** Messages handed to `send` that certainly did not reach the server; the room resends them. */
  unsent: ClientMessage[];
}

export interface TransportHandlers {
  message(msg: ParsedServerMessage): void;
  /**
   * `msg` was written to the open connection (WebSocket), or accepted by the server (an SSE POST's
   * 2xx answer). Not called for messages that come back in `unsent`.
   */
  written(msg: ClientMessage): void;
  /** The connection is over (or never opened). Called at most once, never after `close()`. */
  close(info: CloseInfo): void;
}

export interface Transport {
  /** Queue one message with its JSON; messages reach the server in the order given. */
  send(msg: ClientMessage, json: string): void;
  /**
   * End the connection on purpose. Handlers are not called any more; messages already handed to
   * `send` are still delivered first where the transport can (WebSocket buffers, SSE POST queue).
   * Resolves once that is done (or given up after `drainMs`).
   */
  close(drainMs: number): Promise<void>;
}

export type TransportFactory = (url: URL, handlers: TransportHandlers) => Transport;

/** `status` from a `ws` handshake error ("Unexpected server response: 410"); browsers give none. */
export function statusFromError(message: string | undefined): number | undefined {
  const m = /Unexpected server response: (\d{3})/.exec(message ?? '');
  return m ? Number(m[1]) : undefined;
}
