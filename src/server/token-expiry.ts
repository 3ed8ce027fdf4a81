// A connection lives no longer than its room token: when the token expires and no refresh (a
// native `auth` message) replaced it, the connection is closed with 4001 token_expired.
import type { Principal } from '../access/principal.js';
import { CloseCode, type Connection } from '../transports/connection.js';

/** setTimeout's longest delay; a later expiry is checked again when it fires. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * Give `conn` the principal and (re)arm its expiry. `beforeClose` runs just before the close (a
 * native member is told why in an `error` message; SSE has no close code).
 */
export function setPrincipal(conn: Connection, principal: Principal, beforeClose?: (conn: Connection) => void): void {
  conn.principal = principal;
  if (conn.tokenTimer) { clearTimeout(conn.tokenTimer); conn.tokenTimer = undefined; }
  if (principal.expiresAt === undefined) return;
  const arm = () => {
    const left = principal.expiresAt! - Date.now();
    if (left <= 0) {
      conn.tokenTimer = undefined;
      if (!conn.isOpen) return;
      beforeClose?.(conn);
      conn.close(CloseCode.TOKEN_EXPIRED, 'token_expired');
      return;
    }
    conn.tokenTimer = setTimeout(arm, Math.min(left, MAX_DELAY_MS));
    conn.tokenTimer.unref();
  };
  arm();
}

/** Stop watching (the connection closed). */
export function forgetPrincipal(conn: Connection): void {
  if (conn.tokenTimer) { clearTimeout(conn.tokenTimer); conn.tokenTimer = undefined; }
}
