// The HTTP side of the doors (issue 10 §3, §5, §6): one error body with the table's status on
// every path, CORS on the refusals a page must read, a native POST without its token, unknown
// multisocket.* subprotocols, GET /_/door (the WebSocket door's answer, for browsers that cannot
// read a refused upgrade) and the SDK bundle at /_/client.js.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import { SignJWT } from 'jose';
import { lines, ROOT, startServer, type RunningServer } from './helpers/server.ts';
import { awaitUpgrade, uid } from './helpers/gun-wire.ts';
import { rawRequest, upgradeRequest } from './helpers/raw-http.ts';
import { WsMember, type Msg } from './helpers/native.ts';
import { ERRORS, statusOf, type KnownErrorCode } from '../src/protocol/errors.ts';

const SECRET = 'http-doors-test-secret-0123456789-abcdef';
const APP = 'https://app.example.com';

function token(claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
}

interface Answer { status: number; headers: Headers; text: string; body: Msg }

async function request(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  let body: Msg = {};
  try { body = JSON.parse(text) as Msg; } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, body };
}

/** The one error body: `{"err": m, "error": {"code", "message": m}}`, at the code's status from the table. */
function assertErrorBody(what: string, status: number, text: string, code: KnownErrorCode, statusOverride?: number): void {
  let body: Msg;
  try { body = JSON.parse(text) as Msg; } catch { return assert.fail(`${what}: body is not JSON: ${text}`); }
  assert.equal(status, statusOverride ?? statusOf(code), `${what}: status (table: ${statusOf(code)}) → ${status} ${text}`);
  assert.equal(body.error?.code, code, `${what}: error.code → ${text}`);
  assert.equal(typeof body.error?.message, 'string', `${what}: error.message → ${text}`);
  assert.ok(body.error.message.length > 0, `${what}: an empty message → ${text}`);
  assert.equal(body.err, body.error.message, `${what}: "err" (GUN's text) is the message → ${text}`);
}

/** Status and body of a raw upgrade request (the body follows the blank line). */
async function rawUpgrade(port: number, target: string, protocol?: string, extra = ''): Promise<{ status: number; text: string }> {
  const req = upgradeRequest(target, protocol).replace(/\r\n\r\n$/, `\r\n${extra}\r\n`);
  const a = await rawRequest(port, req, 2000);
  return { status: a.status, text: a.text.slice(a.text.indexOf('\r\n\r\n') + 4) };
}

let addresses = 0;
/** A native WebSocket member of the guarded server, from its own client address (X-Forwarded-For
 *  behind --trust-proxy), so the rooms it creates do not spend another's --new-rooms-per-ip. */
async function join(room: string, opts: { query?: string; from?: string } = {}): Promise<WsMember> {
  const from = opts.from ?? `10.200.${Math.floor(++addresses / 250)}.${addresses % 250}`;
  const ws = new WebSocket(`${guarded.ws}${room}${opts.query ? `?${opts.query}` : ''}`, 'multisocket.v1', { headers: { 'X-Forwarded-For': from }, perMessageDeflate: false });
  const m = new WsMember(ws, `ws ${room} from ${from}`);
  m.hello = await m.waitFor((x) => x.type === 'connect', 3000, `connect to ${room}`);
  return m;
}

let open: RunningServer;
let guarded: RunningServer;
before(async () => {
  [open, guarded] = await Promise.all([
    startServer({ args: ['--max-peers-per-room', '2'] }),
    startServer({
      args: ['--public-rooms', '/lobby/**', '--allowed-origins', APP, '--max-peers-per-room', '2', '--new-rooms-per-ip', '2', '--trust-proxy', '1'],
      env: { MULTISOCKET_JWT_SECRET: SECRET },
    }),
  ]);
});
after(async () => { await Promise.all([open?.stop(), guarded?.stop()]); });

test('every HTTP error answer is errorBody(code, message) at the status of the error table', async () => {
  const room = '/' + uid('shape');
  const http = open.http;
  const cases: Array<[string, Promise<Answer>, KnownErrorCode, number?]> = [
    ['GET /_/nope', request(`${http}/_/nope`), 'not_found'],
    ['POST /_/health', request(`${http}/_/health`, { method: 'POST' }), 'method_not_allowed'],
    ['GET a bad path', request(`${http}/a%2Fb`), 'bad_path'],
    ['DELETE a room', request(http + room, { method: 'DELETE' }), 'method_not_allowed'],
    ['GET ?jsonp=<bad>', request(`${http}${room}/k?jsonp=1x`), 'bad_callback'],
    ['POST not JSON', request(http + room, { method: 'POST', body: 'nope' }), 'bad_json'],
    ['POST a GUN put that is not a graph', request(http + room, { method: 'POST', body: '{"soul":5}' }), 'bad_message'],
    ['GET a room path', request(http + room), 'not_found'],
    ['POST with an unknown connection token', request(http + room, { method: 'POST', body: '{"token":"nope","type":"publish","data":1}' }), 'bad_token'],
    ['SSE on /_/x', request(`${http}/_/x`, { headers: { Accept: 'text/event-stream' } }), 'not_found'],
    ['GET /_/stats without a token', request(`${guarded.http}/_/stats`), 'token_required'],
    ['GUN GET without a token', request(`${guarded.http}/team/k`), 'token_required'],
    ['SSE without a token', request(`${guarded.http}/team`, { headers: { Accept: 'text/event-stream' } }), 'token_required'],
    ['GET from a forbidden origin', request(`${guarded.http}/lobby/k`, { headers: { Origin: 'https://evil.example' } }), 'origin_forbidden'],
    ['GET ?$=<not JSON>&jsonp=cb (JSONP answers 200)', request(`${http}${room}/k?jsonp=cb&$=nope`), 'bad_json', 200],
  ];
  for (const [what, answer, code, status] of cases) {
    const a = await answer;
    if (status === 200) {
      const m = /^\/\*\*\/cb\((.*)\);$/s.exec(a.text);
      assert.ok(m, `${what}: not a JSONP script: ${a.text}`);
      const wrapped = JSON.parse(m[1]) as Msg;
      assert.equal(wrapped.headers.status, statusOf(code), `${what}: the status inside the JSONP body`);
      assertErrorBody(what, statusOf(code), JSON.stringify(wrapped.body), code);
      assert.equal(a.status, 200);
      continue;
    }
    assertErrorBody(what, a.status, a.text, code);
  }

  // Refused upgrades, written by refuseUpgrade before any WebSocket exists.
  const upgrades: Array<[string, Promise<{ status: number; text: string }>, KnownErrorCode]> = [
    ['upgrade /_/x', rawUpgrade(open.port, '/_/x'), 'not_found'],
    ['upgrade /_/new without the native subprotocol', rawUpgrade(open.port, '/_/new'), 'bad_request'],
    ['upgrade a bad path', rawUpgrade(open.port, '/a/%2e%2e'), 'bad_path'],
    ['upgrade without a token', rawUpgrade(guarded.port, '/team'), 'token_required'],
    ['upgrade from a forbidden origin', rawUpgrade(guarded.port, '/lobby/x', undefined, 'Origin: https://evil.example\r\n'), 'origin_forbidden'],
    ['upgrade with multisocket.v0', rawUpgrade(open.port, room, 'multisocket.v0'), 'unsupported_subprotocol'],
  ];
  for (const [what, answer, code] of upgrades) {
    const a = await answer;
    assertErrorBody(what, a.status, a.text, code);
  }

  // A full room: over WebSocket (refuseUpgrade), SSE (openEventStream) and /_/door alike.
  const full = '/' + uid('full');
  const first = await WsMember.connect(open.ws, full);
  const second = await WsMember.connect(open.ws, full);
  try {
    const ws = await rawUpgrade(open.port, full, 'multisocket.v1');
    assertErrorBody('upgrade to a full room', ws.status, ws.text, 'room_full');
    const sse = await request(open.http + full, { headers: { Accept: 'text/event-stream' } });
    assertErrorBody('SSE to a full room', sse.status, sse.text, 'room_full');
  } finally {
    await Promise.all([first.close(), second.close()]);
  }
});

test('a native message POSTed without its connection token gets 401 bad_token, not a GUN error; GUN puts still work', async () => {
  const room = '/' + uid('notoken');
  for (const body of [{ type: 'publish', data: 1 }, { type: 'presence' }, { type: 'bogus' }]) {
    const a = await request(open.http + room, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assertErrorBody(`POST ${JSON.stringify(body)}`, a.status, a.text, 'bad_token');
    assert.match(a.body.error.message, /native messages POSTed to a room carry their connection's token/);
  }
  const put = await request(open.http + room, { method: 'POST', body: JSON.stringify({ s1: { _: { '#': 's1', '>': { type: 1 } }, type: 'a string field of a node' } }) });
  assert.equal(put.status, 200, `a GUN put (a soul maps to a node): ${put.text}`);
  assert.equal(JSON.parse((await request(`${open.http}${room}?%23=s1`)).text).type, 'a string field of a node');
  // A bare node (not wrapped in a graph) may have a string field "type": its "_" says it is a node.
  const bare = await request(open.http + room, { method: 'PUT', body: JSON.stringify({ _: { '#': 's2', '>': { type: 1 } }, type: 'text/plain' }) });
  assert.equal(bare.status, 200, `a bare node with a "type" field: ${bare.text}`);
});

test('WebSocket subprotocols: an unknown multisocket.* is refused with 400 naming multisocket.v1; one offering v1 among others is native', async () => {
  const room = '/' + uid('sub');
  for (const offered of [['multisocket.v2'], ['multisocket.v0', 'multisocket.next']]) {
    const r = await awaitUpgrade(new WebSocket(open.ws + room, offered, { perMessageDeflate: false }));
    assert.equal(r.kind, 'rejected', `offering ${offered}: ${r.kind}`);
    if (r.kind !== 'rejected') continue;
    assertErrorBody(`offering ${offered}`, r.statusCode, r.body, 'unsupported_subprotocol');
    assert.match(r.body, /multisocket\.v1/, 'the refusal names the supported subprotocol');
  }
  const member = await WsMember.connect(open.ws, room, { protocols: ['multisocket.v2', 'multisocket.v1', 'other'] });
  try {
    assert.equal(member.ws.protocol, 'multisocket.v1');
    assert.equal(member.hello.type, 'connect');
  } finally {
    await member.close();
  }
  // No multisocket.* offered: a GUN peer as before.
  const gun = await awaitUpgrade(new WebSocket(open.ws + room, { perMessageDeflate: false }));
  assert.equal(gun.kind, 'open');
  if (gun.kind === 'open') gun.ws.terminate();
});

test('CORS on refusals: an allowed origin can read 400, 401, 403, 404, 405, 410, 429 and 503 answers; a forbidden origin cannot', async () => {
  const g = guarded.http;
  const headers = (more: Record<string, string> = {}) => ({ Origin: APP, ...more });
  const admin = await token({ perms: ['admin'] });
  const team = await token({ rooms: ['/team/**'] });
  const owner = await join('/_/new', { query: `token=${admin}` });
  const closedRoom = owner.hello.room as string;
  owner.send({ type: 'leave' }); // at once, not after the resume grace: the owned room closes now
  await owner.waitClosed();
  const full = '/lobby/' + uid('full');
  const inFull = [await join(full), await join(full)];
  // Two rooms made by 10.9.9.9 spend its --new-rooms-per-ip budget.
  const spender = { 'X-Forwarded-For': '10.9.9.9', Authorization: `Bearer ${admin}` };
  for (const r of ['/' + uid('spend'), '/' + uid('spend')]) {
    const w = await request(g + r, { method: 'POST', headers: spender, body: JSON.stringify({ s: { _: { '#': 's', '>': { a: 1 } }, a: 1 } }) });
    assert.equal(w.status, 200, w.text);
  }
  try {
    const cases: Array<[string, string, RequestInit, KnownErrorCode]> = [
      ['bad path', `${g}/a%2Fb`, {}, 'bad_path'],
      ['no endpoint', `${g}/_/nope`, {}, 'not_found'],
      ['/_/ method', `${g}/_/health`, { method: 'POST' }, 'method_not_allowed'],
      ['/_/stats without a token', `${g}/_/stats`, {}, 'token_required'],
      ['/_/stats without admin', `${g}/_/stats`, { headers: { Authorization: `Bearer ${team}` } }, 'forbidden'],
      ['GUN GET without a token', `${g}/team/k`, {}, 'token_required'],
      ['GUN GET of another room', `${g}/other/k`, { headers: { Authorization: `Bearer ${team}` } }, 'forbidden'],
      ['SSE without a token', `${g}/team`, { headers: { Accept: 'text/event-stream' } }, 'token_required'],
      ['SSE of a closed owned room', g + closedRoom, { headers: { Accept: 'text/event-stream', Authorization: `Bearer ${admin}` } }, 'room_closed'],
      ['GUN GET of a closed owned room', `${g}${closedRoom}/k`, { headers: { Authorization: `Bearer ${admin}` } }, 'room_closed'],
      ['SSE of a full room', g + full, { headers: { Accept: 'text/event-stream' } }, 'room_full'],
      ['GUN put over the creation budget', g + '/' + uid('spend'), { method: 'POST', headers: spender, body: JSON.stringify({ s: { _: { '#': 's', '>': { a: 1 } }, a: 1 } }) }, 'room_create_rate_limited'],
      ['native POST without a token', `${g}/lobby/x`, { method: 'POST', body: '{"type":"publish"}' }, 'bad_token'],
    ];
    for (const [what, url, init, code] of cases) {
      const a = await request(url, { ...init, headers: headers(init.headers as Record<string, string>) });
      assertErrorBody(what, a.status, a.text, code);
      assert.equal(a.headers.get('access-control-allow-origin'), APP, `${what}: a page of ${APP} must be able to read this ${a.status}`);
    }
    const evil = await request(`${g}/a%2Fb`, { headers: { Origin: 'https://evil.example' } });
    assert.equal(evil.status, 400);
    const evil2 = await request(`${g}/lobby/k`, { headers: { Origin: 'https://evil.example' } });
    assertErrorBody('forbidden origin', evil2.status, evil2.text, 'origin_forbidden');
    for (const a of [evil, evil2]) assert.equal(a.headers.get('access-control-allow-origin'), null, 'no CORS for a forbidden origin');
  } finally {
    await Promise.all(inFull.map((m) => m.close()));
  }
});

test('GET /_/door answers 204 when the WebSocket door would admit, else its refusal (with CORS), and counts or creates nothing', async () => {
  const g = guarded.http;
  const team = await token({ rooms: ['/team/**'] });
  const admin = await token({ perms: ['admin'] });
  const door = (room: string, init: { token?: string; bearer?: string; from?: string; origin?: string } = {}) => request(
    `${g}/_/door?room=${encodeURIComponent(room)}${init.token ? `&token=${init.token}` : ''}`,
    { headers: { Origin: init.origin ?? APP, 'X-Forwarded-For': init.from ?? '10.1.1.1', ...(init.bearer ? { Authorization: `Bearer ${init.bearer}` } : {}) } },
  );
  const admitted = async (what: string, a: Promise<Answer>) => {
    const r = await a;
    assert.equal(r.status, 204, `${what}: ${r.status} ${r.text}`);
    assert.equal(r.headers.get('access-control-allow-origin'), APP, `${what}: CORS`);
  };
  const refused = async (what: string, a: Promise<Answer>, code: KnownErrorCode) => {
    const r = await a;
    assertErrorBody(what, r.status, r.text, code);
    assert.equal(r.headers.get('access-control-allow-origin'), APP, `${what}: CORS`);
  };
  const roomsBefore = ((await request(`${g}/_/health`)).body).rooms as number;

  await admitted('a public room, no token', door('/lobby/' + uid('d')));
  await admitted('?token=', door('/team/a', { token: team }));
  await admitted('Authorization: Bearer', door('/team/a', { bearer: team }));
  await admitted('/_/new', door('/_/new', { bearer: admin }));
  await refused('no token', door('/team/a'), 'token_required');
  await refused('a garbage token', door('/team/a', { token: 'x.y.z' }), 'token_invalid');
  await refused('a token for other rooms', door('/other', { bearer: team }), 'forbidden');
  await refused('a bad path', door('/a/%2e%2e'), 'bad_path');
  await refused('a bad path', door('/a%2Fb'), 'bad_path');
  await refused('an endpoint', door('/_/stats'), 'not_found');
  await refused('no room', request(`${g}/_/door`, { headers: { Origin: APP } }), 'bad_request');
  const evil = await door('/lobby/x', { origin: 'https://evil.example' });
  assertErrorBody('a forbidden origin', evil.status, evil.text, 'origin_forbidden');
  assert.equal(evil.headers.get('access-control-allow-origin'), null);

  // A page's fetch with Authorization is preflighted.
  const pre = await fetch(`${g}/_/door?room=/team/a`, { method: 'OPTIONS', headers: { Origin: APP, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), APP);
  assert.match(pre.headers.get('access-control-allow-headers') ?? '', /authorization/i);

  // Nothing was created or counted by the checks above.
  const health = (await request(`${g}/_/health`)).body;
  assert.equal(health.rooms, roomsBefore, 'the door creates no room');

  // A full room; a closed owned room.
  const full = '/lobby/' + uid('full');
  const inFull = [await join(full), await join(full)];
  await refused('a full room', door(full), 'room_full');
  await Promise.all(inFull.map((m) => m.close()));
  const owner = await join('/_/new', { query: `token=${admin}` });
  const owned = owner.hello.room as string;
  await admitted('an open owned room', door(owned, { bearer: admin }));
  owner.send({ type: 'leave' }); // at once, not after the resume grace: the owned room closes now
  await owner.waitClosed();
  await refused('a closed owned room', door(owned, { bearer: admin }), 'room_closed');

  // The per-address creation budget (--new-rooms-per-ip 2) is looked at, not spent.
  const from = '10.2.2.2';
  for (let i = 0; i < 5; i++) await admitted(`check ${i} of a new room`, door('/lobby/' + uid('b'), { from }));
  const made: WsMember[] = [];
  try {
    // Both rooms of the budget still open: the door spent none of it.
    for (let i = 0; i < 2; i++) made.push(await join('/lobby/' + uid('b'), { from }));
    await refused('over the creation budget', door('/lobby/' + uid('b'), { from }), 'room_create_rate_limited');
    await admitted('an existing room over the budget', door(made[0].hello.room as string, { from }));
  } finally {
    await Promise.all(made.map((m) => m.close()));
  }
});

test('GET /_/door: --max-connections and --max-rooms are checked, as the WebSocket door does', async (t) => {
  const server = await startServer({ args: ['--max-connections', '2', '--max-rooms', '1'] });
  t.after(() => server.stop());
  const a = await WsMember.connect(server.ws, '/a');
  t.after(() => a.close());
  assert.equal((await request(`${server.http}/_/door?room=/a`)).status, 204);
  const other = await request(`${server.http}/_/door?room=/b`);
  assertErrorBody('a new room at --max-rooms', other.status, other.text, 'too_many_rooms');
  const b = await WsMember.connect(server.ws, '/a');
  t.after(() => b.close());
  const busy = await request(`${server.http}/_/door?room=/a`);
  assertErrorBody('at --max-connections', busy.status, busy.text, 'too_many_connections');
});

test('GET /_/client.js: the SDK as one ES module with its source map, CORS, no-cache + ETag, and it connects from Node', async () => {
  const js = await fetch(`${open.http}/_/client.js`, { headers: { Origin: 'https://page.example' } });
  assert.equal(js.status, 200);
  assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(js.headers.get('access-control-allow-origin'), '*');
  assert.equal(js.headers.get('cache-control'), 'no-cache');
  const etag = js.headers.get('etag');
  assert.match(etag ?? '', /^"[\w-]+"$/);
  const code = await js.text();
  assert.match(code, /\bexport\s*\{[^}]*\bconnect\b/, 'an ES module exporting connect');
  assert.doesNotMatch(code, /^\s*import\s.*from\s*["'](ws|eventsource)["']/m, 'ws and eventsource only as dynamic imports');
  assert.match(code, /\n\/\/# sourceMappingURL=client\.js\.map\n$/, 'the map is found next to /_/client.js');
  const again = await fetch(`${open.http}/_/client.js`, { headers: { 'If-None-Match': etag! } });
  assert.equal(again.status, 304);
  assert.equal(again.headers.get('etag'), etag);

  const map = await fetch(`${open.http}/_/client.js.map`);
  assert.equal(map.status, 200);
  const parsed = (await map.json()) as { version: number; sources: string[]; sourcesContent: string[] };
  assert.equal(parsed.version, 3);
  assert.ok(parsed.sources.some((s) => s.endsWith('src/client/index.ts')), `sources: ${parsed.sources.join(', ')}`);
  assert.equal(parsed.sources.length, parsed.sourcesContent.length);

  // The served module itself, imported as a page would (from inside the repository, so Node
  // resolves its dynamic import of `ws`), joins a room and hears a message.
  const dir = path.join(ROOT, '.tmp', `client-bundle-${process.pid}`);
  await mkdir(dir, { recursive: true });
  try {
    const file = path.join(dir, 'client.mjs');
    await (await import('node:fs/promises')).writeFile(file, code);
    const sdk = (await import(pathToFileURL(file).href)) as typeof import('../src/client/index.ts');
    assert.equal(typeof sdk.connect, 'function');
    const room = '/' + uid('bundle');
    const peer = await WsMember.connect(open.ws, room);
    const client = sdk.connect(open.ws + room);
    try {
      const heard = new Promise<unknown>((resolve) => client.on('message', (m: { data: unknown }) => resolve(m.data)));
      await peer.waitFor((m) => m.type === 'join', 5000, 'the bundled SDK to join');
      peer.send({ type: 'publish', data: 'from a raw member' });
      assert.equal(await heard, 'from a raw member');
    } finally {
      client.close();
      await peer.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('GET /_/client.js without a built bundle (tsc only): 404 not_found saying how to build it', async (t) => {
  // A copy of dist/ without the bundle, inside the repository so it resolves node_modules.
  const dir = path.join(ROOT, '.tmp', `no-bundle-${process.pid}`);
  await rm(dir, { recursive: true, force: true });
  await cp(path.join(ROOT, 'dist'), path.join(dir, 'dist'), { recursive: true, filter: (src) => !path.basename(src).startsWith('client.bundle.js') });
  t.after(() => rm(dir, { recursive: true, force: true }));
  const proc = spawn(process.execPath, [path.join(dir, 'dist/cli.js'), '--host', '127.0.0.1', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => { proc.kill('SIGKILL'); });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the copied server did not start')), 10_000);
    lines(proc.stdout!, (line) => {
      try {
        const rec = JSON.parse(line) as Msg;
        if (rec.msg === 'listening') { clearTimeout(timer); resolve(rec.port as number); }
      } catch { /* not JSON */ }
    });
    proc.once('exit', (c) => { clearTimeout(timer); reject(new Error(`exited with ${c}`)); });
  });
  for (const p of ['/_/client.js', '/_/client.js.map']) {
    const a = await request(`http://127.0.0.1:${port}${p}`);
    assertErrorBody(p, a.status, a.text, 'not_found');
    assert.match(a.body.error.message, /npm run build/);
  }
});

test('the error table: every code has a meaning, and a status when it can be an HTTP answer', () => {
  for (const [code, spec] of Object.entries(ERRORS) as Array<[string, { scope: readonly string[]; status?: number; meaning: string }]>) {
    assert.ok(spec.meaning.length > 0, code);
    if (spec.scope.includes('door') || spec.scope.includes('message')) assert.equal(typeof spec.status, 'number', `${code} can be an HTTP answer: it needs a status`);
  }
});
