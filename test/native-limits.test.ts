// Native-protocol limits (docs/protocol.md §5 and §7): pending requests, message size, rate,
// members per room, history size and age (gap), and slow consumers. Each test starts its own
// server with the flag it needs; members and servers are cleaned up even when a test fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from './helpers/server.js';
import { MemberPool, SseMember, WsMember, httpStatus, sleep, short, uid, until, type Msg } from './helpers/native.js';
import { poll, tryUpgrade } from './helpers/gun-wire.js';

type TestContext = { after(fn: () => Promise<void> | void): void };

/**
 * A server with `args`, and a member pool on it; both go away when the test ends (also on failure).
 * A closed connection leaves at once (--resume-grace 0): these tests are about what follows a
 * departure; the grace has its own tests (test/native-resume.test.ts).
 */
async function ownServer(t: TestContext, args: string[]): Promise<{ srv: RunningServer; pool: MemberPool }> {
  const srv = await startServer({ args: ['--resume-grace', '0', ...args] });
  const pool = new MemberPool(srv.ws, srv.http);
  t.after(async () => { await pool.closeAll(); await srv.stop(); });
  return { srv, pool };
}

const room = (p = 'lim') => '/' + uid(p);
const isPub = (data?: unknown) => (m: Msg) => m.type === 'message' && m.kind === 'publish' && (data === undefined || JSON.stringify(m.data) === JSON.stringify(data));

/** Over a WebSocket: send, then a presence round trip (the server has handled the message). */
async function wsAct(m: WsMember, msg: Msg | Msg[]): Promise<void> {
  const n = m.count((x) => x.type === 'presence');
  m.send(msg);
  m.send({ type: 'presence' });
  await m.waitUntil(() => m.count((x) => x.type === 'presence') > n, 2000, `presence after ${short(msg)}`);
}

async function stats(srv: RunningServer): Promise<Msg> {
  return (await fetch(srv.http + '/_/stats')).json() as Promise<Msg>;
}

// ---------------------------------------------------------------------------------------------

test('--max-pending-requests 2: a third waiting request is refused with too_many_requests (WebSocket and SSE)', async (t) => {
  const { pool } = await ownServer(t, ['--max-pending-requests', '2']);
  const r = room('pending');
  const target = await pool.ws(r);
  // WebSocket requester
  const w = await pool.ws(r);
  w.send({ type: 'request', id: 'a', to: target.cid, data: 1 });
  w.send({ type: 'request', id: 'b', to: target.cid, data: 2 });
  w.send({ type: 'request', id: 'c', to: target.cid, data: 3, ref: 'third' });
  const err = await w.waitFor((x) => x.type === 'error' && x.ref === 'third');
  assert.equal(err.code, 'too_many_requests', short(err));
  const reqs = await target.waitForCount((x) => x.type === 'request', 2);
  await target.expectNone((x) => x.type === 'request' && x.data === 3, 0);
  // answering one frees a slot
  target.send({ type: 'reply', id: reqs[0].id, data: 'A' });
  assert.equal((await w.waitFor((x) => x.type === 'reply' && x.id === 'a')).data, 'A');
  await wsAct(w, { type: 'request', id: 'd', to: target.cid, data: 4, ref: 'fourth' });
  assert.equal(w.count((x) => x.type === 'error' && x.ref === 'fourth'), 0, `refused after a slot was freed: ${w.describe()}`);
  const d = await target.waitFor((x) => x.type === 'request' && x.data === 4);
  // the limit is per connection: another member may still ask
  const s = await pool.sse(r);
  const p1 = s.send({ type: 'request', id: 's1', to: target.cid, data: 's1' });
  const p2 = s.send({ type: 'request', id: 's2', to: target.cid, data: 's2' });
  await until([target], () => target.count((x) => x.type === 'request' && typeof x.data === 'string') === 2, 2000, 'two SSE requests at the target');
  const third = await s.send({ type: 'request', id: 's3', to: target.cid, data: 's3' });
  assert.ok(third.status >= 400 && third.status < 500, `third pending SSE request: ${third.status} ${third.text}`);
  assert.equal(third.body.error?.code, 'too_many_requests', third.text);
  for (const q of target.all((x) => x.type === 'request' && typeof x.data === 'string')) target.send({ type: 'reply', id: q.id, data: q.data + '!' });
  assert.deepEqual([(await p1).body.data, (await p2).body.data], ['s1!', 's2!']);
  target.send({ type: 'reply', id: reqs[1].id, data: 'B' });
  target.send({ type: 'reply', id: d.id, data: 'D' });
  await w.waitFor((x) => x.type === 'reply' && x.id === 'd');
  assert.equal((await w.waitFor((x) => x.type === 'reply' && x.id === 'b')).data, 'B');
});

test('--max-message-bytes 1000: WebSocket frame over it → close 1009; POST over it → 413 {"error":{"code":"too_large"}}', async (t) => {
  const { pool } = await ownServer(t, ['--max-message-bytes', '1000']);
  const r = room('big');
  const s = await pool.sse(r);
  const w = await pool.ws(r);
  // WebSocket: a frame over the limit closes the connection with 1009; others are unaffected
  const w2 = await pool.ws(r);
  w2.send({ type: 'publish', data: 'x'.repeat(900) });
  await w.waitFor(isPub('x'.repeat(900)));
  w2.send({ type: 'publish', data: 'z'.repeat(2000) });
  assert.equal((await w2.waitClosed()).code, 1009);
  await w.waitFor((x) => x.type === 'leave' && x.cid === w2.cid);
  assert.equal(w.count(isPub('z'.repeat(2000))), 0);
  // POST
  const ok = await s.send({ type: 'publish', data: 'x'.repeat(800) });
  assert.equal(ok.status, 200, ok.text);
  await w.waitFor(isPub('x'.repeat(800)));
  const big = await s.send({ type: 'publish', data: 'y'.repeat(2000) });
  // the SSE member is still there after a refused POST
  const after = await s.send({ type: 'publish', data: 'after' });
  assert.equal(after.status, 200, after.text);
  await w.waitFor(isPub('after'));
  assert.equal(w.count(isPub('y'.repeat(2000))), 0);
  assert.equal(big.status, 413, big.text);
  assert.equal(big.body.error?.code, 'too_large', `413 body must be {"error":{"code":"too_large",...}} (docs/protocol.md §1): ${big.text}`);
});

test('--max-messages-per-second 5: WebSocket gets rate_limited errors (message dropped); POST gets 429', async (t) => {
  const { pool } = await ownServer(t, ['--max-messages-per-second', '5']);
  const r = room('rate');
  const w = await pool.ws(r);
  const watcher = await pool.ws(r);
  // a batch of 8 in one frame: 5 within budget, 3 refused
  const batch = Array.from({ length: 8 }, (_, i) => ({ type: 'publish', data: i, ref: `p${i}` }));
  w.send(batch);
  await w.waitForCount((x) => x.type === 'error', 3, 2000, 'rate_limited errors');
  const errs = w.all((x) => x.type === 'error');
  assert.deepEqual(errs.map((e) => [e.code, e.ref]), [['rate_limited', 'p5'], ['rate_limited', 'p6'], ['rate_limited', 'p7']], short(errs));
  await watcher.waitForCount(isPub(), 5);
  // nothing refused was delivered (the connection is usable again in the next window)
  await sleep(1050);
  watcher.send({ type: 'send', to: w.cid, data: 'marker' });
  w.send({ type: 'send', to: watcher.cid, data: 'marker back' });
  await watcher.waitFor((x) => x.type === 'message' && x.data === 'marker back');
  assert.deepEqual(watcher.all(isPub()).map((x) => x.data), [0, 1, 2, 3, 4]);
  assert.ok(w.isOpen);
  // POST: the SSE member's budget
  const s = await pool.sse(r);
  const started = Date.now();
  const statuses: number[] = [];
  let limited: Msg | undefined;
  for (let i = 0; i < 8; i++) {
    const res = await s.send({ type: 'send', to: watcher.cid, data: `post${i}` });
    statuses.push(res.status);
    if (res.status === 429) limited ??= res.body;
  }
  const took = Date.now() - started;
  assert.ok(statuses.includes(429), `8 POSTs in ${took} ms: ${statuses}`);
  assert.equal(limited?.error?.code, 'rate_limited', short(limited));
  if (took < 900) assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
  const delivered = statuses.filter((x) => x === 200).length;
  await watcher.waitForCount((x) => x.type === 'message' && /^post/.test(x.data), delivered);
  await sleep(50);
  assert.equal(watcher.count((x) => x.type === 'message' && /^post/.test(x.data)), delivered, 'a 429 message was delivered');
});

test('--max-peers-per-room 2: a third member gets HTTP 503 (WebSocket upgrade and SSE stream)', async (t) => {
  const { srv, pool } = await ownServer(t, ['--max-peers-per-room', '2']);
  const r = room('full');
  await pool.ws(r);
  await pool.sse(r);
  const native = await WsMember.connect(srv.ws, r).then((m) => { pool.track(m); return 101; }, (e) => e.statusCode ?? String(e));
  assert.equal(native, 503, 'native WebSocket upgrade into a full room');
  const gun = await tryUpgrade(srv.ws + r);
  if (gun.kind === 'open') gun.ws.terminate();
  assert.equal(gun.kind === 'rejected' ? gun.statusCode : gun.kind, 503, 'GUN upgrade into a full room');
  const sse = await httpStatus(srv.http + r, { Accept: 'text/event-stream' });
  assert.equal(sse.status, 503, sse.text);
  const st = (await stats(srv)).rooms[r];
  assert.equal(st.members, 2, short(st));
});

// Found by `npm run fuzz` (its end-of-run check that every HTTP exchange is answered): an SSE
// member's request POST was never answered when the member's stream closed before the reply.
test('an SSE request POST is answered `gone` when the requester\'s own stream closes first', async (t) => {
  const { pool } = await ownServer(t, []);
  const r = room('gone');
  const target = await pool.ws(r);
  const asker = await pool.sse(r);
  const answer = asker.send({ type: 'request', id: 'q', to: target.cid, data: 1, timeout: 4000 });
  await target.waitFor((x) => x.type === 'request');
  await asker.close();
  const res = await answer;
  assert.equal(res.body.type, 'reply', short(res.body));
  assert.equal(res.body.error?.code, 'gone', short(res.body));
  // the late reply finds nothing pending
  target.send({ type: 'reply', id: (await target.waitFor((x) => x.type === 'request')).id, data: 2, ref: 'late' });
  assert.equal((await target.waitFor((x) => x.type === 'error' && x.ref === 'late')).code, 'unknown_request');
});

test('an SSE request POST waiting in an owned room is answered `room_closed` when the owner leaves', async (t) => {
  const { pool } = await ownServer(t, []);
  const owner = await pool.ws('/_/new');
  const target = await pool.ws(owner.room);
  const asker = await pool.sse(owner.room);
  const answer = asker.send({ type: 'request', id: 'q', to: target.cid, data: 1, timeout: 4000 });
  await target.waitFor((x) => x.type === 'request');
  await owner.close();
  const res = await answer;
  assert.equal(res.body.type, 'reply', short(res.body));
  assert.equal(res.body.error?.code, 'room_closed', short(res.body));
});

// ---------------------------------------------------------------------------------------------
// History limits: gap

test('--history-size 3: replay that cannot reach back starts with an explicit gap (WebSocket since=, SSE Last-Event-ID)', async (t) => {
  const { pool } = await ownServer(t, ['--history-size', '3']);
  const r = room('gap');
  const pub = await pool.ws(r);
  for (let i = 1; i <= 6; i++) pub.send({ type: 'publish', data: `m${i}`, ...(i === 5 ? { topic: 't' } : {}) });
  await wsAct(pub, { type: 'presence' });
  // kept: 4, 5 (topic t), 6
  const w = await pool.ws(r, { query: 'since=1&topics=t' });
  await w.waitFor(isPub('m6'));
  const afterConnect = w.messages.slice(1);
  assert.deepEqual(afterConnect[0], { type: 'gap', from: 2, to: 3 }, `first after connect: ${short(afterConnect)}`);
  assert.deepEqual(afterConnect.slice(1).map((x) => x.seq), [4, 5, 6]);
  // without the topic: gap, then 4 and 6
  const w0 = await pool.ws(r, { query: 'since=0' });
  await w0.waitFor(isPub('m6'));
  assert.deepEqual(w0.messages.slice(1).map((x) => x.type === 'gap' ? `gap ${x.from}-${x.to}` : x.seq), ['gap 1-3', 4, 6]);
  // since = the oldest kept - 1: no gap
  const w3 = await pool.ws(r, { query: 'since=3' });
  await w3.waitFor(isPub('m6'));
  assert.equal(w3.count((x) => x.type === 'gap'), 0);
  assert.deepEqual(w3.all(isPub()).map((x) => x.seq), [4, 6]);
  // SSE: Last-Event-ID counts as since
  const s = await pool.sse(r, { headers: { 'Last-Event-ID': '2' }, query: 'topics=t' });
  await s.waitFor(isPub('m6'));
  assert.deepEqual(s.messages.slice(1).map((x) => x.type === 'gap' ? `gap ${x.from}-${x.to}` : x.seq), ['gap 3-3', 4, 5, 6]);
  const gi = s.messages.findIndex((x) => x.type === 'gap');
  assert.equal(s.ids[gi], '', 'a gap has no SSE id');
  assert.equal(s.ids[s.messages.findIndex(isPub('m6'))], '6');
  // SSE: ?since= works too
  const s2 = await pool.sse(r, { query: 'since=0' });
  await s2.waitFor(isPub('m6'));
  assert.deepEqual(s2.messages.slice(1).map((x) => x.type === 'gap' ? `gap ${x.from}-${x.to}` : x.seq), ['gap 1-3', 4, 6]);
  // since beyond the last seq (a seq of an earlier incarnation of the room): reset gap, then all kept
  const w9 = await pool.ws(r, { query: 'since=99' });
  await w9.waitFor(isPub('m6'));
  assert.deepEqual(w9.messages[1], { type: 'gap', reset: true, from: 1, to: 3 }, w9.describe());
  assert.deepEqual(w9.all(isPub()).map((x) => x.seq), [4, 6]);
  // another epoch: the same, whatever since says
  const epoch = w9.messages[0].epoch as string;
  assert.equal(typeof epoch, 'string');
  const wOld = await pool.ws(r, { query: 'since=4&epoch=not-' + epoch });
  await wOld.waitFor(isPub('m6'));
  assert.deepEqual(wOld.messages[1], { type: 'gap', reset: true, from: 1, to: 3 }, wOld.describe());
  const wSame = await pool.ws(r, { query: `since=4&epoch=${epoch}` });
  await wSame.waitFor(isPub('m6'));
  assert.equal(wSame.count((x) => x.type === 'gap'), 0, wSame.describe());
});

// Issue 9 §0: the history was bounded by count and age only (twenty 9 MiB publishes kept 311 MB
// resident after the member left, while /_/stats showed the room with bytes: 0).
test('--history-bytes: the history keeps at most that many bytes, shown in /_/stats; what it drops is a gap', async (t) => {
  const { srv, pool } = await ownServer(t, ['--history-bytes', '2000']);
  const r = room('hbytes');
  const pub = await pool.ws(r);
  for (let i = 1; i <= 10; i++) pub.send({ type: 'publish', data: `m${i}-` + 'x'.repeat(400) });
  await wsAct(pub, { type: 'presence' });
  const before = (await stats(srv)).rooms[r].historyBytes as number;
  assert.ok(before > 1500 && before <= 2000, `room historyBytes ${before} after ten ~480-byte messages`);
  pub.send({ type: 'publish', data: 'big-' + 'y'.repeat(5000) }); // larger than the whole limit
  pub.send({ type: 'publish', data: 'last' });
  await wsAct(pub, { type: 'presence' });
  const s = await stats(srv);
  const kept = s.rooms[r].historyBytes as number;
  assert.ok(kept > 0 && kept < 200, `room historyBytes ${kept} (only "last" is kept)`);
  assert.equal(s.totals.historyBytes, kept, short(s.totals));
  const w = await pool.ws(r, { query: 'since=0' });
  await w.waitFor(isPub('last'));
  const replay = w.messages.slice(1).map((x) => x.type === 'gap' ? `gap ${x.from}-${x.to}` : x.seq);
  // 11 was larger than the whole limit: not kept, and nothing before it either (a replay never
  // skips a seq without a gap)
  assert.deepEqual(replay, ['gap 1-11', 12], short(w.messages));
  assert.equal(w.count((x) => typeof x.data === 'string' && x.data.startsWith('big-')), 0);
  // the bound holds with nobody in the room
  await pub.close();
  await w.close();
  // The client sees its close before the server has handled it: wait for the room to be empty.
  const after = await poll(async () => { const x = await stats(srv); return x.rooms[r].members === 0 ? x : undefined; }, 3000, 20, 'the room to be empty');
  assert.equal(after.rooms[r].historyBytes, kept);
});

test('--history-ttl: expired history is a gap too', async (t) => {
  const { pool } = await ownServer(t, ['--history-ttl', '0.3']);
  const r = room('ttl');
  const pub = await pool.ws(r);
  pub.send({ type: 'publish', data: 'old1' });
  pub.send({ type: 'publish', data: 'old2' });
  await wsAct(pub, { type: 'presence' });
  await sleep(400);
  pub.send({ type: 'publish', data: 'new3' });
  await wsAct(pub, { type: 'presence' });
  const w = await pool.ws(r, { query: 'since=0' });
  await w.waitFor(isPub('new3'));
  assert.deepEqual(w.messages.slice(1).map((x) => x.type === 'gap' ? `gap ${x.from}-${x.to}` : x.seq), ['gap 1-2', 3]);
});

// ---------------------------------------------------------------------------------------------
// Slow consumers

test('--max-queued-bytes 65536: a WebSocket member that does not read is closed; the others get everything at full speed', async (t) => {
  const { srv, pool } = await ownServer(t, ['--max-queued-bytes', '65536']);
  const r = room('slow');
  const pub = await pool.ws(r);
  const fast = await pool.ws(r);
  const fastSse = await pool.sse(r);
  const slow = await pool.ws(r);
  const slowCid = slow.cid;
  (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();

  // Bursts stay well under the limit (8 × 4 KB per frame): a reader that keeps up never has
  // more than one burst queued, while the one that does not read fills the kernel buffers.
  const payload = 'p'.repeat(4 * 1024);
  const CHUNK = 8;
  const MAX = 10_000; // ~40 MB: far more than loopback buffers hold
  let sent = 0;
  let slowestChunkMs = 0;
  const t0 = Date.now();
  const got = (m: WsMember | SseMember) => m.count(isPub());
  // publish in chunks; every chunk must reach the fast members promptly
  while (sent < MAX) {
    const c0 = Date.now();
    const batch = Array.from({ length: CHUNK }, (_, i) => ({ type: 'publish', data: { n: sent + i, payload } }));
    pub.send(batch);
    sent += CHUNK;
    await until([fast, fastSse], () => got(fast) >= sent && got(fastSse) >= sent, 5000, `${sent} publishes at the fast members`);
    slowestChunkMs = Math.max(slowestChunkMs, Date.now() - c0);
    if (fast.messages.some((x) => x.type === 'leave' && x.cid === slowCid)) break;
  }
  const tripped = Date.now() - t0;
  const leave = fast.messages.find((x) => x.type === 'leave' && x.cid === slowCid);
  assert.ok(leave, `the slow member was not dropped after ${sent} publishes (${(sent * payload.length / 1e6).toFixed(1)} MB) in ${tripped} ms`);
  // the room goes on: a few more chunks, still prompt
  for (let k = 0; k < 3; k++) {
    const c0 = Date.now();
    pub.send(Array.from({ length: CHUNK }, (_, i) => ({ type: 'publish', data: { n: sent + i, payload } })));
    sent += CHUNK;
    await until([fast, fastSse], () => got(fast) >= sent && got(fastSse) >= sent, 5000, `${sent} publishes after the slow member left`);
    slowestChunkMs = Math.max(slowestChunkMs, Date.now() - c0);
  }
  // every message, in order, to both fast members (WebSocket and SSE)
  for (const m of [fast, fastSse]) {
    const ns = m.all(isPub()).map((x) => x.data.n);
    assert.equal(ns.length, sent, `${m.label} got ${ns.length} of ${sent}`);
    assert.ok(ns.every((n, i) => n === i), `${m.label}: out of order or missing`);
  }
  assert.ok(slowestChunkMs < 2000, `a chunk of ${CHUNK} × 4 KB took ${slowestChunkMs} ms to reach the fast members`);
  const st = (await stats(srv)).rooms[r];
  assert.equal(st.members, 3, short(st));
  // the slow member: once it reads again, it finds its connection closed (4008, or reset)
  (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  const closed = await slow.waitClosed(5000);
  assert.ok([4008, 1006].includes(closed.code), `slow consumer closed with ${closed.code} ${closed.reason}`);
  t.diagnostic(`slow consumer dropped after ${sent} publishes (${(sent * payload.length / 1e6).toFixed(1)} MB) in ${tripped} ms, close code ${closed.code}, slowest chunk ${slowestChunkMs} ms`);
});
