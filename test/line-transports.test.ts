// TCP and unix-socket (IPC) members (docs/protocol.md "TCP and IPC"): newline-delimited JSON over
// real sockets to a server spawned from dist/cli.js, in rooms shared with WebSocket members.
// Covers the hello and its refusals, the same limits as WebSocket (line size, slow consumer, rate,
// heartbeat), the IPC socket file (mode, stale, live, removal), TLS, the drain, and the SDK over
// tcp:// and ipc:// including a reconnect that resumes.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { promisify } from 'node:util';
import { SignJWT } from 'jose';
import { CLI, ROOT, startServer, type RunningServer } from './helpers/server.ts';
import { MemberPool, short, uid, type Msg } from './helpers/native.ts';
import { LineMember, lineAddress, type LineTarget } from './helpers/line.ts';
import { connect, lineTlsOptions, type ConnectOptions, type Room } from '../src/client/index.ts';

const run = promisify(execFile);
const room = (p = 'line') => '/' + uid(p);
const isPub = (data: unknown) => (m: Msg) => m.type === 'message' && m.kind === 'publish' && JSON.stringify(m.data) === JSON.stringify(data);

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ms-line-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface LineServer { srv: RunningServer; pool: MemberPool; tcp: LineTarget; ipc?: LineTarget; ipcPath?: string; members: LineMember[] }

/** A server with --tcp-port 0 (and --ipc when `ipc`), a WebSocket pool; all cleaned up after the test. */
async function lineServer(t: TestContext, args: string[] = [], ipc = false): Promise<LineServer> {
  const ipcPath = ipc ? path.join(tempDir(t), 'ms.sock') : undefined;
  const srv = await startServer({ args: ['--tcp-port', '0', '--resume-grace', '0', ...(ipcPath ? ['--ipc', ipcPath] : []), ...args] });
  const pool = new MemberPool(srv.ws, srv.http);
  const members: LineMember[] = [];
  t.after(async () => {
    await Promise.all(members.map((m) => m.close().catch(() => {})));
    await pool.closeAll();
    await srv.stop();
  });
  const addr = lineAddress(srv);
  return { srv, pool, tcp: { tcp: addr.tcpPort! }, ...(ipcPath ? { ipc: { ipc: ipcPath }, ipcPath } : {}), members };
}

async function join(s: LineServer, target: LineTarget, r: string, hello: Msg = {}): Promise<LineMember> {
  const m = await LineMember.join(target, r, hello);
  s.members.push(m);
  return m;
}

/** Open a stream, say `hello`, and expect one error line then the end. */
async function refused(target: LineTarget, hello: unknown): Promise<Msg> {
  const m = await LineMember.open(target, 'refused');
  m.write(typeof hello === 'string' ? hello : JSON.stringify(hello) + '\n');
  await m.waitEnd();
  assert.equal(m.messages.length, 1, `one error line, then the end: ${m.describe()}`);
  assert.equal(m.messages[0].type, 'error', short(m.messages[0]));
  return m.messages[0];
}

/** A round trip: ask for presence and wait for the answer (every earlier line was handled). */
async function barrier(m: LineMember): Promise<void> {
  const n = m.count((x) => x.type === 'presence');
  m.send({ type: 'presence' });
  await m.waitUntil(() => m.count((x) => x.type === 'presence') > n, 3000, 'presence');
}

// ---------------------------------------------------------------------------------------------

test('TCP and IPC members join a room with a WebSocket member: connect, presence, publish both ways, request/reply', async (t) => {
  const s = await lineServer(t, [], true);
  const r = room('mix');
  const w = await s.pool.ws(r);
  const tm = await join(s, s.tcp, r, { info: { name: 'tcp' }, topics: ['news'] });
  const im = await join(s, s.ipc!, r);
  assert.equal(tm.hello.room, r);
  assert.deepEqual(tm.hello.info, { name: 'tcp' });
  assert.ok(/^[0-9a-f]{16,64}$/.test(tm.hello.token), short(tm.hello));
  await w.waitFor((x) => x.type === 'join' && x.cid === im.cid);
  assert.deepEqual((await w.waitFor((x) => x.type === 'join' && x.cid === tm.cid)).info, { name: 'tcp' });
  // TCP → WebSocket and IPC
  tm.send({ type: 'publish', data: { from: 'tcp' } });
  await w.waitFor(isPub({ from: 'tcp' }));
  const got = await im.waitFor(isPub({ from: 'tcp' }));
  assert.equal(got.from, tm.cid);
  // WebSocket → TCP
  w.send({ type: 'publish', data: 'from ws', topic: 'news' });
  const fromWs = await tm.waitFor(isPub('from ws'));
  assert.equal(fromWs.topic, 'news');
  // request TCP → WebSocket, reply comes back as one line
  tm.send({ type: 'request', id: 'q1', to: w.cid, data: 20 });
  const req = await w.waitFor((x) => x.type === 'request' && x.data === 20);
  w.send({ type: 'reply', id: req.id, data: 21 });
  assert.equal((await tm.waitFor((x) => x.type === 'reply' && x.id === 'q1')).data, 21);
  // request WebSocket → IPC
  w.send({ type: 'request', id: 'q2', to: im.cid, data: 'ping?' });
  const req2 = await im.waitFor((x) => x.type === 'request' && x.data === 'ping?');
  im.send({ type: 'reply', id: req2.id, data: 'pong!' });
  assert.equal((await w.waitFor((x) => x.type === 'reply' && x.id === 'q2')).data, 'pong!');
  // a batch in one line, as a WebSocket frame may carry one
  tm.send([{ type: 'publish', data: 'b1' }, { type: 'publish', data: 'b2' }]);
  await w.waitFor(isPub('b2'));
  // a client ping is answered with a pong; \r\n line ends are taken
  tm.write('{"type":"ping"}\r\n');
  await tm.waitFor((x) => x.type === 'pong');
  // leaving: the others see it
  await tm.close();
  await w.waitFor((x) => x.type === 'leave' && x.cid === tm.cid);
  // metrics count line members by transport
  const metrics = await (await fetch(s.srv.http + '/_/metrics')).text();
  assert.match(metrics, /multisocket_connections\{protocol="native",transport="ipc"\} 1/);
  assert.match(metrics, /multisocket_connections\{protocol="native",transport="tcp"\} 0/);
  // a delivery to a line member and the bytes of a line are counted (multisocket_deliveries_total, _bytes_in_total)
  const counter = async (name: string) => Number(new RegExp(`^${name}\\{protocol="native"\\} (\\d+)`, 'm').exec(await (await fetch(s.srv.http + '/_/metrics')).text())?.[1]);
  const [deliveries, bytesIn] = [await counter('multisocket_deliveries_total'), await counter('multisocket_bytes_in_total')];
  w.send({ type: 'publish', data: 'to ipc' });
  await im.waitFor(isPub('to ipc'));
  assert.equal(await counter('multisocket_deliveries_total'), deliveries + 1, 'one delivery: the IPC member (the publisher has no echo)');
  const line = '{"type":"publish","data":"from ipc"}';
  im.write(line + '\n');
  await w.waitFor(isPub('from ipc'));
  assert.ok(await counter('multisocket_bytes_in_total') >= bytesIn + line.length + 1 + 'to ipc'.length, 'the line\'s bytes (and the WebSocket frame\'s) counted in');
});

test('hello refusals: one error line with the door\'s code, then the end', async (t) => {
  const s = await lineServer(t, ['--max-peers-per-room', '1', '--max-info-bytes', '16']);
  assert.equal((await refused(s.tcp, 'hello\n')).code, 'bad_message');
  assert.equal((await refused(s.tcp, { type: 'publish', data: 1 })).code, 'bad_message');
  assert.equal((await refused(s.tcp, { type: 'hello' })).code, 'bad_path');
  assert.equal((await refused(s.tcp, { type: 'hello', room: '/a/../b' })).code, 'bad_path');
  assert.equal((await refused(s.tcp, { type: 'hello', room: '/chat?x=1' })).code, 'bad_path');
  assert.equal((await refused(s.tcp, { type: 'hello', room: '/_/stats' })).code, 'not_found');
  assert.equal((await refused(s.tcp, { type: 'hello', room: '/x', resume: 'nope' })).code, 'bad_request');
  assert.equal((await refused(s.tcp, { type: 'hello', room: '/x', info: 'x'.repeat(40) })).code, 'too_large');
  const r = room('full');
  await join(s, s.tcp, r);
  const full = await refused(s.tcp, { type: 'hello', room: r });
  assert.equal(full.code, 'room_full', short(full));
  // lines sent right behind the hello wait for its answer and belong to the member
  const m = await LineMember.open(s.tcp);
  s.members.push(m);
  m.write(JSON.stringify({ type: 'hello', room: room('quick') }) + '\n' + JSON.stringify({ type: 'publish', data: 'early', echo: true }) + '\n');
  await m.waitFor(isPub('early'));
});

test('connection limits and room tokens apply at the hello; an expired token ends the stream with 4001', async (t) => {
  const secret = 'line-test-secret-0123456789-abcdefghijk';
  const s2 = await lineServer(t, ['--max-connections', '1'], false);
  await join(s2, s2.tcp, room('one'));
  assert.equal((await refused(s2.tcp, { type: 'hello', room: room('two') })).code, 'too_many_connections');
  // tokens: a separate server that requires them
  const srv = await startServer({ args: ['--tcp-port', '0'], env: { MULTISOCKET_JWT_SECRET: secret } });
  t.after(() => srv.stop());
  const target: LineTarget = { tcp: lineAddress(srv).tcpPort! };
  assert.equal((await refused(target, { type: 'hello', room: '/secret' })).code, 'token_required');
  assert.equal((await refused(target, { type: 'hello', room: '/secret', token: 'not.a.jwt' })).code, 'token_invalid');
  const sign = (exp: number) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(Math.floor(Date.now() / 1000) + exp).sign(new TextEncoder().encode(secret));
  const m = await LineMember.join(target, '/secret', { token: await sign(60) });
  t.after(() => m.close());
  assert.ok(Array.isArray(m.hello.members));
  // a token that runs out on the open stream: token_expired, then the 4001 close line
  const brief = await LineMember.join(target, '/secret', { token: await sign(2) });
  t.after(() => brief.close());
  await brief.waitEnd(5000);
  assert.ok(brief.messages.some((x) => x.type === 'error' && x.code === 'token_expired'), brief.describe());
  assert.deepEqual(brief.closeLine, { type: 'close', code: 4001, reason: 'token_expired' });
});

test('a broken JSON line gets bad_message and the stream stays; an over-long line gets too_large and a 1009 close line', async (t) => {
  const s = await lineServer(t, ['--max-message-bytes', '1024']);
  const r = room('size');
  const w = await s.pool.ws(r);
  const m = await join(s, s.tcp, r);
  m.write('{"type":"publish",\n');
  const bad = await m.waitFor((x) => x.type === 'error');
  assert.equal(bad.code, 'bad_message', short(bad));
  m.send({ type: 'publish', data: 'still here' });
  await w.waitFor(isPub('still here'));
  // exactly at the limit is taken
  const fits = JSON.stringify({ type: 'publish', data: '' });
  m.send({ type: 'publish', data: 'x'.repeat(1024 - fits.length) });
  await w.waitFor((x) => x.type === 'message' && typeof x.data === 'string' && x.data.length === 1024 - fits.length);
  // a line that never ends: refused once it passes the limit, not buffered
  m.write('{"type":"publish","data":"' + 'y'.repeat(4000));
  await m.waitEnd();
  const err = m.messages.find((x) => x.type === 'error' && x.code === 'too_large');
  assert.ok(err, m.describe());
  assert.deepEqual(m.closeLine, { type: 'close', code: 1009, reason: 'too_large' });
  await w.waitFor((x) => x.type === 'leave' && x.cid === m.cid);
  // an over-long hello too
  const h = await refused(s.tcp, '{"type":"hello","room":"/' + 'z'.repeat(3000));
  assert.equal(h.code, 'too_large');
});

test('--max-messages-per-second: messages over the budget get rate_limited and are dropped', async (t) => {
  const s = await lineServer(t, ['--max-messages-per-second', '5']);
  const r = room('rate');
  const m = await join(s, s.tcp, r);
  m.send(Array.from({ length: 10 }, (_, i) => ({ type: 'publish', data: i, ref: `r${i}` })));
  const limited = await m.waitForCount((x) => x.type === 'error' && x.code === 'rate_limited', 5);
  assert.deepEqual(limited.map((x) => x.ref), ['r5', 'r6', 'r7', 'r8', 'r9']);
});

test('a reader that does not read is closed as a slow consumer (4008)', async (t) => {
  const s = await lineServer(t, ['--max-queued-bytes', '65536']);
  const r = room('slow');
  const w = await s.pool.ws(r);
  const slow = await join(s, s.tcp, r);
  slow.socket.pause(); // stops reading: the kernel buffers fill, then the server's
  const big = 'x'.repeat(60_000);
  // Publish until the server gives up on the reader (bounded: 64 MB at most).
  for (let round = 1; round <= 50 && w.count((x) => x.type === 'leave' && x.cid === slow.cid) === 0; round++) {
    for (let i = 0; i < 20; i++) w.send({ type: 'publish', data: big });
    w.send({ type: 'presence' });
    await w.waitForCount((x) => x.type === 'presence', round, 5000);
  }
  await w.waitFor((x) => x.type === 'leave' && x.cid === slow.cid, 5000, 'the slow reader\'s leave');
  const metrics = await (await fetch(s.srv.http + '/_/metrics')).text();
  assert.match(metrics, /multisocket_closes_total\{code="4008"\} 1/);
  slow.socket.resume();
  await slow.waitEnd(5000);
});

test('heartbeat: ping lines; a member that answers stays, one that sends nothing is closed with 4009', async (t) => {
  const s = await lineServer(t, ['--heartbeat', '0.5']);
  const r = room('beat');
  const w = await s.pool.ws(r);
  const lively = await join(s, s.tcp, r);
  const silent = await join(s, s.tcp, r);
  lively.watch(() => { if (lively.messages.at(-1)?.type === 'ping') lively.send({ type: 'pong' }); });
  await silent.waitEnd(5000);
  assert.ok(silent.messages.some((x) => x.type === 'ping'), silent.describe());
  assert.deepEqual(silent.closeLine, { type: 'close', code: 4009, reason: 'dead_peer' });
  await w.waitFor((x) => x.type === 'leave' && x.cid === silent.cid);
  await lively.waitForCount((x) => x.type === 'ping', 3, 5000);
  assert.equal(lively.ended, false, lively.describe());
  await barrier(lively);
});

test('IPC: the socket file gets --ipc-mode, a stale file is replaced, a live one is not, and the file goes on exit', async (t) => {
  const dir = tempDir(t);
  const sock = path.join(dir, 'ms.sock');
  // a stale file: its process died without removing it
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  assert.ok(statSync(sock).isSocket(), 'the dead process left its socket file');
  const srv = await startServer({ args: ['--ipc', sock, '--ipc-mode', '0600'] });
  t.after(() => srv.stop());
  assert.equal(statSync(sock).mode & 0o777, 0o600);
  const m = await LineMember.join({ ipc: sock }, room('ipc'));
  // a live one is not taken over: the second server exits with one clear line
  const second = await run(process.execPath, [CLI, '--host', '127.0.0.1', '--port', '0', '--ipc', sock], { cwd: ROOT }).then(() => assert.fail('a second server took a live socket'), (err: { code: number; stderr: string }) => err);
  assert.equal(second.code, 1);
  assert.match(second.stderr, /is in use by another process/);
  assert.equal(second.stderr.trim().split('\n').length, 1, second.stderr);
  await barrier(m); // the first server still has it
  // the drain tells the member and removes the file
  assert.equal(await srv.stop(), 0);
  await m.waitEnd();
  assert.ok(m.messages.some((x) => x.type === 'closed' && x.reason === 'restart'), m.describe());
  assert.equal(m.closeLine?.code, 1012);
  assert.equal(existsSync(sock), false, 'the socket file is removed on exit');
  // the default mode is 0660
  const srv2 = await startServer({ args: ['--ipc', sock] });
  t.after(() => srv2.stop());
  assert.equal(statSync(sock).mode & 0o777, 0o660);
});

test('--tcp-tls: TLS on the TCP listener with the server certificate; refused without one', async (t) => {
  const key = path.join(ROOT, 'test/fixtures/tls/key.pem');
  const cert = path.join(ROOT, 'test/fixtures/tls/cert.pem');
  const bad = await run(process.execPath, [CLI, '--tcp-port', '0', '--tcp-tls'], { cwd: ROOT }).then(() => assert.fail('started'), (err: { code: number; stderr: string }) => err);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--tcp-tls needs a certificate/);
  const s = await lineServer(t, ['--tcp-tls', '--ssl-key', key, '--ssl-cert', cert]);
  const ca = readFileSync(cert);
  const target: LineTarget = { tcp: (s.tcp as { tcp: number }).tcp, tls: { ca } };
  const r = room('tls');
  const w = await s.pool.ws(r).catch(() => undefined);
  assert.equal(w, undefined, 'the HTTP port speaks TLS too (wss): a plain ws:// client is refused');
  const a = await join(s, target, r);
  const b = await join(s, target, r);
  a.send({ type: 'publish', data: 'over tls' });
  await b.waitFor(isPub('over tls'));
  // the SDK over tls:// with the private CA
  lineTlsOptions.ca = ca;
  t.after(() => { delete lineTlsOptions.ca; });
  const c = sdk(t, `tls://localhost:${(s.tcp as { tcp: number }).tcp}${r}`);
  await connected(c);
  await c.publish('sdk over tls', { ack: true });
  await b.waitFor(isPub('sdk over tls'));
  // plain TCP to the TLS port gets nowhere
  const plain = await LineMember.open({ tcp: (s.tcp as { tcp: number }).tcp });
  plain.send({ type: 'hello', room: r });
  await plain.waitEnd(5000);
  assert.equal(plain.messages.filter((x) => x.type === 'connect').length, 0);
});

test('drain: a TCP member is told closed restart, gets a 1012 close line; new hellos get shutting_down meanwhile', async (t) => {
  const s = await lineServer(t, ['--drain-timeout', '3']);
  const r = room('drain');
  const asker = await join(s, s.tcp, r);
  const answerer = await s.pool.ws(r);
  const idle = await join(s, s.tcp, r);
  // a request in flight keeps both its ends through the drain
  asker.send({ type: 'request', id: 'held', to: answerer.cid, data: 1 });
  const req = await answerer.waitFor((x) => x.type === 'request');
  s.srv.proc.kill('SIGTERM');
  await idle.waitEnd(5000);
  assert.ok(idle.messages.some((x) => x.type === 'closed' && x.reason === 'restart' && typeof x.retryMs === 'number'), idle.describe());
  assert.deepEqual(idle.closeLine, { type: 'close', code: 1012, reason: 'restart' });
  const late = await refused(s.tcp, { type: 'hello', room: r });
  assert.equal(late.code, 'shutting_down');
  answerer.send({ type: 'reply', id: req.id, data: 2 });
  assert.equal((await asker.waitFor((x) => x.type === 'reply')).data, 2);
  await asker.waitEnd(5000);
  assert.equal(asker.closeLine?.code, 1012);
});

// ---------------------------------------------------------------------------------------------
// The SDK

/** A TCP proxy in front of `port` whose connections the test can cut (a network drop). */
async function cuttableProxy(t: TestContext, port: number): Promise<{ port: number; cut(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(client); sockets.add(upstream);
    client.pipe(upstream); upstream.pipe(client);
    const gone = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    client.on('error', gone); upstream.on('error', gone); client.on('close', gone); upstream.on('close', gone);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => { for (const s of sockets) s.destroy(); server.close(); });
  return { port: (server.address() as net.AddressInfo).port, cut: () => { for (const s of sockets) s.destroy(); } };
}

function sdk(t: TestContext, url: string, opts: ConnectOptions = {}): Room {
  const room = connect(url, { backoff: { initial: 50, max: 200 }, ...opts });
  t.after(() => room.close());
  return room;
}

const connected = (r: Room) => new Promise<Msg>((resolve) => r.once('connect', (e) => resolve(e as unknown as Msg)));

test('SDK: connect over tcp:// and ipc:// with a WebSocket member: publish, request/reply, serve', async (t) => {
  const s = await lineServer(t, [], true);
  const r = room('sdk');
  const tcpUrl = `tcp://127.0.0.1:${(s.tcp as { tcp: number }).tcp}${r}`;
  const ipcUrl = `ipc://${s.ipcPath}?room=${encodeURIComponent(r)}`;
  const a = sdk(t, tcpUrl);
  const b = sdk(t, ipcUrl);
  const [ca, cb] = await Promise.all([connected(a), connected(b)]);
  assert.equal(ca.room, r);
  assert.equal(cb.room, r);
  const w = await s.pool.ws(r);
  const got: unknown[] = [];
  b.on('message', (m) => got.push(m.data));
  await a.publish({ hi: 'from tcp' }, { ack: true });
  await w.waitFor(isPub({ hi: 'from tcp' }));
  b.serve((x: number) => x * 2);
  // a WebSocket member asks the IPC member (found by serve's round-robin)
  await b.presence();
  w.send({ type: 'request', id: 'r1', data: 21 });
  assert.equal((await w.waitFor((x) => x.type === 'reply' && x.id === 'r1', 3000)).data, 42);
  assert.equal(await a.request(5, { to: b.cid! }), 10);
  assert.deepEqual(got, [{ hi: 'from tcp' }]);
});

test('SDK over tcp://: a dropped connection reconnects, resumes the same member and replays what it missed', async (t) => {
  const s = await lineServer(t, ['--resume-grace', '5']);
  const proxy = await cuttableProxy(t, (s.tcp as { tcp: number }).tcp);
  const r = room('resume');
  const a = sdk(t, `tcp://127.0.0.1:${proxy.port}${r}`);
  const first = await connected(a);
  const w = await s.pool.ws(r);
  const got: unknown[] = [];
  a.on('message', (m) => got.push(m.data));
  w.send({ type: 'publish', data: 'before' });
  await new Promise<void>((resolve) => { const check = () => { if (got.includes('before')) resolve(); else setTimeout(check, 10); }; check(); });
  const again = connected(a);
  proxy.cut();
  // published while the member is away: replayed on resume
  w.send({ type: 'publish', data: 'while away' });
  const back = await again;
  assert.equal(back.resumed, true, short(back));
  assert.equal(back.cid, first.cid);
  await new Promise<void>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`no replay: ${JSON.stringify(got)}`)), 3000);
    const check = () => { if (got.includes('while away')) { clearTimeout(deadline); resolve(); } else setTimeout(check, 10); };
    check();
  });
  assert.deepEqual(got, ['before', 'while away']);
  // writes buffered while down go out after the reconnect
  await a.publish('after', { ack: true });
  await w.waitFor(isPub('after'));
  await w.expectNone((x) => x.type === 'leave', 0);
});

test('SDK: a refused hello (bad path) closes the room for good with its code', async (t) => {
  const s = await lineServer(t);
  const a = sdk(t, `tcp://127.0.0.1:${(s.tcp as { tcp: number }).tcp}/_/stats`);
  const closed = await new Promise<Msg>((resolve) => a.once('closed', (e) => resolve(e as unknown as Msg)));
  assert.equal(closed.code, 'not_found', short(closed));
});
