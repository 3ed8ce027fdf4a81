// Who may use the admin API (/_/rooms…, /_/dashboard, /_/admin/events, POST /_/drain; docs/operations.md):
//   - a request presenting, as `Authorization: Bearer <credential>` (the dashboard: once, as
//     `?token=`, see admin/dashboard), the --admin-token secret, or a room token with the `admin`
//     permission (when room tokens are configured);
//   - with --admin-loopback, also a request from this machine without a credential: its socket is a
//     loopback address, it came through no proxy (no X-Forwarded-For / Forwarded header),
//     --trust-proxy is off, and it carries no Origin. A proxy on the same host would otherwise make
//     every client "loopback", and any web page open in a browser on this machine could POST here
//     (a browser always sends Origin with a page's POST; curl and scripts do not).
// With no credential configured and no --admin-loopback the admin API is off: 404, as if it did
// not exist (nothing to guess at, nothing to brute-force).
import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { isRefusal, type AccessRefusal } from '../access/principal.js';
import type { RoomAccess } from '../access/room-access.js';
import { requestToken } from './request-token.js';

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
  const token = given ?? requestToken(req);
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

/** Compared as digests: constant time whatever the lengths. */
function sameSecret(given: string, secret: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(secret).digest();
  return timingSafeEqual(a, b);
}

function fromThisMachine(req: http.IncomingMessage, trustProxy: number): boolean {
  if (trustProxy > 0 || req.headers['x-forwarded-for'] !== undefined || req.headers.forwarded !== undefined) return false;
  if (req.headers.origin !== undefined) return false;
  const address = req.socket.remoteAddress ?? '';
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}
