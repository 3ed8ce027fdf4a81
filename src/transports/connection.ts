// The transport-neutral view of one client connection that rooms and protocols work with.
import type { OutFrame } from './out-frame.js';
import type { Principal } from '../access/principal.js';

export interface Connection {
  /** Unique within this server process. */
  readonly id: string;
  readonly transport: 'websocket' | 'sse';
  readonly remoteAddress: string;
  /**
   * Queue a message; it is written with everything else queued this event-loop turn. `direct`
   * marks a message for this one connection, which may be written at once when nothing waits.
   */
  send(frame: OutFrame, direct?: boolean): void;
  /** Close with a WebSocket-style code; a no-op when already closing. */
  close(code: number, reason: string): void;
  readonly isOpen: boolean;
  /** Bytes accepted for this connection and not yet taken by the kernel. */
  readonly bufferedBytes: number;
  /** Who is behind it and what they may do (OPEN when tokens are off); replaced by a refresh. */
  principal: Principal;
  /** Closes the connection when its token expires (server/token-expiry.ts). */
  tokenTimer?: NodeJS.Timeout;
}

/** Close codes the server uses (documented in docs/gun-protocol.md). */
export const CloseCode = {
  GOING_AWAY: 1001, // server shutdown
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003, // binary frame on a text protocol
  TOO_BIG: 1009, // frame larger than --max-message-bytes (sent by ws itself)
  INTERNAL_ERROR: 1011,
  ROOM_CLOSED: 4000, // owned room closed because its owner left
  TOKEN_EXPIRED: 4001, // the connection's room token expired and was not refreshed
  SLOW_CONSUMER: 4008, // more than --max-queued-bytes waiting to be written
  DEAD_PEER: 4009, // no pong within a heartbeat interval (the socket is terminated, so rarely seen)
} as const;
