// Who may use the admin endpoints (POST /_/drain): a request presenting, as
// `Authorization: Bearer <credential>`,
//   - the --admin-token secret, or
//   - a room token with the `admin` permission (when room tokens are configured);
// and, when neither kind of credential is configured, a request from this machine: its socket is a
// loopback address, it came through no proxy (no X-Forwarded-For / Forwarded header), --trust-proxy
// is off, and it carries no Origin. A proxy on the same host would otherwise make every client
// "loopback", and any web page open in a browser on this machine could POST here (a browser
// always sends Origin with a page's POST; curl and scripts do not).
import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { isRefusal, type AccessRefusal } from '../access/principal.js';
import type { RoomAccess } from '../access/room-access.js';
import { requestToken } from './request-token.js';

export interface AdminGuard {
  adminToken: string | undefined;
  access: RoomAccess;
  trustProxy: number;
}

/** null: admitted; otherwise the refusal to answer with. */
export async function checkAdmin(guard: AdminGuard, req: http.IncomingMessage): Promise<AccessRefusal | null> {
  if (guard.adminToken === undefined && !guard.access.enabled) {
    if (fromThisMachine(req, guard.trustProxy)) return null;
    return { status: 403, code: 'forbidden', message: 'without --admin-token (or room tokens) the admin endpoints answer only loopback clients, not through a proxy, not from a web page' };
  }
  const token = requestToken(req);
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
