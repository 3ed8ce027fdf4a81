// The SDK itself in a real browser (issue 10 §6): Debian's Chromium, headless, loads the SDK the
// way a page would — `import { connect } from '/_/client.js'`, served by the relay — and joins
// rooms by relative URL. The test page is handed to Chromium by playwright's request routing at a
// URL on the relay's own origin (so `connect('/room')` resolves against the page); nothing else is
// intercepted: the SDK module, WebSockets, event streams and POSTs all reach the real server.
//   - two pages, presence with `info`, messages both ways over WebSocket and over SSE
//   - a reload resumes with the same cid, and the other page sees no leave/join
//   - a closed room stops reconnecting (WebSocket: the door says 410; SSE: the stream's 410)
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startServer, type RunningServer } from './helpers/server.js';
import { launch } from './helpers/browser.js';

// The page: connects from its query (?room=&transport=&info=) and records every event.
const PAGE = `<!doctype html><meta charset="utf-8"><title>multisocket SDK test</title>
<pre id="log"></pre>
<script type="module">
  import { connect } from '/_/client.js';
  const q = new URLSearchParams(location.search);
  const opts = { transport: q.get('transport') || 'websocket', backoff: { initial: 50, max: 400 } };
  if (q.get('info')) opts.info = JSON.parse(q.get('info'));
  const events = (window.events = []);
  const room = (window.room = connect(q.get('room'), opts));
  const plain = (v) => JSON.parse(JSON.stringify(v, (k, x) => (x instanceof Error ? { code: x.code, message: x.message } : x)));
  for (const name of ['connect', 'join', 'leave', 'message', 'gap', 'closed', 'reconnecting', 'error']) {
    room.on(name, (e) => {
      events.push({ name, e: plain(e) });
      document.getElementById('log').textContent += name + ' ' + JSON.stringify(plain(e)) + '\\n';
    });
  }
  window.count = (name, pred = () => true) => events.filter((x) => x.name === name && pred(x.e)).length;
</script>`;

interface Tab { page: Page; name: string; errors: string[]; console: string[] }

async function openTab(browser: Browser, server: RunningServer, name: string, query: Record<string, string>): Promise<Tab> {
  const context: BrowserContext = await browser.newContext();
  await context.route('**/_test/sdk.html*', (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: PAGE }));
  const page = await context.newPage();
  const tab: Tab = { page, name, errors: [], console: [] };
  page.on('pageerror', (e) => tab.errors.push(String(e)));
  page.on('console', (m) => { tab.console.push(`${m.type()}: ${m.text()}`); });
  await page.goto(`${server.http}/_test/sdk.html?${new URLSearchParams(query)}`, { timeout: 10_000 });
  return tab;
}

async function describe(tab: Tab, server: RunningServer): Promise<string> {
  const log = await tab.page.evaluate('document.getElementById("log").textContent').catch((e) => `(no page log: ${e})`);
  return [
    `[${tab.name}] page errors: ${tab.errors.join(' | ') || '(none)'}`,
    `console: ${tab.console.slice(-10).join(' | ') || '(none)'}`,
    `events:\n${String(log).split('\n').slice(-15).join('\n')}`,
    `server log:\n${server.logs.slice(-10).join('\n')}`,
  ].join('\n');
}

function run<T>(tab: Tab, expr: string): Promise<T> {
  return tab.page.evaluate(expr) as Promise<T>;
}

/** Wait until `expr` holds in the page (a round trip each time, no sleeps on our side). */
async function until(tab: Tab, server: RunningServer, expr: string, what: string, timeoutMs = 5000): Promise<void> {
  try {
    await tab.page.waitForFunction(expr, undefined, { timeout: timeoutMs, polling: 20 });
  } catch (err) {
    assert.fail(`[${tab.name}] ${what}: ${(err as Error).message.split('\n')[0]}\n${await describe(tab, server)}`);
  }
}

const j = (v: unknown) => JSON.stringify(v);

async function withServer(t: TestContext, args: string[] = []): Promise<{ browser: Browser; server: RunningServer }> {
  const browser = await launch(t);
  const server = await startServer({ args });
  t.after(() => server.stop());
  return { browser, server };
}

test('Chromium + /_/client.js: presence with info, messages both ways over WebSocket and SSE, a reload resumes the same cid', { timeout: 60_000 }, async (t) => {
  const { browser, server } = await withServer(t, ['--resume-grace', '10']);
  const room = '/sdk-' + process.pid.toString(36);
  const ann = await openTab(browser, server, 'ann (ws)', { room, transport: 'websocket', info: j({ name: 'Ann' }) });
  await until(ann, server, `count('connect') === 1`, 'Ann connects over WebSocket by a relative URL');
  const bob = await openTab(browser, server, 'bob (sse)', { room, transport: 'sse', info: j({ name: 'Bob' }) });
  await until(bob, server, `count('connect') === 1`, 'Bob connects over SSE');

  // Presence with info, both ways.
  const annCid = await run<string>(ann, 'room.cid');
  const bobCid = await run<string>(bob, 'room.cid');
  await until(ann, server, `count('join', (e) => e.cid === ${j(bobCid)} && e.info && e.info.name === 'Bob')`, 'Ann sees Bob join with his info');
  const bobSees = await run<Record<string, unknown>>(bob, `events.find((x) => x.name === 'connect').e.infos`);
  assert.deepEqual(bobSees, { [annCid]: { name: 'Ann' }, [bobCid]: { name: 'Bob' } });
  assert.deepEqual(await run(bob, 'room.presence().then((m) => m.slice().sort())'), [annCid, bobCid].sort());

  // Messages both ways: Ann publishes over WebSocket (acked, with its seq), Bob sends over SSE POSTs.
  const published = await run<{ seq: number }>(ann, `room.publish({ text: 'hi Bob' }, { ack: true })`);
  assert.equal(typeof published.seq, 'number');
  await until(bob, server, `count('message', (e) => e.kind === 'publish' && e.data.text === 'hi Bob' && e.from === ${j(annCid)})`, 'Bob gets Ann\'s publish over SSE');
  await run(bob, `room.send(${j(annCid)}, { text: 'hi Ann' })`);
  await until(ann, server, `count('message', (e) => e.kind === 'direct' && e.data.text === 'hi Ann' && e.from === ${j(bobCid)})`, 'Ann gets Bob\'s direct message over WebSocket');
  await run(bob, `room.publish({ text: 'from sse' })`);
  await until(ann, server, `count('message', (e) => e.kind === 'publish' && e.data.text === 'from sse')`, 'Ann gets Bob\'s publish');

  // Bob reloads: the SDK keeps its resume token in sessionStorage and comes back as the same member.
  await bob.page.reload({ timeout: 10_000 });
  await until(bob, server, `count('connect') === 1`, 'Bob reconnects after the reload');
  assert.equal(await run(bob, 'room.cid'), bobCid, 'the reload resumed the same cid');
  assert.equal(await run(bob, `events.find((x) => x.name === 'connect').e.resumed`), true);
  await run(ann, `room.publish('after the reload')`);
  await until(bob, server, `count('message', (e) => e.data === 'after the reload')`, 'the resumed Bob gets new messages');
  assert.deepEqual(await run(ann, 'room.presence().then((m) => m.slice().sort())'), [annCid, bobCid].sort());
  assert.equal(await run(ann, `count('leave') + count('join', (e) => e.cid === ${j(bobCid)})`), 1, 'Ann saw Bob leave or join again over a reload (only his first join is expected)');
  assert.deepEqual([...ann.errors, ...bob.errors], []);
});

test('Chromium: a closed room stops the SDK reconnecting (WebSocket via /_/door, SSE via the stream\'s 410) with closed {reason}', { timeout: 60_000 }, async (t) => {
  const { browser, server } = await withServer(t);
  const owner = await openTab(browser, server, 'owner', { room: '/_/new', transport: 'websocket' });
  await until(owner, server, `count('connect') === 1`, 'the owner creates a room');
  const path = await run<string>(owner, 'room.room');
  const guest = await openTab(browser, server, 'guest (sse)', { room: path, transport: 'sse' });
  await until(guest, server, `count('connect') === 1`, 'a guest joins the owned room');
  await run(owner, 'room.close()');
  await until(guest, server, `count('closed') === 1`, 'the guest hears the room close');
  assert.equal(await run(guest, `events.find((x) => x.name === 'closed').e.reason`), 'owner_left');

  // The room's path now answers 410: neither transport may keep trying.
  for (const transport of ['websocket', 'sse']) {
    const late = await openTab(browser, server, `late (${transport})`, { room: path, transport });
    await until(late, server, `count('closed') === 1`, `a ${transport} client of the closed room stops`);
    const closed = await run<{ reason: string; code?: string }>(late, `events.find((x) => x.name === 'closed').e`);
    assert.equal(closed.code, 'room_closed', JSON.stringify(closed));
    assert.equal(await run(late, 'room.state'), 'closed');
    assert.equal(await run(late, `count('connect')`), 0);
    assert.ok(await run<number>(late, `count('reconnecting')`) <= 1, `${transport}: reconnect attempts after a 410`);
  }
});
