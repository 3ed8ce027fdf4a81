// The lines an operator reads about connections the server turned away or ended: one per refused
// upgrade and one per close for a protocol reason, with room, cid and address. A client can cause
// either at will, so each kind (refusal reason, close code) is throttled (log-throttle.ts).
import type { Logger } from '../log.js';
import { LogThrottle } from '../log-throttle.js';

/**
 * Closes the server makes because of what the client sent or failed to do: a frame ws cannot take
 * (1002, 1003, 1007, 1008, 1009), an expired token (4001), a slow reader (4008), no pong (4009).
 * Drains (1001, 1012), closed rooms (4000, logged once per room) and resumes (4002) are not.
 */
const PROTOCOL_CLOSES: ReadonlySet<number> = new Set([1002, 1003, 1007, 1008, 1009, 4001, 4008, 4009]);

export interface ConnectionFields {
  room?: string;
  address?: string;
  [field: string]: unknown;
}

export class ConnectionLog {
  private readonly throttle = new LogThrottle();

  constructor(private readonly log: Logger) {}

  /**
   * A WebSocket upgrade answered with an HTTP error. warn when the server is at a limit or unwell
   * (429, 5xx: worth an operator's look), info when the request itself was wrong (other 4xx).
   */
  upgradeRefused(reason: string, status: number, fields: ConnectionFields): void {
    const suppressed = this.throttle.take('upgrade:' + reason);
    if (suppressed === undefined) return;
    const line = { reason, status, ...fields, ...(suppressed > 0 ? { suppressed } : {}) };
    if (status === 429 || status >= 500) this.log.warn('upgrade refused', line);
    else this.log.info('upgrade refused', line);
  }

  /** A connection ended: one info line when the server closed it for a protocol reason. */
  closed(closedWith: { code: number; reason: string } | undefined, fields: ConnectionFields): void {
    if (closedWith === undefined || !PROTOCOL_CLOSES.has(closedWith.code)) return;
    const suppressed = this.throttle.take('close:' + closedWith.code);
    if (suppressed === undefined) return;
    this.log.info('connection closed', { code: closedWith.code, reason: closedWith.reason, ...fields, ...(suppressed > 0 ? { suppressed } : {}) });
  }
}
