// In-process members (server.connect) and the server-side room API (server.room): a server in this
// process, listening on 127.0.0.1, with in-process members, WebSocket members (raw `ws`, the
// multisocket.v1 subprotocol) and GUN clients in child processes in the same rooms.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { MultisocketServer } from '../src/server/server.ts';
import { makeConfig, parseConfig, type Config } from '../src/config.ts';
import { silentLogger } from '../src/log.ts';
import type { Room } from '../src/client/index.ts';
import { MultisocketError } from '../src/client/index.ts';
import { WsMember, unnumbered } from './helpers/native.ts';
import { next, opened, record, rejection, until, uid } from './helpers/client.ts';
import { Session, isAck, isOnce, type GunClient } from './helpers/gun-clients.ts';
import { startRedis } from './helpers/engines.ts';
import { CLUSTER_KEY } from './helpers/cluster.ts';

const SECRET = 'in-process-test-secret-0123456789-abcdefghij';
const KEY = new TextEncoder().encode(SECRET);
const token = (claims: Record<string, unknown>) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(Math.floor(Date.now() / 1000) + 3600).sign(KEY);

async function startInProcess(partial: Partial<Config> = {}): Promise<{ server: MultisocketServer; ws: string; http: string }> {
  const server = new MultisocketServer(makeConfig({ host: '127.0.0.1', port: 0, ...partial }), silentLogger);
  const addr: AddressInfo = await server.listen();
  return { server, ws: `ws://127.0.0.1:${addr.port}`, http: `http://127.0.0.1:${addr.port}` };
}

let s: { server: MultisocketServer; ws: string; http: string };
const handles: Room[] = [];
const sockets: WsMember[] = [];
// A short resume grace: a WebSocket member that closes leaves (for everyone) soon after.
before(async () => { s = await startInProcess({ resumeGraceMs: 200, adminLoopback: true }); });
after(async () => {
  await Promise.all(handles.map((h) => h.close()));
  await Promise.all(sockets.map((m) => m.close()));
  await s.server.close();
});

function member(room: string, opts: Parameters<MultisocketServer['connect']>[1] = {}, server = s.server): Room {
  const h = server.connect(room, opts);
  handles.push(h);
  return h;
}
async function wsMember(room: string, query?: string): Promise<WsMember> {
  const m = await WsMember.connect(s.ws, room, query ? { query } : {});
  sockets.push(m);
  return m;
}

test('in-process members: presence (connect, join, leave, info), shown as transport inproc', async () => {
  const room = uid('presence');
  const a = member(room, { info: { name: 'a' } });
  await opened(a);
  const b = member(room, { info: { name: 'b' } });
  const joined = next(a, 'join');
  await opened(b);
  assert.equal((await joined).cid, b.cid);
  assert.deepEqual(new Set(await a.presence()), new Set([a.cid, b.cid]));
  assert.deepEqual(a.infos[b.cid!], { name: 'b' });
  const ws = await wsMember(room);
  assert.deepEqual(new Set(ws.hello!.members as string[]), new Set([a.cid, b.cid, ws.hello!.cid]));
  const view = (await (await fetch(`${s.http}/_/rooms${room}`)).json()) as { memberList: Array<{ cid: string; transport: string }> };
  const transports = Object.fromEntries(view.memberList.map((m) => [m.cid, m.transport]));
  assert.equal(transports[a.cid!], 'inproc');
  assert.equal(transports[ws.hello!.cid as string], 'websocket');
  assert.ok(s.server.connectionCounts().nativeInproc >= 2);
  const metrics = await (await fetch(`${s.http}/_/metrics`)).text();
  assert.match(metrics, /multisocket_connections\{protocol="native",transport="inproc"\} [1-9]/);
  const left = next(a, 'leave');
  const wsLeft = ws.waitFor((m) => m.type === 'leave' && m.cid === b.cid);
  await b.close();
  assert.equal((await left).cid, b.cid, 'close() leaves at once (no resume grace)');
  await wsLeft;
});

test('in-process and WebSocket members: publish with topics, both ways; the publisher\'s object is copied', async () => {
  const room = uid('pub');
  const a = member(room);
  await opened(a);
  const news: unknown[] = [];
  a.subscribe('news.*', (d) => news.push(d));
  const ws = await wsMember(room);
  ws.send({ type: 'subscribe', topic: 'news.*', ref: 's1' });
  ws.send({ type: 'presence', ref: 'barrier' });
  await ws.waitFor((m) => m.type === 'presence' && m.ref === 'barrier'); // its subscribe is in
  await a.presence(); // and a's
  const b = member(room);
  await opened(b);
  const sent = { n: 1, when: new Date(0) };
  await b.publish(sent, { topic: 'news.today', ack: true });
  sent.n = 2; // after publish(): reaches nobody
  await until(() => news.length === 1, 'a got the publish');
  assert.deepEqual(news[0], { n: 1, when: '1970-01-01T00:00:00.000Z' }, 'JSON values, as over a socket');
  const got = await ws.waitFor((m) => m.type === 'message' && m.kind === 'publish');
  assert.deepEqual({ from: got.from, topic: got.topic, data: got.data }, { from: b.cid, topic: 'news.today', data: { n: 1, when: '1970-01-01T00:00:00.000Z' } });
  // Socket → in-process; an unmatched topic does not arrive.
  ws.send({ type: 'publish', topic: 'sport', data: 'no', ref: 'p0' });
  ws.send({ type: 'publish', topic: 'news.late', data: 'yes', ref: 'p1' });
  await until(() => news.length === 2, 'a got the socket\'s publish');
  assert.equal(news[1], 'yes');
});

test('request/reply both ways between an in-process and a WebSocket member, and direct messages', async () => {
  const room = uid('rr');
  const a = member(room);
  await opened(a);
  a.serve(({ x }: { x: number }, ctx) => ({ doubled: x * 2, from: ctx.from }));
  const ws = await wsMember(room);
  ws.send({ type: 'serve', ref: 'sv' });
  // WebSocket asks, in-process answers.
  ws.send({ type: 'request', id: 'q1', to: a.cid, data: { x: 21 } });
  const reply = await ws.waitFor((m) => m.type === 'reply' && m.id === 'q1');
  assert.deepEqual(unnumbered(reply), { type: 'reply', id: 'q1', from: a.cid, data: { doubled: 42, from: ws.hello!.cid } });
  // In-process asks, WebSocket answers.
  const asked = a.request({ y: 1 }, { to: ws.hello!.cid as string });
  const req = await ws.waitFor((m) => m.type === 'request' && m.from === a.cid);
  ws.send({ type: 'reply', id: req.id, data: { ok: 'from ws' } });
  assert.deepEqual(await asked, { ok: 'from ws' });
  // Direct messages, both ways.
  const got = next(a, 'message', (m) => m.kind === 'direct');
  ws.send({ type: 'send', to: a.cid, data: 'hi a' });
  assert.equal((await got).data, 'hi a');
  await a.send(ws.hello!.cid as string, 'hi ws');
  assert.equal((await ws.waitFor((m) => m.type === 'message' && m.kind === 'direct')).data, 'hi ws');
  // An error reply keeps its code.
  const b = member(room);
  b.serve(() => { throw new MultisocketError('nope', 'refused'); });
  await opened(b);
  const err = await rejection(a.request(null, { to: b.cid! }));
  assert.equal(err.code, 'handler_error');
});

test('push/pull: every job exactly once across an in-process and a WebSocket puller', async () => {
  const room = uid('jobs');
  const taken: number[] = [];
  const p1 = member(room);
  // A job takes the in-process puller a few ms, so the socket's puller gets its share.
  p1.pull(async (n: number) => { taken.push(n); await new Promise((r) => setTimeout(r, 3)); return n * 10; });
  await opened(p1);
  const ws = await wsMember(room);
  ws.send({ type: 'pull', prefetch: 1, ref: 'pl' });
  let wsJobs = 0;
  const answerJobs = setInterval(() => {
    for (const m of ws.messages) {
      if (m.type === 'message' && m.kind === 'push' && !(m as { done?: boolean }).done) {
        (m as { done?: boolean }).done = true;
        wsJobs++;
        taken.push(m.data as number);
        ws.send({ type: 'ack', job: m.job, data: (m.data as number) * 10 });
      }
    }
  }, 2);
  try {
    ws.send({ type: 'presence', ref: 'barrier' });
    await ws.waitFor((m) => m.type === 'presence' && m.ref === 'barrier'); // its pull is in
    const pusher = member(room);
    await opened(pusher);
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => pusher.push<number>(i)));
    assert.deepEqual(results.map((r) => r.data).sort((x, y) => x - y), Array.from({ length: 40 }, (_, i) => i * 10));
    assert.deepEqual([...taken].sort((x, y) => x - y), Array.from({ length: 40 }, (_, i) => i), 'each job taken once');
    assert.ok(wsJobs > 0 && wsJobs < 40, `both pullers took jobs (the socket took ${wsJobs})`);
  } finally {
    clearInterval(answerJobs);
  }
});

test('tokens: an in-process member is admitted by its token, refused without one; the room API needs none', async () => {
  const t = await startInProcess({ auth: { secret: KEY } });
  try {
    const refused = t.server.connect('/team/a');
    const closed = await next(refused, 'closed');
    assert.equal(closed.code, 'token_required');
    const wrongRoom = t.server.connect('/team/a', { token: await token({ rooms: ['/other'] }) });
    assert.equal((await next(wrongRoom, 'closed')).code, 'forbidden');
    const a = t.server.connect('/team/a', { token: await token({ sub: 'alice', rooms: ['/team/*'], perms: ['read', 'write'] }) });
    const hello = await next(a, 'connect');
    assert.equal(hello.user, 'alice');
    const readOnly = t.server.connect('/team/a', { token: await token({ sub: 'bob', rooms: ['/team/*'], perms: ['read'] }) });
    await opened(readOnly);
    assert.equal((await rejection(readOnly.publish('x', { ack: true }))).code, 'forbidden');
    const worker = t.server.room('/team/a').serve((d: number) => d + 1);
    await opened(worker);
    assert.equal(await a.request(1), 2);
    await Promise.all([a.close(), readOnly.close(), worker.close()]);
  } finally {
    await t.server.close();
  }
});

test('room limits: a full room refuses an in-process member (room_full) as it refuses a socket', async () => {
  const t = await startInProcess({ maxPeersPerRoom: 1 });
  try {
    const a = t.server.connect('/small');
    await opened(a);
    const b = t.server.connect('/small', { backoff: { initial: 5000, max: 5000 } });
    const refused = await next(b, 'reconnecting');
    assert.equal(refused.status, 503);
    assert.match(refused.reason ?? '', /room_full/);
    await Promise.all([a.close(), b.close()]);
  } finally {
    await t.server.close();
  }
});

test('server.room: publish (topic), send, members, join/leave/message events', async () => {
  const name = uid('api');
  const api = s.server.room(name);
  const events: Array<{ event: string; cid?: string; kind?: string; from?: string; data?: unknown; topic?: string }> = [];
  const onJoin = (e: { cid: string }) => events.push({ event: 'join', cid: e.cid });
  const onLeave = (e: { cid: string }) => events.push({ event: 'leave', cid: e.cid });
  const onMessage = (e: { kind: string; from: string; data: unknown; topic?: string }) => events.push({ event: 'message', ...e });
  api.on('join', onJoin).on('leave', onLeave).on('message', onMessage);
  try {
    const a = member(name, { topics: ['t'] });
    await opened(a);
    const ws = await wsMember(name);
    await until(() => events.filter((e) => e.event === 'join').length === 2, 'two joins');
    const list = await api.members();
    assert.deepEqual(new Set(list.map((m) => m.cid)), new Set([a.cid, ws.hello!.cid]));
    assert.ok(list.every((m) => m.local));
    const aGot = record(a);
    const { seq } = await api.publish({ hello: 'all' }, { topic: 't' });
    assert.equal(typeof seq, 'number');
    await until(() => aGot.length === 1, 'a got the server\'s publish');
    assert.deepEqual({ from: aGot[0].from, topic: aGot[0].topic, data: aGot[0].data }, { from: 'server', topic: 't', data: { hello: 'all' } });
    await api.send(ws.hello!.cid as string, { just: 'you' });
    const direct = await ws.waitFor((m) => m.type === 'message' && m.kind === 'direct');
    assert.deepEqual({ from: direct.from, data: direct.data }, { from: 'server', data: { just: 'you' } });
    assert.equal((await rejection(api.send('c-nobody', 1))).code, 'unknown_target');
    // A member's publish and a member's send to "server" are 'message' events.
    ws.send({ type: 'publish', data: 'from ws', topic: 't' });
    await a.send('server', 'to the server');
    await until(() => events.some((e) => e.event === 'message' && e.data === 'from ws') && events.some((e) => e.kind === 'direct'), 'message events');
    assert.deepEqual(events.find((e) => e.kind === 'direct'), { event: 'message', kind: 'direct', from: a.cid, data: 'to the server' });
    assert.ok(events.some((e) => e.event === 'message' && e.kind === 'publish' && e.from === 'server'));
    await ws.close();
    await until(() => events.some((e) => e.event === 'leave'), 'a leave event', 8000);
  } finally {
    api.off('join', onJoin).off('leave', onLeave).off('message', onMessage);
  }
  assert.equal(s.server.roomTaps.has(name), false, 'no listener left: the hub pays nothing');
});

test('server.room: serve and pull workers take requests and jobs like any member', async () => {
  const name = uid('workers');
  const api = s.server.room(name);
  const w1 = api.serve((d: { a: number; b: number }) => d.a + d.b);
  const w2 = api.serve((d: { a: number; b: number }) => d.a + d.b);
  const seen: string[] = [];
  const puller = api.pull(async (job: string, ctx) => { seen.push(job); return `done ${job} (${ctx.attempt})`; });
  await opened(w1, w2, puller);
  const ws = await wsMember(name);
  for (let i = 0; i < 4; i++) ws.send({ type: 'request', id: `q${i}`, data: { a: i, b: 1 } });
  for (let i = 0; i < 4; i++) assert.equal((await ws.waitFor((m) => m.type === 'reply' && m.id === `q${i}`)).data, i + 1);
  ws.send({ type: 'push', data: 'j1', ack: true, ref: 'j' });
  const outcome = await ws.waitFor((m) => m.type === 'job');
  assert.equal(outcome.status, 'done');
  assert.equal(outcome.data, 'done j1 (1)');
  assert.deepEqual(seen, ['j1']);
  await Promise.all([w1.close(), w2.close(), puller.close()]);
  ws.send({ type: 'request', id: 'none', data: {} });
  assert.equal(((await ws.waitFor((m) => m.type === 'reply' && m.id === 'none')).error as { code: string }).code, 'no_responder');
});

test('server.room(...).graph: a GUN client sees the server\'s put and the server reads the client\'s; an invalid put is refused', async (t) => {
  const session = new Session(t);
  const name = uid('graph');
  const url = `${s.http}${name}`;
  const api = s.server.room(name);
  const gun: GunClient = await session.connected('g1', url);
  gun.send({ op: 'on', key: 'jack' });
  const state = Date.now();
  await api.graph.put({ jack: { _: { '#': 'jack', '>': { name: state } }, name: 'Jack' } });
  await gun.waitUntil('the server\'s put', () => gun.saw('jack').some((e) => (e.value as { name?: string })?.name === 'Jack'));
  gun.send({ op: 'put', key: 'jill', value: { name: 'Jill' }, id: 'p1' });
  const ack = await gun.waitFor('ack p1', isAck('p1'));
  assert.equal(ack.err, null);
  const jill = await api.graph.get('jill');
  assert.equal(jill?.name, 'Jill');
  assert.equal(typeof jill?._['>'].name, 'number');
  assert.equal(await api.graph.get('nobody'), null);
  gun.send({ op: 'once', key: 'jack', id: 'o1' });
  assert.equal(((await gun.waitFor('once jack', isOnce('o1'))).value as { name: string }).name, 'Jack');
  // Invalid: no state for the field; and a write into a SEA user's space without a signature.
  assert.equal((await rejection(api.graph.put({ bad: { _: { '#': 'bad' }, x: 1 } }))).code, 'bad_message');
  const pub = 'a'.repeat(43) + '.' + 'b'.repeat(43);
  const forged = await rejection(api.graph.put({ ['~' + pub]: { _: { '#': '~' + pub, '>': { alias: Date.now() } }, alias: 'mallory' } }));
  assert.equal(forged.code, 'sea_rejected');
});

test('cluster (two in-process nodes on a private Redis): in-process members, server.room and graph across nodes', async (t) => {
  const engine = await startRedis();
  const nodes: MultisocketServer[] = [];
  const inProcess: Room[] = [];
  t.after(async () => {
    await Promise.all(inProcess.map((h) => h.close()));
    await Promise.all(nodes.map((n) => n.close()));
    await engine.stop();
  });
  const prefix = `ip${process.pid.toString(36)}`;
  for (const id of ['a', 'b']) {
    const action = parseConfig(['--host', '127.0.0.1', '--port', '0', '--broker', engine.url, '--node-id', `${prefix}-${id}`, '--cluster-key', CLUSTER_KEY, '--resume-grace', '0.2', '--log-level', 'error'], {});
    assert.equal(action.kind, 'run');
    const node = new MultisocketServer((action as { config: Config }).config, silentLogger);
    nodes.push(node);
    await node.start();
  }
  const [na, nb] = nodes;
  const name = uid('cl');
  const onA = na.connect(name, { info: 'on a' });
  inProcess.push(onA);
  await opened(onA);
  const worker = nb.room(name).serve((d: number) => ({ node: 'b', d }));
  inProcess.push(worker);
  await opened(worker);
  await until(() => onA.members.includes(worker.cid!), 'a sees b\'s worker join', 8000);
  assert.deepEqual(await onA.request(7), { node: 'b', d: 7 }, 'request from node a to a worker on node b');
  const listed = await na.room(name).members();
  assert.deepEqual(listed.map((m) => [m.cid, m.local]).sort(), [[onA.cid, true], [worker.cid, false]].sort());
  assert.equal(listed.find((m) => !m.local)?.node, `${prefix}-b`);
  // The server's publish and send on node b reach the member on node a.
  const got = record(onA);
  await nb.room(name).publish('from b', { topic: 'x' });
  await nb.room(name).send(onA.cid!, 'direct from b');
  await until(() => got.length === 1, 'a got the direct message (not subscribed to "x")', 8000);
  assert.deepEqual({ kind: got[0].kind, from: got[0].from, data: got[0].data }, { kind: 'direct', from: 'server', data: 'direct from b' });
  const messages: unknown[] = [];
  na.room(name).on('message', (e) => messages.push(e.data));
  await onA.publish('from a', { ack: true });
  await until(() => messages.includes('from a'), 'node a\'s tap saw the publication through the stream', 8000);
  // GUN: a put on node a goes through the room's log and is read on node b.
  await na.room(name).graph.put({ k: { _: { '#': 'k', '>': { v: Date.now() } }, v: 'across' } });
  let read: unknown;
  await until(() => { void nb.room(name).graph.get('k').then((n) => { read = n?.v; }); return read === 'across'; }, 'node b reads the put', 8000);
});

test('server.close(): an in-process member is told to restart, finds its server gone and closes (shutting_down)', async () => {
  const t = await startInProcess({ drainTimeoutMs: 1000 });
  const a = t.server.connect('/drained');
  const worker = t.server.room('/drained').pull(async () => 'x');
  await opened(a, worker);
  const closedA = next(a, 'closed', () => true, 8000);
  const closedW = next(worker, 'closed', () => true, 8000);
  await t.server.close();
  const [ea, ew] = await Promise.all([closedA, closedW]);
  assert.deepEqual([ea.code, ew.code], ['shutting_down', 'shutting_down']);
  assert.equal(t.server.connectionCounts().nativeInproc, 0);
  assert.equal((await rejection(t.server.room('/drained').publish('late'))).code, 'shutting_down');
});

test('an owned room made in process (/_/new): a WebSocket member joins it by its path; the owner sees it', async () => {
  const owner = member('/_/new');
  const hello = await next(owner, 'connect');
  assert.match(hello.room, /^\/r-/);
  const joined = next(owner, 'join');
  const ws = await wsMember(hello.room);
  assert.equal((await joined).cid, ws.hello!.cid);
  assert.equal(ws.hello!.owner, owner.cid);
});

test('a handle closed before it was admitted leaves no member behind', async () => {
  const room = uid('early');
  const early = s.server.connect(room);
  await early.close();
  const a = member(room);
  await opened(a);
  assert.deepEqual(await a.presence(), [a.cid]);
});

test('two in-process members answering each other without end do not starve a socket member', async () => {
  const room = uid('storm');
  const a = member(room);
  const b = member(room);
  await opened(a, b);
  let volleys = 0;
  let stop = false;
  // Each direct message is answered with another, from a microtask: no timer, no socket anywhere.
  const bounce = (self: Room) => self.on('message', (m) => { if (!stop && m.kind === 'direct') { volleys++; void self.send(m.from, volleys, { ack: false }); } });
  bounce(a);
  bounce(b);
  await a.send(b.cid!, 0, { ack: false });
  const ws = await wsMember(room);
  const t0 = Date.now();
  ws.send({ type: 'presence', ref: 'through' });
  await ws.waitFor((m) => m.type === 'presence' && m.ref === 'through', 5000);
  stop = true;
  assert.ok(volleys > 1000, `the volley ran meanwhile (${volleys})`);
  assert.ok(Date.now() - t0 < 3000, 'the socket member was served while it ran');
});

test('the admin API kicks an in-process member like any other (closed: kicked)', async () => {
  const room = uid('kick');
  const a = member(room);
  await opened(a);
  const closed = next(a, 'closed');
  const res = await fetch(`${s.http}/_/rooms${room}/kick`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ cid: a.cid, reason: 'test' }) });
  assert.deepEqual(await res.json(), { kicked: true });
  assert.deepEqual(await closed, { reason: 'kicked', code: 'kicked' });
});
