// The live dashboard (issue 12 §3, docs/operations.md "Dashboard") in Debian's Chromium through
// playwright-core, against the built server: without a credential the page is a login form (401);
// signed in, a cookie (HttpOnly, SameSite=Strict, not the secret) carries the session; its numbers
// move while native members publish; the search finds a room by prefix and not another; the room's
// detail lists its members, and Kick closes that member's WebSocket with 4003. The cookie alone does
// not admit a request from another origin. With --admin-loopback the page works without a login.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { startServer, type RunningServer } from './helpers/server.js';
import { launch } from './helpers/browser.js';
import { uid, WsMember } from './helpers/native.js';

const TOKEN = 'dashboard-test-secret-0123456789';

async function open(browser: Browser, t: TestContext): Promise<{ page: Page; errors: string[] }> {
  // bypassCSP: the test's own probes (waitForFunction with a string) are evaluated in the page,
  // which the page's Content-Security-Policy (no eval) would refuse.
  const context = await browser.newContext({ bypassCSP: true });
  t.after(() => context.close().catch(() => {}));
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  return { page, errors };
}

/** Wait for `expr` in the page; on timeout fail with the page's errors and the server's last lines. */
async function until(page: Page, fn: string, what: string, errors: string[], server: RunningServer, timeout = 10_000): Promise<void> {
  try {
    await page.waitForFunction(fn, undefined, { timeout, polling: 50 });
  } catch (err) {
    assert.fail(`${what}: ${(err as Error).message.split('\n')[0]}\npage errors: ${errors.join(' | ') || '(none)'}\nserver log:\n${server.logs.slice(-10).join('\n')}`);
  }
}

const text = (testid: string) => `(document.querySelector('[data-testid="${testid}"]') || {}).textContent`;

test('dashboard: login, live numbers, search, room detail and kick (4003)', async (t) => {
  const server = await startServer({ args: ['--admin-token', TOKEN] });
  t.after(() => server.stop());

  // Without a credential: the login form, and the stream refuses.
  const bare = await fetch(`${server.http}/_/dashboard`);
  assert.equal(bare.status, 401);
  assert.match(await bare.text(), /<form method="post" action="\/_\/dashboard\/login"/);
  const stream = await fetch(`${server.http}/_/admin/events`, { headers: { Accept: 'text/event-stream' } });
  assert.equal(stream.status, 401);
  assert.equal(((await stream.json()) as { error: { code: string } }).error.code, 'token_required');

  const browser = await launch(t);
  const { page, errors } = await open(browser, t);
  const wrong = await page.goto(`${server.http}/_/dashboard?token=not-the-secret-at-all`);
  assert.equal(wrong?.status(), 401);
  assert.match(await page.textContent('.error') ?? '', /wrong admin credential/);
  await page.fill('input[name=token]', TOKEN);
  await Promise.all([page.waitForURL(`${server.http}/_/dashboard`), page.click('button[type=submit]')]);
  const [cookie] = await page.context().cookies();
  assert.equal(cookie.name, 'multisocket_admin');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(cookie.path, '/_/');
  assert.ok(cookie.value.startsWith('s1.') && !cookie.value.includes(TOKEN), 'the cookie holds a session, not the secret');
  await until(page, `${text('tile-connections')} === '0'`, 'the totals show', errors, server);

  // Two members in one room, one in another; the first publishes while the page is watched.
  const stamp = uid('d');
  const room = `/dash-${stamp}/chat`;
  const a = await WsMember.connect(server.ws, room);
  const b = await WsMember.connect(server.ws, room);
  const other = await WsMember.connect(server.ws, `/other-${stamp}`);
  t.after(() => Promise.all([a.close(), b.close(), other.close()]));
  const publishing = setInterval(() => a.send({ type: 'publish', data: 'tick' }), 20);
  try {
    await until(page, `${text('tile-connections')} === '3'`, 'connections move to 3', errors, server);
    await until(page, `!['0/s', undefined].includes(${text('tile-messages-in')})`, 'messages in/s move', errors, server);
    await until(page, `!['0/s', undefined].includes(${text('tile-deliveries')})`, 'deliveries/s move', errors, server);
  } finally {
    clearInterval(publishing);
  }

  // Search by prefix (typed without its "/"): the room, not the other one.
  await page.fill('#room-search', `dash-${stamp}`);
  await until(page, `!!document.querySelector('#rooms-table tr[data-room="${room}"]')`, 'the search finds the room', errors, server);
  assert.equal(await page.locator(`#rooms-table tr[data-room="/other-${stamp}"]`).count(), 0);
  assert.equal(await page.locator('#rooms-table tbody tr[data-room]').count(), 1);

  // The room's detail lists both members; Kick (then Confirm) closes b with 4003, and a stays.
  await page.click(`#rooms-table tr[data-room="${room}"]`);
  await until(page, `!!document.querySelector('#members-table tr[data-cid="${b.cid}"]') && !!document.querySelector('#members-table tr[data-cid="${a.cid}"]')`, 'the detail lists the members', errors, server);
  const kick = page.locator(`#members-table tr[data-cid="${b.cid}"] button.kick`);
  await kick.click();
  await until(page, `(document.querySelector('#members-table tr[data-cid="${b.cid}"] button.kick') || {}).textContent === 'Confirm kick'`, 'kick asks to confirm', errors, server);
  await page.locator(`#members-table tr[data-cid="${b.cid}"] button.kick`).click();
  const closed = await b.waitClosed(5000);
  assert.equal(closed.code, 4003);
  assert.ok(a.isOpen);
  await until(page, `!document.querySelector('#members-table tr[data-cid="${b.cid}"]')`, 'the kicked member leaves the list', errors, server);
  assert.ok(server.logs.some((l) => l.includes('"action":"kick"') && l.includes(b.cid)), 'the kick is logged as an admin action');

  // The cookie alone admits no request from another origin, nor a POST without the dashboard's header.
  const jar = `multisocket_admin=${cookie.value}`;
  const foreign = await fetch(`${server.http}/_/rooms`, { headers: { Cookie: jar, Origin: 'http://evil.example' } });
  assert.equal(foreign.status, 403);
  const bareKick = await fetch(`${server.http}/_/rooms/kick?room=${encodeURIComponent(room)}`, { method: 'POST', headers: { Cookie: jar, Origin: server.http }, body: JSON.stringify({ cid: a.cid }) });
  assert.equal(bareKick.status, 403);
  assert.ok(a.isOpen);

  // Sign out: the cookie is gone and the login form is back.
  await Promise.all([page.waitForURL(`${server.http}/_/dashboard`), page.click('a.signout')]);
  assert.equal((await page.context().cookies()).length, 0);
  assert.equal(await page.locator('input[name=token]').count(), 1);
  assert.deepEqual(errors.filter((e) => !/401/.test(e)), []);
});

test('dashboard with --admin-loopback: no login at 127.0.0.1, and kick works from the page', async (t) => {
  const server = await startServer({ args: ['--admin-loopback'] });
  t.after(() => server.stop());
  const browser = await launch(t);
  const { page, errors } = await open(browser, t);
  const room = `/loop-${uid('d')}`;
  const m = await WsMember.connect(server.ws, room);
  t.after(() => m.close());
  const res = await page.goto(`${server.http}/_/dashboard`);
  assert.equal(res?.status(), 200);
  await until(page, `!!document.querySelector('#rooms-table tr[data-room="${room}"]')`, 'the busiest rooms list the room', errors, server);
  await page.click(`#rooms-table tr[data-room="${room}"]`);
  const kick = `#members-table tr[data-cid="${m.cid}"] button.kick`;
  await until(page, `!!document.querySelector('${kick}')`, 'the detail lists the member', errors, server);
  await page.click(kick);
  await page.click(kick);
  assert.equal((await m.waitClosed(5000)).code, 4003);
  // A page of another origin, or a host name that is not this machine's (DNS rebinding), is refused.
  const foreign = await fetch(`${server.http}/_/rooms`, { headers: { Origin: 'http://evil.example' } });
  assert.equal(foreign.status, 403);
  const rebound = await new Promise<number | undefined>((resolve, reject) => {
    http.get(`${server.http}/_/rooms`, { headers: { Host: `evil.example:${server.port}` } }, (r) => { r.resume(); resolve(r.statusCode); }).on('error', reject);
  });
  assert.equal(rebound, 403);
  assert.deepEqual(errors, []);
});
