// What the room handle needs from a transport: ordered writes of client messages, typed server
// messages in, and one notice when the connection is over. One Transport = one connection; the
// room opens a new one to reconnect.
import type { ClientMessage, ServerMessage } from './types.js';

export interface CloseInfo {
  /** WebSocket close code, if there was a close frame (4000 = room closed, 4008 = slow consumer…). */
  code?: number;
  reason?: string;
  /** HTTP status of a refused upgrade / stream (410 = room gone, 503 = room full…), when known. */
  status?: number;
  /** Reconnecting cannot help (e.g. the `ws` / `eventsource` package is missing). */
  fatal?: boolean;
  error?: Error;
  /** Messages handed to `send` that certainly did not reach the server; the room resends them. */
  unsent: ClientMessage[];
}

export interface TransportHandlers {
  message(msg: ServerMessage): void;
  /** The connection is over (or never opened). Called at most once, never after `close()`. */
  close(info: CloseInfo): void;
}

export interface Transport {
  /** Queue one message; messages reach the server in the order given. */
  send(msg: ClientMessage): void;
  /**
   * End the connection on purpose. Handlers are not called any more; messages already handed to
   * `send` are still delivered first where the transport can (WebSocket buffers, SSE POST queue).
   */
  close(): void;
}

export type TransportFactory = (url: URL, handlers: TransportHandlers) => Transport;

/** `status` from a `ws` handshake error ("Unexpected server response: 410"); browsers give none. */
export function statusFromError(message: string | undefined): number | undefined {
  const m = /Unexpected server response: (\d{3})/.exec(message ?? '');
  return m ? Number(m[1]) : undefined;
}
