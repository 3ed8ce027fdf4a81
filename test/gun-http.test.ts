// GUN's legacy doors into a room (issue 3 §1 and §2), against the built server (dist/cli.js):
// HTTP GET/POST/PUT on a room's path, JSONP (executed for real in node:vm), CORS and limits, the
// v0.1 WebSocket envelope, and how all of them meet modern GUN peers (raw GUN-wire sockets and a
// real `gun` client in a child process) over one graph per room, never across rooms.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { ROOT, lines, startServer, type RunningServer } from './helpers/server.js';
import { GunPeer, PeerPool, sharedGunServer, node, uid, type Msg } from './helpers/gun-wire.js';

let server: RunningServer;
let pool: PeerPool;

sharedGunServer((s, p) => { server = s; pool = p; });

/** A room name no other test uses ("/h-..."). */
const newRoom = (what = 'room') => '/' + uid(`h-${what}`);

interface Reply {
  status: number;
  headers: Headers;
  type: string;
  text: string;
  json: Msg | null | undefined; // undefined: not JSON
}

async function request(url: string, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000), ...init });
  const text = await res.text();
  let json: Msg | null | undefined;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, type: res.headers.get('content-type') ?? '', text, json };
}

const show = (r: Reply) => `HTTP ${r.status} ${r.type} ${r.text.slice(0, 400)}`;

/** POST (or PUT) a JSON body to `${base}${p}`; asserts nothing. */
function send(base: string, p: string, body: unknown, method: 'POST' | 'PUT' = 'POST'): Promise<Reply> {
  return request(base + p, {
    method,
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** A put that must succeed: 200 `{"ok":1}` as JSON. */
async function putOk(p: string, body: unknown, method: 'POST' | 'PUT' = 'POST'): Promise<void> {
  const r = await send(server.http, p, body, method);
  assert.equal(r.status, 200, `${method} ${p}: ${show(r)}`);
  assert.match(r.type, /^application\/json/, show(r));
  assert.deepEqual(r.json, { ok: 1 }, `${method} ${p}: ${show(r)}`);
}

/** GET that must answer 200 JSON; returns the parsed body (a node, a graph or null). */
async function read(p: string, base = server.http): Promise<Msg | null> {
  const r = await request(base + p);
  assert.equal(r.status, 200, `GET ${p}: ${show(r)}`);
  assert.match(r.type, /^application\/json/, `GET ${p}: ${show(r)}`);
  assert.notEqual(r.json, undefined, `GET ${p} is not JSON: ${show(r)}`);
  return r.json as Msg | null;
}

/** Run a JSONP script as a browser would (in a fresh vm context) and return what the callback got. */
function runJsonp(script: string, callback: string): unknown[] {
  const calls: unknown[] = [];
  const sandbox: Record<string, unknown> = {};
  const parts = callback.split('.');
  let at = sandbox;
  for (const part of parts.slice(0, -1)) at = (at[part] = {}) as Record<string, unknown>;
  at[parts[parts.length - 1]] = (arg: unknown) => { calls.push(JSON.parse(JSON.stringify(arg))); };
  vm.runInContext(script, vm.createContext(sandbox), { timeout: 1000 });
  return calls;
}

/** GET a JSONP URL, check it is a script, execute it and return the single callback argument. */
async function jsonp(p: string, callback: string, base = server.http): Promise<{ headers: Msg; body: unknown }> {
  const r = await request(base + p);
  assert.equal(r.status, 200, `JSONP ${p}: ${show(r)}`);
  assert.match(r.type, /^text\/javascript/, `JSONP ${p}: ${show(r)}`);
  assert.ok(r.text.includes(callback + '('), `JSONP ${p} does not call ${callback}: ${show(r)}`);
  const calls = runJsonp(r.text, callback);
  assert.equal(calls.length, 1, `JSONP ${p} called ${callback} ${calls.length} times: ${show(r)}`);
  return calls[0] as { headers: Msg; body: unknown };
}

const fields = (n: Msg | null | undefined) => (n ? Object.fromEntries(Object.entries(n).filter(([k]) => k !== '_')) : n);

// ---------------------------------------------------------------------------------------------
// §1 HTTP

test('HTTP: POST a graph, PUT a single node; read by key and by soul; unknown keys are 200 null', async () => {
  const room = newRoom('rw');
  const jack = node('jack', { name: 'Jack', age: 30 }, { name: 10, age: 11 });
  const jill = node('jill', { name: 'Jill', friend: { '#': 'jack' }, admin: false, score: 1.5, nothing: null }, 20);
  await putOk(room, { jack, jill });

  assert.deepEqual(await read(`${room}/jack`), jack, 'GET /<room>/<key> returns the node with its "_" metadata');
  assert.deepEqual(await read(`${room}?%23=jill`), jill, 'GET /<room>?%23=<soul>');
  assert.deepEqual(await read(`${room}/?%23=jill`), jill, 'GET /<room>/?%23=<soul> (trailing slash names the room)');

  // PUT with a bare node (not wrapped in a graph).
  const bob = node('bob', { name: 'Bob' }, 30);
  await putOk(room, bob, 'PUT');
  assert.deepEqual(await read(`${room}/bob`), bob);

  // The Content-Type of a put is not checked: curl's default (a form type) and text/plain (a CORS
  // "simple request", no preflight) carry JSON just as well.
  for (const type of ['application/x-www-form-urlencoded', 'text/plain']) {
    const n = node(`typed-${type.length}`, { type }, 31);
    const r = await request(server.http + room, { method: 'POST', headers: { 'content-type': type }, body: JSON.stringify(n) });
    assert.equal(r.status, 200, `${type}: ${show(r)}`);
    assert.deepEqual(await read(`${room}?%23=typed-${type.length}`), n);
  }

  // A key path for a key the room does not have, a soul that does not exist, a room nobody
  // ever used: all 200 with a null body (the protocol's "not found" is not an error).
  assert.equal(await read(`${room}/nobody`), null);
  assert.equal(await read(`${room}?%23=nobody`), null);
  assert.equal(await read(`${newRoom('never')}/jack`), null);

  // The key is decoded: a soul with a space is reachable as %20.
  const spaced = node('hello world', { ok: true }, 5);
  await putOk(room, spaced);
  assert.deepEqual(await read(`${room}/hello%20world`), spaced);

  // GET on the room itself, with no key or query, is a 404 with a JSON explanation.
  const bare = await request(server.http + room);
  assert.equal(bare.status, 404, show(bare));
  assert.match(bare.type, /^application\/json/, show(bare));
  assert.equal(typeof bare.json?.err, 'string', show(bare));
});

test('HTTP: "*" lists nodes by soul prefix, "#=*" dumps the room, "%" limits the bytes', async () => {
  const room = newRoom('lex');
  const u1 = node('user-1', { name: 'Ann' }, 1);
  const u2 = node('user-2', { name: 'Ben' }, 1);
  const p1 = node('post-1', { title: 'Hi' }, 1);
  await putOk(room, { 'user-1': u1, 'user-2': u2, 'post-1': p1 });

  assert.deepEqual(await read(`${room}?*=user-`), { 'user-1': u1, 'user-2': u2 }, 'prefix listing');
  assert.deepEqual(await read(`${room}?*=post`), { 'post-1': p1 });
  assert.deepEqual(await read(`${room}?*=zzz`), {}, 'an empty listing is {}');
  assert.deepEqual(await read(`${room}?%23=*`), { 'user-1': u1, 'user-2': u2, 'post-1': p1 }, '#=* lists every node');
  assert.deepEqual(await read(`${newRoom('never')}?*=user`), {}, 'listing a room nobody used');

  // "%" limit on one node: 20 fields of 100 bytes; a 250-byte limit keeps some, at least one.
  const big: Record<string, string> = {};
  for (let i = 0; i < 20; i++) big[`f${String(i).padStart(2, '0')}`] = String(i % 10).repeat(100);
  await putOk(room, node('big', big, 7));
  const whole = await read(`${room}/big`);
  assert.equal(Object.keys(fields(whole)!).length, 20);
  const limited = await read(`${room}/big?%25=250`);
  const kept = Object.keys(fields(limited)!);
  assert.ok(kept.length >= 1 && kept.length < 20, `"%"=250 should keep some but not all fields, kept ${kept.length}`);
  for (const k of kept) assert.equal(limited![k], big[k], `limited node field ${k}`);
  assert.equal(limited!._['#'], 'big');
  assert.deepEqual(Object.keys(limited!._['>']).sort(), kept.sort(), 'states only for the fields kept');
  const bySoul = await read(`${room}?%23=big&%25=250`);
  assert.deepEqual(bySoul, limited, '"%" applies to reads by soul too');

  // "%" on a listing: fewer nodes than without it, but never nothing.
  const all = await read(`${room}?*=`);
  const few = await read(`${room}?*=&%25=10`);
  const n = Object.keys(few!).length;
  assert.ok(n >= 1 && n < Object.keys(all!).length, `"%"=10 on a listing kept ${n} of ${Object.keys(all!).length} nodes`);
});

test('HTTP: POST /<room>/<key> with {"#":soul} associates a key; a node posted under a key is filed there', async () => {
  const room = newRoom('keys');
  const n1 = node('soul-abc123', { name: 'Alias target' }, 3);
  await putOk(room, { 'soul-abc123': n1 });
  await putOk(`${room}/alias`, { '#': 'soul-abc123' });
  assert.deepEqual(await read(`${room}/alias`), n1, 'the key resolves to the associated soul');
  assert.deepEqual(await read(`${room}/soul-abc123`), n1, 'the soul itself still reads as a key');

  // A key may point at a soul that gets written only later.
  await putOk(`${room}/later`, { '#': 'soul-later' });
  assert.equal(await read(`${room}/later`), null);
  const n2 = node('soul-later', { v: 1 }, 4);
  await putOk(room, n2);
  assert.deepEqual(await read(`${room}/later`), n2);

  // Re-pointing a key.
  await putOk(`${room}/alias`, { '#': 'soul-later' });
  assert.deepEqual(await read(`${room}/alias`), n2);

  // A single node posted under a key is stored and the key then names it.
  const prof = node('profile-xyz', { name: 'Zed' }, 5);
  await putOk(`${room}/me`, prof);
  assert.deepEqual(await read(`${room}/me`), prof);
  assert.deepEqual(await read(`${room}?%23=profile-xyz`), prof);

  // Associations live in their room only.
  assert.equal(await read(`${newRoom('other')}/alias`), null);
});

test('HTTP: puts are HAM-merged: an older state is ignored, a newer one wins, equal states pick the greater value', async () => {
  const room = newRoom('ham');
  await putOk(room, node('doc', { title: 'new', body: 'b1' }, { title: 100, body: 100 }));
  await putOk(room, node('doc', { title: 'old' }, 50)); // accepted as a put, changes nothing
  assert.deepEqual(fields(await read(`${room}/doc`)), { title: 'new', body: 'b1' }, 'older state ignored');
  assert.equal((await read(`${room}/doc`))!._['>'].title, 100);

  await putOk(room, node('doc', { title: 'newer' }, 200));
  assert.deepEqual(fields(await read(`${room}/doc`)), { title: 'newer', body: 'b1' }, 'newer state wins, other fields kept');

  // Equal state: the lexically greater JSON value wins, whatever the order of arrival.
  await putOk(room, node('doc', { body: 'a' }, 100));
  assert.equal((await read(`${room}/doc`))!.body, 'b1');
  await putOk(room, node('doc', { body: 'c' }, 100));
  assert.equal((await read(`${room}/doc`))!.body, 'c');

  // A WebSocket put obeys the same graph: an older state from the wire changes nothing either.
  const peer = await pool.connect(room);
  const ack = await peer.putAck({ doc: node('doc', { title: 'wire-old' }, 150) });
  assert.equal(ack.ok, 1, JSON.stringify(ack));
  assert.equal((await read(`${room}/doc`))!.title, 'newer');
});

test('HTTP: invalid puts and broken JSON are 400 {"err"} and neither stored nor relayed', async () => {
  const room = newRoom('bad');
  const peer = await pool.connect(room);
  const cases: [string, string][] = [
    ['missing state', JSON.stringify({ x: { _: { '#': 'x', '>': {} }, name: 'X' } })],
    ['soul mismatch', JSON.stringify({ x: { _: { '#': 'y', '>': { name: 1 } }, name: 'X' } })],
    ['no metadata', JSON.stringify({ x: { name: 'X' } })],
    ['array value', JSON.stringify({ x: { _: { '#': 'x', '>': { a: 1 } }, a: [1, 2] } })],
    ['not a graph', JSON.stringify([1, 2, 3])],
    ['a string', JSON.stringify('hello')],
    ['broken JSON', '{"x":{"_":'],
    ['empty body', ''],
  ];
  for (const [what, body] of cases) {
    for (const method of ['POST', 'PUT'] as const) {
      const r = await send(server.http, room, body, method);
      assert.equal(r.status, 400, `${method} ${what}: ${show(r)}`);
      assert.match(r.type, /^application\/json/, `${method} ${what}: ${show(r)}`);
      assert.equal(typeof r.json?.err, 'string', `${method} ${what} must answer {"err":..}: ${show(r)}`);
      assert.ok(r.json!.err.length > 0);
      assert.equal(r.headers.get('access-control-allow-origin'), '*', `CORS on the 400 (${what})`);
    }
  }
  assert.equal(await read(`${room}/x`), null, 'nothing was stored');
  assert.deepEqual(await read(`${room}?*=`), {}, 'the room graph is empty');
  await peer.expectNone((m) => m.put !== undefined || m.body !== undefined, 200, 'relay of an invalid HTTP put');
});

test('HTTP: 405 for other methods, HEAD works, correct Content-Type and CORS everywhere', async () => {
  const room = newRoom('methods');
  await putOk(room, node('k', { v: 1 }, 1));
  for (const method of ['DELETE', 'PATCH']) {
    for (const p of [room, `${room}/k`]) {
      const r = await request(server.http + p, { method });
      assert.equal(r.status, 405, `${method} ${p}: ${show(r)}`);
      assert.match(r.type, /^application\/json/, show(r));
      assert.equal(typeof r.json?.err, 'string', show(r));
      assert.match(r.headers.get('allow') ?? '', /GET.*POST.*PUT/, `Allow header on 405: ${r.headers.get('allow')}`);
      assert.equal(r.headers.get('access-control-allow-origin'), '*');
    }
  }
  assert.equal(await read(`${room}/k`).then((n) => n?.v), 1, 'the 405s changed nothing');

  const head = await request(`${server.http}${room}/k`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.text, '');
  assert.match(head.type, /^application\/json/);

  for (const p of [`${room}/k`, `${room}?%23=k`, `${room}?*=`, room]) {
    const r = await request(server.http + p);
    assert.equal(r.headers.get('access-control-allow-origin'), '*', `CORS on GET ${p}`);
  }
  const w = await send(server.http, room, node('k2', { v: 2 }, 1));
  assert.equal(w.headers.get('access-control-allow-origin'), '*', 'CORS on POST');
});

test('HTTP: OPTIONS preflight answers 204 with the allowed methods and headers', async () => {
  const room = newRoom('cors');
  for (const p of [room, `${room}/some-key`, `${room}?%23=x`]) {
    const r = await request(server.http + p, {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://app.example.org',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type, x-custom',
      },
    });
    assert.equal(r.status, 204, `OPTIONS ${p}: ${show(r)}`);
    assert.equal(r.text, '');
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    const methods = (r.headers.get('access-control-allow-methods') ?? '').split(/\s*,\s*/);
    for (const m of ['GET', 'POST', 'PUT', 'OPTIONS']) assert.ok(methods.includes(m), `allow-methods lacks ${m}: ${methods}`);
    const allowHeaders = (r.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    assert.match(allowHeaders, /content-type/, `allow-headers: ${allowHeaders}`);
    assert.match(allowHeaders, /x-custom/, `allow-headers should allow the requested header: ${allowHeaders}`);
  }
  // A preflight without requested headers still allows Content-Type (a JSON POST needs it).
  const plain = await request(server.http + room, { method: 'OPTIONS' });
  assert.equal(plain.status, 204);
  assert.match((plain.headers.get('access-control-allow-headers') ?? '').toLowerCase(), /content-type/);
  // A preflight changes nothing and creates no data.
  assert.deepEqual(await read(`${room}?*=`), {});
});

test('HTTP: --cors-origin and --max-message-bytes (413, also for a streamed body without Content-Length)', async (t: TestContext) => {
  const limited = await startServer({ args: ['--cors-origin', 'https://example.com', '--max-message-bytes', '1024'] });
  t.after(() => limited.stop());
  const room = newRoom('limits');

  const pre = await request(limited.http + room, { method: 'OPTIONS', headers: { Origin: 'https://example.com', 'Access-Control-Request-Method': 'PUT' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), 'https://example.com');
  assert.match(pre.headers.get('vary') ?? '', /origin/i, 'a fixed origin needs Vary: Origin');

  const small = node('small', { v: 'x'.repeat(100) }, 1);
  const ok = await send(limited.http, room, small);
  assert.equal(ok.status, 200, show(ok));
  assert.equal(ok.headers.get('access-control-allow-origin'), 'https://example.com');
  const got = await request(`${limited.http}${room}/small`);
  assert.equal(got.headers.get('access-control-allow-origin'), 'https://example.com');
  assert.deepEqual(got.json, small);

  // Over the limit, with Content-Length.
  const tooBig = node('huge', { v: 'y'.repeat(2000) }, 1);
  const r = await send(limited.http, room, tooBig);
  assert.equal(r.status, 413, show(r));
  assert.match(r.type, /^application\/json/, show(r));
  assert.equal(typeof r.json?.err, 'string', show(r));
  assert.equal(r.headers.get('access-control-allow-origin'), 'https://example.com', 'CORS on the 413');

  // Over the limit, chunked (no Content-Length): the limit is enforced while reading.
  const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(`${limited.http}${room}`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(3000, () => req.destroy(new Error('chunked 413 request timed out')));
    req.on('error', (e: NodeJS.ErrnoException) => {
      // The server may close after answering; that is fine once the answer has been read.
      if (e.code === 'EPIPE' || e.code === 'ECONNRESET') return;
      reject(e);
    });
    const text = JSON.stringify(node('huge2', { v: 'z'.repeat(3000) }, 1));
    req.write(text.slice(0, 800));
    setTimeout(() => { req.write(text.slice(800)); req.end(); }, 20);
  });
  assert.equal(chunked.status, 413, `chunked: ${chunked.status} ${chunked.body}`);
  assert.equal(typeof JSON.parse(chunked.body).err, 'string');

  // Neither oversized put was stored, and the server still serves.
  assert.deepEqual((await request(`${limited.http}${room}?*=`)).json, { small });
});

test('HTTP: a multi-segment room is named by a trailing "/"; its keys are the last segment', async () => {
  const room = newRoom('org') + '/team';
  const peer = await pool.connect(room);
  const jack = node('jack', { name: 'Team Jack' }, 1);
  await putOk(`${room}/`, { jack });
  const m = await peer.waitFor((x) => x.put?.jack !== undefined, 2000, 'the put to /<a>/<b>/ at a peer of /<a>/<b>');
  assert.deepEqual(m.put, { jack });
  assert.deepEqual(await read(`${room}/jack`), jack, 'GET /<a>/<b>/<key> reads room /<a>/<b>');
  assert.deepEqual(await read(`${room}/?%23=jack`), jack);
  assert.equal(await read(`${room.slice(0, room.lastIndexOf('/'))}?%23=jack`), null, 'the parent path is another room');
});

test('HTTP: reads, preflights and refusals do not create rooms', async () => {
  const stats = async () => (await request(`${server.http}/_/stats`)).json as Msg;
  const room = newRoom('ghost');
  await read(`${room}/jack`);
  await read(`${room}?%23=jack`);
  await read(`${room}?*=`);
  await request(`${server.http}${room}/jack?jsonp=cb`);
  await request(`${server.http}${room}/jack?jsonp=${encodeURIComponent('a;b')}`);
  await request(`${server.http}${room}`, { method: 'OPTIONS' });
  await request(`${server.http}${room}`, { method: 'DELETE' });
  const s = await stats();
  assert.equal(s.rooms[room], undefined, `room ${room} was created by a read: ${JSON.stringify(s.rooms[room])}`);
});

// ---------------------------------------------------------------------------------------------
// §1 JSONP

test('JSONP: a read is a script that calls the callback with {headers, body}; executed in node:vm', async () => {
  const room = newRoom('jsonp');
  const jack = node('jack', { name: 'Jack', n: 1 }, 9);
  await putOk(room, { jack });

  const one = await jsonp(`${room}/jack?jsonp=cb`, 'cb');
  assert.equal(one.headers.status, 200);
  assert.deepEqual(one.body, jack);

  const dotted = await jsonp(`${room}/jack?jsonp=Gun.cb_1`, 'Gun.cb_1');
  assert.deepEqual(dotted.body, jack, 'a dotted callback path');

  const bySoul = await jsonp(`${room}?%23=jack&jsonp=$P123`, '$P123');
  assert.deepEqual(bySoul.body, jack);

  const listed = await jsonp(`${room}?*=ja&jsonp=cb`, 'cb');
  assert.deepEqual(listed.body, { jack });

  const missing = await jsonp(`${room}/nobody?jsonp=cb`, 'cb');
  assert.equal(missing.headers.status, 200);
  assert.equal(missing.body, null, 'missing key: callback gets body null');

  // The room's own 404 still reaches the script, as a status inside the callback's argument.
  const bare = await jsonp(`${room}?jsonp=cb`, 'cb');
  assert.equal(bare.headers.status, 404);
  assert.equal(typeof (bare.body as Msg).err, 'string');

  // The response is a script: no caching surprises, CORS present.
  const r = await request(`${server.http}${room}/jack?jsonp=cb`);
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
});

test('JSONP: a callback name that could inject script is refused with a JSON 400', async () => {
  const room = newRoom('inject');
  await putOk(room, node('jack', { name: 'Jack' }, 1));
  const attempts = [
    'alert(1)//', 'a;b', '<script>', '</script><script>alert(1)</script>', 'cb)(', 'cb(1);x', 'a b', 'a-b',
    '1cb', '', 'cb\n', 'cb\u2028x', 'a..b', 'a.', '.a', 'a["b"]', 'x'.repeat(300),
  ];
  for (const cb of attempts) {
    for (const p of [`${room}/jack`, `${room}?%23=jack`, room]) {
      const url = `${server.http}${p}${p.includes('?') ? '&' : '?'}jsonp=${encodeURIComponent(cb)}`;
      const r = await request(url);
      const label = `callback ${JSON.stringify(cb)} on ${p}`;
      assert.equal(r.status, 400, `${label}: ${show(r)}`);
      assert.match(r.type, /^application\/json/, `${label} must not be served as a script: ${show(r)}`);
      assert.doesNotMatch(r.type, /javascript/, label);
      assert.equal(typeof r.json?.err, 'string', `${label}: ${show(r)}`);
      if (cb.length > 2) assert.ok(!r.text.includes(cb), `${label}: the body echoes the callback: ${show(r)}`);
      assert.doesNotMatch(r.text, /Jack/, `${label}: no data in the refusal`);
    }
  }
  // A refused JSONP put does not write.
  const put = await request(`${server.http}${room}?jsonp=${encodeURIComponent('a;b')}&$=${encodeURIComponent(JSON.stringify(node('evil', { v: 1 }, 1)))}`);
  assert.equal(put.status, 400, show(put));
  assert.equal(await read(`${room}/evil`), null);
});

test('JSONP: puts through the "$" query parameter are validated, merged and relayed', async () => {
  const room = newRoom('jsonp-put');
  const peer = await pool.connect(room);
  const q = (v: unknown) => encodeURIComponent(JSON.stringify(v));

  const note = node('note', { text: 'via jsonp' }, 42);
  const put = await jsonp(`${room}?jsonp=done&$=${q({ note })}`, 'done');
  assert.deepEqual(put, { headers: { status: 200 }, body: { ok: 1 } });
  assert.deepEqual(await read(`${room}/note`), note);
  const relayed = await peer.waitFor((m) => m.put?.note !== undefined, 2000, 'the JSONP put relayed to the room');
  assert.deepEqual(relayed.put, { note });

  // Key association through JSONP.
  const link = await jsonp(`${room}/mine?jsonp=done&$=${q({ '#': 'note' })}`, 'done');
  assert.deepEqual(link.body, { ok: 1 });
  assert.deepEqual(await read(`${room}/mine`), note);

  // Invalid graph and broken JSON: the callback still runs, with status 400 and {"err"}.
  const bad = await jsonp(`${room}?jsonp=done&$=${q({ z: { _: { '#': 'z', '>': {} }, v: 1 } })}`, 'done');
  assert.equal(bad.headers.status, 400);
  assert.equal(typeof (bad.body as Msg).err, 'string');
  const broken = await jsonp(`${room}?jsonp=done&$=${encodeURIComponent('{"z":')}`, 'done');
  assert.equal(broken.headers.status, 400);
  assert.equal(typeof (broken.body as Msg).err, 'string');
  assert.equal(await read(`${room}/z`), null);
});

// ---------------------------------------------------------------------------------------------
// §1 HTTP and WebSocket peers share one graph per room

test('an HTTP put reaches the GUN-wire peers of its room as a put, and no other room', async () => {
  const room = newRoom('push');
  const other = newRoom('push-other');
  const [a1, a2, sub, b] = await Promise.all([pool.connect(room), pool.connect(room), pool.connect(`${room}/sub`), pool.connect(other)]);

  const graph = { news: node('news', { headline: 'over HTTP' }, 77) };
  await putOk(room, graph);
  for (const p of [a1, a2]) {
    const m = await p.waitFor((x) => x.put !== undefined, 2000, 'the HTTP put');
    assert.equal(typeof m['#'], 'string', `relayed put needs a message id: ${JSON.stringify(m)}`);
    assert.deepEqual(m.put, graph);
  }
  // A put under a key path goes to the room the rest of the path names.
  const viaKey = node('note-1', { text: 'posted under a key' }, 78);
  await putOk(`${room}/notes`, viaKey);
  const m2 = await a1.waitFor((x) => x.put?.['note-1'] !== undefined, 2000, 'the key-path put');
  assert.deepEqual(m2.put, { 'note-1': viaKey });

  // Same soul written in the other room stays there.
  const theirs = node('news', { headline: 'other room' }, 79);
  const r = await send(server.http, other, { news: theirs });
  assert.equal(r.status, 200, show(r));
  await b.waitFor((x) => x.put?.news?.headline === 'other room', 2000, 'the other room\'s own put');

  await Promise.all([
    a1.expectNone((x) => x.put?.news?.headline === 'other room', 300, 'put from another room'),
    b.expectNone((x) => x.put?.news?.headline === 'over HTTP' || x.put?.['note-1'] !== undefined, 0, 'put from another room'),
    sub.expectNone((x) => x.put !== undefined, 0, 'put for /<room> at /<room>/sub (a different room)'),
  ]);
  assert.equal((await read(`${room}/news`))!.headline, 'over HTTP');
  assert.equal((await read(`${other}/news`))!.headline, 'other room');
  assert.deepEqual(Object.keys((await read(`${other}?*=`))!), ['news'], 'listing of the other room shows only its node');
});

test('an HTTP read sees a WebSocket put at once; an HTTP put answers a later WebSocket get', async () => {
  const room = newRoom('ws-http');
  const peer = await pool.connect(room);
  const chat = node('chat', { text: 'from the wire', n: 3 }, Date.now());
  const ack = await peer.putAck({ chat });
  assert.equal(ack.ok, 1, JSON.stringify(ack));
  assert.deepEqual(await read(`${room}/chat`), chat);
  assert.deepEqual(await read(`${room}?%23=chat`), chat);
  assert.equal(await read(`${newRoom('elsewhere')}/chat`), null);

  const viaHttp = node('from-http', { ok: true }, 5);
  await putOk(room, viaHttp);
  const reply = await peer.ask({ '#': 'from-http' });
  assert.deepEqual(reply.put, { 'from-http': viaHttp });
});

// ---------------------------------------------------------------------------------------------
// §2 The legacy WebSocket envelope

/** Send an envelope and wait for the reply that echoes its ws-rid. */
async function envelope(peer: GunPeer, pathname: string, body?: unknown, query?: Msg): Promise<Msg> {
  const rid = uid('WS');
  const frame: Msg = { url: { pathname, ...(query ? { query } : {}) }, headers: { 'ws-rid': rid } };
  if (body !== undefined) frame.body = body;
  peer.send(frame);
  return peer.waitFor((m) => m.headers?.['ws-rid'] === rid, 2000, `envelope reply to ${rid}`);
}

test('envelope: get/put with ws-rid replies, by key, by soul, key association, errors', async () => {
  const room = newRoom('env');
  const env = await pool.connect(room);

  const miss = await envelope(env, '/jack');
  assert.deepEqual(miss, { headers: { 'ws-rid': miss.headers['ws-rid'] }, status: 200, body: null }, 'a get of a missing key');

  const jack = node('jack', { name: 'Jack' }, 10);
  const put = await envelope(env, '/', { jack });
  assert.deepEqual(put, { headers: { 'ws-rid': put.headers['ws-rid'] }, status: 200, body: { ok: 1 } }, 'a put');

  const got = await envelope(env, '/jack');
  assert.equal(got.status, 200);
  assert.deepEqual(got.body, jack);
  const bySoul = await envelope(env, '/', undefined, { '#': 'jack' });
  assert.deepEqual(bySoul.body, jack, 'get by url.query["#"]');

  // A single node as the body, and a key association.
  const jill = node('jill-soul', { name: 'Jill' }, 11);
  assert.deepEqual((await envelope(env, '/', jill)).body, { ok: 1 });
  assert.deepEqual((await envelope(env, '/jill', { '#': 'jill-soul' })).body, { ok: 1 });
  assert.deepEqual((await envelope(env, '/jill')).body, jill);
  assert.deepEqual(await read(`${room}/jill`), jill, 'the association is shared with HTTP');

  // Invalid puts: 400 with err, nothing stored.
  const bad = await envelope(env, '/', { x: { _: { '#': 'x', '>': {} }, v: 1 } });
  assert.equal(bad.status, 400, JSON.stringify(bad));
  assert.equal(typeof bad.body?.err, 'string', JSON.stringify(bad));
  const notGraph = await envelope(env, '/', [1, 2]);
  assert.equal(notGraph.status, 400, JSON.stringify(notGraph));
  assert.equal((await envelope(env, '/x')).body, null);

  // HAM applies to envelope puts too.
  await envelope(env, '/', { jack: node('jack', { name: 'stale' }, 5) });
  assert.equal((await envelope(env, '/jack')).body.name, 'Jack');

  // Envelope writes are visible over HTTP; the socket stays usable for modern messages too.
  assert.deepEqual(await read(`${room}/jack`), jack);
  const modern = await env.ask({ '#': 'jack' });
  assert.deepEqual(modern.put, { jack });
  assert.ok(env.isOpen);
});

test('envelope and modern peers see each other\'s writes; HTTP puts reach envelope peers; nothing crosses rooms', async () => {
  const room = newRoom('mix');
  const other = newRoom('mix-other');
  const [env, env2, wire, envB, wireB] = await Promise.all([
    pool.connect(room), pool.connect(room), pool.connect(room), pool.connect(other), pool.connect(other),
  ]);
  // Mark env2 and envB as envelope peers (a get is enough).
  await envelope(env2, '/nothing');
  await envelope(envB, '/nothing');

  // Envelope put → modern peer gets {"#":..,"put":graph}; the other envelope peer a push.
  const fromEnv = { post: node('post', { text: 'from envelope' }, 100) };
  const ok = await envelope(env, '/', fromEnv);
  assert.deepEqual(ok.body, { ok: 1 });
  const atWire = await wire.waitFor((m) => m.put?.post !== undefined, 2000, 'envelope put at the modern peer');
  assert.equal(typeof atWire['#'], 'string');
  assert.deepEqual(atWire.put, fromEnv);
  const atEnv2 = await env2.waitFor((m) => m.body?.post !== undefined, 2000, 'envelope put pushed to the other envelope peer');
  assert.deepEqual(atEnv2, { headers: {}, body: fromEnv }, 'a push carries no ws-rid');

  // Modern put → envelope peers get {"headers":{},"body":graph}.
  const fromWire = { reply: node('reply', { text: 'from the wire' }, 101) };
  const ack = await wire.putAck(fromWire);
  assert.equal(ack.ok, 1);
  for (const p of [env, env2]) {
    const push = await p.waitFor((m) => m.body?.reply !== undefined, 2000, 'modern put pushed to an envelope peer');
    assert.deepEqual(push, { headers: {}, body: fromWire });
  }
  // HTTP put → envelope and modern peers.
  const fromHttp = { memo: node('memo', { text: 'from http' }, 102) };
  await putOk(room, fromHttp);
  const httpAtEnv = await env.waitFor((m) => m.body?.memo !== undefined, 2000, 'HTTP put pushed to an envelope peer');
  assert.deepEqual(httpAtEnv, { headers: {}, body: fromHttp });
  await wire.waitFor((m) => m.put?.memo !== undefined, 2000, 'HTTP put at the modern peer');

  // The writer of an envelope put gets its reply, not an echo of its own put.
  await env.expectNone((m) => m.body?.post !== undefined && m.headers?.['ws-rid'] === undefined, 100, 'echo of its own put');
  // Nothing of this room reached the other room's peers.
  const leaked = (m: Msg) => ['post', 'reply', 'memo'].some((s) => m.put?.[s] !== undefined || m.body?.[s] !== undefined);
  await envB.expectNone(leaked, 0, 'put from another room');
  await wireB.expectNone(leaked, 0, 'put from another room');
  assert.equal((await envelope(envB, '/post')).body, null);
  assert.equal(await read(`${other}/post`), null);
});

test('envelope detection: a message with get, put, dam or @ stays modern even with url/headers/body fields', async () => {
  const room = newRoom('detect');
  const [a, b] = await Promise.all([pool.connect(room), pool.connect(room)]);
  const jack = node('jack', { name: 'Jack' }, 1);
  // A modern put that happens to carry "headers" and "url": acked and relayed as a modern put.
  const id = uid('put');
  a.send({ '#': id, put: { jack }, headers: { 'ws-rid': 'not-an-envelope' }, url: { pathname: '/x' } });
  const ack = await a.waitFor((m) => m['@'] === id, 2000, 'modern ack');
  assert.equal(ack.ok, 1, JSON.stringify(ack));
  const relayed = await b.waitFor((m) => m.put?.jack !== undefined, 2000, 'modern relay');
  assert.equal(relayed['#'], id, 'relayed verbatim with the same id');
  // A modern get with a "body" field: answered as a modern get.
  const gid = uid('get');
  a.send({ '#': gid, get: { '#': 'jack' }, body: { anything: 1 } });
  const reply = await a.waitFor((m) => m['@'] === gid, 2000, 'modern get reply');
  assert.deepEqual(reply.put, { jack });
  // Neither produced an envelope reply.
  await a.expectNone((m) => m.headers?.['ws-rid'] === 'not-an-envelope' || m.status !== undefined, 100, 'envelope-style reply');
  // While {"headers":..} alone is an envelope (a get with no key: 400 with err, echoing ws-rid).
  a.send({ headers: { 'ws-rid': 'only-headers' } });
  const env = await a.waitFor((m) => m.headers?.['ws-rid'] === 'only-headers', 2000, 'envelope reply');
  assert.equal(env.status, 400, JSON.stringify(env));
  assert.equal(typeof env.body?.err, 'string');
});

// ---------------------------------------------------------------------------------------------
// A real GUN client (child process) and an envelope client in one room

interface ClientEvent { event: string; [k: string]: unknown }

/** A real `gun` peer in a child process (test/fixtures/gun-client.cjs), killed in t.after. */
class GunProcess {
  readonly events: ClientEvent[] = [];
  readonly stderr: string[] = [];
  private wake = new Set<() => void>();
  private exited = false;
  readonly proc: ChildProcess;
  private readonly dir: string;

  constructor(t: TestContext, readonly name: string, url: string) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), `gun-http-${name}-`));
    this.proc = spawn(process.execPath, [path.join(ROOT, 'test/fixtures/gun-client.cjs'), url, 'full'], {
      cwd: this.dir,
      env: { ...process.env, GUN_CLIENT_LIFETIME_MS: '40000' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    lines(this.proc.stdout!, (line) => {
      try {
        const ev = JSON.parse(line);
        if (ev && typeof ev.event === 'string') { this.events.push(ev); for (const w of this.wake) w(); }
      } catch { /* GUN's banner */ }
    });
    lines(this.proc.stderr!, (line) => this.stderr.push(line));
    this.proc.on('exit', () => { this.exited = true; for (const w of this.wake) w(); });
    t.after(() => this.kill());
  }

  send(cmd: Record<string, unknown>): void { this.proc.stdin!.write(JSON.stringify(cmd) + '\n'); }

  waitFor(what: string, match: (e: ClientEvent) => boolean, timeoutMs = 8000): Promise<ClientEvent> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.events.find(match);
        if (found) { done(); resolve(found); } else if (this.exited) { done(); reject(this.failure(`exited while waiting for ${what}`)); }
      };
      const timer = setTimeout(() => { done(); reject(this.failure(`timed out after ${timeoutMs} ms waiting for ${what}`)); }, timeoutMs);
      const done = () => { clearTimeout(timer); this.wake.delete(check); };
      this.wake.add(check);
      check();
    });
  }

  failure(msg: string): Error {
    return new Error(`[gun ${this.name}] ${msg}\nevents:\n  ${this.events.map((e) => JSON.stringify(e)).join('\n  ')}\nstderr:\n  ${this.stderr.slice(-15).join('\n  ')}\nserver log:\n  ${server.logs.slice(-20).join('\n  ')}`);
  }

  async kill(): Promise<void> {
    if (!this.exited && this.proc.exitCode === null && this.proc.signalCode === null) {
      const gone = once(this.proc, 'exit');
      this.proc.kill('SIGKILL');
      await gone;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

test('a real gun client and an envelope WebSocket client in one room see each other\'s writes; another room sees nothing', async (t) => {
  const room = newRoom('gun-env');
  const other = newRoom('gun-env-other');
  const gunA = new GunProcess(t, 'a', `${server.http}${room}`);
  const gunB = new GunProcess(t, 'b', `${server.http}${other}`);
  const [env, envB] = await Promise.all([pool.connect(room), pool.connect(other)]);
  await Promise.all([envelope(env, '/nothing'), envelope(envB, '/nothing')]);
  await Promise.all([gunA.waitFor('connection', (e) => e.event === 'hi'), gunB.waitFor('connection', (e) => e.event === 'hi')]);

  gunA.send({ op: 'on', key: 'jack' });
  gunB.send({ op: 'on', key: 'jack' }); // leak probe
  gunB.send({ op: 'on', key: 'jill' }); // leak probe
  // Let the subscriptions reach the server before the envelope write.
  await env.expectNone(() => false, 150);

  // Envelope → gun.
  const jack = node('jack', { name: 'Jack from envelope' }, Date.now());
  assert.deepEqual((await envelope(env, '/', { jack })).body, { ok: 1 });
  const saw = await gunA.waitFor('the envelope put', (e) => e.event === 'saw' && e.key === 'jack'
    && (e.value as Msg | null)?.name === 'Jack from envelope');
  assert.deepEqual(saw.value, { name: 'Jack from envelope' });

  // gun → envelope: a push, then a get by key, and HTTP reads the same node.
  gunA.send({ op: 'put', key: 'jill', value: { name: 'Jill from gun', age: 7 }, id: 'jill' });
  const push = await env.waitFor((m) => m.body?.jill !== undefined && m.headers?.['ws-rid'] === undefined, 3000, 'the gun put pushed to the envelope peer');
  assert.deepEqual(push.headers, {});
  const ack = await gunA.waitFor('ack of the put', (e) => e.event === 'ack' && e.id === 'jill');
  assert.equal(ack.err, null, JSON.stringify(ack));
  const got = await envelope(env, '/jill');
  assert.deepEqual(fields(got.body), { name: 'Jill from gun', age: 7 });
  assert.equal(got.body._['#'], 'jill');
  assert.deepEqual(fields(await read(`${room}/jill`)), { name: 'Jill from gun', age: 7 });

  // An HTTP put reaches the gun client as well.
  await putOk(room, { jack: node('jack', { name: 'Jack from HTTP' }, Date.now() + 1) });
  await gunA.waitFor('the HTTP put', (e) => e.event === 'saw' && e.key === 'jack' && (e.value as Msg | null)?.name === 'Jack from HTTP');

  // A late gun client of the room reads the latest write from the server.
  const late = new GunProcess(t, 'late', `${server.http}${room}`);
  await late.waitFor('connection', (e) => e.event === 'hi');
  late.send({ op: 'once', key: 'jack', id: 'j', wait: 1000 });
  const lateJack = await late.waitFor('once jack', (e) => e.event === 'once' && e.id === 'j');
  assert.deepEqual(lateJack.value, { name: 'Jack from HTTP' });

  // The other room: no gun event, no envelope push, nothing readable.
  const leaks = gunB.events.filter((e) => e.event === 'saw');
  assert.deepEqual(leaks, [], 'the other room\'s gun client saw a write');
  await envB.expectNone((m) => m.body?.jack !== undefined || m.body?.jill !== undefined, 0, 'push from another room');
  assert.equal((await envelope(envB, '/jack')).body, null);
  assert.equal(await read(`${other}/jill`), null);
});

test('an invalid HTTP put does not create a room', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const res = await fetch(`${server.http}/never-created`, { method: 'POST', body: '{"x":{"name":"no meta"}}' });
  assert.equal(res.status, 400);
  const stats = (await (await fetch(`${server.http}/_/stats`)).json()) as { rooms: Record<string, unknown> };
  assert.equal(stats.rooms['/never-created'], undefined);
});
