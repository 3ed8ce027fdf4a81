// The SDK's identity and doors (issue 10): a page reload resumes the same member from
// sessionStorage, a member replaced by another connection (4002) starts afresh, presence `info`
// reaches connect/join/presence, refused rooms end reconnecting with `closed {reason, code}` (also
// for a browser's WebSocket, which sees no status: the door tells), relative URLs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServer, type RunningServer } from './helpers/server.js';
import { connect, SUBPROTOCOL, type Room } from '../src/client/index.ts';
import { CutProxy, FAST, Handles, TRANSPORTS, next, opened, rejection, sleep, uid, until } from './helpers/client.ts';

let server: RunningServer;
const handles = new Handles();

before(async () => {
  server = await startServer();
});
after(async () => {
  await handles.closeAll();
  await server?.stop();
});

/** A sessionStorage for Node, as a browser page has one. */
class MemoryStorage {
  private readonly items = new Map<string, string>();
  getItem(key: string): string | null { return this.items.get(key) ?? null; }
  setItem(key: string, value: string): void { this.items.set(key, String(value)); }
  removeItem(key: string): void { this.items.delete(key); }
  get size(): number { return this.items.size; }
  values(): string[] { return [...this.items.values()]; }
}

async function withGlobal<T>(name: string, value: unknown, fn: () => Promise<T>): Promise<T> {
  const g = globalThis as Record<string, unknown>;
  const had = Object.prototype.hasOwnProperty.call(g, name);
  const was = g[name];
  Object.defineProperty(g, name, { value, configurable: true, writable: true });
  try {
    return await fn();
  } finally {
    if (had) g[name] = was;
    else delete g[name];
  }
}

for (const T of TRANSPORTS) {
  test(`[${T}] persist: a page reload resumes the same cid from sessionStorage (others see no leave/join); close() forgets it`, async () => {
    const storage = new MemoryStorage();
    await withGlobal('sessionStorage', storage, async () => {
      const proxy = await CutProxy.start(server.port);
      try {
        const room = uid('reload');
        const b = handles.join(server.http, room, T, { persist: false });
        await opened(b);
        const seen: string[] = [];
        b.on('join', (j) => seen.push(`join ${j.cid}`));
        b.on('leave', (l) => seen.push(`leave ${l.cid}`));
        // The first page: its connection dies with the page (no close()).
        const bSeesPage1 = next(b, 'join');
        const page1 = handles.join(proxy.http, room, T, { reconnect: false });
        await Promise.all([opened(page1), bSeesPage1]);
        seen.length = 0;
        await b.publish('while loaded', { ack: true });
        await until(() => page1.lastSeq === 1, 'page1 to see the first message (its saved lastSeq)');
        const cid = page1.cid;
        assert.equal(storage.size, 1);
        proxy.cut();
        await next(page1, 'closed');
        b.publish('during the reload');
        // The reloaded page: a new handle, same tab storage.
        const page2 = handles.join(proxy.http, room, T);
        const replayed = next(page2, 'message');
        const info = await next(page2, 'connect');
        assert.equal(info.resumed, true);
        assert.equal(page2.cid, cid);
        const msg = await replayed;
        assert.equal(msg.data, 'during the reload', 'replay from the saved lastSeq');
        await b.presence();
        assert.deepEqual(seen, []);
        // A second handle of the same page does not take the first one's member.
        const other = handles.join(proxy.http, room, T);
        assert.equal((await next(other, 'connect')).resumed, false);
        assert.notEqual(other.cid, cid);
        await other.close();
        await page2.close();
        assert.equal(storage.size, 0, 'close() forgets the member');
        // persist: false: nothing saved
        const unsaved = handles.join(server.http, room, T, { persist: false });
        await opened(unsaved);
        assert.equal(storage.size, 0);
        await unsaved.close();
      } finally {
        await proxy.close();
      }
    });
  });

  test(`[${T}] presence info: in connect, join and presence; one over the cap ends with closed too_large`, async () => {
    const room = uid('info');
    const a = handles.join(server.http, room, T, { info: { name: 'ann' } });
    const aInfo = await next(a, 'connect');
    assert.deepEqual(aInfo.info, { name: 'ann' });
    const b = handles.join(server.http, room, T, { info: { name: 'bob', color: 'red' } });
    const [joined, bInfo] = await Promise.all([next(a, 'join'), next(b, 'connect')]);
    assert.deepEqual(joined.info, { name: 'bob', color: 'red' });
    assert.deepEqual(bInfo.infos, { [a.cid!]: { name: 'ann' }, [b.cid!]: { name: 'bob', color: 'red' } });
    assert.deepEqual(a.infos, { [a.cid!]: { name: 'ann' }, [b.cid!]: { name: 'bob', color: 'red' } });
    const c = handles.join(server.http, room, T);
    await opened(c);
    assert.deepEqual((await c.presence()).sort(), [a.cid, b.cid, c.cid].sort());
    assert.deepEqual(c.infos, { [a.cid!]: { name: 'ann' }, [b.cid!]: { name: 'bob', color: 'red' } });
    const left = next(a, 'leave');
    await b.close();
    await left;
    assert.deepEqual(Object.keys(a.infos), [a.cid]);

    let reconnects = 0;
    const big = connect(server.http + room, { transport: T, info: { blob: 'x'.repeat(2000) } });
    big.on('reconnecting', () => reconnects++);
    const closed = await next(big, 'closed');
    assert.equal(closed.reason, 'too_large');
    assert.equal(reconnects, 0);
  });

  test(`[${T}] a closed room (410) ends reconnecting with closed {reason: "gone"}`, async () => {
    const owner = handles.join(server.ws, '/_/new', T);
    const { room } = await next(owner, 'connect');
    await owner.close();
    let reconnects = 0;
    const late = connect(server.http + room, { transport: T, ...FAST });
    late.on('reconnecting', () => reconnects++);
    const closed = await next(late, 'closed');
    assert.equal(closed.reason, 'gone');
    if (T === 'sse') assert.equal(closed.code, 'room_closed', 'the refused stream\'s body is readable');
    assert.equal(reconnects, 0);
    assert.equal((await rejection(late.request('x'))).code, 'closed');
  });
}

for (const T of TRANSPORTS) {
  test(`[${T}] what a dying connection swallowed is sent again on resume (seen/n), once, with nobody seeing a leave`, async () => {
    const proxy = await CutProxy.start(server.port);
    try {
      const room = uid('swallow');
      const a = handles.join(proxy.http, room, T, FAST);
      await opened(a);
      const b = handles.join(server.http, room, 'websocket');
      await opened(b);
      const got: unknown[] = [];
      a.on('message', (m) => { if (m.kind === 'direct') got.push(m.data); });
      let leaves = 0;
      b.on('leave', () => { leaves++; });
      await b.send(a.cid!, 'one');
      await until(() => got.length === 1, 'the first direct message');
      // The connection dies without anyone noticing: the server's next writes go nowhere.
      proxy.swallow();
      await b.send(a.cid!, 'two'); // accepted by the server (acked), written into the dead connection
      await b.send(a.cid!, 'three');
      proxy.cut();
      const back = await next(a, 'connect', () => true, 6000);
      assert.equal(back.resumed, true);
      await until(() => got.length >= 3, 'the swallowed messages, sent again');
      await b.presence();
      assert.deepEqual(got, ['one', 'two', 'three'], 'each message once, in order');
      assert.equal(leaves, 0);
    } finally {
      await proxy.close();
    }
  });
}

test('[websocket] replaced (4002): another connection resumed this member; the handle starts afresh with a new cid', async () => {
  const storage = new MemoryStorage();
  await withGlobal('sessionStorage', storage, async () => {
    const room = uid('replaced');
    const a = handles.join(server.ws, room, 'websocket', FAST);
    const first = await next(a, 'connect');
    const { token } = JSON.parse(storage.values()[0]) as { token: string };
    // a duplicated tab: the same saved token, another connection
    const twin = new WebSocket(`${server.ws}${room}?resume=${token}`, SUBPROTOCOL);
    const twinConnect = new Promise<{ cid: string; resumed: boolean }>((resolve) => twin.once('message', (d) => resolve(JSON.parse(String(d)))));
    const again = await next(a, 'connect', (c) => c.cid !== first.cid);
    assert.equal(again.resumed, false);
    const t = await twinConnect;
    assert.deepEqual([t.cid, t.resumed], [first.cid, true]);
    // and it stays that way: the handle does not take the member back
    await sleep(200);
    assert.equal(twin.readyState, WebSocket.OPEN);
    twin.close();
  });
});

test('a browser WebSocket refused at the handshake (no status): the door says why, and reconnecting ends', async () => {
  const door = await fetch(`${server.http}/_/door?room=/x`);
  assert.equal(door.status, 204, 'the door admits an open room');
  const owner = handles.join(server.ws, '/_/new', 'websocket');
  const { room } = await next(owner, 'connect');
  await owner.close();
  // What a browser's WebSocket reports for a refused handshake: close 1006, no status, no text.
  class BrowserLikeWebSocket {
    readyState = 0;
    onopen: (() => void) | null = null;
    onmessage: (() => void) | null = null;
    onerror: ((ev: object) => void) | null = null;
    onclose: ((ev: { code: number; reason: string }) => void) | null = null;
    constructor() {
      setTimeout(() => { this.readyState = 3; this.onerror?.({}); this.onclose?.({ code: 1006, reason: '' }); }, 5);
    }
    send(): void {}
    close(): void {}
  }
  await withGlobal('WebSocket', BrowserLikeWebSocket, async () => {
    let reconnects = 0;
    const r: Room = connect(server.http + room, FAST);
    r.on('reconnecting', () => reconnects++);
    const closed = await next(r, 'closed');
    assert.deepEqual({ ...closed }, { reason: 'gone', code: 'room_closed' });
    assert.equal(reconnects, 0);
  });
});

test('relative room URLs: resolved against the page in a browser, a clear TypeError in Node', async () => {
  assert.throws(() => connect('/chat'), (e: unknown) => e instanceof TypeError && /relative room URL needs a page/.test(e.message) && /ws:\/\/127\.0\.0\.1:8765\/chat/.test(e.message));
  await withGlobal('location', { href: `${server.http}/app/index.html` }, async () => {
    for (const T of TRANSPORTS) {
      const r = handles.join('', '/rel', T);
      const info = await next(r, 'connect');
      assert.equal(info.room, '/rel');
      await r.close();
    }
  });
});
