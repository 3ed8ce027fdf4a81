// Origins and connection limits at the doors (issue 9 §3): --allowed-origins on WebSocket
// upgrades, SSE and CORS; --max-connections, --max-connections-per-ip behind --trust-proxy,
// --connect-rate-per-ip; and rooms: an empty room waiting out its TTL never locks new rooms out
// (the one empty longest is evicted), while --new-rooms-per-ip stops one client churning them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer } from './helpers/server.ts';
import { GunPeer, tryUpgrade, uid, poll } from './helpers/gun-wire.ts';
import { type Msg, MemberPool, WsMember } from './helpers/native.ts';

const rejected = (r: Awaited<ReturnType<typeof tryUpgrade>>) => (r.kind === 'rejected' ? `${r.statusCode} ${r.body}` : r.kind === 'open' ? (r.ws.terminate(), 'open') : `error ${r.error.message}`);

test('--allowed-origins: WebSocket, SSE, POST and preflight from another origin get 403; no Origin and listed origins pass', async (t) => {
  const server = await startServer({ args: ['--allowed-origins', 'https://app.example.com,https://*.example.org'] });
  t.after(() => server.stop());
  const room = '/' + uid('o');
  assert.match(rejected(await tryUpgrade(server.ws + room, { headers: { Origin: 'https://evil.example' } })), /^403 .*origin_forbidden/);
  assert.match(rejected(await tryUpgrade(server.ws + room, { headers: { Origin: 'https://app.example.com.evil.example' } })), /^403/);
  const good = await GunPeer.connect(server.ws, room, { headers: { Origin: 'https://chat.example.org' } });
  const noOrigin = await GunPeer.connect(server.ws, room);
  await Promise.all([good.close(), noOrigin.close()]);
  const native = await WsMember.connect(server.ws, room);
  await native.close();

  const sse = await fetch(server.http + room, { headers: { Accept: 'text/event-stream', Origin: 'https://evil.example' } });
  assert.equal(sse.status, 403);
  assert.equal(((await sse.json()) as Msg).error.code, 'origin_forbidden');
  const post = await fetch(server.http + room, { method: 'POST', headers: { Origin: 'https://evil.example', 'content-type': 'application/json' }, body: '{"s":{"_":{"#":"s",">":{"a":1}},"a":1}}' });
  assert.equal(post.status, 403);
  assert.equal((await fetch(`${server.http}${room}/s`)).status, 200, 'reads without Origin still work');
  assert.equal(await (await fetch(`${server.http}${room}/s`)).text(), 'null', 'the refused POST wrote nothing');
  const pre = await fetch(server.http + room, { method: 'OPTIONS', headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' } });
  assert.equal(pre.status, 403);
  const ok = await fetch(server.http + room, { method: 'OPTIONS', headers: { Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'POST' } });
  assert.equal(ok.status, 204);
  assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example.com');
  assert.match(ok.headers.get('access-control-allow-headers') ?? '', /authorization/i);
});

test('--max-connections: 503 before the upgrade at the limit, a slot again once a connection closes', async (t) => {
  const server = await startServer({ args: ['--max-connections', '2'] });
  t.after(() => server.stop());
  const pool = new MemberPool(server.ws, server.http);
  t.after(() => pool.closeAll());
  const room = '/' + uid('max');
  const a = await pool.ws(room);
  await pool.sse(room);
  assert.match(rejected(await tryUpgrade(server.ws + room)), /^503 .*too_many_connections/);
  const sse = await fetch(server.http + room, { headers: { Accept: 'text/event-stream' } });
  assert.equal(sse.status, 503);
  await a.close();
  await poll(async () => ((await (await fetch(`${server.http}/_/health`)).json()) as Msg).connections === 1, 3000, 50, 'the closed connection to be gone');
  await pool.ws(room);
});

test('--max-connections-per-ip behind --trust-proxy: counted per forwarded address; a refused handshake holds no slot', async (t) => {
  const server = await startServer({ args: ['--max-connections-per-ip', '2', '--trust-proxy', '1'] });
  t.after(() => server.stop());
  const room = '/' + uid('ip');
  const from = (ip: string) => ({ headers: { 'X-Forwarded-For': `6.6.6.6, ${ip}` } });
  // A handshake ws refuses (no Sec-WebSocket-Key) must give its reserved slot back.
  for (let i = 0; i < 3; i++) {
    const reply = await new Promise<string>((resolve) => {
      const s = net.connect(server.port, '127.0.0.1', () => s.write(`GET ${room} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n`));
      let data = '';
      s.on('data', (c) => { data += c; });
      s.on('close', () => resolve(data));
      s.on('error', () => resolve(data));
    });
    assert.match(reply, /^HTTP\/1.1 400/);
  }
  const p1 = await GunPeer.connect(server.ws, room, from('1.1.1.1'));
  const p2 = await GunPeer.connect(server.ws, room, from('1.1.1.1'));
  assert.match(rejected(await tryUpgrade(server.ws + room, from('1.1.1.1'))), /^429 .*too_many_connections_from_address/);
  const other = await GunPeer.connect(server.ws, room, from('2.2.2.2'));
  await p1.close();
  // Once the server has seen the close, 1.1.1.1 has a slot again.
  await poll(async () => (await tryUpgrade(server.ws + room, from('1.1.1.1'))).kind === 'open' || undefined, 3000, 50, 'a free slot for 1.1.1.1');
  await Promise.all([p2.close(), other.close()]);
});

test('--connect-rate-per-ip: a reconnect storm from one address gets 429 with Retry-After', async (t) => {
  const server = await startServer({ args: ['--connect-rate-per-ip', '3'] });
  t.after(() => server.stop());
  const room = '/' + uid('rate');
  const results = [];
  for (let i = 0; i < 5; i++) results.push(rejected(await tryUpgrade(server.ws + room)));
  assert.equal(results.filter((r) => r === 'open').length, 3, results.join(' | '));
  assert.match(results[4], /^429 .*connect_rate_limited/);
  const res = await new Promise<string>((resolve) => {
    const s = net.connect(server.port, '127.0.0.1', () => s.write(`GET ${room} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`));
    let data = '';
    s.on('data', (c) => { data += c; });
    s.on('close', () => resolve(data));
  });
  assert.match(res, /^HTTP\/1.1 429[\s\S]*Retry-After: 5/);
});

test('--max-rooms: empty rooms waiting out their TTL are evicted longest-empty first; only rooms with people in them make a new one wait', async (t) => {
  const server = await startServer({ args: ['--max-rooms', '3', '--room-ttl', '300', '--new-rooms-per-ip', '0'] });
  t.after(() => server.stop());
  const pool = new MemberPool(server.ws, server.http);
  t.after(() => pool.closeAll());
  const stats = async () => (await (await fetch(`${server.http}/_/stats`)).json()) as Msg;
  // Three rooms visited and left: all empty, all kept for their TTL.
  const names = ['/' + uid('e1'), '/' + uid('e2'), '/' + uid('e3')];
  for (const name of names) {
    const p = await GunPeer.connect(server.ws, name);
    await p.putAck({ k: { _: { '#': 'k', '>': { v: 1 } }, v: name } });
    await p.close();
  }
  await poll(async () => Object.values((await stats()).rooms).every((r: any) => r.emptySince !== null) || undefined, 3000, 50, 'all three rooms empty');
  // A fourth room still opens: the longest-empty (the first) is freed for it.
  const fourth = await pool.ws('/' + uid('e4'));
  const s1 = await stats();
  assert.equal(s1.roomsEvicted, 1);
  assert.deepEqual(Object.keys(s1.rooms).sort(), [names[1], names[2], fourth.room].sort());
  assert.equal(await (await fetch(`${server.http}${names[1]}/k`)).text().then((t) => JSON.parse(t).v), names[1], 'the others kept their data');
  // With every room occupied, a new room is refused (503) until someone leaves.
  await pool.ws(names[1]);
  await pool.ws(names[2]);
  assert.match(rejected(await tryUpgrade(server.ws + '/' + uid('e5'))), /^503 .*too_many_rooms/);
});

test('--new-rooms-per-ip: one address cannot churn through rooms; joining existing rooms still works', async (t) => {
  const server = await startServer({ args: ['--new-rooms-per-ip', '2'] });
  t.after(() => server.stop());
  const a = '/' + uid('n1');
  const b = '/' + uid('n2');
  for (const room of [a, b]) (await GunPeer.connect(server.ws, room)).ws.terminate();
  assert.match(rejected(await tryUpgrade(server.ws + '/' + uid('n3'))), /^429 .*room_create_rate_limited/);
  const post = await fetch(`${server.http}/${uid('n4')}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"s":{"_":{"#":"s",">":{"a":1}},"a":1}}' });
  assert.equal(post.status, 429, 'HTTP writes create rooms too');
  const again = await GunPeer.connect(server.ws, a);
  await again.close();
  assert.equal(((await (await fetch(`${server.http}/_/stats`)).json()) as Msg).roomsRefusedByRate, 2);
});
