// The dashboard's session cookie (docs/operations.md, "Dashboard"). A browser cannot put
// `Authorization` on a page load or an EventSource, so the admin credential is given once (the
// login form or `?token=`) and the server sets a cookie the browser then sends with every request
// under /_/:
//   - logged in with the --admin-token secret: `s1.<expiry>.<HMAC-SHA256(secret, expiry)>` — not
//     the secret itself; it expires after SESSION_SECONDS, and every node with the same secret
//     accepts it (no session store); changing --admin-token ends every session;
//   - logged in with a room token carrying `admin`: that token (it expires on its own terms).
// HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it), Path=/_/,
// Secure under TLS. A request authenticated by the cookie alone must also be the dashboard's own
// (sameOriginDashboard): a GET with no Origin or this host's, a POST/DELETE with this host's
// Origin and the X-Multisocket-Dashboard header (a page of another origin cannot send that header
// without a CORS preflight, and its Origin would not match).
import { createHmac, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';

export const SESSION_COOKIE = 'multisocket_admin';
export const DASHBOARD_HEADER = 'x-multisocket-dashboard';
export const SESSION_SECONDS = 12 * 3600;
const PREFIX = 's1.';

/** A session value for the --admin-token secret, valid until now + SESSION_SECONDS. */
export function makeSession(secret: string, now = Date.now()): string {
  const expiry = Math.floor(now / 1000) + SESSION_SECONDS;
  return `${PREFIX}${expiry}.${mac(secret, expiry)}`;
}

/** Is this a session value (as opposed to a room token kept in the cookie)? */
export function isSession(value: string): boolean {
  return value.startsWith(PREFIX);
}

/** A session value made with this secret and not expired. */
export function validSession(value: string, secret: string, now = Date.now()): boolean {
  const m = /^s1\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value);
  if (!m) return false;
  const expiry = Number(m[1]);
  if (expiry * 1000 <= now || expiry > Math.floor(now / 1000) + SESSION_SECONDS) return false;
  const given = Buffer.from(m[2]);
  const wanted = Buffer.from(mac(secret, expiry));
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

/** The cookie's value on this request, if it carries one. */
export function sessionCookie(req: http.IncomingMessage): string | undefined {
  const header = req.headers.cookie;
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) {
      const v = part.slice(eq + 1).trim();
      return v === '' ? undefined : v;
    }
  }
  return undefined;
}

/** Set-Cookie for `value` (max-age 0 with an empty value: the logout). */
export function sessionSetCookie(value: string, secure: boolean, maxAge = SESSION_SECONDS): string {
  return `${SESSION_COOKIE}=${value}; Path=/_/; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/**
 * Is this request the dashboard's own? Its Origin, when it has one, names this very host; a
 * request that changes something (not GET/HEAD) must have that Origin and the dashboard's header.
 */
export function sameOriginDashboard(req: http.IncomingMessage): boolean {
  const safe = req.method === 'GET' || req.method === 'HEAD';
  if (req.headers.origin === undefined) return safe;
  return ownOrigin(req) && (safe || req.headers[DASHBOARD_HEADER] !== undefined);
}

/** The request has no Origin, or one naming this very host. */
export function ownOrigin(req: http.IncomingMessage): boolean {
  const origin = req.headers.origin;
  const host = req.headers.host;
  if (origin === undefined) return true;
  return typeof host === 'string' && sameHost(origin, host);
}

function sameHost(origin: string, host: string): boolean {
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

function mac(secret: string, expiry: number): string {
  return createHmac('sha256', secret).update(`multisocket-dashboard-session.${expiry}`).digest('base64url');
}
