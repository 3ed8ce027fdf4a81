// The embedding API (docs/embedding.md, issue 13 §1): createServer(options) checked by the CLI's
// own rules, listen/close, and attach(httpServer, { prefix }) into a host server whose own routes
// and upgrades keep working — with every kind of member reaching the rooms under the prefix: a
// native WebSocket, an SSE member, GUN peers (child processes), the SDK. The Express and Fastify
// examples run as child processes. The relay runs in this test process (the library in use).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { createServer, ConfigError, parseConfig, type MultisocketServer, type ServerOptions } from '../src/index.ts';
import { FLAGS, type Config } from '../src/config.ts';
import { CLI_ONLY, OPTION_FLAGS } from '../src/embed/server-options.ts';
import { normalizePrefix, stripPrefix } from '../src/server/mount.ts';
import { doorUrls } from '../src/client/door.ts';
import { connect } from '../src/client/index.ts';
import { SseMember, WsMember, httpStatus, uid } from './helpers/native.ts';
import { next } from './helpers/client.ts';
import { Session, isAck, isOnce } from './helpers/gun-clients.ts';
import { ROOT, lines, listeningPort } from './helpers/server.ts';
import { CLUSTER_KEY, startEngine, startNode } from './helpers/cluster.ts';
import { SUBPROTOCOL } from '../src/protocol/subprotocol.ts';
import { launch } from './helpers/browser.ts';
import { LineMember } from './helpers/line.ts';
import os from 'node:os';
import { mkdtempSync, statSync } from 'node:fs';
import { DOC, withTable } from '../scripts/options-table.ts';

const SECRET = 'embedding-test-secret-0123456789abcdef';

// ---- options ----------------------------------------------------------------------------------

/** The CLI's message for the same setting, with the flag's name where the option's would be. */
function cliMessage(argv: string[]): string {
  try {
    parseConfig(argv, {});
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message;
  }
  assert.fail(`the CLI took ${argv.join(' ')}`);
}

function optionMessage(options: unknown): string {
  try {
    createServer(options as ServerOptions);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail(`createServer took ${JSON.stringify(options)}`);
}

test('createServer refuses a bad option with the CLI\'s one-line message, naming the option', () => {
  const cases: Array<[ServerOptions, string[], Record<string, string>]> = [
    [{ roomTtl: -1 }, ['--room-ttl=-1'], { '--room-ttl': 'roomTtl' }],
    [{ maxRooms: 0 }, ['--max-rooms', '0'], { '--max-rooms': 'maxRooms' }],
    [{ maxPeersPerRoom: 1.5 }, ['--max-peers-per-room', '1.5'], { '--max-peers-per-room': 'maxPeersPerRoom' }],
    [{ port: 70000 }, ['--port', '70000'], { '--port': 'port' }],
    [{ allowedOrigins: ['example.com'] }, ['--allowed-origins', 'example.com'], { '--allowed-origins': 'allowedOrigins' }],
    [{ jwtSecret: 'short' }, ['--jwt-secret', 'short'], { '--jwt-secret': 'jwtSecret' }],
    [{ publicRooms: ['/lobby'] }, ['--public-rooms', '/lobby'], { '--public-rooms': 'publicRooms', '--jwt-secret': 'jwtSecret', '--jwt-public-key': 'jwtPublicKey' }],
    [{ jwtIssuer: 'me' }, ['--jwt-issuer', 'me'], { '--jwt-issuer': 'jwtIssuer', '--jwt-audience': 'jwtAudience', '--jwt-secret': 'jwtSecret', '--jwt-public-key': 'jwtPublicKey' }],
    [{ adminToken: 'too-short' }, ['--admin-token', 'too-short'], { '--admin-token': 'adminToken' }],
    [{ broker: 'ftp://x' }, ['--broker', 'ftp://x'], { '--broker': 'broker' }],
    [{ clusterKey: 'k'.repeat(20) }, ['--cluster-key', 'k'.repeat(20)], { '--cluster-key': 'clusterKey', '--broker': 'broker' }],
    [{ trustProxy: 100 }, ['--trust-proxy', '100'], { '--trust-proxy': 'trustProxy' }],
    [{ logLevel: 'loud' as never }, ['--log-level', 'loud'], { '--log-level': 'logLevel' }],
    [{ sslKey: '/no/such/key.pem' }, ['--ssl-key', '/no/such/key.pem'], { '--ssl-key': 'sslKey', '--ssl-cert': 'sslCert' }],
    [{ nodeId: 'a b' }, ['--node-id', 'a b'], { '--node-id': 'nodeId' }],
  ];
  for (const [options, argv, names] of cases) {
    let expected = cliMessage(argv);
    for (const [flag, option] of Object.entries(names)) expected = expected.split(flag).join(option);
    const got = optionMessage(options);
    assert.equal(got, expected, JSON.stringify(options));
    assert.ok(!got.includes('\n'), got);
  }
  // What only a JavaScript caller can get wrong: a name or a type.
  assert.equal(optionMessage({ roomTTL: 5 }), 'unknown option "roomTTL"; did you mean "roomTtl"?');
  assert.equal(optionMessage({ 'room-ttl': 5 }), 'unknown option "room-ttl"; did you mean "roomTtl"?');
  assert.equal(optionMessage({ workers: 2 }), 'unknown option "workers"');
  assert.equal(optionMessage({ roomTtl: '60' }), 'roomTtl: expected a number, got "60"');
  assert.equal(optionMessage({ adminLoopback: 'yes' }), 'adminLoopback: expected true or false, got "yes"');
  assert.equal(optionMessage({ allowedOrigins: [1] }), 'allowedOrigins: expected an array of strings, got an array');
});

test('createServer options make the Config the same flags make (seconds where the CLI takes seconds)', () => {
  const strip = (c: Config) => { const { nodeId: _n, ...rest } = c; return rest; };
  const options: ServerOptions = {
    port: 0, host: '127.0.0.1', roomTtl: 1.5, maxRooms: 7, heartbeat: 0, historyTtl: 60, jobAckWait: 2,
    resumeGrace: 0.25, drainTimeout: 3, allowedOrigins: ['https://a.example', 'https://*.b.example'],
    jwtSecret: SECRET, publicRooms: ['/lobby', '/public/**'], trustProxy: true, adminToken: 'a'.repeat(16),
    adminLoopback: true, nodeId: 'embedded-1', coalesceMs: 0,
  };
  const server = createServer(options);
  const cli = parseConfig([
    '--port', '0', '--host', '127.0.0.1', '--room-ttl', '1.5', '--max-rooms', '7', '--heartbeat', '0', '--history-ttl', '60',
    '--job-ack-wait', '2', '--resume-grace', '0.25', '--drain-timeout', '3', '--allowed-origins', 'https://a.example,https://*.b.example',
    '--jwt-secret', SECRET, '--public-rooms', '/lobby,/public/**', '--trust-proxy', 'true', '--admin-token', 'a'.repeat(16),
    '--admin-loopback', '--node-id', 'embedded-1', '--coalesce-ms', '0',
  ], {});
  assert.equal(cli.kind, 'run');
  assert.deepEqual(strip(server.config), strip((cli as { config: Config }).config));
  assert.equal(server.config.roomTtlMs, 1500);
  assert.equal(server.config.resumeGraceMs, 250);
  assert.equal(server.config.trustProxy, 1);
  assert.equal(server.config.nodeId, 'embedded-1');
  // Environment variables are the CLI's: an embedded server does not read them.
  process.env.MULTISOCKET_ROOM_TTL = 'not-seconds';
  try {
    assert.equal(createServer().config.roomTtlMs, 300_000);
  } finally {
    delete process.env.MULTISOCKET_ROOM_TTL;
  }
});

test('every CLI flag is an option or listed as CLI-only, and the docs table is generated from them', () => {
  const covered = new Set<string>([...Object.values(OPTION_FLAGS), ...Object.keys(CLI_ONLY)]);
  assert.deepEqual(FLAGS.filter((f) => !covered.has(f)), [], 'flags with no option and no reason');
  const doc = readFileSync(DOC, 'utf8');
  assert.equal(withTable(doc), doc, 'docs/embedding.md\'s options table is out of date: npm run docs:tables');
  for (const option of Object.keys(OPTION_FLAGS)) assert.ok(doc.includes(`| \`${option}\` |`), option);
});

test('prefixes: normalized, matched on whole segments, the rest handed on from "/"', () => {
  assert.equal(normalizePrefix(undefined), '');
  assert.equal(normalizePrefix('/'), '');
  assert.equal(normalizePrefix('/rt/'), '/rt');
  assert.equal(normalizePrefix('/api/v1/rt'), '/api/v1/rt');
  for (const bad of ['rt', '/a//b', '/a/../b', '/a?x', '/%72t', '/a b']) assert.throws(() => normalizePrefix(bad), TypeError, bad);
  assert.equal(stripPrefix('/rt/chat?x=1', '/rt'), '/chat?x=1');
  assert.equal(stripPrefix('/rt', '/rt'), '/');
  assert.equal(stripPrefix('/rt?token=t', '/rt'), '/?token=t');
  assert.equal(stripPrefix('/rtx/chat', '/rt'), undefined);
  assert.equal(stripPrefix('/other', '/rt'), undefined);
  assert.equal(stripPrefix('/anything', ''), '/anything');
});

test('the SDK finds the door under a mount prefix: every split before a connection, the learned one after', () => {
  const asText = (urls: URL[]) => urls.map((u) => u.pathname + decodeURIComponent(u.search));
  assert.deepEqual(asText(doorUrls(new URL('ws://h:1/chat'))), ['/_/door?room=/chat', '/chat/_/door?room=/']);
  assert.deepEqual(asText(doorUrls(new URL('wss://h/rt/a/b?token=x'))), ['/_/door?room=/rt/a/b', '/rt/_/door?room=/a/b', '/rt/a/_/door?room=/b', '/rt/a/b/_/door?room=/']);
  assert.equal(doorUrls(new URL('wss://h/rt/a/b')).every((u) => u.protocol === 'https:'), true);
  // The server said the room is /a/b: the mount is /rt.
  assert.deepEqual(asText(doorUrls(new URL('ws://h/rt/a/b'), '/a/b')), ['/rt/_/door?room=/a/b']);
  assert.deepEqual(asText(doorUrls(new URL('ws://h/chat'), '/chat')), ['/_/door?room=/chat']);
});

// ---- listen / close ---------------------------------------------------------------------------

test('createServer().listen(0, host) serves rooms on a port of its own; close() drains and frees it', async () => {
  const server = createServer({ drainTimeout: 1, heartbeat: 0 });
  const address = await server.listen(0, '127.0.0.1');
  assert.equal(address.address, '127.0.0.1');
  const base = `127.0.0.1:${address.port}`;
  const health = await httpStatus(`http://${base}/_/health`);
  assert.equal(health.status, 200);
  assert.equal(JSON.parse(health.text).status, 'ok');
  const member = await WsMember.connect(`ws://${base}`, uid('/listen'));
  await server.close();
  const { code } = await member.waitClosed();
  assert.equal(code, 1012, 'a native member is told the server restarts');
  await assert.rejects(fetch(`http://${base}/_/health`), 'the port is closed');
});

// ---- attach -----------------------------------------------------------------------------------

interface Host {
  http: http.Server;
  port: number;
  /** The app's own WebSocket server, made the usual way ({ server, path }) before attach. */
  appWs: WebSocketServer;
  /** Relays attached to it: closed before it (its close() waits for their WebSockets). */
  relays: MultisocketServer[];
}

/** A plain http app with a route of its own and a WebSocket echo of its own at /app-ws. */
async function hostApp(t: { after(fn: () => unknown): void }, withWs = true): Promise<Host> {
  const server = http.createServer((req, res) => {
    if (req.url === '/app') { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('app'); return; }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('app 404');
  });
  const appWs = new WebSocketServer({ server: withWs ? server : undefined, noServer: !withWs, path: '/app-ws' });
  appWs.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo ${String(data)}`)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const host: Host = { http: server, port: (server.address() as net.AddressInfo).port, appWs, relays: [] };
  t.after(async () => {
    await Promise.all(host.relays.map((r) => r.close()));
    await new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); });
  });
  return host;
}

async function appEcho(port: number): Promise<string> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/app-ws`);
  await once(ws, 'open');
  ws.send('hi');
  const [data] = await once(ws, 'message');
  ws.close();
  return String(data);
}

async function attached(host: Host, options: ServerOptions = {}, prefix = '/rt'): Promise<MultisocketServer> {
  const relay = createServer({ drainTimeout: 1, ...options });
  host.relays.push(relay);
  const same = await relay.attach(host.http, { prefix });
  assert.equal(same, relay);
  return relay;
}

test('attach(http, { prefix }): the app keeps its routes and its WebSocket server; rooms, endpoints and the SDK bundle are under the prefix', async (t) => {
  const host = await hostApp(t);
  await attached(host);
  const base = `127.0.0.1:${host.port}`;
  assert.equal((await httpStatus(`http://${base}/app`)).text, 'app');
  assert.equal(await appEcho(host.port), 'echo hi');
  const health = await httpStatus(`http://${base}/rt/_/health`);
  assert.equal(health.status, 200);
  assert.equal(JSON.parse(health.text).status, 'ok');
  const bundle = await fetch(`http://${base}/rt/_/client.js`);
  assert.equal(bundle.status, 200);
  assert.match(await bundle.text(), /sourceMappingURL=client\.js\.map/);
  assert.equal((await fetch(`http://${base}/rt/_/client.js.map`)).status, 200, 'the relative source map resolves under the prefix');
  // Not under the prefix: the app's (a path merely starting with the same letters too).
  assert.equal((await httpStatus(`http://${base}/rtx`)).text, 'app 404');
  assert.equal((await httpStatus(`http://${base}/_/health`)).text, 'app 404');

  // A native WebSocket member and an SSE member meet in /chat, reached at /rt/chat.
  const room = uid('/chat');
  const ws = await WsMember.connect(`ws://${base}/rt`, room);
  const sse = await SseMember.connect(`http://${base}/rt`, room);
  t.after(() => Promise.all([ws.close(), sse.close()]));
  assert.equal(ws.room, room, 'the room is named without the prefix');
  ws.send({ type: 'publish', data: 'from ws' });
  const got = await sse.waitFor((m) => m.type === 'message' && m.data === 'from ws', 3000, 'the publish over SSE');
  assert.equal(got.from, ws.cid);
  const posted = await sse.send({ type: 'publish', data: 'from sse' });
  assert.equal(posted.status, 200, posted.text);
  await ws.waitFor((m) => m.type === 'message' && m.data === 'from sse', 3000, 'the POSTed publish over WebSocket');
  // The app's WebSocket server is still there after ours took its upgrades.
  assert.equal(await appEcho(host.port), 'echo hi');
});

test('attach: the SDK connects to ws://host/prefix/room (WebSocket and SSE), and learns the door under the prefix', async (t) => {
  const host = await hostApp(t);
  await attached(host, { jwtSecret: SECRET, publicRooms: ['/open/**'] });
  const base = `127.0.0.1:${host.port}`;
  const room = uid('/open/sdk');
  const a = connect(`ws://${base}/rt${room}`, { persist: false });
  const b = connect(`http://${base}/rt${room}`, { transport: 'sse', persist: false });
  t.after(() => Promise.all([a.close(), b.close()]));
  const [hello] = await Promise.all([next(a, 'connect'), next(b, 'connect')]);
  assert.equal(a.room, room);
  assert.equal(hello.members.length >= 1, true);
  const heard = next(b, 'message', (m) => m.data === 'hi');
  await a.publish('hi', { ack: true });
  assert.equal((await heard).from, a.cid);

  // A room that needs a token: the handshake is refused with 401, and the SDK's door (found under
  // the prefix, not at the host's root) says why.
  const closed = connect(`ws://${base}/rt${uid('/private')}`, { persist: false, reconnect: false });
  const event = await next(closed, 'closed');
  assert.deepEqual(event, { reason: 'unauthorized', code: 'token_required' });
});

// A page of the host app that loads the SDK from the relay under the prefix and joins by relative URL.
const PAGE = `<!doctype html><meta charset="utf-8"><title>embedded</title>
<script type="module">
  import { connect } from '/rt/_/client.js';
  const plain = (v) => JSON.parse(JSON.stringify(v));
  const events = (window.events = []);
  for (const path of new URLSearchParams(location.search).getAll('room')) {
    const room = connect('/rt' + path, { backoff: { initial: 50, max: 400 }, persist: false });
    for (const name of ['connect', 'closed', 'reconnecting']) room.on(name, (e) => events.push({ path, name, e: plain(e) }));
  }
</script>`;

test('Chromium: a page of the host app loads /rt/_/client.js, joins /rt/<room>, and learns a refusal from the door under the prefix', { timeout: 60_000 }, async (t) => {
  const browser = await launch(t);
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith('/page')) { res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }); res.end(PAGE); return; }
    res.writeHead(404, { 'content-type': 'text/html' });
    res.end('<h1>the app has no such page</h1>');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const host: Host = { http: server, port: (server.address() as net.AddressInfo).port, appWs: new WebSocketServer({ noServer: true }), relays: [] };
  t.after(async () => {
    await Promise.all(host.relays.map((r) => r.close()));
    await new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); });
  });
  await attached(host, { jwtSecret: SECRET, publicRooms: ['/open/**'] });
  const page = await (await browser.newContext()).newPage();
  const open = uid('/open/page');
  const closed = uid('/private');
  await page.goto(`http://127.0.0.1:${host.port}/page?room=${open}&room=${closed}`, { timeout: 10_000 });
  await page.waitForFunction(`window.events && window.events.some((x) => x.name === 'connect') && window.events.some((x) => x.name === 'closed')`, undefined, { timeout: 10_000, polling: 20 });
  const events = await page.evaluate('window.events') as Array<{ path: string; name: string; e: Record<string, unknown> }>;
  assert.equal(events.find((x) => x.name === 'connect')?.path, open);
  // A browser's WebSocket tells nothing of the 401: only the door under /rt can say token_required.
  assert.deepEqual(events.find((x) => x.name === 'closed'), { path: closed, name: 'closed', e: { reason: 'unauthorized', code: 'token_required' } });
});

test('attach: GUN peers (child processes) sync in a room under the prefix', async (t) => {
  const host = await hostApp(t, false);
  await attached(host);
  const s = new Session(t);
  const room = `http://127.0.0.1:${host.port}/rt${uid('/gun')}`;
  const writer = await s.connected('writer', room);
  writer.send({ op: 'put', key: 'jack', value: { name: 'Jack' }, id: 'p1' });
  const ack = await writer.waitFor('put ack', isAck('p1'));
  assert.equal(ack.err, null);
  const reader = await s.connected('reader', room);
  reader.send({ op: 'once', key: 'jack', id: 'r1', wait: 1000 });
  const read = await reader.waitFor('once', isOnce('r1'));
  assert.deepEqual(read.value, { name: 'Jack' });
  // GUN's HTTP paths under the prefix too (docs/gun-legacy.md): GET <prefix>/<room>/<key>.
  const get = await fetch(`${room}/jack`);
  assert.equal(get.status, 200);
  assert.match(await get.text(), /"name":"Jack"/);
});

test('attach: the dashboard under the prefix (its redirects, page links and session cookie name <prefix>/_/)', async (t) => {
  const host = await hostApp(t, false);
  const adminToken = 'embedding-admin-token-0123456789';
  await attached(host, { adminToken });
  const base = `http://127.0.0.1:${host.port}`;
  const login = await fetch(`${base}/rt/_/dashboard?token=${adminToken}`, { redirect: 'manual' });
  assert.equal(login.status, 303);
  assert.equal(login.headers.get('location'), '/rt/_/dashboard');
  const cookie = login.headers.get('set-cookie') ?? '';
  assert.match(cookie, /; Path=\/rt\/_\/;/);
  const session = cookie.split(';')[0]!;
  const page = await fetch(`${base}/rt/_/dashboard`, { headers: { cookie: session } });
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(html, /src="\/rt\/_\/dashboard\/app\.js"/);
  assert.doesNotMatch(html, /="\/_\//, 'no link to the host\'s root');
  assert.equal((await fetch(`${base}/rt/_/dashboard/app.js`)).status, 200);
  const rooms = await fetch(`${base}/rt/_/rooms`, { headers: { cookie: session, 'x-multisocket-dashboard': '1' } });
  assert.equal(rooms.status, 200, await rooms.clone().text());
  const form = await fetch(`${base}/rt/_/dashboard`);
  assert.equal(form.status, 401);
  assert.match(await form.text(), /action="\/rt\/_\/dashboard\/login"/);
  const logout = await fetch(`${base}/rt/_/dashboard/logout`, { redirect: 'manual', headers: { cookie: session } });
  assert.equal(logout.headers.get('location'), '/rt/_/dashboard');
});

test('attach with tcpPort and ipc: TCP and unix-socket members meet the WebSocket members of the prefix', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'embed-ipc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const host = await hostApp(t, false);
  const ipc = path.join(dir, 'relay.sock');
  const relay = await attached(host, { tcpPort: 0, tcpHost: '127.0.0.1', ipc, ipcMode: 0o600 });
  const tcpPort = relay.lineAddresses.tcp?.port;
  assert.ok(tcpPort, 'the TCP listener is open');
  assert.equal(relay.lineAddresses.ipc, ipc);
  assert.equal(statSync(ipc).mode & 0o777, 0o600, 'ipcMode as a number is the mode itself');
  const room = uid('/lines');
  const ws = await WsMember.connect(`ws://127.0.0.1:${host.port}/rt`, room);
  const tcp = await LineMember.join({ tcp: tcpPort }, room);
  const unix = await LineMember.join({ ipc }, room);
  t.after(() => { tcp.socket.destroy(); unix.socket.destroy(); });
  ws.send({ type: 'publish', data: 'to every transport' });
  await Promise.all([tcp, unix].map((m) => m.waitFor((x) => x.type === 'message' && x.data === 'to every transport', 3000, 'the publish')));
  tcp.send({ type: 'publish', data: 'from tcp' });
  await ws.waitFor((m) => m.type === 'message' && m.data === 'from tcp', 3000, 'the TCP publish over WebSocket');
  await ws.close();
});

test('attach with no upgrade listener of the host\'s: upgrades outside the prefix get 404, requests still reach the app', async (t) => {
  const host = await hostApp(t, false);
  await attached(host);
  const ws = new WebSocket(`ws://127.0.0.1:${host.port}/elsewhere`);
  ws.on('error', () => { /* the refused handshake, asserted below */ });
  const [, res] = await once(ws, 'unexpected-response') as [unknown, http.IncomingMessage];
  assert.equal(res.statusCode, 404);
  ws.terminate();
  assert.equal((await httpStatus(`http://127.0.0.1:${host.port}/app`)).text, 'app');
});

test('close() drains the relay\'s members and gives the prefix back; the host server keeps running', async (t) => {
  const host = await hostApp(t);
  const relay = await attached(host);
  const base = `127.0.0.1:${host.port}`;
  const member = await WsMember.connect(`ws://${base}/rt`, uid('/drain'));
  const sse = await SseMember.connect(`http://${base}/rt`, uid('/drain-sse'));
  t.after(() => sse.close());
  await relay.close();
  assert.equal((await member.waitClosed()).code, 1012);
  await sse.waitFor((m) => m.type === 'closed' && m.reason === 'restart', 3000, 'the SSE member told to restart');
  assert.equal(host.http.listening, true, 'the host server is not closed');
  assert.equal((await httpStatus(`http://${base}/app`)).text, 'app');
  assert.equal(await appEcho(host.port), 'echo hi');
  assert.equal((await httpStatus(`http://${base}/rt/_/health`)).text, 'app 404', 'the prefix is the app\'s again');
  await assert.rejects(relay.attach(host.http, { prefix: '/rt' }), /closing/);
});

test('attach to an https server: the rooms are wss:// under the prefix', async (t) => {
  const tls = { key: readFileSync(path.join(ROOT, 'test/fixtures/tls/key.pem')), cert: readFileSync(path.join(ROOT, 'test/fixtures/tls/cert.pem')) };
  const server = https.createServer(tls, (req, res) => res.end('secure app'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const relay = createServer({ drainTimeout: 1, adminToken: 'embedding-admin-token-0123456789' });
  t.after(async () => {
    await relay.close();
    await new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); });
  });
  await relay.attach(server, { prefix: '/secure/rt' });
  const port = (server.address() as net.AddressInfo).port;
  const room = uid('/tls');
  const ws = new WebSocket(`wss://127.0.0.1:${port}/secure/rt${room}`, SUBPROTOCOL, { rejectUnauthorized: false });
  const [frame] = await once(ws, 'message');
  const hello = JSON.parse(String(frame));
  assert.equal(hello.type, 'connect');
  assert.equal(hello.room, room);
  ws.close();
  await once(ws, 'close');
  // The dashboard's session cookie is Secure on the host's TLS too (the relay has no certificate of its own).
  const login = await new Promise<http.IncomingMessage>((resolve, reject) => {
    https.get(`https://127.0.0.1:${port}/secure/rt/_/dashboard?token=embedding-admin-token-0123456789`, { rejectUnauthorized: false }, resolve).on('error', reject);
  });
  login.resume();
  assert.equal(login.statusCode, 303);
  assert.match(String(login.headers['set-cookie']), /; Path=\/secure\/rt\/_\/;.*; Secure$/);
});

test('attach in a cluster: an app\'s embedded node and a CLI node share a room through the broker (Redis)', async (t) => {
  const engine = await startEngine('redis');
  const host = await hostApp(t);
  await attached(host, { broker: engine.url, clusterKey: CLUSTER_KEY, nodeId: `embedded-${process.pid}` });
  const cli = await startNode(engine, `cli-${process.pid}`, { args: ['--drain-timeout', '1'] });
  t.after(() => cli.stop());
  t.after(() => engine.stop()); // after hooks run in order: the relay (hostApp's), the CLI node, then the engine
  const room = uid('/cluster');
  const embedded = await WsMember.connect(`ws://127.0.0.1:${host.port}/rt`, room);
  const standalone = await WsMember.connect(cli.ws, room);
  embedded.send({ type: 'publish', data: 'from the app' });
  await standalone.waitFor((m) => m.type === 'message' && m.data === 'from the app', 5000, 'the publish through the broker');
  standalone.send({ type: 'publish', data: 'from the cli node' });
  await embedded.waitFor((m) => m.type === 'message' && m.data === 'from the cli node', 5000, 'the publish back');
  const nodes = JSON.parse((await httpStatus(`http://127.0.0.1:${host.port}/rt/_/nodes`)).text);
  assert.deepEqual(nodes.nodes.map((n: { id: string }) => n.id).sort(), [`cli-${process.pid}`, `embedded-${process.pid}`].sort());
  // Gone before the nodes drain: a drain waits up to the resume grace for members to resume elsewhere.
  await Promise.all([embedded.close(), standalone.close()]);
});

// ---- the docs ---------------------------------------------------------------------------------

const DOC_TEXT = () => readFileSync(path.join(ROOT, 'docs/embedding.md'), 'utf8');

test('docs/embedding.md: the ConfigErrors it shows are the ones thrown', () => {
  const shown = [...DOC_TEXT().matchAll(/^createServer\((\{.*\})\);\n\/\/ ConfigError: (.*)$/gm)];
  assert.ok(shown.length >= 3);
  for (const [, options, message] of shown) {
    // The options are JavaScript object literals of plain values.
    const value = new Function(`return (${options});`)() as ServerOptions;
    assert.equal(optionMessage(value), message, options);
  }
});

test('docs/embedding.md: its complete programs run (port 0, then stopped)', async (t) => {
  const programs = [...DOC_TEXT().matchAll(/```js\n(import [^]*?)```/g)].map((m) => m[1]!).filter((code) => code.includes('.listen('));
  assert.ok(programs.length >= 4, `${programs.length} programs`);
  for (const [i, code] of programs.entries()) {
    // Inside the package, so `import … from 'multisocket'` is this checkout (its package.json exports).
    const file = path.join(ROOT, `.embedding-doc-${process.pid}-${i}.mjs`);
    const runnable = code.replace(/\b3000\b/g, '0') + "\nconsole.log('DOC-PROGRAM-READY');\n";
    writeFileSync(file, runnable);
    t.after(() => rmSync(file, { force: true }));
    const proc = spawn(process.execPath, [file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); });
    const output: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`program ${i} did not start:\n${code}\n${output.join('\n')}`)), 10_000);
      const onLine = (line: string) => { output.push(line); if (line === 'DOC-PROGRAM-READY') { clearTimeout(timer); resolve(); } };
      lines(proc.stdout!, onLine);
      lines(proc.stderr!, onLine);
      proc.once('exit', (c) => { clearTimeout(timer); reject(new Error(`program ${i} exited with ${c}:\n${code}\n${output.join('\n')}`)); });
    });
    proc.kill('SIGKILL');
    await once(proc, 'exit');
  }
});

// ---- the examples -----------------------------------------------------------------------------

/** Start an example app (PORT=0) and wait for its listening line. */
async function runExample(t: { after(fn: () => unknown): void }, file: string): Promise<{ port: number; proc: ChildProcess; logs: string[] }> {
  const proc = spawn(process.execPath, [path.join(ROOT, 'examples', file)], {
    cwd: ROOT, env: { ...process.env, PORT: '0', HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  t.after(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); });
  const port = await listeningPort(proc, logs, file);
  return { port, proc, logs };
}

async function exerciseExample(t: { after(fn: () => unknown): void }, file: string, greeting: string): Promise<void> {
  const { port, proc, logs } = await runExample(t, file);
  const hello = await fetch(`http://127.0.0.1:${port}/hello`);
  assert.deepEqual(await hello.json(), { hello: greeting });
  assert.equal((await fetch(`http://127.0.0.1:${port}/rt/_/health`)).status, 200);
  const room = uid('/example');
  const a = connect(`ws://127.0.0.1:${port}/rt${room}`, { persist: false });
  const b = connect(`http://127.0.0.1:${port}/rt${room}`, { transport: 'sse', persist: false });
  await Promise.all([next(a, 'connect'), next(b, 'connect')]);
  const heard = next(a, 'message', (m) => m.data === 'ping');
  await b.publish('ping', { ack: true });
  await heard;
  await Promise.all([a.close(), b.close()]);
  proc.kill('SIGTERM');
  const [code] = await once(proc, 'exit');
  assert.equal(code, 0, logs.join('\n'));
  assert.ok(logs.some((l) => l.includes('"drained"')), 'the relay drained on SIGTERM');
}

test('examples/express.mjs: the app\'s route, and rooms at /rt over WebSocket and SSE', async (t) => {
  await exerciseExample(t, 'express.mjs', 'from express');
});

test('examples/fastify.mjs: the app\'s route, and rooms at /rt over WebSocket and SSE', async (t) => {
  await exerciseExample(t, 'fastify.mjs', 'from fastify');
});
