// GET /_/dashboard: the live dashboard (docs/operations.md, "Dashboard"), one page served by the
// server itself. Its files are built by `npm run build` (scripts/build-dashboard.mjs) into
// dist/dashboard/ and read once. The page is behind the admin credential (checkAdmin); a browser
// gives it once — the login form (POST /_/dashboard/login) or `?token=` — and gets the session
// cookie of server/admin-session.ts, then is sent to /_/dashboard with no token in its URL.
//   GET  /_/dashboard               the page (200), or the login form (401)
//   GET  /_/dashboard?token=<cred>  log in, 303 to /_/dashboard
//   POST /_/dashboard/login         the form's log-in (token=<cred>), 303 to /_/dashboard
//   GET  /_/dashboard/logout        forget the cookie, 303 to /_/dashboard
//   GET  /_/dashboard/app.js|app.css the page's script and style (no secret in them)
// Everything answers 404 while the admin API is off.
import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import type { MultisocketServer } from '../server/server.js';
import { adminEnabled, adminGuard, checkAdmin, isAdminSecret } from '../server/admin-access.js';
import { makeSession, ownOrigin, sessionSetCookie } from '../server/admin-session.js';
import { readBody, sendError } from '../server/http-util.js';
import { queryParams } from '../server/query-params.js';
import { redactToken } from '../server/request-token.js';
import { clientAddress } from '../server/client-address.js';
import { logAdminAction } from '../log.js';

export const DASHBOARD_PATH = '/_/dashboard';
const MAX_LOGIN_BODY = 16 * 1024;

/** No script, style or connection but the server's own; never framed. */
const PAGE_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  // Not no-referrer: under it Chromium sends `Origin: null` with the login form's POST, which the
  // origin check must refuse.
  'Referrer-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

interface Asset { body: Buffer; type: string }
type Assets = Record<'index.html' | 'app.js' | 'app.css', Asset>;

/** dist/dashboard/ seen from dist/admin/ (the built server), or from src/admin/ (tsx). */
const CANDIDATES = ['../dashboard/', '../../dist/dashboard/'].map((p) => new URL(p, import.meta.url));
const TYPES = { 'index.html': 'text/html; charset=utf-8', 'app.js': 'text/javascript; charset=utf-8', 'app.css': 'text/css; charset=utf-8' } as const;
let loading: Promise<Assets | null> | undefined;

async function load(): Promise<Assets | null> {
  for (const dir of CANDIDATES) {
    try {
      const names = Object.keys(TYPES) as (keyof Assets)[];
      const bodies = await Promise.all(names.map((n) => readFile(new URL(n, dir))));
      return Object.fromEntries(names.map((n, i) => [n, { body: bodies[i], type: TYPES[n] }])) as Assets;
    } catch { /* try the next place */ }
  }
  return null;
}

export function handleDashboard(server: MultisocketServer, req: http.IncomingMessage, res: http.ServerResponse, name: string, cors: Record<string, string>): void {
  const guard = adminGuard(server);
  if (!adminEnabled(guard)) {
    req.resume();
    return sendError(res, 'not_found', 'the admin API (and its dashboard) is off: start the server with --admin-token <secret> (or --admin-loopback for local clients)', cors);
  }
  const sub = name.slice(DASHBOARD_PATH.length);
  const method = req.method ?? 'GET';
  const fail = (err: unknown) => {
    server.log.error('dashboard request failed', { url: redactToken(req.url ?? ''), err: (err as Error)?.stack ?? String(err) });
    if (!res.headersSent) sendError(res, 'internal', 'the server failed to handle this request', cors);
    else res.destroy();
  };
  if (sub === '/login') {
    if (method !== 'POST') return sendError(res, 'method_not_allowed', `${DASHBOARD_PATH}/login takes POST`, { ...cors, Allow: 'POST' });
    login(server, req, res, cors).catch(fail);
    return;
  }
  if (method !== 'GET' && method !== 'HEAD') return sendError(res, 'method_not_allowed', `${name} takes GET`, { ...cors, Allow: 'GET, HEAD' });
  if (sub === '/logout') {
    res.writeHead(303, { Location: DASHBOARD_PATH, 'Set-Cookie': sessionSetCookie('', server.config.tls !== undefined, 0), 'Cache-Control': 'no-store', 'Content-Length': '0' });
    return void res.end();
  }
  if (sub === '/app.js' || sub === '/app.css') {
    serveAsset(res, sub.slice(1) as 'app.js' | 'app.css', cors).catch(fail);
    return;
  }
  if (sub !== '' && sub !== '/') return sendError(res, 'not_found', `no endpoint ${name}`, cors);
  const token = queryParams(req.url ?? '').get('token');
  if (token !== null) {
    logIn(server, req, res, token, cors).catch(fail);
    return;
  }
  checkAdmin(guard, req).then((refusal) => {
    if (refusal) return sendLogin(res, refusal.status === 401 ? '' : refusal.message, 401);
    return serveAsset(res, 'index.html', cors);
  }).catch(fail);
}

/** POST /_/dashboard/login: the form's token (application/x-www-form-urlencoded or JSON). */
async function login(server: MultisocketServer, req: http.IncomingMessage, res: http.ServerResponse, cors: Record<string, string>): Promise<void> {
  // A form of another site must not log a browser in (into a session of someone else's choosing).
  if (!ownOrigin(req)) {
    req.resume();
    return sendError(res, 'forbidden', 'the login form is taken only from the dashboard\'s own page', cors);
  }
  const text = await readBody(req, MAX_LOGIN_BODY);
  if (text === null) return sendError(res, 'too_large', `the login body is over ${MAX_LOGIN_BODY} bytes`, cors);
  let token: string | null = null;
  if ((req.headers['content-type'] ?? '').includes('application/json')) {
    try { const b = JSON.parse(text) as { token?: unknown }; token = typeof b.token === 'string' ? b.token : null; } catch { /* refused below */ }
  } else {
    token = new URLSearchParams(text).get('token');
  }
  return logIn(server, req, res, (token ?? '').trim(), cors);
}

/** Check the credential; on success set the cookie and send the browser to the page (no token in its URL). */
async function logIn(server: MultisocketServer, req: http.IncomingMessage, res: http.ServerResponse, token: string, cors: Record<string, string>): Promise<void> {
  const guard = adminGuard(server);
  const refusal = token === '' ? { status: 401, message: 'enter the admin token' } : await checkAdmin(guard, req, token);
  if (refusal) {
    server.log.warn('dashboard login refused', { reason: 'code' in refusal ? refusal.code : 'token_required' });
    return sendLogin(res, refusal.message, refusal.status === 404 ? 404 : 401);
  }
  const value = isAdminSecret(guard, token) ? makeSession(token) : token;
  logAdminAction(server.log, 'dashboard_login', { by: isAdminSecret(guard, token) ? 'admin_token' : 'room_token', address: clientAddress(req, server.config.trustProxy) });
  res.writeHead(303, {
    ...cors,
    Location: DASHBOARD_PATH,
    'Set-Cookie': sessionSetCookie(value, server.config.tls !== undefined),
    'Cache-Control': 'no-store',
    'Referrer-Policy': 'no-referrer',
    'Content-Length': '0',
  });
  res.end();
}

async function serveAsset(res: http.ServerResponse, name: keyof Assets, cors: Record<string, string>): Promise<void> {
  loading ??= load();
  const assets = await loading;
  if (!assets) return sendError(res, 'not_found', 'the dashboard is not built: run `npm run build` (scripts/build-dashboard.mjs writes dist/dashboard/), then restart the server', cors);
  const a = assets[name];
  res.writeHead(200, { ...cors, ...PAGE_HEADERS, 'Content-Type': a.type, 'Content-Length': a.body.length });
  res.end(res.req.method === 'HEAD' ? undefined : a.body);
}

/** The login form (no script: it works before any credential). */
function sendLogin(res: http.ServerResponse, message: string, status: number): void {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>multisocket · sign in</title><link rel="icon" href="data:,"><link rel="stylesheet" href="${DASHBOARD_PATH}/app.css"></head>
<body class="login"><form method="post" action="${DASHBOARD_PATH}/login" class="login-box">
<h1>multisocket</h1><p>The dashboard needs the admin credential: the <code>--admin-token</code> secret, or a room token with <code>admin</code>.</p>
${message ? `<p class="error" role="alert">${escapeHtml(message)}</p>` : ''}
<label>Admin token <input type="password" name="token" autocomplete="current-password" autofocus required></label>
<button type="submit">Sign in</button></form></body></html>
`;
  res.writeHead(status, { ...PAGE_HEADERS, 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(html) });
  res.end(res.req.method === 'HEAD' ? undefined : html);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
