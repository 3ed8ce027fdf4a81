// The live dashboard (issue 12 §3, docs/operations.md "Dashboard") in Debian's Chromium through
// playwright-core, against the built server: without a credential the page is a login form (401);
// signed in, a cookie (HttpOnly, SameSite=Strict, not the secret) carries the session; its numbers
// move while native members publish; the search finds a room by prefix and not another; the room's
// detail lists its members, and Kick closes that member's WebSocket with 4003. The cookie alone does
// not admit a request from another origin. With --admin-loopback the page works without a login.
// The admin stream itself: hello then ticks, at most 20 streams, ended by the drain. Clustered on
// Redis: the page on one node lists both nodes and kicks a member connected to the other.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { startServer, type RunningServer } from './helpers/server.js';
import { launch } from './helpers/browser.js';
import { uid, WsMember } from './helpers/native.js';
import { startCluster } from './helpers/cluster.js';

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

/** An admin stream read with fetch: its events as they come, and whether it has ended. */
async function adminStream(base: string, token: string): Promise<{ status: number; events: { event: string; data: unknown }[]; ended: Promise<void>; cancel(): void }> {
  const ctrl = new AbortController();
  const res = await fetch(`${base}/_/admin/events`, { headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' }, signal: ctrl.signal });
  const events: { event: string; data: unknown }[] = [];
  const ended = (async () => {
    if (res.status !== 200 || !res.body) return;
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body) {
        buf += decoder.decode(chunk as Uint8Array, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
        }
      }
    } catch { /* aborted */ }
  })();
  return { status: res.status, events, ended, cancel: () => ctrl.abort() };
}

test('admin stream: hello then a tick a second, at most 20 open, ended by the drain', async (t) => {
  const server = await startServer({ args: ['--admin-token', TOKEN] });
  t.after(() => server.stop());
  const streams = await Promise.all(Array.from({ length: 20 }, () => adminStream(server.http, TOKEN)));
  t.after(() => { for (const s of streams) s.cancel(); });
  assert.deepEqual(streams.map((s) => s.status), Array(20).fill(200));
  const over = await fetch(`${server.http}/_/admin/events`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(over.status, 503);
  assert.equal(((await over.json()) as { error: { code: string } }).error.code, 'too_many_connections');
  const first = streams[0];
  const deadline = Date.now() + 5000;
  while (first.events.filter((e) => e.event === 'tick').length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(first.events[0].event, 'hello');
  const ticks = first.events.filter((e) => e.event === 'tick').map((e) => e.data as { t: number; nodes: { node: string; loopLagMs: { p99: number } }[]; totals: { connections: { total: number } } });
  assert.ok(ticks.length >= 2, 'two ticks within 5 s');
  assert.equal(ticks[0].nodes.length, 1);
  assert.equal(typeof ticks[1].nodes[0].loopLagMs.p99, 'number');
  // The drain ends every admin stream (the server then exits 0).
  const drain = await fetch(`${server.http}/_/drain`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(drain.status, 202);
  await Promise.race([Promise.all(streams.map((s) => s.ended)), new Promise((_, reject) => setTimeout(() => reject(new Error('the admin streams did not end within 3 s of the drain')), 3000))]);
});

test('clustered (Redis): the page on one node lists both nodes and kicks a member held by the other', async (t) => {
  const cluster = await startCluster('redis', { nodes: 2, args: ['--admin-token', TOKEN] });
  t.after(() => cluster.stop());
  const [a, b] = cluster.nodes;
  const room = `/cl-${uid('d')}`;
  const onB = await WsMember.connect(b.ws, room);
  t.after(() => onB.close());
  const browser = await launch(t);
  const { page, errors } = await open(browser, t);
  await page.goto(`${a.http}/_/dashboard?token=${TOKEN}`);
  await until(page, `document.querySelectorAll('#nodes-table tr[data-node]').length === 2 && !document.getElementById('nodes-panel').hidden`, 'the nodes panel lists both nodes', errors, a);
  for (const id of cluster.ids) assert.equal(await page.locator(`#nodes-table tr[data-node="${id}"]`).count(), 1);
  await until(page, `${text('tile-connections')} === '1'`, 'the totals count the member on the other node', errors, a);
  await page.fill('#room-search', room);
  await page.click(`#rooms-table tr[data-room="${room}"]`);
  const kick = `#members-table tr[data-cid="${onB.cid}"] button.kick`;
  await until(page, `!!document.querySelector('${kick}')`, 'the detail lists the member on the other node', errors, a);
  await page.click(kick);
  await page.click(kick);
  assert.equal((await onB.waitClosed(5000)).code, 4003);
  assert.deepEqual(errors, []);
});
