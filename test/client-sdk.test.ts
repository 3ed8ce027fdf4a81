// The client SDK (src/client, `multisocket/client`) against the real server process, over both
// transports: pub/sub with wildcards, direct messages, request/reply and its errors, push/pull,
// presence and membership, writes buffered before the connection opens, reconnect with resume
// from lastSeq (through a proxy whose sockets the test cuts) and gaps (small history; a restarted
// server), owned rooms, and WebSocket and SSE members of one room talking to each other.
// The last tests are unit tests of the SDK's pure parts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from './helpers/server.js';
import {
  connect,
  backoffDelay,
  topicMatches,
  parseServerFrame,
  MultisocketError,
  type ConnectOptions,
  type DataMessage,
  type Room,
  type TransportName,
} from '../src/client/index.ts';
import { OwnPublishes } from '../src/client/echoes.ts';
import { CutProxy, FAST, Handles, TRANSPORTS, next, opened, record, rejection, sleep, uid, until } from './helpers/client.ts';

let server: RunningServer;
const handles = new Handles();

before(async () => {
  server = await startServer();
});
after(async () => {
  await handles.closeAll();
  await server?.stop();
});

/** A handle that is closed when the file ends (or earlier by the test). */
const join = (base: string, path: string, transport: TransportName, opts: ConnectOptions = {}): Room => handles.join(base, path, transport, opts);

async function untilAsync(cond: () => Promise<boolean>, label: string, timeoutMs = 4000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${label}`);
    await sleep(10);
  }
}

/** Open connections (WebSocket + SSE streams) of the shared server. */
async function serverConnections(): Promise<number> {
  const stats = (await (await fetch(`${server.http}/_/stats`)).json()) as { connections: number };
  return stats.connections;
}

/** Members a and b of a fresh room, both connected and knowing each other. */
async function pair(transport: TransportName, other: TransportName = transport, opts: ConnectOptions = {}): Promise<[Room, Room, string]> {
  const path = uid('pair');
  const a = join(server.http, path, transport, opts);
  await opened(a);
  const b = join(server.http, path, other, opts);
  await Promise.all([opened(b), next(a, 'join')]);
  return [a, b, path];
}

// ---------------------------------------------------------------------------------------------
// Each transport

for (const T of TRANSPORTS) {
  test(`[${T}] connect: identity, owner, members; presence; join and leave`, async () => {
    const path = uid('presence');
    const a = join(server.http, path, T);
    const info = await next(a, 'connect');
    assert.equal(info.room, path);
    assert.equal(info.resumed, false);
    assert.equal(a.cid, info.cid);
    assert.equal(a.owner, a.cid);
    assert.deepEqual(a.members, [a.cid]);
    assert.equal(a.room, path);
    assert.equal(a.lastSeq, 0);

    const b = join(server.http, path, T);
    const joined = await next(a, 'join');
    await opened(b);
    assert.equal(joined.cid, b.cid);
    assert.deepEqual(a.members.sort(), [a.cid, b.cid].sort());
    assert.equal(b.owner, a.cid);
    assert.deepEqual((await b.presence()).sort(), [a.cid, b.cid].sort());

    // the owner leaves: b is told, and becomes owner
    const left = next(b, 'leave');
    const aCid = a.cid;
    a.close();
    const leave = await left;
    assert.equal(leave.cid, aCid);
    assert.equal(leave.owner, b.cid);
    assert.equal(b.owner, b.cid);
    assert.deepEqual(b.members, [b.cid]);
    assert.deepEqual(await b.presence(), [b.cid]);
  });

  test(`[${T}] publish to all, echo, topics with wildcards, subscribe/unsubscribe, topics option`, async () => {
    const [a, b, path] = await pair(T);
    const c = join(server.http, path, T, { topics: ['news.eu'] });
    // c's join may reach a before c's own connect reaches c: match it by not being b.
    await Promise.all([opened(c), next(a, 'join', (j) => j.cid !== b.cid)]);
    const aLog = record(a);
    const bLog = record(b);
    const cLog = record(c);
    const bNews: unknown[] = [];
    const bAll: unknown[] = [];
    const stopNews = b.subscribe('news.*', (data, msg) => { bNews.push(data); assert.equal(msg.from, a.cid); });
    b.subscribe('*', (data) => bAll.push(data));

    a.publish({ n: 1 });
    a.publish('eu', { topic: 'news.eu' });
    a.publish('us', { topic: 'news.us' });
    a.publish('goal', { topic: 'sports.football' });
    a.publish('mine', { echo: true });
    await until(() => bLog.length === 5, 'b to get 5 messages');
    assert.deepEqual(bLog.map((m) => m.data), [{ n: 1 }, 'eu', 'us', 'goal', 'mine']);
    assert.ok(bLog.every((m) => m.kind === 'publish' && m.from === a.cid && typeof m.seq === 'number'));
    assert.deepEqual(bLog.map((m) => m.seq), [1, 2, 3, 4, 5].map((i) => bLog[0].seq! + i - 1));
    assert.equal(b.lastSeq, bLog[4].seq);
    assert.deepEqual(bLog.map((m) => m.topic), [undefined, 'news.eu', 'news.us', 'sports.football', undefined]);
    assert.deepEqual(bNews, ['eu', 'us']);
    assert.deepEqual(bAll, ['eu', 'us', 'goal']);
    // a gets only its echo; c (topics: news.eu, no handler) gets untopical ones and news.eu
    await until(() => aLog.length === 1 && cLog.length === 3, 'a and c');
    assert.equal(aLog[0].data, 'mine');
    assert.equal(aLog[0].from, a.cid);
    assert.deepEqual(cLog.map((m) => m.data), [{ n: 1 }, 'eu', 'mine']);

    stopNews();
    a.publish('eu2', { topic: 'news.eu' });
    a.publish('end');
    await until(() => bLog.length === 7, 'b: 2 more');
    assert.deepEqual(bNews, ['eu', 'us'], 'news.* handler removed');
    assert.deepEqual(bAll, ['eu', 'us', 'goal', 'eu2'], '* still subscribed');
  });

  test(`[${T}] send: a direct message to one member`, async () => {
    const [a, b, path] = await pair(T);
    const c = join(server.http, path, T);
    await opened(c);
    const bLog = record(b);
    const cLog = record(c);
    a.send(b.cid!, { secret: 42 });
    a.send(c.cid!, 'to c');
    await until(() => bLog.length === 1 && cLog.length === 1, 'direct messages');
    assert.deepEqual(bLog[0], { type: 'message', kind: 'direct', from: a.cid, data: { secret: 42 }, n: 1 }, 'the first message to b alone is n 1');
    assert.equal(cLog[0].data, 'to c');
    // to nobody: an `error` event with the code
    a.send('c-nobody', 'x');
    const err = await next(a, 'error');
    assert.equal(err.code, 'unknown_target');
  });

  test(`[${T}] request/reply: value, promise, handler_error, own code, no_responder, unknown_target, timeout, gone`, async () => {
    const [a, b, path] = await pair(T);
    // nobody serves yet
    assert.equal((await rejection(a.request('x'))).code, 'no_responder');
    b.serve(async (data, ctx) => {
      assert.equal(ctx.from, a.cid);
      const q = data as { op: string; args: number[] };
      if (q.op === 'sum') return q.args.reduce((x, y) => x + y, 0);
      if (q.op === 'sync') return 'sync';
      if (q.op === 'throw') throw new Error('boom');
      if (q.op === 'code') throw new MultisocketError('not_found', 'no such thing');
      if (q.op === 'hang') return new Promise(() => {});
      return undefined;
    });
    await b.presence(); // `serve` has reached the server
    assert.equal(await a.request({ op: 'sum', args: [1, 2, 3] }), 6);
    assert.equal(await a.request({ op: 'sync' }, { to: b.cid }), 'sync');
    assert.equal(await a.request({ op: 'nothing' }), null);
    const thrown = await rejection(a.request({ op: 'throw' }));
    assert.equal(thrown.code, 'handler_error');
    assert.equal(thrown.message, 'boom');
    assert.equal((await rejection(a.request({ op: 'code' }))).code, 'not_found');
    assert.equal((await rejection(a.request('x', { to: 'c-nobody' }))).code, 'unknown_target');
    // a member that does not serve still answers requests sent `to` it
    assert.equal((await rejection(b.request('x', { to: a.cid }))).code, 'no_responder');

    const t0 = Date.now();
    const timedOut = await rejection(a.request({ op: 'hang' }, { timeout: 300 }));
    assert.equal(timedOut.code, 'timeout');
    const took = Date.now() - t0;
    assert.ok(took >= 250 && took < 1200, `the server's timeout answers (${took} ms)`);

    // the target leaves before answering
    const c = join(server.http, path, T);
    await opened(c);
    let asked = false;
    c.serve(() => { asked = true; return new Promise(() => {}); });
    const pending = a.request('x', { to: c.cid });
    await until(() => asked, 'the target to get the request'); // it must not leave before that
    c.close();
    assert.equal((await rejection(pending)).code, 'gone');

    // unserve: no responder again
    b.unserve();
    await b.presence();
    assert.equal((await rejection(a.request('x'))).code, 'no_responder');
  });

  test(`[${T}] push/pull: a push waits for a puller, round-robin over pullers, outcome to the pusher, unpull`, async () => {
    const [a, b, path] = await pair(T);
    const c = join(server.http, path, T);
    await opened(c);
    // Nobody pulls yet: the job waits in the room's queue (it used to be refused no_puller and lost).
    const early = a.push('early');
    const got: Record<string, unknown[]> = { b: [], c: [] };
    b.pull((data, ctx) => { assert.equal(ctx.from, a.cid); got.b.push(data); return `b:${String(data)}`; });
    const first = await early;
    assert.deepEqual({ ...first, job: typeof first.job }, { status: 'done', job: 'string', from: b.cid, data: 'b:early', attempts: 1 });
    c.pull((data) => { got.c.push(data); return `c:${String(data)}`; });
    await c.presence();
    const outcomes = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => a.push(i)));
    assert.equal(got.b.length + got.c.length, 7);
    assert.ok(got.b.length >= 2 && got.c.length >= 2, `both pull (${got.b.length}, ${got.c.length})`);
    for (const [i, o] of outcomes.entries()) assert.equal(o.data, `${o.from === b.cid ? 'b' : 'c'}:${i}`);
    b.unpull();
    await b.presence();
    for (let i = 6; i < 9; i++) await a.push(i);
    assert.equal(got.c.length + 3, got.c.length + 3);
    assert.deepEqual(got.c.slice(-3), [6, 7, 8], 'all to c after b unpulled');
  });

  test(`[${T}] writes made before the connection opens are sent in order after it`, async () => {
    const path = uid('early');
    const b = join(server.http, path, T);
    await opened(b);
    const bLog = record(b);
    b.serve((d) => `answer:${String(d)}`);
    b.pull(() => {});
    await b.presence();
    const a = join(server.http, path, T);
    assert.equal(a.state, 'connecting');
    assert.equal(a.cid, undefined);
    const topical: unknown[] = [];
    a.subscribe('t.*', (d) => topical.push(d));
    for (let i = 1; i <= 5; i++) a.publish(i);
    a.send(b.cid!, 'direct');
    a.push('work');
    a.publish(6);
    const answer = a.request('q');
    const members = a.presence();
    await until(() => bLog.length === 8, 'b to get 8 messages');
    assert.deepEqual(bLog.map((m) => m.data), [1, 2, 3, 4, 5, 'direct', 'work', 6]);
    assert.deepEqual(bLog.map((m) => m.kind), ['publish', 'publish', 'publish', 'publish', 'publish', 'direct', 'push', 'publish']);
    assert.equal(await answer, 'answer:q');
    assert.deepEqual((await members).sort(), [a.cid, b.cid].sort());
    b.publish('t', { topic: 't.x' });
    await until(() => topical.length === 1, 'subscription made before open');
  });

  test(`[${T}] close(): pending calls reject with "closed", later writes reject, no reconnect`, async () => {
    const [a, b] = await pair(T);
    b.serve(() => new Promise(() => {}));
    await b.presence();
    const pending = a.request('x');
    const closed = next(a, 'closed');
    let reconnecting = false;
    a.on('reconnecting', () => { reconnecting = true; });
    a.close();
    assert.equal((await closed).reason, 'client');
    assert.equal((await rejection(pending)).code, 'closed');
    assert.equal(a.state, 'closed');
    assert.equal((await rejection(a.publish('late'))).code, 'closed');
    assert.throws(() => a.serve(() => 1), (e: unknown) => e instanceof MultisocketError && e.code === 'closed');
    assert.equal((await rejection(a.presence())).code, 'closed');
    await sleep(150);
    assert.equal(reconnecting, false);
  });

  test(`[${T}] since: a new handle resumes from a saved seq; reconnect: false ends with "disconnected"`, async () => {
    const [a, b, path] = await pair(T);
    a.publish('s1');
    a.publish('s2', { topic: 'some.topic' });
    a.publish('s3');
    await until(() => b.lastSeq === 3, 'b to see 3 messages');
    const c = join(server.http, path, T, { since: 1, topics: ['some.*'] });
    const cLog = record(c);
    await until(() => cLog.length === 2, 'replay since 1');
    assert.deepEqual(cLog.map((m) => [m.seq, m.data]), [[2, 's2'], [3, 's3']]);

    const proxy = await CutProxy.start(server.port);
    try {
      const d = join(proxy.http, path, T, { reconnect: false });
      await opened(d);
      let reconnecting = false;
      d.on('reconnecting', () => { reconnecting = true; });
      const closed = next(d, 'closed');
      proxy.cut();
      assert.equal((await closed).reason, 'disconnected');
      assert.equal(reconnecting, false);
      assert.equal(d.state, 'closed');
    } finally {
      await proxy.close();
    }
  });

  test(`[${T}] a dropped connection resumes the same member: same cid, no leave/join, replay, held messages, state restored`, async () => {
    const proxy = await CutProxy.start(server.port);
    try {
      const path = uid('resume');
      const b = join(server.http, path, T);
      await opened(b);
      const a = join(proxy.http, path, T, { ...FAST, topics: ['fixed'] });
      await opened(a);
      const aLog = record(a);
      const aTopic: unknown[] = [];
      a.subscribe('t.*', (d) => aTopic.push(d));
      a.serve((d) => `a:${String(d)}`);
      const pulled: unknown[] = [];
      a.pull((d) => pulled.push(d));
      let release!: () => void;
      const gate = new Promise<void>((r) => { release = r; });
      b.serve(async (d) => { await gate; return `b:${String(d)}`; });
      await Promise.all([a.presence(), b.presence()]);

      b.publish('m1');
      await until(() => aLog.length === 1, 'm1');
      const bLog = record(b);
      const bMembership: string[] = [];
      b.on('join', (j) => bMembership.push(`join ${j.cid}`));
      b.on('leave', (l) => bMembership.push(`leave ${l.cid}`));
      a.publish('mine'); // b sees it; a must not get it back in the replay (same cid now)
      await until(() => bLog.length === 1, 'b sees mine');
      const oldCid = a.cid;
      const seqBefore = a.lastSeq;
      // In flight across the drop (over WebSocket; an SSE request rides on its own POST, which the cut ends).
      const inFlight = T === 'websocket' ? a.request('slow', { to: b.cid, timeout: 8000 }) : undefined;
      if (inFlight) await sleep(50);

      proxy.refusing = true;
      const reconnecting = next(a, 'reconnecting');
      const connections = await serverConnections();
      proxy.cut();
      const r = await reconnecting;
      assert.equal(r.attempt, 1);
      assert.ok(a.state === 'reconnecting');
      // Once the server has seen the drop, what is sent to a is held for it (what was already in
      // the dead socket's buffers is lost with it, as with any TCP connection).
      await untilAsync(async () => (await serverConnections()) < connections, 'the server to notice the drop');
      // while a is away
      release();
      b.publish('m2');
      b.publish('t2', { topic: 't.x' });
      b.publish('f2', { topic: 'fixed' });
      b.publish('other', { topic: 'nobody.listens' });
      await b.send(oldCid!, 'held for a');
      a.publish('queued while away');
      const gaps: unknown[] = [];
      a.on('gap', (g) => gaps.push(g));
      proxy.refusing = false;

      const info = await next(a, 'connect');
      assert.equal(info.resumed, true);
      assert.equal(info.reconnected, true);
      assert.equal(a.cid, oldCid, 'same member');
      if (inFlight) assert.equal(await inFlight, 'b:slow', 'the reply held for the dropped member arrives');
      await until(() => aLog.length === 5, 'replay of m2, t2, f2 and the held direct message');
      assert.deepEqual(aLog.slice(1).filter((m) => m.kind === 'publish').map((m) => m.data), ['m2', 't2', 'f2']);
      assert.deepEqual(aLog.filter((m) => m.kind === 'direct').map((m) => m.data), ['held for a']);
      assert.ok(aLog[1].seq! > seqBefore);
      assert.deepEqual(aTopic, ['t2']);
      assert.deepEqual(gaps, []);
      await until(() => bLog.some((m) => m.data === 'queued while away'), 'the write queued while away');
      // serve and pull were re-established on the new connection
      assert.equal(await b.request('r', { to: a.cid }), 'a:r');
      b.unserve();
      assert.equal(await b.request('r2'), 'a:r2');
      await b.push('job');
      assert.deepEqual(pulled, ['job']);
      b.publish('live');
      await until(() => aLog.some((m) => m.data === 'live'), 'live after resume');
      assert.ok(!aLog.some((m) => m.data === 'mine'), 'own publish not replayed');
      assert.equal(a.lastSeq, aLog.filter((m) => m.kind === 'publish').at(-1)!.seq);
      assert.deepEqual(bMembership, [], 'b saw no leave/join for the blip');
    } finally {
      await proxy.close();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Gaps: a history too short, then a restarted server

test('gap: history too short, then a restarted server (numbering reset) — both transports', async () => {
  let srv = await startServer({ args: ['--history-size', '3'] });
  const proxy = await CutProxy.start(srv.port);
  const local = new Set<Room>();
  try {
    const path = uid('gap');
    const b = connect(srv.http + path, { ...FAST });
    local.add(b);
    await opened(b);
    const members = TRANSPORTS.map((T) => connect(proxy.http + path, { ...FAST, transport: T }));
    members.forEach((m) => local.add(m));
    await opened(...members);
    const logs = members.map(record);
    b.publish('x1');
    await until(() => logs.every((l) => l.length === 1), 'x1');
    const since = members[0].lastSeq;

    proxy.refusing = true;
    const away = members.map((m) => next(m, 'reconnecting'));
    proxy.cut();
    await Promise.all(away);
    for (let i = 1; i <= 5; i++) b.publish(`y${i}`);
    await b.presence();
    const gaps = members.map((m) => next(m, 'gap'));
    proxy.refusing = false;
    for (const [i, g] of (await Promise.all(gaps)).entries()) {
      assert.deepEqual({ from: g.from, to: g.to, reset: g.reset }, { from: since + 1, to: since + 2, reset: undefined }, TRANSPORTS[i]);
    }
    await until(() => logs.every((l) => l.length === 4), 'the 3 kept messages');
    for (const l of logs) assert.deepEqual(l.map((m) => m.data), ['x1', 'y3', 'y4', 'y5']);
    const lastSeq = members[0].lastSeq;
    assert.equal(lastSeq, since + 5);

    // the server restarts on the same port: history and numbering are gone
    const port = srv.port;
    const resets = members.map((m) => next(m, 'gap', undefined, 8000));
    const reconnected = members.map((m) => next(m, 'connect', undefined, 8000));
    await srv.stop();
    srv = await startServer({ port, args: ['--history-size', '3'] });
    await Promise.all([...reconnected, next(b, 'connect', undefined, 8000)]);
    for (const g of await Promise.all(resets)) {
      // the server's own reset gap: nothing of the new numbering is lost (to 0), no made-up range
      assert.deepEqual({ ...g }, { type: 'gap', reset: true, from: 1, to: 0 });
    }
    for (const m of members) assert.equal(m.lastSeq, 0);
    b.publish('after restart');
    await until(() => logs.every((l) => l.length === 5), 'a message after the restart');
    for (const [i, m] of members.entries()) {
      assert.equal(logs[i][4].data, 'after restart');
      assert.equal(m.lastSeq, 1);
    }
  } finally {
    for (const r of local) r.close();
    await proxy.close();
    await srv.stop();
  }
});

// ---------------------------------------------------------------------------------------------
// WebSocket and SSE members together

test('a WebSocket member and an SSE member of one room talk to each other', async () => {
  const [ws, sse] = await pair('websocket', 'sse');
  const wsLog = record(ws);
  const sseLog = record(sse);
  ws.publish('from ws');
  sse.publish('from sse');
  ws.send(sse.cid!, 'ws→sse');
  sse.send(ws.cid!, 'sse→ws');
  await until(() => wsLog.length === 2 && sseLog.length === 2, 'both ways');
  assert.deepEqual(sseLog.map((m) => [m.kind, m.from, m.data]), [['publish', ws.cid, 'from ws'], ['direct', ws.cid, 'ws→sse']]);
  assert.deepEqual(wsLog.map((m) => [m.kind, m.from, m.data]), [['publish', sse.cid, 'from sse'], ['direct', sse.cid, 'sse→ws']]);

  ws.serve((d) => ({ by: 'ws', d }));
  sse.serve((d) => ({ by: 'sse', d }));
  await Promise.all([ws.presence(), sse.presence()]);
  assert.deepEqual(await sse.request(1), { by: 'ws', d: 1 });
  assert.deepEqual(await ws.request(2), { by: 'sse', d: 2 });
  // each asks the other while being asked (SSE's request POST must not block its reply POST)
  const [x, y] = await Promise.all([ws.request('p', { to: sse.cid }), sse.request('q', { to: ws.cid })]);
  assert.deepEqual([x, y], [{ by: 'sse', d: 'p' }, { by: 'ws', d: 'q' }]);

  const pulled: unknown[] = [];
  sse.pull((d) => pulled.push(d));
  await sse.presence();
  ws.push('job');
  await until(() => pulled.length === 1, 'push ws→sse');
});

test('owned rooms (/_/new): the creator owns it, sees join/leave; when it leaves everyone gets closed', async () => {
  for (const [ownerT, memberT] of [['websocket', 'sse'], ['sse', 'websocket']] as const) {
    const owner = join(server.ws, '/_/new', ownerT); // a ws:// URL works for SSE too
    const info = await next(owner, 'connect');
    assert.match(info.room, /^\/r-[A-Za-z0-9_-]{22}$/);
    assert.equal(owner.room, info.room);
    assert.equal(owner.owner, owner.cid);
    const member = join(server.http, info.room, memberT);
    const joined = await next(owner, 'join');
    await opened(member);
    assert.equal(joined.cid, member.cid);
    assert.equal(member.owner, owner.cid);
    const memberLog = record(member);
    owner.publish('welcome');
    await until(() => memberLog.length === 1, 'welcome');
    let reconnecting = false;
    member.on('reconnecting', () => { reconnecting = true; });
    const closed = next(member, 'closed');
    owner.close();
    assert.equal((await closed).reason, 'owner_left', `${ownerT} owner, ${memberT} member`);
    assert.equal(member.state, 'closed');
    await sleep(100);
    assert.equal(reconnecting, false);
  }
});

// ---------------------------------------------------------------------------------------------
// Pure parts

test('unit: backoff doubles from 250 ms to 10 s with ±50% jitter', () => {
  const mid = () => 0.5;
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 10].map((n) => backoffDelay(n, {}, mid)), [250, 500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]);
  assert.equal(backoffDelay(0, {}, () => 0), 125);
  assert.equal(backoffDelay(0, {}, () => 0.999999), 375);
  assert.equal(backoffDelay(9, {}, () => 0), 5000);
  assert.equal(backoffDelay(2, { initial: 100, max: 300, jitter: 0 }), 300);
});

test('unit: topic patterns', () => {
  assert.ok(topicMatches('news.*', 'news.eu'));
  assert.ok(topicMatches('news.*', 'news.'));
  assert.ok(!topicMatches('news.*', 'news'));
  assert.ok(topicMatches('*', 'anything'));
  assert.ok(topicMatches('a', 'a'));
  assert.ok(!topicMatches('a', 'ab'));
});

test('unit: server frames parse into the typed union; unknown and malformed ones are dropped', () => {
  const frame = JSON.stringify([
    { type: 'message', kind: 'publish', from: 'c1', data: { x: 1 }, seq: 3, extra: true },
    { type: 'bogus' },
    { type: 'message', kind: 'weird', from: 'c1' },
    { type: 'reply', id: 7, error: { code: 'timeout' } },
    { type: 'reply', id: 'r1', from: 'c2' },
    { type: 'join' },
    { type: 'error', code: 'bad_message', message: 'no', ref: 'bogus' },
    'text',
  ]);
  assert.deepEqual(parseServerFrame(frame), [
    { type: 'message', kind: 'publish', from: 'c1', data: { x: 1 }, seq: 3 },
    { type: 'reply', id: 7, error: { code: 'timeout' } },
    { type: 'reply', id: 'r1', from: 'c2', data: null },
    { type: 'error', code: 'bad_message', message: 'no', ref: 'bogus' },
  ]);
  assert.deepEqual(parseServerFrame('{not json'), []);
  assert.deepEqual(parseServerFrame('{"type":"closed","reason":"owner_left"}'), [{ type: 'closed', reason: 'owner_left' }]);
});

test('unit: own publishes replayed from an earlier cid are dropped unless their echo was still due', () => {
  const own = new OwnPublishes();
  const msg = (from: string, data: unknown, topic?: string): DataMessage =>
    ({ type: 'message', kind: 'publish', from, data, seq: 1, ...(topic ? { topic } : {}) });
  own.connected('c1');
  own.sentEcho('c1', undefined, 'echoed live');
  own.sentEcho('c1', 't', 'echo lost');
  assert.ok(own.accept(msg('c1', 'echoed live')));
  own.connected('c2'); // reconnect
  assert.ok(!own.accept(msg('c1', 'not echoed')), 'plain own publish from before');
  assert.ok(!own.accept(msg('c1', 'echo lost')), 'same data, other topic');
  assert.ok(own.accept(msg('c1', 'echo lost', 't')), 'echo still due');
  assert.ok(!own.accept(msg('c1', 'echo lost', 't')), 'only once');
  assert.ok(own.accept(msg('c9', 'someone else')));
  assert.ok(own.isOwn('c1') && own.isOwn('c2') && !own.isOwn('c9'));
});
