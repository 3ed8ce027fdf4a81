// The transport-neutral view of one client connection that rooms and protocols work with.
import type { OutFrame } from './out-frame.js';
import type { Principal } from '../access/principal.js';
import { CLOSE_CODES } from '../protocol/errors.js';

export interface Connection {
  /** Unique within this server process. */
  readonly id: string;
  readonly transport: 'websocket' | 'sse' | 'tcp' | 'ipc' | 'inproc';
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

/** Close codes the server uses: the one table in protocol/errors.ts (docs/protocol.md §7). */
export const CloseCode = CLOSE_CODES;
