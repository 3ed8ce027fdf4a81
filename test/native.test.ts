// The native protocol (docs/protocol.md, issue 4) end to end against the real server, over both
// transports: raw `ws` clients with the multisocket.v1 subprotocol, and eventsource@4 streams with
// `fetch` POSTs. Most tests run once with a WebSocket actor and once with an SSE actor, and mix
// the transports among the other members, so every path is also an SSE ↔ WebSocket path.
// Limits that need special server flags are in native-limits.test.ts.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from './helpers/server.js';
import { MemberPool, SseMember, WsMember, uid, short, httpStatus, postJson, until, type Msg, unnumbered } from './helpers/native.js';
import { GunPeer, node, poll, tryUpgrade, uid as gunUid } from './helpers/gun-wire.js';

type AnyMember = WsMember | SseMember;
type Transport = 'websocket' | 'sse';
const TRANSPORTS: Transport[] = ['websocket', 'sse'];
const other = (t: Transport): Transport => (t === 'websocket' ? 'sse' : 'websocket');

let server: RunningServer;
let pool: MemberPool;
const gunPeers: GunPeer[] = [];

before(async () => {
  // A closed connection leaves at once: these tests are about membership as connections come and
  // go; the resume grace has its own tests (test/native-resume.test.ts).
  server = await startServer({ args: ['--resume-grace', '0'] });
  pool = new MemberPool(server.ws, server.http);
});
afterEach(async () => {
  await pool.closeAll();
  await Promise.all(gunPeers.splice(0).map((p) => p.close()));
});
after(async () => {
  await pool?.closeAll();
  await server?.stop();
});

const room = (p = 'room') => '/' + uid(p);
const stats = async (): Promise<Msg> => (await fetch(server.http + '/_/stats')).json() as Promise<Msg>;
const isMsg = (kind: string, data?: unknown) => (m: Msg) =>
  m.type === 'message' && m.kind === kind && (data === undefined || JSON.stringify(m.data) === JSON.stringify(data));

/**
 * Do something as `m` and return once the server has handled it: an SSE POST must answer
 * 200 {"ok":true}; a WebSocket frame is followed by a `presence` round trip (answers come in order).
 */
async function act(m: AnyMember, msg: Msg): Promise<void> {
  if (m instanceof SseMember) {
    const r = await m.send(msg);
    assert.equal(r.status, 200, `POST ${short(msg)} answered ${r.status} ${r.text}`);
    assert.equal(r.body?.ok, true, `POST ${short(msg)}: ${r.text}`);
    return;
  }
  const before = m.count((x) => x.type === 'presence');
  m.send(msg);
  m.send({ type: 'presence' });
  await m.waitUntil(() => m.count((x) => x.type === 'presence') > before, 2000, `presence after ${short(msg)}`);
}

/** `msg` from `m` is refused with `code`: an `error` (WebSocket, with our ref) or HTTP `status` (SSE). */
async function refused(m: AnyMember, msg: Msg, code: string, status: number): Promise<Msg> {
  if (m instanceof SseMember) {
    const r = await m.send(msg);
    assert.equal(r.status, status, `POST ${short(msg)} → ${r.status} ${r.text}`);
    assert.equal(r.body.error?.code, code, `POST ${short(msg)} → ${r.text}`);
    assert.equal(typeof r.body.error?.message, 'string');
    return r.body;
  }
  const ref = uid('ref');
  m.send({ ...msg, ref });
  const e = await m.waitFor((x) => x.type === 'error' && x.ref === ref, 2000, `error for ${short(msg)}`);
  assert.equal(e.code, code, short(e));
  assert.equal(typeof e.message, 'string');
  return e;
}

/** Send a request as `m`; resolves with the `reply` (over SSE: the POST's answer). */
async function ask(m: AnyMember, req: Msg, expectStatus = 200): Promise<Msg> {
  const msg = { type: 'request', ...req };
  if (m instanceof SseMember) {
    const r = await m.send(msg);
    assert.equal(r.status, expectStatus, `POST ${short(msg)} → ${r.status} ${r.text}`);
    return r.body;
  }
  m.send(msg);
  return m.waitFor((x) => x.type === 'reply' && x.id === req.id, (req.timeout ?? 3000) + 2000, `reply to request ${req.id}`);
}

/** Every target has received everything `from` caused before this call (direct markers, in order). */
async function sync(from: AnyMember, ...targets: AnyMember[]): Promise<void> {
  await Promise.all(targets.map(async (t) => {
    const marker = uid('sync');
    await act(from, { type: 'send', to: t.cid, data: { marker } });
    await t.waitFor((x) => x.type === 'message' && x.kind === 'direct' && x.data?.marker === marker, 2000, `sync marker from ${from.cid}`);
  }));
}

// ---------------------------------------------------------------------------------------------
// Identity

for (const T of TRANSPORTS) {
  test(`[${T}] connect: {type,room,cid,token,owner,members,seq,epoch} as the first message`, async () => {
    const r = room('hello');
    const a = await pool.join(T, r);
    assert.equal(a.messages[0].type, 'connect', `first message: ${short(a.messages[0])}`);
    const c = a.hello;
    assert.deepEqual(Object.keys(c).sort(), ['cid', 'epoch', 'limits', 'members', 'owner', 'resumed', 'room', 'seq', 'token', 'type'], short(c));
    assert.equal(c.room, r);
    assert.ok(typeof c.cid === 'string' && c.cid.length > 0);
    assert.match(c.token, /^[0-9a-f]{32}$/, 'token: 128 random bits (hex)');
    assert.equal(c.owner, c.cid, 'the first member owns an ordinary room');
    assert.deepEqual(c.members, [c.cid]);
    assert.equal(c.seq, 0);

    const p = await pool.join(other(T), r);
    await act(p, { type: 'publish', data: 1 });
    await act(p, { type: 'publish', data: 2 });
    const b = await pool.join(T, r);
    assert.equal(b.messages[0].type, 'connect');
    assert.equal(b.hello.room, r);
    assert.notEqual(b.cid, a.cid);
    assert.notEqual(b.token, a.token);
    assert.equal(b.hello.owner, a.cid);
    assert.deepEqual(b.hello.members, [a.cid, p.cid, b.cid]);
    assert.equal(b.hello.seq, 2, 'seq: the last published sequence number');
    // a reconnect gets a new cid
    await a.close();
    const a2 = await pool.join(T, r);
    assert.ok(![a.cid, p.cid, b.cid].includes(a2.cid));
  });
}

test('SSE wire format: retry first, `event:` is the type, `data:` the JSON, `id:` the seq of publishes only', async () => {
  const r = room('wire');
  const ws = await pool.ws(r);
  const ctl = new AbortController();
  const res = await fetch(server.http + r, { headers: { Accept: 'text/event-stream' }, signal: ctl.signal });
  try {
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let text = '';
    const readUntil = async (re: RegExp) => {
      const deadline = Date.now() + 3000;
      while (!re.test(text)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${re} in ${JSON.stringify(text)}`);
        const { done, value } = await reader.read();
        if (done) throw new Error(`stream ended: ${JSON.stringify(text)}`);
        text += dec.decode(value, { stream: true });
      }
    };
    await readUntil(/event: connect\ndata: (.*)\n\n/);
    assert.ok(text.startsWith('retry: 2000\n\n'), `stream starts with retry: ${JSON.stringify(text.slice(0, 40))}`);
    const connect = JSON.parse(/event: connect\ndata: (.*)\n\n/.exec(text)![1]);
    assert.equal(connect.type, 'connect');
    assert.doesNotMatch(text.split('event: connect')[0], /id:/, 'connect has no id');
    ws.send({ type: 'publish', data: { hi: 1 } });
    ws.send({ type: 'send', to: connect.cid, data: 'direct' });
    await readUntil(/event: message\ndata: .*"direct".*\n\n/);
    const pub = /id: (\d+)\nevent: message\ndata: (.*)\n\n/.exec(text);
    assert.ok(pub, `publish event with id: ${JSON.stringify(text)}`);
    const msg = JSON.parse(pub[2]);
    assert.deepEqual(msg, { type: 'message', kind: 'publish', from: ws.cid, data: { hi: 1 }, seq: Number(pub[1]) });
    assert.match(text, /(^|\n)event: message\ndata: \{"type":"message","kind":"direct",[^\n]*\n\n/, 'direct message without id');
    assert.doesNotMatch(text, /id: \d+\nevent: message\ndata: [^\n]*"direct"/);
  } finally {
    ctl.abort();
  }
});

// ---------------------------------------------------------------------------------------------
// publish / send / topics

for (const T of TRANSPORTS) {
  test(`[${T}] publish reaches every other member with from and seq, not the sender; echo:true includes it`, async () => {
    const r = room('pub');
    const a = await pool.join(T, r);
    const b = await pool.ws(r);
    const c = await pool.sse(r);
    const seq0 = a.hello.seq;
    await act(a, { type: 'publish', data: { text: 'hi', n: [1, 2] } });
    for (const m of [b, c]) {
      const got = await m.waitFor(isMsg('publish', { text: 'hi', n: [1, 2] }));
      assert.deepEqual(got, { type: 'message', kind: 'publish', from: a.cid, data: { text: 'hi', n: [1, 2] }, seq: seq0 + 1 });
    }
    await act(a, { type: 'publish' }); // data defaults to null
    for (const m of [b, c]) assert.equal((await m.waitFor((x) => x.type === 'message' && x.seq === seq0 + 2)).data, null);
    await sync(a, a);
    assert.equal(a.count(isMsg('publish')), 0, `the sender got its own publish: ${a.describe()}`);
    await act(a, { type: 'publish', data: 'echoed', echo: true });
    const echoed = await a.waitFor(isMsg('publish', 'echoed'));
    assert.equal(echoed.from, a.cid);
    assert.equal(echoed.seq, seq0 + 3);
    for (const m of [b, c]) assert.equal((await m.waitFor(isMsg('publish', 'echoed'))).seq, seq0 + 3);
    // a publish from another member reaches the first, exactly once
    await act(b, { type: 'publish', data: 'from b' });
    assert.equal((await a.waitFor(isMsg('publish', 'from b'))).from, b.cid);
    await sync(b, a, c);
    assert.equal(a.count(isMsg('publish', 'from b')), 1);
    assert.equal(c.count(isMsg('publish', 'from b')), 1);
  });

  test(`[${T}] send: a direct message to one member (from stamped); unknown_target for a cid not in the room`, async () => {
    const r = room('send');
    const a = await pool.join(T, r);
    const b = await pool.join(other(T), r);
    const c = await pool.join(T, r);
    await act(a, { type: 'send', to: b.cid, data: { psst: true } });
    const got = await b.waitFor(isMsg('direct'));
    assert.deepEqual(unnumbered(got), { type: 'message', kind: 'direct', from: a.cid, data: { psst: true } });
    await act(b, { type: 'send', to: a.cid, data: 'back' });
    assert.equal((await a.waitFor(isMsg('direct', 'back'))).from, b.cid);
    await sync(a, c);
    assert.equal(c.count((x) => x.type === 'message' && x.data?.psst), 0, 'a third member saw the direct message');
    // a cid of another room is unknown here
    const elsewhere = await pool.ws(room('elsewhere'));
    await refused(a, { type: 'send', to: elsewhere.cid, data: 1 }, 'unknown_target', 404);
    await refused(a, { type: 'send', to: 'c-no-such-member', data: 1 }, 'unknown_target', 404);
    await elsewhere.expectNone(isMsg('direct'), 0);
    // still usable
    await act(a, { type: 'send', to: c.cid, data: 'after' });
    await c.waitFor(isMsg('direct', 'after'));
  });

  test(`[${T}] topics: exact and "*" prefix subscriptions, unsubscribe; untopiced publishes go to all`, async () => {
    const r = room('topics');
    const pub = await pool.join(other(T), r);
    const a = await pool.join(T, r); // news.* and alerts
    const all = await pool.join(T, r); // *
    const none = await pool.join(other(T), r); // nothing
    await act(a, { type: 'subscribe', topic: 'news.*' });
    await act(a, { type: 'subscribe', topic: 'alerts' });
    await act(all, { type: 'subscribe', topic: '*' });
    const publish = (topic: string | undefined, data: string) => act(pub, topic === undefined ? { type: 'publish', data } : { type: 'publish', topic, data });
    await publish('news.eu', 'n1');
    await publish('alerts', 'a1');
    await publish('alerts.x', 'ax'); // not an exact match of "alerts"
    await publish('sports', 's1');
    await publish(undefined, 'plain');
    await sync(pub, a, all, none);
    const seen = (m: AnyMember) => m.all((x) => x.type === 'message' && x.kind === 'publish').map((x) => x.data);
    assert.deepEqual(seen(a), ['n1', 'a1', 'plain']);
    assert.deepEqual(seen(all), ['n1', 'a1', 'ax', 's1', 'plain']);
    assert.deepEqual(seen(none), ['plain']);
    const n1 = a.all(isMsg('publish', 'n1'))[0];
    assert.equal(n1.topic, 'news.eu');
    assert.equal(n1.from, pub.cid);
    assert.equal(typeof n1.seq, 'number');
    // unsubscribe
    await act(a, { type: 'unsubscribe', topic: 'news.*' });
    await publish('news.us', 'n2');
    await publish('alerts', 'a2');
    await sync(pub, a, all);
    assert.deepEqual(seen(a), ['n1', 'a1', 'plain', 'a2']);
    assert.deepEqual(seen(all).slice(-2), ['n2', 'a2']);
    // the publisher subscribed to its own topic still needs echo
    await act(pub, { type: 'subscribe', topic: 'self' });
    await publish('self', 'no-echo');
    await act(pub, { type: 'publish', topic: 'self', data: 'echo', echo: true });
    await pub.waitFor(isMsg('publish', 'echo'));
    assert.equal(pub.count(isMsg('publish', 'no-echo')), 0);
    // bad topics
    await refused(a, { type: 'subscribe', topic: '' }, 'bad_message', 400);
    await refused(a, { type: 'subscribe', topic: 'x'.repeat(257) }, 'bad_message', 400);
    await refused(a, { type: 'subscribe' }, 'bad_message', 400);
    await refused(a, { type: 'publish', topic: 'news.*', data: 1 }, 'bad_message', 400);
    await act(a, { type: 'subscribe', topic: 'x'.repeat(256) });
  });
}

// ---------------------------------------------------------------------------------------------
// request / reply

for (const T of TRANSPORTS) {
  test(`[${T}] request to a member by "to", reply with data; ids are the requester's (number and string)`, async () => {
    const r = room('req');
    const asker = await pool.join(T, r);
    const answerer = await pool.join(other(T), r);
    const bystander = await pool.ws(r);
    for (const [k, id] of [7, 'q-seven'].entries()) {
      const pending = ask(asker, { id, to: answerer.cid, data: { q: 'sum', args: [1, 2] } });
      const req = (await answerer.waitForCount((x) => x.type === 'request', k + 1))[k];
      assert.equal(req.from, asker.cid);
      assert.deepEqual(req.data, { q: 'sum', args: [1, 2] });
      assert.ok(req.id !== undefined && (typeof req.id === 'string' || typeof req.id === 'number'), short(req));
      await act(answerer, { type: 'reply', id: req.id, data: 3 });
      const reply = await pending;
      assert.deepEqual(unnumbered(reply), { type: 'reply', id, from: answerer.cid, data: 3 });
    }
    await sync(asker, bystander);
    assert.equal(bystander.count((x) => x.type === 'request' || x.type === 'reply'), 0);
  });

  test(`[${T}] request without "to": round-robin over serving members, one request each; never the requester`, async () => {
    const r = room('rr');
    const asker = await pool.join(T, r);
    const servers = [await pool.ws(r), await pool.sse(r), await pool.join(T, r)];
    const idle = await pool.join(other(T), r); // does not serve
    await act(asker, { type: 'serve' }); // the requester serving must not get its own requests
    for (const s of servers) await act(s, { type: 'serve' });
    // three requests at once; each server gets one and answers with its own cid
    const pending3 = [0, 1, 2].map((n) => ask(asker, { id: n, data: { n } }));
    const total = () => servers.reduce((k, s) => k + s.count((x) => x.type === 'request'), 0);
    await until(servers, () => total() >= 3, 3000, '3 requests delivered to the servers');
    for (const s of servers) {
      for (const q of s.all((x) => x.type === 'request')) await act(s, { type: 'reply', id: q.id, data: { by: s.cid, n: q.data.n } });
    }
    const replies = await Promise.all(pending3);
    const by = replies.map((x) => x.data?.by);
    assert.deepEqual([...by].sort(), servers.map((s) => s.cid).sort(), `each server answered one: ${short(replies)}`);
    replies.forEach((x, n) => { assert.equal(x.data.n, n); assert.equal(x.from, x.data.by); });
    for (const s of servers) assert.equal(s.count((x) => x.type === 'request'), 1, `${s.label} got ${s.count((x) => x.type === 'request')}`);
    assert.equal(idle.count((x) => x.type === 'request'), 0);
    assert.equal(asker.count((x) => x.type === 'request'), 0, 'the requester got its own request');
    // unserve: the others take over
    await act(servers[0], { type: 'unserve' });
    for (const s of servers) s.clear();
    const pending = [ask(asker, { id: 'u1', data: { n: 10 } }), ask(asker, { id: 'u2', data: { n: 11 } })];
    const got = await Promise.all([servers[1], servers[2]].map((s) => s.waitFor((x) => x.type === 'request')));
    await Promise.all(got.map((q, i) => act([servers[1], servers[2]][i], { type: 'reply', id: q.id, data: 'ok' })));
    for (const p of pending) assert.equal((await p).data, 'ok');
    assert.equal(servers[0].count((x) => x.type === 'request'), 0, 'an unserved member got a request');
  });

  test(`[${T}] request errors: timeout, gone, no_responder, unknown_target; late reply → unknown_request`, async () => {
    const r = room('reqerr');
    const asker = await pool.join(T, r);
    const slow = await pool.join(other(T), r);
    // no_responder: nobody serves
    const nr = await ask(asker, { id: 'nr', data: 1 });
    assert.equal(nr.type, 'reply');
    assert.equal(nr.id, 'nr');
    assert.equal(nr.error?.code, 'no_responder', short(nr));
    assert.equal(nr.data, undefined);
    // unknown_target
    if (asker instanceof SseMember) {
      const res = await asker.send({ type: 'request', id: 'ut', to: 'c-nobody', data: 1 });
      assert.equal(res.status, 404, res.text);
      assert.equal(res.body.error?.code, 'unknown_target', res.text);
    } else {
      const ut = await ask(asker, { id: 'ut', to: 'c-nobody', data: 1 });
      assert.equal(ut.error?.code, 'unknown_target', short(ut));
    }
    // timeout
    const t0 = Date.now();
    const to = await ask(asker, { id: 'to', to: slow.cid, data: 'never answered', timeout: 150 });
    const took = Date.now() - t0;
    assert.equal(to.error?.code, 'timeout', short(to));
    assert.equal(to.id, 'to');
    assert.ok(took >= 140 && took < 2000, `timeout after ${took} ms`);
    const late = await slow.waitFor((x) => x.type === 'request' && x.data === 'never answered');
    await refused(slow, { type: 'reply', id: late.id, data: 'too late' }, 'unknown_request', 404);
    // gone: the target leaves before replying
    const leaver = await pool.join(other(T), r);
    const pending = ask(asker, { id: 'gone', to: leaver.cid, data: 'x' });
    await leaver.waitFor((x) => x.type === 'request');
    await leaver.close();
    const gone = await pending;
    assert.equal(gone.error?.code, 'gone', short(gone));
    assert.equal(gone.id, 'gone');
    // serve then unserve: no_responder again
    await act(slow, { type: 'serve' });
    await act(slow, { type: 'unserve' });
    assert.equal((await ask(asker, { id: 'nr2', data: 1 })).error?.code, 'no_responder');
  });

  test(`[${T}] replies: error replies pass through; unknown_request for replies to nothing or to others' requests`, async () => {
    const r = room('replies');
    const asker = await pool.join(other(T), r);
    const answerer = await pool.join(T, r);
    const thief = await pool.join(T, r);
    await act(answerer, { type: 'serve' });
    const pending = ask(asker, { id: 1, data: 'fail please' });
    const q = await answerer.waitFor((x) => x.type === 'request');
    // another member cannot answer a request meant for someone else
    await refused(thief, { type: 'reply', id: q.id, data: 'stolen' }, 'unknown_request', 404);
    await act(answerer, { type: 'reply', id: q.id, error: { code: 'handler_error', message: 'boom' } });
    const rep = await pending;
    assert.deepEqual(unnumbered(rep), { type: 'reply', id: 1, from: answerer.cid, error: { code: 'handler_error', message: 'boom' } });
    // the same request cannot be answered twice
    await refused(answerer, { type: 'reply', id: q.id, data: 'again' }, 'unknown_request', 404);
    await refused(answerer, { type: 'reply', id: 'no-such-request', data: 1 }, 'unknown_request', 404);
    // a malformed error is a bad message
    await refused(answerer, { type: 'reply', id: q.id, error: 'oops' }, 'bad_message', 400);
    await refused(answerer, { type: 'reply', data: 1 }, 'bad_message', 400);
  });
}

// ---------------------------------------------------------------------------------------------
// push / pull, presence, membership

for (const T of TRANSPORTS) {
  test(`[${T}] push: a job waits for a puller; each push to exactly one puller, fairly (30 pushes → 10 each), never its pusher; unpull`, async () => {
    const r = room('push');
    const pusher = await pool.join(T, r);
    const pullers = [await pool.ws(r), await pool.sse(r), await pool.join(T, r)];
    const bystander = await pool.join(other(T), r);
    // Nobody pulls yet: the job waits in the room's queue (it used to be refused no_puller and lost).
    await act(pusher, { type: 'push', data: 'early' });
    await act(pusher, { type: 'pull', ack: false }); // the pusher pulling must not get its own work
    await act(pullers[0], { type: 'pull', ack: false });
    await pullers[0].waitFor((x) => x.type === 'message' && x.kind === 'push' && x.data === 'early');
    for (const p of pullers.slice(1)) await act(p, { type: 'pull', ack: false });
    for (let i = 0; i < 30; i++) {
      if (pusher instanceof WsMember) pusher.send({ type: 'push', data: { job: i } });
      else await act(pusher, { type: 'push', data: { job: i } });
    }
    const jobsOf = (p: (typeof pullers)[number]) => p.all(isMsg('push')).filter((x) => x.data !== 'early');
    const total = () => pullers.reduce((n, p) => n + jobsOf(p).length, 0);
    await until(pullers, () => total() >= 30, 5000, '30 pushes delivered');
    await sync(pusher, ...pullers, bystander, pusher);
    const counts = pullers.map((p) => jobsOf(p).length);
    assert.deepEqual(counts, [10, 10, 10], `pushes per puller: ${counts}`);
    const jobs = pullers.flatMap((p) => jobsOf(p).map((x) => x.data.job)).sort((a, b) => a - b);
    assert.deepEqual(jobs, Array.from({ length: 30 }, (_, i) => i), 'every job delivered exactly once');
    const one = jobsOf(pullers[1])[0];
    assert.deepEqual(Object.keys(one).sort(), ['attempt', 'data', 'from', 'job', 'kind', 'n', 'type']);
    assert.equal(one.from, pusher.cid);
    assert.equal(one.attempt, 1);
    assert.equal(bystander.count(isMsg('push')), 0);
    assert.equal(pusher.count(isMsg('push')), 0, 'the pusher got its own work');
    // unpull: the rest share the work
    await act(pullers[0], { type: 'unpull' });
    for (let i = 0; i < 4; i++) await act(pusher, { type: 'push', data: { job: 100 + i } });
    await sync(pusher, ...pullers);
    assert.equal(jobsOf(pullers[0]).length, 10, 'an unpulled member got work');
    assert.equal(jobsOf(pullers[1]).length + jobsOf(pullers[2]).length, 24);
    assert.equal(jobsOf(pullers[1]).length, 12);
  });

  test(`[${T}] presence: the member list and the owner`, async () => {
    const r = room('presence');
    const a = await pool.join(T, r);
    const b = await pool.join(other(T), r);
    const c = await pool.ws(r);
    let p: Msg;
    if (a instanceof SseMember) {
      const res = await a.send({ type: 'presence' });
      assert.equal(res.status, 200, res.text);
      p = res.body;
    } else {
      a.send({ type: 'presence' });
      p = await a.waitFor((x) => x.type === 'presence');
    }
    assert.deepEqual(unnumbered(p), { type: 'presence', members: [a.cid, b.cid, c.cid], owner: a.cid });
  });

  test(`[${T}] join and leave are seen by every other member; the longest-present member takes over ownership`, async () => {
    const r = room('members');
    const a = await pool.join(T, r);
    const b = await pool.join(other(T), r);
    const c = await pool.join(T, r);
    assert.deepEqual(await a.waitFor((x) => x.type === 'join' && x.cid === b.cid), { type: 'join', cid: b.cid });
    await a.waitFor((x) => x.type === 'join' && x.cid === c.cid);
    await b.waitFor((x) => x.type === 'join' && x.cid === c.cid);
    assert.equal(b.count((x) => x.type === 'join' && x.cid === b.cid), 0, 'a member saw its own join');
    assert.equal(c.count((x) => x.type === 'join'), 0, 'joins before mine are not replayed');
    // a non-owner leaves: plain leave
    const d = await pool.join(other(T), r);
    await d.close();
    const dl = await a.waitFor((x) => x.type === 'leave' && x.cid === d.cid);
    assert.deepEqual(dl, { type: 'leave', cid: d.cid });
    await c.waitFor((x) => x.type === 'leave' && x.cid === d.cid);
    // the owner leaves: the longest-present member (b) becomes owner
    await a.close();
    for (const m of [b, c]) {
      const l = await m.waitFor((x) => x.type === 'leave' && x.cid === a.cid);
      assert.deepEqual(l, { type: 'leave', cid: a.cid, owner: b.cid });
    }
    const e = await pool.join(T, r);
    assert.equal(e.hello.owner, b.cid);
    assert.deepEqual(e.hello.members, [b.cid, c.cid, e.cid]);
    await b.close();
    assert.deepEqual(await c.waitFor((x) => x.type === 'leave' && x.cid === b.cid), { type: 'leave', cid: b.cid, owner: c.cid });
    assert.deepEqual(await e.waitFor((x) => x.type === 'leave' && x.cid === b.cid), { type: 'leave', cid: b.cid, owner: c.cid });
  });
}

// ---------------------------------------------------------------------------------------------
// Owned rooms

for (const T of TRANSPORTS) {
  test(`[${T}] owned rooms: /_/new makes a random room; only the owner sees join/leave; owner leaves → closed, 4000, 410`, async () => {
    const owner = await pool.join(T, '/_/new');
    const name = owner.hello.room;
    assert.match(name, /^\/r-[A-Za-z0-9_-]{22}$/, `connect.room of /_/new: ${name}`);
    assert.equal(owner.hello.owner, owner.cid);
    assert.deepEqual(owner.hello.members, [owner.cid]);
    const second = await pool.join(T, '/_/new');
    assert.notEqual(second.hello.room, name, 'each /_/new is a new room');
    assert.equal(second.hello.owner, second.cid);

    const b = await pool.ws(name);
    const c = await pool.sse(name);
    assert.equal(b.hello.room, name);
    assert.equal(b.hello.owner, owner.cid);
    assert.deepEqual(c.hello.members, [owner.cid, b.cid, c.cid]);
    await owner.waitFor((x) => x.type === 'join' && x.cid === b.cid);
    await owner.waitFor((x) => x.type === 'join' && x.cid === c.cid);
    // members talk as usual
    await act(b, { type: 'publish', data: 'hello owned' });
    await owner.waitFor(isMsg('publish', 'hello owned'));
    await c.waitFor(isMsg('publish', 'hello owned'));
    // a member leaving: only the owner hears it
    const d = await pool.ws(name);
    await owner.waitFor((x) => x.type === 'join' && x.cid === d.cid);
    await d.close();
    await owner.waitFor((x) => x.type === 'leave' && x.cid === d.cid);
    await sync(owner, b, c);
    for (const m of [b, c]) assert.equal(m.count((x) => x.type === 'join' || x.type === 'leave'), 0, `${m.label} saw membership: ${m.describe()}`);
    // a GUN peer in the same room is closed with it
    const gun = await GunPeer.connect(server.ws, name);
    gunPeers.push(gun);

    await owner.close();
    for (const m of [b, c]) {
      const closed = await m.waitFor((x) => x.type === 'closed');
      assert.deepEqual(closed, { type: 'closed', reason: 'owner_left' });
    }
    assert.equal((await b.waitClosed()).code, 4000, 'WebSocket close code when the owner left');
    await c.waitUntil(() => c.streamEnds > 0, 3000, 'the SSE stream to end');
    assert.equal((await gun.closed).code, 4000, 'GUN peer of the owned room');
    // the path is gone: 410 for every way in
    const up = await tryUpgrade(server.ws + name);
    const upNative = await WsMember.connect(server.ws, name, { timeoutMs: 2000 }).then((m) => { pool.track(m); return 101; }, (e) => e.statusCode ?? String(e));
    if (up.kind === 'open') up.ws.terminate();
    assert.equal(up.kind === 'rejected' ? up.statusCode : up.kind, 410, 'GUN upgrade on a closed owned room');
    assert.equal(upNative, 410, 'native upgrade on a closed owned room');
    const sse = await httpStatus(server.http + name, { Accept: 'text/event-stream' });
    assert.equal(sse.status, 410, `SSE GET on a closed owned room: ${sse.text}`);
    // its old token is dead (401 bad_token: the connection is gone; 410 would also fit "the path answers 410")
    const post = await c.send({ type: 'publish', data: 'after close' });
    assert.ok(post.status === 401 || post.status === 410, `POST with the token of a closed owned room: ${post.status} ${post.text}`);
    const st = await stats();
    assert.equal(st.rooms[name], undefined, `the owned room was freed at once: ${short(st.rooms[name])}`);
  });
}

test('owned room: after the owner left, plain HTTP on the path answers 410 too (GUN put POST, GET)', async () => {
  const owner = await pool.ws('/_/new');
  const name = owner.hello.room;
  await owner.close();
  await poll(async () => (await stats()).rooms[name] === undefined, 2000, 50, 'the owned room to be freed');
  const soul = gunUid('s');
  const put = await postJson(server.http + name, { [soul]: node(soul, { v: 1 }) });
  const get = await httpStatus(server.http + name);
  const getKey = await httpStatus(server.http + name + '/key');
  const seen = `POST (GUN put) → ${put.status} ${put.text}; GET → ${get.status} ${get.text}; GET /key → ${getKey.status} ${getKey.text}`;
  assert.deepEqual([put.status, get.status, getKey.status], [410, 410, 410], `docs/protocol.md §6: "Its path then answers 410 Gone": ${seen}`);
  assert.equal((await stats()).rooms[name], undefined, 'HTTP on a closed owned path must not reopen it');
});

test('/_/new over plain GUN (no subprotocol) is refused; other /_/ paths are not rooms', async () => {
  const r = await tryUpgrade(server.ws + '/_/new');
  if (r.kind === 'open') r.ws.terminate();
  assert.equal(r.kind === 'rejected' ? r.statusCode : r.kind, 400);
  const n = await httpStatus(server.http + '/_/nope', { Accept: 'text/event-stream' });
  assert.equal(n.status, 404);
});

// ---------------------------------------------------------------------------------------------
// SSE ↔ WebSocket, moshpit shorthand, POST errors

test('SSE and WebSocket members of one room: publish, send and request/reply both ways (SSE request answered in the POST)', async () => {
  const r = room('mixed');
  const s = await pool.sse(r);
  const w = await pool.ws(r);
  // publish both ways
  await act(s, { type: 'publish', data: 'from sse' });
  assert.equal((await w.waitFor(isMsg('publish', 'from sse'))).from, s.cid);
  w.send({ type: 'publish', data: 'from ws' });
  assert.equal((await s.waitFor(isMsg('publish', 'from ws'))).from, w.cid);
  // send both ways
  await act(s, { type: 'send', to: w.cid, data: 'dm sse→ws' });
  assert.equal((await w.waitFor(isMsg('direct', 'dm sse→ws'))).from, s.cid);
  w.send({ type: 'send', to: s.cid, data: 'dm ws→sse' });
  assert.equal((await s.waitFor(isMsg('direct', 'dm ws→sse'))).from, w.cid);
  // SSE asks, WebSocket answers: the reply is the POST's answer
  const post = s.send({ type: 'request', id: 'q1', to: w.cid, data: 'ping?' });
  const q = await w.waitFor((x) => x.type === 'request');
  assert.equal(q.from, s.cid);
  w.send({ type: 'reply', id: q.id, data: 'pong!' });
  const answer = await post;
  assert.equal(answer.status, 200, answer.text);
  assert.deepEqual(answer.body, { type: 'reply', id: 'q1', from: w.cid, data: 'pong!' });
  assert.equal(s.count((x) => x.type === 'reply'), 0, 'the reply to a POSTed request came on the stream as well');
  // WebSocket asks, SSE answers (its reply POST is answered {"ok":true})
  w.send({ type: 'request', id: 2, to: s.cid, data: 'ping?' });
  const q2 = await s.waitFor((x) => x.type === 'request');
  assert.equal(q2.from, w.cid);
  await act(s, { type: 'reply', id: q2.id, data: 'pong from sse' });
  assert.deepEqual(unnumbered(await w.waitFor((x) => x.type === 'reply')), { type: 'reply', id: 2, from: s.cid, data: 'pong from sse' });
});

test('moshpit shorthand: POST {token,data} publishes; {token,data,cid} sends to cid', async () => {
  const r = room('moshpit');
  const s = await pool.sse(r);
  const w = await pool.ws(r);
  const w2 = await pool.sse(r);
  const p = await s.post({ token: s.token, data: { shorthand: 'publish' } });
  assert.equal(p.status, 200, p.text);
  assert.deepEqual(p.body, { ok: true, seq: 1 }, 'a POSTed publish is answered with its seq');
  for (const m of [w, w2]) {
    const got = await m.waitFor((x) => x.type === 'message' && x.data?.shorthand === 'publish');
    assert.equal(got.kind, 'publish');
    assert.equal(got.from, s.cid);
    assert.equal(typeof got.seq, 'number');
  }
  const d = await s.post({ token: s.token, data: { shorthand: 'direct' }, cid: w.cid });
  assert.equal(d.status, 200, d.text);
  const got = await w.waitFor((x) => x.type === 'message' && x.data?.shorthand === 'direct');
  assert.deepEqual(unnumbered(got), { type: 'message', kind: 'direct', from: s.cid, data: { shorthand: 'direct' } });
  await sync(s, w2);
  assert.equal(w2.count((x) => x.data?.shorthand === 'direct'), 0);
  const bad = await s.post({ token: s.token, data: 1, cid: 'c-nobody' });
  assert.equal(bad.status, 404, bad.text);
  assert.equal(bad.body.error?.code, 'unknown_target');
});

test('POST errors: 401 bad_token (unknown, other room, gone), 400 bad_message, 404 unknown_target; CORS', async () => {
  const r = room('posterr');
  const s = await pool.sse(r);
  const elsewhere = await pool.sse(room('other'));
  const check = async (res: Promise<{ status: number; body: Msg; text: string }>, status: number, code: string) => {
    const x = await res;
    assert.equal(x.status, status, `${x.status} ${x.text}`);
    assert.equal(x.body.error?.code, code, x.text);
    assert.equal(typeof x.body.error?.message, 'string', x.text);
  };
  await check(s.send({ type: 'publish', data: 1 }, { token: '0'.repeat(32) }), 401, 'bad_token');
  await check(s.send({ type: 'publish', data: 1 }, { token: elsewhere.token }), 401, 'bad_token');
  await check(s.send({ type: 'publish', data: 1 }, { token: '' }), 401, 'bad_token');
  // a WebSocket member's token works for POSTs to its room too (it names the connection)
  const w = await pool.ws(r);
  const viaWs = await s.send({ type: 'publish', data: 'posted for ws' }, { token: w.token });
  assert.equal(viaWs.status, 200, viaWs.text);
  assert.equal((await s.waitFor(isMsg('publish', 'posted for ws'))).from, w.cid, 'from is the token\'s connection');
  await check(s.send({ type: 'bogus' }), 400, 'bad_message');
  await check(s.send({ type: 'send', to: 5, data: 1 }), 400, 'bad_message');
  await check(s.send({ type: 'request', data: 1 }), 400, 'bad_message');
  await check(s.send({ type: 'request', id: 1, data: 1, timeout: -5 }), 400, 'bad_message');
  await check(s.send({ type: 'subscribe', topic: 5 }), 400, 'bad_message');
  await check(s.send({ type: 7 }), 400, 'bad_message');
  await check(s.send({ type: 'send', to: 'c-nobody', data: 1 }), 404, 'unknown_target');
  // the token is gone with its connection
  const gone = await pool.sse(r);
  const goneToken = gone.token;
  await gone.close();
  await s.waitFor((x) => x.type === 'leave' && x.cid === gone.cid);
  await check(s.send({ type: 'publish', data: 1 }, { token: goneToken }), 401, 'bad_token');
  // CORS on native POSTs
  const res = await fetch(server.http + r, { method: 'POST', headers: { 'Content-Type': 'application/json', Origin: 'https://example.com' }, body: JSON.stringify({ token: s.token, type: 'presence' }) });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  await res.body?.cancel();
  // and the member is still fine
  await act(s, { type: 'publish', data: 'still fine' });
});

// ---------------------------------------------------------------------------------------------
// Bad input over WebSocket

test('bad input on a WebSocket: error bad_message with ref, the connection stays usable; batches in order', async () => {
  const r = room('bad');
  const w = await pool.ws(r);
  const peer = await pool.ws(r);
  const nextError = async (what: string) => {
    const n = w.count((x) => x.type === 'error');
    await w.waitUntil(() => w.count((x) => x.type === 'error') > n, 2000, what);
    return w.all((x) => x.type === 'error')[n];
  };
  let e = nextError('error for a non-JSON frame');
  w.send('this is {not json');
  assert.equal((await e).code, 'bad_message');
  // unknown type without a ref: the error carries none (a ref names a message only when the client gave one)
  w.send({ type: 'bogus' });
  const bogus = await w.waitFor((x) => x.type === 'error' && /bogus/.test(x.message));
  assert.deepEqual(Object.keys(bogus).sort(), ['code', 'message', 'n', 'type']);
  assert.equal(bogus.code, 'bad_message');
  assert.match(bogus.message, /bogus/);
  const cases: Msg[] = [
    { type: 'bogus', ref: 'r-unknown' },
    { type: 'send', to: 5, data: 1, ref: 'r-send-to' },
    { type: 'send', data: 1, ref: 7 },
    { type: 'subscribe', topic: 12, ref: 'r-topic' },
    { type: 'subscribe', topic: 'x'.repeat(300), ref: 'r-long-topic' },
    { type: 'request', data: 1, ref: 'r-no-id' },
    { type: 'request', id: { x: 1 }, data: 1, ref: 'r-obj-id' },
    { type: 'request', id: 1, to: 9, data: 1, ref: 'r-to' },
    { type: 'request', id: 1, timeout: 'soon', data: 1, ref: 'r-timeout' },
    { type: 'reply', error: { code: 'x' }, ref: 'r-reply-no-id' },
    { type: 'reply', id: 1, error: { message: 'no code' }, ref: 'r-reply-err' },
    { type: 'publish', topic: ['a'], data: 1, ref: 'r-pub-topic' },
    { data: 1, type: null, ref: 'r-null-type' },
    { ref: 'r-no-type' },
  ];
  for (const c of cases) {
    w.send(c);
    const err = await w.waitFor((x) => x.type === 'error' && x.ref === c.ref, 2000, `error for ${short(c)}`);
    assert.equal(err.code, 'bad_message', `${short(c)} → ${short(err)}`);
  }
  for (const v of ['[1,2]', '"str"', '42', 'null']) {
    e = nextError(`error for ${v}`);
    w.send(v);
    assert.equal((await e).code, 'bad_message', v);
  }
  e = nextError('error for a binary frame');
  w.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  assert.equal((await e).code, 'bad_message');
  // a batch: handled in order, a bad item does not stop the rest
  w.send([
    { type: 'publish', data: 'b1' },
    { type: 'nope', ref: 'r-batch' },
    { type: 'send', to: peer.cid, data: 'b2' },
    { type: 'publish', data: 'b3' },
  ]);
  await w.waitFor((x) => x.type === 'error' && x.ref === 'r-batch');
  await peer.waitFor(isMsg('publish', 'b3'));
  assert.deepEqual(peer.all((x) => x.type === 'message').map((x) => x.data), ['b1', 'b2', 'b3']);
  // nothing reached the peer but the valid messages, and the sender is still usable
  assert.equal(peer.count((x) => x.type === 'error'), 0);
  assert.ok(w.isOpen);
  await act(w, { type: 'publish', data: 'after bad input' });
  await peer.waitFor(isMsg('publish', 'after bad input'));
});

// ---------------------------------------------------------------------------------------------
// Replay

for (const T of TRANSPORTS) {
  test(`[${T}] replay: since=N returns the missed publishes in order (topic ones only with topics=), then live`, async () => {
    const r = room('replay');
    const pub = await pool.join(other(T), r);
    const first = await pool.join(T, r, { query: 'topics=x' });
    await act(first, { type: 'subscribe', topic: 'y' }); // subscriptions do not survive the connection
    await act(pub, { type: 'publish', data: 'm1' });
    const m1 = await first.waitFor(isMsg('publish', 'm1'));
    const since = m1.seq;
    await first.close();
    await act(pub, { type: 'publish', data: 'm2' });
    await act(pub, { type: 'publish', topic: 'x', data: 'm3' });
    await act(pub, { type: 'publish', topic: 'y', data: 'm4' });
    await act(pub, { type: 'send', to: pub.cid, data: 'direct not replayed' });
    await act(pub, { type: 'publish', data: 'm5', echo: true });
    const back = await pool.join(T, r, { query: `since=${since}&topics=x` });
    await back.waitFor(isMsg('publish', 'm5'));
    const after = back.messages.slice(1).filter((x) => x.type !== 'join');
    assert.equal(back.messages[0].type, 'connect');
    assert.equal(back.hello.seq, since + 4);
    assert.deepEqual(after.map((x) => [x.data, x.seq, x.topic]), [['m2', since + 1, undefined], ['m3', since + 2, 'x'], ['m5', since + 4, undefined]], short(after));
    assert.equal(after[0].from, pub.cid);
    assert.equal(back.count((x) => x.type === 'gap'), 0);
    if (back instanceof SseMember) {
      const i = back.messages.findIndex(isMsg('publish', 'm3'));
      assert.equal(back.ids[i], String(since + 2), 'replayed SSE events carry id: seq');
    }
    // then live, still subscribed to x only
    await act(pub, { type: 'publish', topic: 'x', data: 'm6' });
    await act(pub, { type: 'publish', topic: 'y', data: 'm7' });
    await sync(pub, back);
    assert.deepEqual(back.all(isMsg('publish')).map((x) => x.data), ['m2', 'm3', 'm5', 'm6']);
    // without topics=: only untopiced publishes
    const plain = await pool.join(T, r, { query: `since=${since}` });
    await sync(pub, plain);
    assert.deepEqual(plain.all(isMsg('publish')).map((x) => x.data), ['m2', 'm5']);
    // since = the last seq: nothing to replay; since=0: everything kept
    const upToDate = await pool.join(T, r, { query: `since=${since + 6}` });
    const all = await pool.join(T, r, { query: 'since=0&topics=*' });
    await sync(pub, upToDate, all);
    assert.equal(upToDate.count(isMsg('publish')), 0);
    assert.deepEqual(all.all(isMsg('publish')).map((x) => x.data), ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']);
    assert.equal(all.count((x) => x.type === 'gap'), 0);
  });
}

test('SSE replay through Last-Event-ID: an EventSource that lost its stream resumes after the last id it saw', async () => {
  const r = room('lastid');
  const pub = await pool.ws(r);
  const s = await pool.sse(r);
  pub.send({ type: 'publish', data: 'e1' });
  pub.send({ type: 'publish', data: 'e2' });
  const e2 = await s.waitFor(isMsg('publish', 'e2'));
  const firstCid = s.cid;
  s.drop(); // the stream breaks; the EventSource reconnects by itself after `retry: 2000`
  await pub.waitFor((x) => x.type === 'leave' && x.cid === firstCid, 3000, 'the dropped SSE member to leave');
  await act(pub, { type: 'publish', data: 'e3' });
  await act(pub, { type: 'publish', topic: 't', data: 'topic not subscribed' });
  await act(pub, { type: 'publish', data: 'e4' });
  await s.waitFor(isMsg('publish', 'e4'), 6000, 'e4 after the automatic reconnect');
  assert.deepEqual(s.lastEventIds, [undefined, String(e2.seq)], 'the reconnect sent Last-Event-ID');
  assert.notEqual(s.cid, firstCid, 'a reconnect is a new connection');
  assert.deepEqual(s.all(isMsg('publish')).map((x) => x.data), ['e1', 'e2', 'e3', 'e4']);
  assert.equal(s.count((x) => x.type === 'gap'), 0);
  // the new token works
  await act(s, { type: 'publish', data: 'back' });
  await pub.waitFor(isMsg('publish', 'back'));
  // an explicit Last-Event-ID header on a fresh stream does the same
  const fresh = await pool.sse(r, { headers: { 'Last-Event-ID': String(e2.seq) } });
  await sync(pub, fresh);
  assert.deepEqual(fresh.all(isMsg('publish')).map((x) => x.data), ['e3', 'e4', 'back']);
});

// ---------------------------------------------------------------------------------------------
// GUN peers and native members side by side; stats

test('a GUN peer and native members in one room do not see each other\'s traffic, and both keep working', async () => {
  const r = room('gunmix');
  const g1 = await GunPeer.connect(server.ws, r);
  const g2 = await GunPeer.connect(server.ws, r);
  gunPeers.push(g1, g2);
  const w = await pool.ws(r);
  const s = await pool.sse(r);
  // a GUN peer joining is not a native member
  assert.deepEqual(w.hello.members, [w.cid]);
  // GUN put: relayed to the other GUN peer, invisible to native members
  const soul = gunUid('soul');
  const ack = await g1.putAck({ [soul]: node(soul, { v: 'gun' }) });
  assert.equal(ack.ok, 1, short(ack));
  await g2.waitFor((m) => m.put?.[soul] !== undefined);
  // native traffic: invisible to GUN peers
  await act(w, { type: 'publish', data: 'native' });
  await act(s, { type: 'send', to: w.cid, data: 'native dm' });
  await act(w, { type: 'presence' });
  await s.waitFor(isMsg('publish', 'native'));
  await w.waitFor(isMsg('direct', 'native dm'));
  // barrier on the GUN side: a second put from g2 reaches g1 after anything before it
  const soul2 = gunUid('soul');
  await g2.putAck({ [soul2]: node(soul2, { v: 2 }) });
  await g1.waitFor((m) => m.put?.[soul2] !== undefined);
  await sync(w, w, s);
  for (const g of [g1, g2]) {
    const leak = g.messages.find((m) => JSON.stringify(m).includes('native') || m.type !== undefined);
    assert.equal(leak, undefined, `GUN peer saw native traffic: ${short(leak)}`);
  }
  for (const m of [w, s]) {
    const leak = m.messages.find((x) => JSON.stringify(x).includes(soul) || x.put !== undefined || x.dam !== undefined || x['#'] !== undefined);
    assert.equal(leak, undefined, `native member saw GUN traffic: ${short(leak)}`);
    assert.equal(m.count((x) => x.type === 'join' && !([w.cid, s.cid] as string[]).includes(x.cid)), 0, 'GUN peers announced as members');
  }
  // the GUN graph still answers, the native side still works
  const read = await g2.ask({ '#': soul });
  assert.equal(read.put?.[soul]?.v, 'gun');
  await act(s, { type: 'publish', data: 'still native' });
  await w.waitFor(isMsg('publish', 'still native'));
  // a native publish with GUN-looking data is still just native data
  await act(w, { type: 'publish', data: { '#': 'x', put: { a: 1 } } });
  await s.waitFor((x) => x.type === 'message' && x.data?.put?.a === 1);
  await g1.expectNone((m) => m.put?.a !== undefined, 100, 'native data on the GUN wire');
});

test('/_/stats shows native members and the last seq per room', async () => {
  const r = room('stats');
  const w = await pool.ws(r);
  const s = await pool.sse(r);
  for (let i = 0; i < 3; i++) await act(w, { type: 'publish', data: i });
  await act(s, { type: 'send', to: w.cid, data: 'dm' });
  const all = await stats();
  const st = all.rooms?.[r];
  assert.ok(st, `stats has ${r}: ${short(all, 2000)}`);
  assert.equal(st.members, 2, short(st));
  assert.equal(st.lastSeq, 3, short(st));
  assert.equal(st.owned, false);
  assert.equal(st.peers, 0);
  assert.ok(st.messagesIn >= 4, short(st));
  assert.ok(st.messagesOut >= 5, short(st));
  await s.close();
  await w.waitFor((x) => x.type === 'leave');
  const after = await stats();
  assert.equal(after.rooms[r].members, 1, short(after.rooms[r]));
  const owned = await pool.ws('/_/new');
  const o = (await stats()).rooms[owned.hello.room];
  assert.equal(o?.owned, true, short(o));
  assert.equal(o?.members, 1);
});

test('direct messages written at once still keep their order with queued broadcasts', async () => {
  // A frame for one member (direct, request, reply, push) is written without waiting for the end
  // of the turn when nothing is queued for that member; behind a queued broadcast it must wait.
  const r = room('order');
  const a = await pool.ws(r);
  const b = await pool.ws(r);
  const c = await pool.sse(r);
  const steps: Msg[] = [];
  for (let i = 0; i < 6; i++) {
    steps.push({ type: 'send', to: b.cid, data: `d${i}` }, { type: 'send', to: c.cid, data: `d${i}` });
    steps.push({ type: 'publish', data: `p${i}` });
  }
  a.send([{ type: 'publish', data: 'p-first' }, ...steps]);
  for (const m of [b, c] as AnyMember[]) {
    await m.waitFor(isMsg('publish', 'p5'), 3000, 'last publish');
    const seen = m.messages.filter((x) => x.type === 'message').map((x) => x.data as string);
    assert.deepEqual(seen, ['p-first', ...Array.from({ length: 6 }, (_, i) => [`d${i}`, `p${i}`]).flat()], `order at ${m.transport}`);
  }
});
