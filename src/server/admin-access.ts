// Who may use the admin API (/_/rooms…, /_/dashboard, /_/admin/events, POST /_/drain; docs/operations.md):
//   - a request presenting, as `Authorization: Bearer <credential>` (the dashboard: once, as
//     `?token=`, see admin/dashboard), the --admin-token secret, or a room token with the `admin`
//     permission (when room tokens are configured);
//   - with --admin-loopback, also a request from this machine without a credential: its socket is a
//     loopback address, it came through no proxy (no X-Forwarded-For / Forwarded header),
//     --trust-proxy is off, it names a loopback host (localhost, 127.x, [::1]: a page of another
//     site whose name was made to resolve to 127.0.0.1, "DNS rebinding", names its own), and it
//     carries no Origin other than the dashboard's own (server/admin-session.ts). A proxy on the
//     same host would otherwise make every client "loopback", and any web page open in a browser
//     on this machine could POST here (a browser always sends Origin with a page's POST; curl and
//     scripts do not);
//   - the dashboard's session cookie (server/admin-session.ts), on the dashboard's own requests.
// With no credential configured and no --admin-loopback the admin API is off: 404, as if it did
// not exist (nothing to guess at, nothing to brute-force).
import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { isRefusal, type AccessRefusal } from '../access/principal.js';
import type { RoomAccess } from '../access/room-access.js';
import { requestToken } from './request-token.js';
import { isSession, sameOriginDashboard, sessionCookie, validSession } from './admin-session.js';

export interface AdminGuard {
  adminToken: string | undefined;
  adminLoopback: boolean;
  access: RoomAccess;
  trustProxy: number;
}

/** The admin guard of a server's config. */
export function adminGuard(server: { config: { adminToken?: string; adminLoopback: boolean; trustProxy: number }; access: RoomAccess }): AdminGuard {
  return { adminToken: server.config.adminToken, adminLoopback: server.config.adminLoopback, access: server.access, trustProxy: server.config.trustProxy };
}

/** Is the admin API on at all (a credential configured, or --admin-loopback)? */
export function adminEnabled(guard: AdminGuard): boolean {
  return guard.adminToken !== undefined || guard.access.enabled || guard.adminLoopback;
}

/** Why the admin API refused: a credential's refusal, or 404 while the admin API is off. */
export type AdminRefusal = AccessRefusal | { status: 404; code: 'not_found'; message: string };

/** null: admitted; otherwise the refusal to answer with. `given`: a credential from elsewhere than the header (the dashboard's ?token=). */
export async function checkAdmin(guard: AdminGuard, req: http.IncomingMessage, given?: string): Promise<AdminRefusal | null> {
  if (!adminEnabled(guard)) {
    return { status: 404, code: 'not_found', message: 'the admin API is off: start the server with --admin-token <secret> (or --admin-loopback for local clients)' };
  }
  let token = given ?? requestToken(req);
  const cookie = token ? undefined : sessionCookie(req);
  if (cookie !== undefined) {
    if (!sameOriginDashboard(req)) return { status: 403, code: 'forbidden', message: 'the dashboard\'s session cookie is taken only on the dashboard\'s own requests (same origin; POST and DELETE with the X-Multisocket-Dashboard header)' };
    if (isSession(cookie)) {
      if (guard.adminToken !== undefined && validSession(cookie, guard.adminToken)) return null;
      // An old session of a server now run with --admin-loopback: judged as a local client.
      if (!guard.adminLoopback) return { status: 401, code: 'token_expired', message: 'the dashboard session has expired (or --admin-token changed): log in again at /_/dashboard' };
    } else {
      token = cookie;
    }
  }
  if (!token && guard.adminLoopback) {
    if (fromThisMachine(req, guard.trustProxy)) return null;
    return { status: 403, code: 'forbidden', message: 'without a credential (--admin-loopback) the admin API answers only loopback clients, not through a proxy, not from a web page' };
  }
  if (!token) return { status: 401, code: 'token_required', message: 'this endpoint needs the admin credential (Authorization: Bearer <--admin-token, or a room token with "admin">)' };
  if (guard.adminToken !== undefined && sameSecret(token, guard.adminToken)) return null;
  if (guard.access.enabled) {
    const p = await guard.access.admin(token);
    return isRefusal(p) ? p : null;
  }
  return { status: 401, code: 'token_invalid', message: 'wrong admin credential' };
}

/** Is `token` the --admin-token secret itself (the dashboard then keeps a session, not the secret)? */
export function isAdminSecret(guard: AdminGuard, token: string): boolean {
  return guard.adminToken !== undefined && sameSecret(token, guard.adminToken);
}

/** Compared as digests: constant time whatever the lengths. */
function sameSecret(given: string, secret: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(secret).digest();
  return timingSafeEqual(a, b);
}

function fromThisMachine(req: http.IncomingMessage, trustProxy: number): boolean {
  if (trustProxy > 0 || req.headers['x-forwarded-for'] !== undefined || req.headers.forwarded !== undefined) return false;
  if (!loopbackHost(req.headers.host)) return false;
  if (req.headers.origin !== undefined && !sameOriginDashboard(req)) return false;
  const address = req.socket.remoteAddress ?? '';
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/** The Host header names this machine (or is absent: no browser sends a request without one). */
function loopbackHost(host: string | undefined): boolean {
  if (host === undefined) return true;
  const name = host.toLowerCase().replace(/:\d+$/, '');
  return name === 'localhost' || name === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}
