// The dashboard's session value and cookie rules (src/server/admin-session.ts), without sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { makeSession, validSession, isSession, sameOriginDashboard, sessionCookie, sessionSetCookie, SESSION_SECONDS, SESSION_COOKIE } from '../src/server/admin-session.ts';

const SECRET = 'a-secret-of-twenty-bytes';
const req = (headers: Record<string, string>, method = 'GET') => ({ headers, method }) as unknown as http.IncomingMessage;

test('a session is valid for its secret until it expires, and not after, nor tampered, nor for another secret', () => {
  const now = Date.UTC(2026, 0, 1);
  const s = makeSession(SECRET, now);
  assert.ok(isSession(s) && !s.includes(SECRET));
  assert.equal(validSession(s, SECRET, now), true);
  assert.equal(validSession(s, SECRET, now + (SESSION_SECONDS - 1) * 1000), true);
  assert.equal(validSession(s, SECRET, now + SESSION_SECONDS * 1000), false, 'expired');
  assert.equal(validSession(s, 'another-secret-of-20-bytes', now), false, 'another secret');
  const [, expiry, mac] = s.split('.');
  assert.equal(validSession(`s1.${Number(expiry) + 60}.${mac}`, SECRET, now), false, 'a pushed-out expiry');
  assert.equal(validSession(`s1.${expiry}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`, SECRET, now), false, 'a changed mac');
  assert.equal(validSession(makeSession(SECRET, now + 3600_000 * 24), SECRET, now), false, 'an expiry further out than a session lasts');
});

test('the cookie: read from the Cookie header, set HttpOnly SameSite=Strict Path=/_/ (Secure under TLS)', () => {
  assert.equal(sessionCookie(req({ cookie: `a=1; ${SESSION_COOKIE}=s1.x.y; b=2` })), 's1.x.y');
  assert.equal(sessionCookie(req({ cookie: 'a=1' })), undefined);
  assert.equal(sessionSetCookie('v', false), `${SESSION_COOKIE}=v; Path=/_/; Max-Age=${SESSION_SECONDS}; HttpOnly; SameSite=Strict`);
  assert.match(sessionSetCookie('v', true), /; Secure$/);
});

test('the dashboard\'s own requests: GET without Origin or with this host\'s; POST only with this host\'s Origin and the header', () => {
  const host = '127.0.0.1:8765';
  assert.equal(sameOriginDashboard(req({ host })), true);
  assert.equal(sameOriginDashboard(req({ host, origin: `http://${host}` })), true);
  assert.equal(sameOriginDashboard(req({ host, origin: 'http://evil.example' })), false);
  assert.equal(sameOriginDashboard(req({ host, origin: 'null' })), false);
  assert.equal(sameOriginDashboard(req({ host }, 'POST')), false, 'a POST without Origin is no page\'s');
  assert.equal(sameOriginDashboard(req({ host, origin: `http://${host}` }, 'POST')), false, 'without the header');
  assert.equal(sameOriginDashboard(req({ host, origin: `http://${host}`, 'x-multisocket-dashboard': '1' }, 'POST')), true);
  assert.equal(sameOriginDashboard(req({ host, origin: 'http://evil.example', 'x-multisocket-dashboard': '1' }, 'DELETE')), false);
});
