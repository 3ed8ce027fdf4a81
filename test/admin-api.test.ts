// The admin API (issue 12 §2, docs/operations.md "Admin API"): who may use it (off = 404, the
// --admin-token bearer, a room token with `admin`, --admin-loopback), GET /_/rooms (sort, prefix,
// limit, cursor), GET /_/rooms/<room> (members, GUN peers, topics, graph), a server-side publish,
// kick (a member: `closed` `kicked` + 4003, the others see `leave`; a GUN peer: 4003) and
// DELETE (members `closed` `closed_by_admin` + 4000, GUN peers 4000, the graph freed) — on one
// node, and across a cluster on Redis and on NATS (any node answers for all of them).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { startServer, type RunningServer } from './helpers/server.ts';
import { GunPeer, uid as gunUid } from './helpers/gun-wire.ts';
import { SseMember, WsMember, uid, type Msg } from './helpers/native.ts';
import { ENGINE_KINDS, startCluster } from './helpers/cluster.ts';

const ADMIN_TOKEN = 'admin-api-test-token-0123456789';
const SECRET = 'admin-api-test-jwt-secret-0123456789-abcdef';
const AUTH = { Authorization: `Bearer ${ADMIN_TOKEN}` };

let srv: RunningServer;
before(async () => { srv = await startServer({ args: ['--admin-token', ADMIN_TOKEN, '--resume-grace', '0'] }); });
after(async () => { await srv?.stop(); });

interface Answer { status: number; body: Msg }

async function api(base: string, path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const res = await fetch(base + path, {
    method: init.method ?? 'GET',
    headers: { ...AUTH, ...(init.body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...init.headers },
    body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

test('who may: off without a credential (404), the --admin-token bearer (401 without or wrong), a room token with admin, --admin-loopback', async () => {
  const off = await startServer();
  const jwt = await startServer({ env: { MULTISOCKET_JWT_SECRET: SECRET } });
  const loopback = await startServer({ args: ['--admin-loopback'] });
  try {
    const offAnswer = await fetch(off.http + '/_/rooms');
    assert.equal(offAnswer.status, 404);
    assert.equal(((await offAnswer.json()) as Msg).error.code, 'not_found');
    assert.equal((await fetch(off.http + '/_/rooms/x', { method: 'DELETE' })).status, 404);

    const none = await api(srv.http, '/_/rooms', { headers: { Authorization: '' } });
    assert.equal(none.status, 401);
    assert.equal(none.body.error.code, 'token_required');
    const wrong = await api(srv.http, '/_/rooms', { headers: { Authorization: 'Bearer not-the-admin-token-at-all' } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error.code, 'token_invalid');
    assert.equal((await api(srv.http, '/_/rooms')).status, 200);

    const sign = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
    const user = await sign({ rooms: ['/**'] });
    assert.equal((await api(jwt.http, '/_/rooms', { headers: { Authorization: `Bearer ${user}` } })).status, 403);
    assert.equal((await api(jwt.http, '/_/rooms', { headers: { Authorization: `Bearer ${await sign({ perms: ['admin'] })}` } })).status, 200);

    assert.equal((await fetch(loopback.http + '/_/rooms')).status, 200, 'a local client without a credential');
    assert.equal((await fetch(loopback.http + '/_/rooms', { headers: { origin: 'https://page.example' } })).status, 403, 'not a web page');
    assert.equal((await fetch(loopback.http + '/_/rooms', { headers: { 'x-forwarded-for': '203.0.113.7' } })).status, 403, 'not through a proxy');
  } finally {
    await Promise.all([off.stop(), jwt.stop(), loopback.stop()]);
  }
});

test('GET /_/rooms: every room with its counts; sort by members, prefix search, limit and cursor; bad parameters are 400', async () => {
  const prefix = '/' + uid('list');
  const members: WsMember[] = [];
  try {
    for (const [room, n] of [['a', 1], ['b', 3], ['c', 2]] as const) {
      for (let i = 0; i < n; i++) members.push(await WsMember.connect(srv.ws, `${prefix}/${room}`));
    }
    const byName = await api(srv.http, `/_/rooms?q=${encodeURIComponent(prefix)}`);
    assert.equal(byName.status, 200, JSON.stringify(byName.body));
    assert.deepEqual(byName.body.rooms.map((r: Msg) => r.room), [`${prefix}/a`, `${prefix}/b`, `${prefix}/c`]);
    assert.equal(byName.body.total, 3);
    const b = byName.body.rooms[1];
    assert.equal(b.members, 3);
    assert.equal(b.gunPeers, 0);
    for (const key of ['graphNodes', 'graphBytes', 'historyBytes', 'bytes', 'messagesIn', 'messagesOut', 'rate', 'createdAt']) assert.ok(key in b, `${key} in a room's line`);

    const page1 = await api(srv.http, `/_/rooms?q=${encodeURIComponent(prefix)}&sort=members&limit=2`);
    assert.deepEqual(page1.body.rooms.map((r: Msg) => [r.room, r.members]), [[`${prefix}/b`, 3], [`${prefix}/c`, 2]]);
    assert.equal(typeof page1.body.cursor, 'string');
    const page2 = await api(srv.http, `/_/rooms?q=${encodeURIComponent(prefix)}&sort=members&limit=2&cursor=${page1.body.cursor}`);
    assert.deepEqual(page2.body.rooms.map((r: Msg) => r.room), [`${prefix}/a`]);
    assert.equal(page2.body.cursor, undefined, 'the last page has no cursor');

    const noSlash = await api(srv.http, `/_/rooms?q=${encodeURIComponent(prefix.slice(1))}/b`);
    assert.deepEqual(noSlash.body.rooms.map((r: Msg) => r.room), [`${prefix}/b`], 'q without its leading slash');

    for (const bad of ['sort=loudest', 'limit=0', 'limit=5000', 'limit=x', 'cursor=-1']) {
      const r = await api(srv.http, `/_/rooms?${bad}`);
      assert.equal(r.status, 400, bad);
      assert.equal(r.body.error.code, 'bad_request', bad);
    }
    assert.equal((await api(srv.http, '/_/rooms', { method: 'POST', body: {} })).status, 405);
  } finally {
    await Promise.all(members.map((m) => m.close()));
  }
});

test('GET /_/rooms?sort=rate: the busy room first once its rate is sampled', async () => {
  const prefix = '/' + uid('rate');
  const busy = await WsMember.connect(srv.ws, `${prefix}/busy`);
  const quiet = await WsMember.connect(srv.ws, `${prefix}/quiet`);
  try {
    let top: Msg | undefined;
    const deadline = Date.now() + 10_000;
    // Publish (each acked: a round trip) until the sampler has seen the traffic.
    for (let i = 0; Date.now() < deadline; i++) {
      busy.send({ type: 'publish', data: i, ack: true, ref: i });
      await busy.waitFor((m: Msg) => m.type === 'ack' && m.ref === i, 2000, 'ack');
      if (i % 20 !== 19) continue;
      const r = await api(srv.http, `/_/rooms?q=${encodeURIComponent(prefix)}&sort=rate`);
      top = r.body.rooms[0];
      if (top?.room === `${prefix}/busy` && top.rate > 0) break;
    }
    assert.equal(top?.room, `${prefix}/busy`, JSON.stringify(top));
    assert.ok(top!.rate > 0);
  } finally {
    await Promise.all([busy.close(), quiet.close()]);
  }
});

test('GET /_/rooms/<room>: members (cid, user, transport, address, since, topics), GUN peers, topics and the graph; unknown room 404', async () => {
  const room = '/' + uid('detail');
  const ws = await WsMember.connect(srv.ws, room, { query: 'topics=news.*' });
  const sse = await SseMember.connect(srv.http, room);
  const peer = await GunPeer.connect(srv.ws, room);
  try {
    const soul = gunUid('soul');
    assert.equal((await peer.putAck({ [soul]: { _: { '#': soul, '>': { a: 1 } }, a: 1 } })).ok, 1);
    const d = await api(srv.http, `/_/rooms${room}`);
    assert.equal(d.status, 200, JSON.stringify(d.body));
    assert.equal(d.body.room, room);
    assert.equal(d.body.members, 2);
    assert.equal(d.body.gunPeers, 1);
    assert.equal(d.body.graphNodes, 1);
    assert.ok(d.body.graphBytes > 0);
    const byCid = new Map(d.body.memberList.map((m: Msg) => [m.cid, m]));
    const w = byCid.get(ws.hello!.cid) as Msg;
    const s = byCid.get(sse.hello!.cid) as Msg;
    assert.equal(w.transport, 'websocket');
    assert.equal(s.transport, 'sse');
    assert.equal(w.address, '127.0.0.1');
    assert.deepEqual(w.topics, ['news.*']);
    assert.ok(Date.parse(w.connectedSince) <= Date.now());
    assert.equal(w.owner, true, 'the first member owns an ordinary room');
    assert.deepEqual(d.body.topics, { 'news.*': 1 });
    assert.equal(d.body.peerList.length, 1);
    assert.equal(d.body.peerList[0].address, '127.0.0.1');

    const viaQuery = await api(srv.http, `/_/rooms?room=${encodeURIComponent(room)}`);
    assert.equal(viaQuery.body.room, room, '?room= names the room too');
    const missing = await api(srv.http, `/_/rooms/${uid('nowhere')}`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'not_found');
    assert.equal((await api(srv.http, '/_/rooms?room=/_/health')).status, 400, 'a reserved path is no room');
  } finally {
    await Promise.all([ws.close(), sse.close(), peer.close()]);
  }
});

test('POST /_/rooms/<room>/publish: from "server" to every subscriber (WebSocket and SSE), with a seq; bad bodies 400, no room 404', async () => {
  const room = '/' + uid('publish');
  const ws = await WsMember.connect(srv.ws, room, { query: 'topics=alerts' });
  const sse = await SseMember.connect(srv.http, room);
  const other = await WsMember.connect(srv.ws, room);
  try {
    const r = await api(srv.http, `/_/rooms${room}/publish`, { method: 'POST', body: { data: { level: 'warn' }, topic: 'alerts' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.ok, true);
    assert.equal(typeof r.body.seq, 'number');
    const got = await ws.waitFor((m: Msg) => m.type === 'message' && m.topic === 'alerts', 2000, 'the server publish');
    assert.equal(got.from, 'server');
    assert.deepEqual(got.data, { level: 'warn' });
    assert.equal(got.seq, r.body.seq);
    const plain = await api(srv.http, `/_/rooms${room}/publish`, { method: 'POST', body: { data: 'to all' } });
    assert.equal(plain.status, 200);
    for (const m of [sse, other, ws]) await m.waitFor((x: Msg) => x.type === 'message' && x.data === 'to all' && x.from === 'server', 2000, 'the untopiced publish');
    assert.ok(!other.messages.some((x: Msg) => x.topic === 'alerts'), 'a member not subscribed to the topic does not get it');

    const bad = async (body: unknown, code: string) => {
      const a = await api(srv.http, `/_/rooms${room}/publish`, { method: 'POST', body });
      assert.equal(a.body.error?.code, code, JSON.stringify(body));
    };
    await bad('{not json', 'bad_json');
    await bad([1], 'bad_request');
    await bad({ topic: 'x' }, 'bad_request');
    await bad({ data: 1, topic: 'news.*' }, 'bad_request');
    await bad({ data: 1, topic: 7 }, 'bad_request');
    const none = await api(srv.http, `/_/rooms/${uid('empty')}/publish`, { method: 'POST', body: { data: 1 } });
    assert.equal(none.status, 404);
    const wrongAction = await api(srv.http, `/_/rooms${room}/shout`, { method: 'POST', body: { data: 1 } });
    assert.equal(wrongAction.status, 404);
  } finally {
    await Promise.all([ws.close(), sse.close(), other.close()]);
  }
});

// Found by the fuzzer's admin door (fuzz/doors/admin.ts): a body nested deeper than the doors
// take overflowed the stack when the publication was framed, a 500 and an error in the log.
test('POST /_/rooms/<room>/publish with data nested deeper than 1,000 levels: 400 bad_message (as at every door), nothing published', async () => {
  const room = '/' + uid('deep');
  const ws = await WsMember.connect(srv.ws, room);
  try {
    for (const path of [`/_/rooms${room}/publish`, `/_/rooms/publish?room=${encodeURIComponent(room)}`]) {
      const deep = await api(srv.http, path, { method: 'POST', body: `{"data":${'['.repeat(20000)}1${']'.repeat(20000)}}` });
      assert.equal(deep.status, 400, JSON.stringify(deep.body));
      assert.equal(deep.body.error.code, 'bad_message');
    }
    const atLimit = await api(srv.http, `/_/rooms${room}/publish`, { method: 'POST', body: `{"data":${'['.repeat(998)}1${']'.repeat(998)}}` });
    assert.equal(atLimit.status, 200, JSON.stringify(atLimit.body));
    await ws.waitFor((m: Msg) => m.type === 'message' && m.from === 'server', 2000, 'the publication within the limit');
    assert.equal(ws.messages.filter((m: Msg) => m.type === 'message').length, 1, 'only the one within the limit was published');
    assert.ok(!srv.logs.some((l) => l.includes('Maximum call stack')), 'no stack overflow in the log');
  } finally {
    await ws.close();
  }
});

// Found by the fuzzer's admin door: /_/stats names every room, yet it looked at room tokens alone —
// open to anyone with only --admin-token configured, and refusing the --admin-token secret when
// room tokens were on too. Its documented rule is /_/metrics' (docs/operations.md).
test('GET /_/stats once a credential is configured: 401 without or with a wrong one, 200 with the --admin-token secret or an admin room token', async () => {
  const both = await startServer({ args: ['--admin-token', ADMIN_TOKEN], env: { MULTISOCKET_JWT_SECRET: SECRET } });
  try {
    const sign = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
    for (const base of [srv.http, both.http]) {
      const none = await api(base, '/_/stats', { headers: { Authorization: '' } });
      assert.equal(none.status, 401, `${base}: ${JSON.stringify(none.body)}`);
      assert.equal(none.body.error.code, 'token_required');
      const wrong = await api(base, '/_/stats', { headers: { Authorization: 'Bearer not-the-admin-token-at-all' } });
      assert.equal(wrong.status, 401);
      const ok = await api(base, '/_/stats');
      assert.equal(ok.status, 200, `${base}: ${JSON.stringify(ok.body)}`);
      assert.equal(typeof ok.body.connections, 'number');
    }
    assert.equal((await api(both.http, '/_/stats', { headers: { Authorization: `Bearer ${await sign({ rooms: ['/**'] })}` } })).status, 403);
    assert.equal((await api(both.http, '/_/stats', { headers: { Authorization: `Bearer ${await sign({ perms: ['admin'] })}` } })).status, 200);
  } finally {
    await both.stop();
  }
});

test('POST /_/rooms/<room>/kick: the member is told `closed` `kicked` (with the reason) and closed with 4003, the others see it leave; a GUN peer by id; unknown 404', async () => {
  const room = '/' + uid('kick');
  const target = await WsMember.connect(srv.ws, room);
  const witness = await WsMember.connect(srv.ws, room);
  const sse = await SseMember.connect(srv.http, room);
  const peer = await GunPeer.connect(srv.ws, room);
  try {
    const cid = target.hello!.cid;
    const r = await api(srv.http, `/_/rooms${room}/kick`, { method: 'POST', body: { cid, reason: 'spam' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.kicked, true);
    const closed = await target.waitFor((m: Msg) => m.type === 'closed', 2000, 'closed kicked');
    assert.deepEqual({ reason: closed.reason, message: closed.message }, { reason: 'kicked', message: 'spam' });
    assert.equal((await target.waitClosed()).code, 4003);
    await witness.waitFor((m: Msg) => m.type === 'leave' && m.cid === cid, 2000, 'the leave');

    const sseKick = await api(srv.http, `/_/rooms${room}/kick`, { method: 'POST', body: { cid: sse.hello!.cid } });
    assert.equal(sseKick.status, 200);
    await sse.waitFor((m: Msg) => m.type === 'closed' && m.reason === 'kicked', 2000, 'the SSE member told');

    const d = await api(srv.http, `/_/rooms${room}`);
    assert.deepEqual(d.body.memberList.map((m: Msg) => m.cid), [witness.hello!.cid]);
    const peerId = d.body.peerList[0].id;
    assert.equal((await api(srv.http, `/_/rooms${room}/kick`, { method: 'POST', body: { peer: peerId } })).status, 200);
    assert.equal((await peer.closed).code, 4003);

    const unknown = await api(srv.http, `/_/rooms${room}/kick`, { method: 'POST', body: { cid: 'c-nobody' } });
    assert.equal(unknown.status, 404);
    for (const body of [{}, { cid: 'a', peer: 'b' }, { cid: 'a', reason: 5 }, { cid: 'a', reason: 'x'.repeat(300) }]) {
      assert.equal((await api(srv.http, `/_/rooms${room}/kick`, { method: 'POST', body })).status, 400, JSON.stringify(body));
    }
    assert.ok(srv.logs.some((l) => l.includes('"admin action"') && l.includes('"kick"') && l.includes(cid)), 'the kick is logged with room and cid');
  } finally {
    await Promise.all([target.close(), witness.close(), sse.close(), peer.close()]);
  }
});

test('DELETE /_/rooms/<room>: members `closed` `closed_by_admin` + 4000, GUN peers 4000, the graph freed; the root room by ?room=/', async () => {
  const room = '/' + uid('delete');
  const member = await WsMember.connect(srv.ws, room);
  const peer = await GunPeer.connect(srv.ws, room);
  const soul = gunUid('soul');
  try {
    assert.equal((await peer.putAck({ [soul]: { _: { '#': soul, '>': { a: 1 } }, a: 1 } })).ok, 1);
    const r = await api(srv.http, `/_/rooms${room}`, { method: 'DELETE' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual({ closed: r.body.closed, members: r.body.members, gunPeers: r.body.gunPeers }, { closed: true, members: 1, gunPeers: 1 });
    const told = await member.waitFor((m: Msg) => m.type === 'closed', 2000, 'closed');
    assert.equal(told.reason, 'closed_by_admin');
    assert.equal((await member.waitClosed()).code, 4000);
    assert.equal((await peer.closed).code, 4000);
    assert.equal((await api(srv.http, `/_/rooms${room}`)).status, 404);
    assert.equal((await api(srv.http, `/_/rooms${room}`, { method: 'DELETE' })).status, 404, 'gone');

    // A new peer in the same path finds a new, empty room.
    const again = await GunPeer.connect(srv.ws, room);
    try {
      const answer = await again.ask({ '#': soul });
      assert.equal(answer.put?.[soul], undefined, JSON.stringify(answer));
    } finally {
      await again.close();
    }

    const root = await WsMember.connect(srv.ws, '/');
    const closing = await api(srv.http, '/_/rooms?room=/', { method: 'DELETE' });
    assert.equal(closing.status, 200, JSON.stringify(closing.body));
    assert.equal((await root.waitClosed()).code, 4000);
  } finally {
    await Promise.all([member.close(), peer.close()]);
  }
});

for (const kind of ENGINE_KINDS) {
  test(`cluster on ${kind}: any node lists, shows, publishes to, kicks from and closes a room spread over nodes`, async () => {
    const cluster = await startCluster(kind, { nodes: 2, args: ['--admin-token', ADMIN_TOKEN, '--resume-grace', '0'] });
    const [a, b] = cluster.nodes;
    const room = '/' + uid('cl');
    const onA = await WsMember.connect(a.ws, room, { query: 'topics=ops' });
    const onB = await WsMember.connect(b.ws, room);
    const onB2 = await WsMember.connect(b.ws, room);
    const lonely = '/' + uid('only-b');
    const onlyB = await WsMember.connect(b.ws, lonely);
    const peer = await GunPeer.connect(a.ws, room);
    const soul = gunUid('soul');
    try {
      assert.equal((await peer.putAck({ [soul]: { _: { '#': soul, '>': { a: 1 } }, a: 1 } })).ok, 1);
      await onA.waitUntil(() => onA.messages.filter((m: Msg) => m.type === 'join').length >= 2, 5000, 'the joins from B');

      const list = await api(a.http, `/_/rooms?q=${encodeURIComponent(room)}`);
      assert.equal(list.status, 200, JSON.stringify(list.body));
      assert.equal(list.body.rooms.length, 1);
      assert.equal(list.body.rooms[0].members, 3, 'summed over the nodes');
      assert.deepEqual([...list.body.rooms[0].nodes].sort(), [...cluster.ids].sort());

      const d = await api(a.http, `/_/rooms${room}`);
      const nodeOf = new Map(d.body.memberList.map((m: Msg) => [m.cid, m.node]));
      assert.equal(nodeOf.get(onA.hello!.cid), cluster.ids[0]);
      assert.equal(nodeOf.get(onB.hello!.cid), cluster.ids[1]);

      // A room only B holds, published to through A.
      const pub = await api(a.http, `/_/rooms${lonely}/publish`, { method: 'POST', body: { data: 'hello b' } });
      assert.equal(pub.status, 200, JSON.stringify(pub.body));
      assert.equal((await onlyB.waitFor((m: Msg) => m.type === 'message' && m.data === 'hello b', 3000, 'the publish')).from, 'server');
      // A spread room, published to through B: A's subscriber gets it.
      assert.equal((await api(b.http, `/_/rooms${room}/publish`, { method: 'POST', body: { data: 1, topic: 'ops' } })).status, 200);
      await onA.waitFor((m: Msg) => m.type === 'message' && m.topic === 'ops', 3000, 'the publish from B');

      // Kick a member of B through A.
      const kicked = await api(a.http, `/_/rooms${room}/kick`, { method: 'POST', body: { cid: onB2.hello!.cid } });
      assert.equal(kicked.status, 200, JSON.stringify(kicked.body));
      assert.equal(kicked.body.node, cluster.ids[1]);
      assert.equal((await onB2.waitClosed(3000)).code, 4003);
      await onA.waitFor((m: Msg) => m.type === 'leave' && m.cid === onB2.hello!.cid, 3000, 'the leave on A');

      const before = await GunPeer.connect(b.ws, room);
      try {
        assert.ok((await before.ask({ '#': soul })).put?.[soul], 'B serves the graph before the close');
      } finally {
        await before.close();
      }
      // Close it through A: B's member is closed too.
      const closed = await api(a.http, `/_/rooms${room}`, { method: 'DELETE' });
      assert.equal(closed.status, 200, JSON.stringify(closed.body));
      assert.equal(closed.body.members, 2);
      assert.equal(closed.body.gunPeers, 1);
      assert.equal((await onB.waitClosed(3000)).code, 4000);
      assert.equal((await onA.waitClosed(3000)).code, 4000);
      assert.equal((await peer.closed).code, 4000);
      assert.equal((await api(b.http, `/_/rooms${room}`)).status, 404);
      // The engine forgot the graph: a new peer on B (which loads the room from the engine) finds nothing.
      const again = await GunPeer.connect(b.ws, room);
      try {
        const answer = await again.ask({ '#': soul });
        assert.equal(answer.put?.[soul], undefined, JSON.stringify(answer));
      } finally {
        await again.close();
      }
    } finally {
      await Promise.all([onA.close(), onB.close(), onB2.close(), onlyB.close(), peer.close()]);
      await cluster.stop();
    }
  });
}
