// Room tokens end to end (docs/security.md): a server started with MULTISOCKET_JWT_SECRET and
// --public-rooms, and every door — GUN WebSocket peers (raw and the real GUN client), native
// WebSocket and SSE members, legacy HTTP — with no token, bad tokens, tokens for other rooms,
// narrow permissions, expiry on an open connection and refresh with `auth`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { startServer, type RunningServer } from './helpers/server.ts';
import { GunPeer, node, tryUpgrade, uid } from './helpers/gun-wire.ts';
import { type Msg, MemberPool, WsMember } from './helpers/native.ts';
import { Session, isAck, isOnce } from './helpers/gun-clients.ts';
import { connect } from '../src/client/index.ts';

const SECRET = 'tokens-test-secret-0123456789-abcdefghij';
const KEY = new TextEncoder().encode(SECRET);

/** A room token; `exp` in seconds from now (default an hour). */
function token(claims: Record<string, unknown> = {}, exp = 3600): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(Math.floor(Date.now() / 1000) + exp).sign(KEY);
}
const q = (t: string) => `token=${encodeURIComponent(t)}`;

let server: RunningServer;
let pool: MemberPool;
const peers: GunPeer[] = [];
before(async () => {
  server = await startServer({ args: ['--public-rooms', '/lobby/**'], env: { MULTISOCKET_JWT_SECRET: SECRET } });
  pool = new MemberPool(server.ws, server.http);
});
after(async () => {
  await pool.closeAll();
  await Promise.all(peers.map((p) => p.close()));
  await server.stop();
});
async function gunPeer(room: string, query?: string, headers?: Record<string, string>): Promise<GunPeer> {
  const p = await GunPeer.connect(server.ws, query ? `${room}?${query}` : room, headers ? { headers } : {});
  peers.push(p);
  return p;
}

test('upgrades: no token 401, garbage 401, expired 401, other rooms 403; ?token= and Bearer open', async () => {
  const room = '/' + uid('gate');
  const noToken = await tryUpgrade(server.ws + room);
  assert.equal(noToken.kind, 'rejected');
  assert.equal(noToken.kind === 'rejected' && noToken.statusCode, 401);
  assert.match(noToken.kind === 'rejected' ? noToken.body : '', /"token_required"/);
  const garbage = await tryUpgrade(`${server.ws}${room}?token=not.a.jwt`);
  assert.match(garbage.kind === 'rejected' ? `${garbage.statusCode} ${garbage.body}` : garbage.kind, /^401 .*token_invalid/);
  const expired = await tryUpgrade(`${server.ws}${room}?${q(await token({}, -60))}`);
  assert.match(expired.kind === 'rejected' ? `${expired.statusCode} ${expired.body}` : expired.kind, /^401 .*token_expired/);
  const elsewhere = await tryUpgrade(`${server.ws}${room}?${q(await token({ rooms: ['/team/*'] }))}`);
  assert.match(elsewhere.kind === 'rejected' ? `${elsewhere.statusCode} ${elsewhere.body}` : elsewhere.kind, /^403 .*forbidden/);
  // The native door answers the same way.
  await assert.rejects(WsMember.connect(server.ws, room), /HTTP 401/);

  const viaQuery = await gunPeer(room, q(await token({ rooms: [room] })));
  const viaHeader = await gunPeer(room, undefined, { Authorization: `Bearer ${await token({ rooms: ['/**'] })}` });
  const soul = uid('s');
  assert.equal((await viaQuery.putAck({ [soul]: node(soul, { v: 1 }) })).ok, 1);
  assert.equal((await viaHeader.ask({ '#': soul })).put?.[soul]?.v, 1);
  // A public room needs no token.
  const lobby = await gunPeer('/lobby/' + uid('l'));
  assert.equal((await lobby.putAck({ [soul]: node(soul, { v: 2 }) })).ok, 1);
});

test('GUN permissions: a read-only peer syncs reads and gets forbidden acks for puts; a write-only peer reads nothing', async () => {
  const room = '/' + uid('ro');
  const writer = await gunPeer(room, q(await token({ perms: ['write'] })));
  const reader = await gunPeer(room, q(await token({ perms: ['read'] })));
  const both = await gunPeer(room, q(await token()));
  const soul = uid('s');
  const refused = await reader.putAck({ [soul]: node(soul, { by: 'reader' }) });
  assert.match(String(refused.err), /^forbidden/);
  assert.equal((await writer.putAck({ [soul]: node(soul, { by: 'writer' }, 2) })).ok, 1);
  // The read-only peer gets the writer's put relayed and can read it; nobody got the refused one.
  await reader.waitFor((m) => m.put?.[soul]?.by === 'writer', 2000, 'relayed put');
  assert.equal((await reader.ask({ '#': soul })).put?.[soul]?.by, 'writer');
  await both.waitFor((m) => m.put?.[soul]?.by === 'writer', 2000, 'relayed put');
  assert.ok(!both.messages.some((m) => m.put?.[soul]?.by === 'reader'));
  // The write-only peer may not read and is not sent the room's puts.
  assert.match(String((await writer.ask({ '#': soul })).err), /^forbidden/);
  const soul2 = uid('s');
  assert.equal((await both.putAck({ [soul2]: node(soul2, { x: 1 }) })).ok, 1);
  await reader.waitFor((m) => m.put?.[soul2] !== undefined, 2000, 'second relay');
  assert.ok(!writer.messages.some((m) => m.put?.[soul2] !== undefined), 'write-only peer got a relayed put');
});

test('native WebSocket: user in connect/join/presence, narrow perms refused with forbidden and ref, no presence without the permission', async () => {
  const room = '/' + uid('nat');
  const alice = await pool.ws(room, { query: q(await token({ sub: 'alice' })) });
  assert.equal(alice.hello.user, 'alice');
  assert.deepEqual(alice.hello.users, { [alice.cid]: 'alice' });
  const sensor = await pool.ws(room, { query: q(await token({ sub: 'sensor-7', perms: ['publish'] })) });
  const join = await alice.waitFor((m) => m.type === 'join' && m.cid === sensor.cid, 2000, 'join');
  assert.equal(join.user, 'sensor-7');
  assert.deepEqual(sensor.hello.members, [sensor.cid], 'without presence a member sees only itself');
  assert.deepEqual(sensor.hello.users, { [sensor.cid]: 'sensor-7' });
  alice.send({ type: 'presence', ref: 'p1' });
  const presence = await alice.waitFor((m) => m.type === 'presence', 2000, 'presence');
  assert.deepEqual(presence.users, { [alice.cid]: 'alice', [sensor.cid]: 'sensor-7' });

  sensor.send({ type: 'subscribe', topic: 't', ref: 's1' });
  sensor.send({ type: 'presence', ref: 'p2' });
  sensor.send({ type: 'publish', data: 'reading 1', ref: 'pub1' });
  const [e1, e2] = [await sensor.waitFor((m) => m.type === 'error' && m.ref === 's1'), await sensor.waitFor((m) => m.type === 'error' && m.ref === 'p2')];
  assert.equal(e1.code, 'forbidden');
  assert.match(e1.message, /"subscribe".*allows: publish/);
  assert.equal(e2.code, 'forbidden');
  await alice.waitFor((m) => m.type === 'message' && m.data === 'reading 1', 2000, 'the sensor publish');
  // The sensor receives no publishes (no subscribe) and no membership events (no presence).
  alice.send({ type: 'publish', data: 'to everyone' });
  const late = await pool.ws(room, { query: q(await token({ sub: 'bob' })) });
  sensor.send({ type: 'publish', data: 'barrier', ref: 'b' });
  await late.waitFor((m) => m.type === 'message' && m.data === 'barrier', 2000, 'barrier');
  assert.ok(!sensor.messages.some((m) => m.type === 'message' || m.type === 'join'), sensor.describe());
  await pool.closeAll();
});

test('SSE: the stream needs a token (401 JSON), POSTs ride on the connection token, perms apply to POSTs (403)', async () => {
  const room = '/' + uid('sse');
  const r = await fetch(`${server.http}${room}`, { headers: { Accept: 'text/event-stream' } });
  assert.equal(r.status, 401);
  assert.equal(((await r.json()) as Msg).error.code, 'token_required');
  const viewer = await pool.sse(room, { query: q(await token({ sub: 'viewer', perms: ['read'] })) });
  assert.equal(viewer.hello.user, 'viewer');
  const denied = await viewer.send({ type: 'publish', data: 'x' });
  assert.equal(denied.status, 403, denied.text);
  assert.equal(denied.body.error.code, 'forbidden');
  const writer = await pool.ws(room, { query: q(await token({ perms: ['write'] })) });
  writer.send({ type: 'publish', data: 'hello viewer' });
  await viewer.waitFor((m) => m.type === 'message' && m.data === 'hello viewer', 3000, 'publish over SSE');
  // Bearer on the stream works too (the eventsource package can send headers).
  const bearer = await pool.sse(room, { headers: { Authorization: `Bearer ${await token({ sub: 'b' })}` } });
  assert.equal(bearer.hello.user, 'b');
  await pool.closeAll();
});

test('legacy HTTP: GET needs read, POST needs write (401/403 JSON with both error shapes)', async () => {
  const room = '/' + uid('http');
  const soul = uid('s');
  const put = { [soul]: node(soul, { v: 'x' }) };
  const post = (t: string | undefined) => fetch(server.http + room, { method: 'POST', headers: { 'content-type': 'application/json', ...(t ? { Authorization: `Bearer ${t}` } : {}) }, body: JSON.stringify(put) });
  const none = await post(undefined);
  assert.equal(none.status, 401);
  const noneBody = (await none.json()) as Msg;
  assert.equal(noneBody.error.code, 'token_required');
  assert.equal(typeof noneBody.err, 'string');
  const readOnly = await token({ perms: ['read'] });
  assert.equal((await post(readOnly)).status, 403);
  assert.equal((await post(await token({ perms: ['write'] }))).status, 200);
  assert.equal((await fetch(`${server.http}${room}?%23=${soul}`)).status, 401);
  const got = await fetch(`${server.http}${room}?%23=${soul}&${q(readOnly)}`);
  assert.equal(got.status, 200);
  assert.equal(((await got.json()) as Msg).v, 'x');
  const wo = await fetch(`${server.http}${room}?%23=${soul}`, { headers: { Authorization: `Bearer ${await token({ perms: ['write'] })}` } });
  assert.equal(wo.status, 403);
  // JSONP carries its status in the body; its token rides in the query.
  const jsonp = await (await fetch(`${server.http}${room}?%23=${soul}&jsonp=cb`)).text();
  assert.match(jsonp, /"status":401/);
});

test('expiry on an open connection closes 4001 token_expired unless an auth refresh came in time', async () => {
  const room = '/' + uid('exp');
  const [gun, stale, fresh] = await Promise.all([
    token({}, 2).then((t) => gunPeer(room, q(t))),
    token({ sub: 'u' }, 2).then((t) => pool.ws(room, { query: q(t) })),
    token({ sub: 'u' }, 2).then((t) => pool.ws(room, { query: q(t) })),
  ]);
  // A refresh for another user or another room is refused and changes nothing.
  fresh.send({ type: 'auth', token: await token({ sub: 'mallory' }), ref: 'a0' });
  assert.equal((await fresh.waitFor((m) => m.ref === 'a0')).code, 'forbidden');
  fresh.send({ type: 'auth', token: await token({ sub: 'u' }, 60), ref: 'a1' });
  const ok = await fresh.waitFor((m) => m.type === 'auth' && m.ref === 'a1', 2000, 'auth answer');
  assert.equal(ok.user, 'u');
  assert.ok(ok.exp > Date.now() / 1000 + 30);
  assert.deepEqual(ok.perms, ['read', 'write', 'publish', 'subscribe', 'send', 'request', 'serve', 'push', 'pull', 'presence']);

  const gunClosed = await gun.closed;
  assert.deepEqual([gunClosed.code, gunClosed.reason], [4001, 'token_expired']);
  const closed = await stale.waitClosed(5000);
  assert.deepEqual([closed.code, closed.reason], [4001, 'token_expired']);
  assert.ok(stale.messages.some((m) => m.type === 'error' && m.code === 'token_expired'), 'told why first');
  // The refreshed member is still there after its first token's expiry: a round trip proves it.
  fresh.send({ type: 'presence', ref: 'after' });
  const p = await fresh.waitFor((m) => m.type === 'presence', 2000, 'presence after expiry');
  assert.ok(p.members.includes(fresh.cid));
  await pool.closeAll();
});

test('/_/stats needs an admin token once tokens are on; /_/health stays open', async () => {
  assert.equal((await fetch(`${server.http}/_/health`)).status, 200);
  assert.equal((await fetch(`${server.http}/_/stats`)).status, 401);
  assert.equal((await fetch(`${server.http}/_/stats`, { headers: { Authorization: `Bearer ${await token()}` } })).status, 403);
  const ok = await fetch(`${server.http}/_/stats`, { headers: { Authorization: `Bearer ${await token({ perms: ['admin'] })}` } });
  assert.equal(ok.status, 200);
  assert.equal(typeof ((await ok.json()) as Msg).totals.rooms, 'number');
});

test('SDK: getToken before connecting, an auth refresh before expiry, no reconnect; a fixed expired token closes as unauthorized', async () => {
  const room = '/' + uid('sdk');
  let calls = 0;
  const handle = connect(server.ws + room, { getToken: () => { calls++; return token({ sub: 'sdk-user' }, calls === 1 ? 3 : 60); } });
  try {
    const reconnects: unknown[] = [];
    handle.on('reconnecting', (e) => reconnects.push(e));
    const connected = await new Promise<{ user?: string }>((resolve) => handle.on('connect', resolve));
    assert.equal(connected.user, 'sdk-user');
    const refreshed = await new Promise<{ exp?: number }>((resolve) => handle.on('auth', resolve));
    assert.ok((refreshed.exp ?? 0) > Date.now() / 1000 + 30);
    // Past the first token's expiry the same connection still answers.
    await new Promise((r) => setTimeout(r, Math.max(0, 3500 - 2000)));
    const members = await handle.presence();
    assert.ok(members.includes(handle.cid!));
    assert.deepEqual(reconnects, []);
    assert.equal(calls, 2);
  } finally { handle.close(); }

  const fixed = connect(server.ws + room, { token: await token({}, -60) });
  const closed = await new Promise<{ reason: string }>((resolve) => fixed.on('closed', resolve));
  assert.equal(closed.reason, 'unauthorized');
  const sse = connect(server.http + room, { transport: 'sse', getToken: () => token({ sub: 'sse-user' }) });
  try {
    const c = await new Promise<{ user?: string }>((resolve) => sse.on('connect', resolve));
    assert.equal(c.user, 'sse-user');
  } finally { sse.close(); }
});

test('real GUN clients put the token in the peer URL: a writer syncs, a read-only peer reads and is refused writes', async (t) => {
  const s = new Session(t);
  const room = '/' + uid('gun');
  const base = `${server.http}${room}`;
  const [writer, reader] = await Promise.all([
    token({ sub: 'w' }).then((tk) => s.connected('writer', `${base}?${q(tk)}`)),
    token({ sub: 'r', perms: ['read'] }).then((tk) => s.connected('reader', `${base}?${q(tk)}`)),
  ]);
  s.server = server;
  const key = uid('k');
  writer.send({ op: 'put', key, value: { name: 'Jack' }, id: 'w1' });
  assert.equal((await writer.waitFor('ack w1', isAck('w1'))).err, null);
  reader.send({ op: 'once', key, id: 'r1' });
  assert.deepEqual((await reader.waitFor('once r1', isOnce('r1'))).value, { name: 'Jack' });
  reader.send({ op: 'put', key, value: { name: 'Mallory' }, id: 'r2' });
  assert.match(String((await reader.waitFor('ack r2', isAck('r2'))).err), /forbidden/);
  writer.send({ op: 'once', key: key, id: 'w2' });
  assert.deepEqual((await writer.waitFor('once w2', isOnce('w2'))).value, { name: 'Jack' });
});
