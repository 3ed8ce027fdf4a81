// Stable identity (docs/protocol.md §2, "Resume"): a member whose connection drops keeps its cid
// for --resume-grace; a connection opened with ?resume=<its token> takes it over — the others see
// no leave/join, and what was sent to it meanwhile (direct messages, requests, replies) follows
// the replay of what was published. After the grace the others see `leave`; a resume then comes
// back with the same cid but as a new arrival (resumed: false). Presence `info` rides along.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from './helpers/server.js';
import { MemberPool, SseMember, WsMember, httpStatus, short, uid, type Msg } from './helpers/native.js';

const GRACE_S = 1.5;
let server: RunningServer;
let pool: MemberPool;

before(async () => {
  server = await startServer({ args: ['--resume-grace', String(GRACE_S), '--max-info-bytes', '64'] });
  pool = new MemberPool(server.ws, server.http);
});
afterEach(() => pool.closeAll());
after(async () => { await pool?.closeAll(); await server?.stop(); });

const room = (p = 'resume') => '/' + uid(p);
const about = (cid: string) => (m: Msg) => (m.type === 'join' || m.type === 'leave') && m.cid === cid;
const resumeQuery = (m: { hello: Msg }, extra = '') => `resume=${m.hello.token}&since=${m.hello.seq}&epoch=${m.hello.epoch}${extra}`;

/** The HTTP status a native WebSocket upgrade to `path` is refused with. */
async function refusedWith(path: string): Promise<{ status: number; body: string }> {
  try {
    const m = await pool.ws(path);
    assert.fail(`the upgrade to ${path} was accepted: ${short(m.hello)}`);
  } catch (e) {
    const err = e as { statusCode?: number; body?: string };
    if (err.statusCode === undefined) throw e;
    return { status: err.statusCode, body: err.body ?? '' };
  }
}

/** Send, then a presence round trip: the server has handled everything before it. */
async function act(m: WsMember, msg: Msg): Promise<Msg> {
  const n = m.count((x) => x.type === 'presence');
  m.send(msg);
  m.send({ type: 'presence' });
  await m.waitUntil(() => m.count((x) => x.type === 'presence') > n, 2000, `presence after ${short(msg)}`);
  return m.all((x) => x.type === 'presence')[n];
}

for (const T of ['websocket', 'sse'] as const) {
  test(`[${T}] a dropped member resumes with its cid; nobody saw it leave; what came meanwhile is delivered (publishes replayed, direct message and request held)`, async () => {
    const r = room();
    const a = await pool.join(T, r);
    const b = await pool.ws(r);
    if (a instanceof WsMember) await a.terminate(); else await a.close();
    // While a is away: a publish, a direct message and a request to it.
    await act(b, { type: 'publish', data: 'while away' });
    await act(b, { type: 'send', to: a.cid, data: 'psst', ack: true, ref: 's' });
    assert.equal((await b.waitFor((x) => x.type === 'ack' || x.type === 'error')).type, 'ack', 'a send to a dropped member is accepted (held)');
    b.send({ type: 'request', id: 'q1', to: a.cid, data: 'ping', timeout: 5000 });
    const p = await act(b, { type: 'presence' });
    assert.ok(p.members.includes(a.cid), 'a dropped member is still present during its grace');
    const again = await pool.join(T, r, { query: resumeQuery(a) });
    assert.equal(again.hello.resumed, true, short(again.hello));
    assert.equal(again.cid, a.cid, 'the resumed member keeps its cid');
    await again.waitFor((x) => x.type === 'message' && x.kind === 'publish' && x.data === 'while away');
    await again.waitFor((x) => x.type === 'message' && x.kind === 'direct' && x.data === 'psst');
    const q = await again.waitFor((x) => x.type === 'request');
    if (again instanceof WsMember) again.send({ type: 'reply', id: q.id, data: 'pong' });
    else assert.equal((await again.send({ type: 'reply', id: q.id, data: 'pong' })).status, 200);
    assert.equal((await b.waitFor((x) => x.type === 'reply' && x.id === 'q1')).data, 'pong', 'a request made while the target was away is answered after its resume');
    await act(b, { type: 'presence' });
    assert.equal(b.count(about(a.cid)), 0, `b saw a leave or join of the resumed member: ${short(b.all(about(a.cid)))}`);
  });
}

test('after the grace the others see leave; a later resume gets the same cid back as a new arrival (resumed: false, join)', async () => {
  const r = room('grace');
  const a = await pool.ws(r);
  const b = await pool.ws(r);
  const t0 = Date.now();
  await a.terminate();
  await b.waitFor((x) => x.type === 'leave' && x.cid === a.cid, GRACE_S * 1000 + 3000, 'leave after the grace');
  assert.ok(Date.now() - t0 >= GRACE_S * 1000 - 200, `leave came ${Date.now() - t0} ms after the drop, before the grace`);
  const back = await pool.ws(r, { query: resumeQuery(a) });
  assert.equal(back.hello.resumed, false);
  assert.equal(back.cid, a.cid, 'the cid is kept within the history window');
  await b.waitFor((x) => x.type === 'join' && x.cid === a.cid);
});

test('a second connection resuming a live member replaces it: the old one is closed 4002 replaced', async () => {
  const r = room('replace');
  const a = await pool.ws(r);
  const b = await pool.ws(r);
  const a2 = await pool.ws(r, { query: resumeQuery(a) });
  assert.equal(a2.hello.resumed, true);
  assert.equal(a2.cid, a.cid);
  assert.deepEqual(await a.waitClosed(), { code: 4002, reason: 'replaced' });
  await act(b, { type: 'send', to: a.cid, data: 'to the new one' });
  await a2.waitFor((x) => x.type === 'message' && x.data === 'to the new one');
  assert.equal(b.count(about(a.cid)), 0);
  // An event stream has no close code: it is told with an error first.
  const s = await pool.sse(r);
  const s2 = await pool.ws(r, { query: resumeQuery(s) });
  assert.equal(s2.cid, s.cid);
  assert.equal((await s.waitFor((x) => x.type === 'error')).code, 'replaced');
  await s.waitUntil(() => s.streamEnds > 0, 2000, 'the replaced stream to end');
});

test('{"type":"leave"} leaves at once (no grace) and closes the socket 1000', async () => {
  const r = room('leave');
  const a = await pool.ws(r);
  const b = await pool.ws(r);
  const t0 = Date.now();
  a.send({ type: 'leave' });
  await b.waitFor((x) => x.type === 'leave' && x.cid === a.cid, 1000, 'an immediate leave');
  assert.ok(Date.now() - t0 < GRACE_S * 1000, 'leave waited for the grace');
  assert.equal((await a.waitClosed()).code, 1000);
});

test('a resume token of another room, or a made-up one, joins afresh', async () => {
  const a = await pool.ws(room('one'));
  const elsewhere = await pool.ws(room('two'), { query: `resume=${a.hello.token}` });
  assert.equal(elsewhere.hello.resumed, false);
  assert.notEqual(elsewhere.cid, a.cid);
  const bogus = await pool.ws(room('three'), { query: 'resume=0123456789abcdef0123456789abcdef' });
  assert.equal(bogus.hello.resumed, false);
  const refused = await refusedWith(`${room('four')}?resume=not-a-token`);
  assert.equal(refused.status, 400, refused.body);
});

test('presence info: ?info= JSON in connect, join and presence; over --max-info-bytes → 413 too_large, not JSON → 400', async () => {
  const r = room('info');
  const ann = await pool.ws(r, { query: 'info=' + encodeURIComponent(JSON.stringify({ name: 'Ann' })) });
  assert.deepEqual(ann.hello.info, { name: 'Ann' });
  const bob = await pool.sse(r, { query: 'info=' + encodeURIComponent(JSON.stringify({ name: 'Bob', color: 'red' })) });
  assert.deepEqual(bob.hello.infos, { [ann.cid]: { name: 'Ann' }, [bob.cid]: { name: 'Bob', color: 'red' } });
  const join = await ann.waitFor((x) => x.type === 'join' && x.cid === bob.cid);
  assert.deepEqual(join.info, { name: 'Bob', color: 'red' });
  const p = await act(ann, { type: 'presence' });
  assert.deepEqual(p.infos, { [ann.cid]: { name: 'Ann' }, [bob.cid]: { name: 'Bob', color: 'red' } });
  const big = encodeURIComponent(JSON.stringify({ name: 'x'.repeat(100) }));
  const ws = await refusedWith(`${r}?info=${big}`);
  assert.equal(ws.status, 413, ws.body);
  const sse = await httpStatus(`${server.http}${r}?info=${big}`, { Accept: 'text/event-stream' });
  assert.equal(sse.status, 413, sse.text);
  assert.equal(JSON.parse(sse.text).error.code, 'too_large');
  const bad = await httpStatus(`${server.http}${r}?info=%7Bnope`, { Accept: 'text/event-stream' });
  assert.equal(bad.status, 400, bad.text);
  assert.ok(ann instanceof WsMember && bob instanceof SseMember);
});

test('a resume resends what the client did not see (?seen=<n>) from the member\'s sent log; a gap the log cannot fill means a fresh member', async () => {
  const r = room('seen');
  const a = await pool.ws(r);
  const b = await pool.ws(r);
  for (let i = 1; i <= 3; i++) b.send({ type: 'send', to: a.cid, data: i });
  const got = await a.waitForCount((x) => x.type === 'message' && x.kind === 'direct', 3);
  assert.deepEqual(got.map((m) => m.n), [1, 2, 3], 'messages to one member are numbered n = 1, 2, 3');
  // As if the last two had been written into a socket that was already dead.
  await a.terminate();
  const back = await pool.ws(r, { query: `${resumeQuery(a)}&seen=1` });
  assert.equal(back.hello.resumed, true);
  const again = await back.waitForCount((x) => x.type === 'message' && x.kind === 'direct', 2);
  assert.deepEqual(again.map((m) => [m.n, m.data]), [[2, 2], [3, 3]], 'what the client did not see comes again, numbered as before');
  // More than the log keeps for a live connection (64 messages): a resume from n=1 cannot be made whole.
  for (let i = 0; i < 70; i++) b.send({ type: 'send', to: back.cid, data: `bulk ${i}` });
  await back.waitForCount((x) => x.type === 'message' && x.kind === 'direct', 72);
  await back.terminate();
  const fresh = await pool.ws(r, { query: `resume=${a.hello.token}&seen=1` });
  assert.equal(fresh.hello.resumed, false, 'a resume that would hide lost messages is refused: the member starts afresh');
  await b.waitFor((x) => x.type === 'leave' && x.cid === a.cid, 2000, 'the old member leaves');
});

test('an SSE request whose POST is cut before the reply gets the reply down its stream (numbered, so a resume brings it)', async () => {
  const r = room('post-cut');
  const asker = await pool.sse(r);
  const server_ = await pool.ws(r);
  const aborter = new AbortController();
  const post = fetch(server.http + r, {
    method: 'POST', headers: { 'content-type': 'application/json' }, signal: aborter.signal,
    body: JSON.stringify({ token: asker.token, type: 'request', id: 'q9', to: server_.cid, data: 'ping', timeout: 5000 }),
  }).catch(() => 'aborted');
  const q = await server_.waitFor((x) => x.type === 'request');
  aborter.abort();
  assert.equal(await post, 'aborted');
  // The server must have handled the POST connection's close before the reply comes. Nothing the
  // server answers shows that (no round trip on another connection orders it), so this one test
  // waits: 100 ms puts the two in different event-loop turns even on a busy machine.
  await new Promise((resolve) => setTimeout(resolve, 100));
  server_.send({ type: 'reply', id: q.id, data: 'pong' });
  const reply = await asker.waitFor((x) => x.type === 'reply' && x.id === 'q9', 2000, 'the reply on the stream');
  assert.equal(reply.data, 'pong');
  assert.ok(Number.isInteger(reply.n), 'numbered for a resume');
});

test('a full room (--max-peers-per-room) takes back a dropped member that resumes; others still get 503', async (t) => {
  const small = await startServer({ args: ['--resume-grace', '5', '--max-peers-per-room', '2'] });
  const local = new MemberPool(small.ws, small.http);
  t.after(async () => { await local.closeAll(); await small.stop(); });
  const r = room('full');
  const a = await local.ws(r);
  await local.ws(r);
  await a.terminate();
  let refused: { statusCode?: number } | undefined;
  try { await local.ws(r); } catch (e) { refused = e as { statusCode?: number }; }
  assert.equal(refused?.statusCode, 503, 'a newcomer is refused: the dropped member still holds its place');
  const back = await local.ws(r, { query: resumeQuery(a) });
  assert.equal(back.hello.resumed, true);
  assert.equal(back.cid, a.cid);
});
