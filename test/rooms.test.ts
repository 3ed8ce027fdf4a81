// Rooms by path (issue 2, section 2): routing and isolation, limits, room TTL, /_/health and
// /_/stats, plain HTTP on room paths, heartbeat and graceful shutdown. Raw WebSocket clients
// against the real server process; tests that need special flags start their own server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from './helpers/server.js';
import { GunPeer, PeerPool, sharedGunServer, uid, node, poll, httpGet, tryUpgrade, sleep, type Msg } from './helpers/gun-wire.js';

let server: RunningServer;
let pool: PeerPool;

sharedGunServer((s, p) => { server = s; pool = p; });

/** Start a server just for one test; it and its peers are cleaned up when the test ends. */
async function ownServer(t: { after(fn: () => Promise<void> | void): void }, args: string[]): Promise<{ srv: RunningServer; peers: PeerPool }> {
  const srv = await startServer({ args });
  const peers = new PeerPool(srv.ws);
  t.after(async () => { await peers.closeAll(); await srv.stop(); });
  return { srv, peers };
}

const isPutOf = (id: string) => (m: Msg) => m['#'] === id && m.put !== undefined;

/** A put from `from` reaches `to` (proves both are in the same room). */
async function reaches(from: GunPeer, to: GunPeer): Promise<void> {
  const soul = uid('probe'); // a fresh soul: HAM never drops it (puts that change nothing are not relayed)
  const id = from.put({ [soul]: node(soul, { n: 1 }) });
  await to.waitFor(isPutOf(id), 2000, `put from ${from.room} reaching ${to.room}`);
}

/** A put from `from` never reaches `to` (within a short window, after the put was acked). */
async function isolated(from: GunPeer, to: GunPeer): Promise<void> {
  const soul = uid('probe');
  const id = from.put({ [soul]: node(soul, { n: 1 }) });
  await from.waitFor((m) => m['@'] === id, 2000, 'ack of probe');
  await to.expectNone((m) => m['#'] === id || m['@'] === id, 200, `message from ${from.room}`);
}

// ---------------------------------------------------------------------------------------------
// Paths and isolation

test('rooms by path: same path = same room, other paths and sub-paths are other rooms, the query is not part of the room', async () => {
  const base = '/' + uid('path');
  const a = await pool.connect(base);
  const b = await pool.connect(base);
  const q = await pool.connect(base + '?x=1');
  const sub = await pool.connect(base + '/sub');
  const other = await pool.connect(base + '-other');
  await reaches(a, b);
  await reaches(a, q);
  await reaches(q, b);
  await isolated(a, sub);
  await isolated(sub, a);
  await isolated(a, other);
  await isolated(other, b);
});

test('the /_/ prefix is reserved: no WebSocket room there', async () => {
  for (const p of ['/_/health', '/_/stats', '/_/' + uid('x')]) {
    const r = await tryUpgrade(server.ws + p);
    if (r.kind === 'open') r.ws.terminate();
    assert.notEqual(r.kind, 'open', `upgrade on ${p} opened a socket`);
  }
});

test('isolation across 50 rooms: nothing of one room (puts, acks, errors, gets) reaches another', async () => {
  const N = 50;
  const rooms = Array.from({ length: N }, (_, i) => `/${uid('iso' + i)}`);
  const pairs = await Promise.all(rooms.map(async (r) => [await pool.connect(r), await pool.connect(r)] as const));
  // every room writes the same soul with its own value, all at once
  const ids = pairs.map(([a], i) => a.put({ shared: node('shared', { owner: rooms[i] }, 1) }));
  await Promise.all(pairs.map(async ([a, b], i) => {
    assert.equal((await a.waitFor((m) => m['@'] === ids[i])).ok, 1);
    const f = await b.waitFor(isPutOf(ids[i]));
    assert.equal(f.put.shared.owner, rooms[i]);
  }));
  // errors and DAM errors in some rooms
  pairs[0][0].put({ shared: node('shared', { owner: [1] }) });
  pairs[1][0].send('not json at all');
  pairs[2][0].send({ '#': uid('g'), get: { '#': 'shared' } });
  await pairs[0][0].waitFor((m) => typeof m.err === 'string');
  await pairs[1][0].waitFor((m) => m.dam === '!');
  // every room still reads its own value
  await Promise.all(pairs.map(async ([, b], i) => {
    const r = await b.ask({ '#': 'shared' });
    assert.equal(r.put?.shared?.owner, rooms[i], `${rooms[i]} reads ${JSON.stringify(r)}`);
  }));
  await sleep(100);
  pairs.forEach(([a, b], i) => {
    for (const p of [a, b]) {
      for (const m of p.messages) {
        if (m.put?.shared) assert.equal(m.put.shared.owner, rooms[i], `${rooms[i]} saw another room's data: ${JSON.stringify(m)}`);
        if (m['#'] && ids.includes(m['#'])) assert.equal(m['#'], ids[i], `${rooms[i]} saw another room's put`);
      }
      const errs = p.all((m) => m.err !== undefined || m.dam === '!');
      if (!(p === a && (i === 0 || i === 1))) assert.equal(errs.length, 0, `${rooms[i]} saw an error: ${JSON.stringify(errs)}`);
    }
  });
  // the get sent in room 2 was forwarded only inside room 2
  const gid = pairs[2][1].all((m) => m.get !== undefined).map((m) => m['#']);
  assert.ok(gid.length >= 1, 'the get was forwarded to the other peer of room 2');
  pairs.forEach(([a, b], i) => {
    if (i === 2) return;
    for (const p of [a, b]) assert.equal(p.all((m) => gid.includes(m['#'])).length, 0, `${rooms[i]} saw room 2's get`);
  });
  await Promise.all(pairs.flat().map((p) => p.close()));
});

test('isolation of ids: the same "#" in two rooms is processed in each; a reply naming another room\'s get goes nowhere', async () => {
  const rx = '/' + uid('idx');
  const ry = '/' + uid('idy');
  const x1 = await pool.connect(rx);
  const x2p = await pool.connect(rx);
  const y1 = await pool.connect(ry);
  const y2 = await pool.connect(ry);
  // same put id in both rooms
  const id = uid('same');
  x1.put({ n: node('n', { v: 'x' }) }, id);
  assert.equal((await x1.waitFor((m) => m['@'] === id)).ok, 1);
  await x2p.waitFor(isPutOf(id));
  y1.put({ n: node('n', { v: 'y' }) }, id);
  const ay = await y1.waitFor((m) => m['@'] === id, 2000, 'ack in the second room for a "#" already used in the first');
  assert.equal(ay.ok, 1);
  assert.equal((await y2.waitFor(isPutOf(id))).put.n.v, 'y');
  assert.equal((await y2.ask({ '#': 'n' })).put?.n?.v, 'y');
  assert.equal((await x2p.ask({ '#': 'n' })).put?.n?.v, 'x');
  // a get in room x; a peer of room y answers it by id
  const gid = uid('g');
  const soul = uid('s');
  x1.send({ '#': gid, get: { '#': soul } });
  await x2p.waitFor((m) => m['#'] === gid);
  y1.send({ '#': uid('r'), '@': gid, put: { [soul]: node(soul, { v: 'from y' }) } });
  await x1.expectNone((m) => m['@'] === gid && m.put !== undefined, 300, 'reply from another room');
  await x2p.expectNone((m) => m['@'] === gid, 0, 'reply from another room');
});

// ---------------------------------------------------------------------------------------------
// HTTP endpoints

test('GET /_/health and /_/stats report rooms, peers, nodes, bytes and message counts', async (t) => {
  const { srv, peers } = await ownServer(t, []);
  const h0 = await httpGet(srv.http + '/_/health');
  assert.equal(h0.status, 200);
  assert.match(h0.type, /json/);
  assert.equal(h0.json?.status, 'ok', h0.text);
  assert.equal(typeof h0.json?.uptime, 'number');
  assert.equal(h0.json?.rooms, 0, h0.text);
  assert.equal(h0.json?.connections, 0, h0.text);

  const a = await peers.connect('/room-a');
  const b = await peers.connect('/room-a');
  const c = await peers.connect('/room-b');
  assert.equal((await a.putAck({ jack: node('jack', { name: 'Jack' }) })).ok, 1);
  await b.waitFor((m) => m.put?.jack !== undefined);
  const r = await b.ask({ '#': 'jack' });
  assert.equal(r.put?.jack?.name, 'Jack');

  const h = await httpGet(srv.http + '/_/health');
  assert.equal(h.json?.rooms, 2, h.text);
  assert.equal(h.json?.connections, 3, h.text);
  assert.ok(h.json!.uptime >= h0.json!.uptime);

  const s = await httpGet(srv.http + '/_/stats');
  assert.equal(s.status, 200);
  assert.match(s.type, /json/);
  const st = s.json!;
  const room = st.rooms?.['/room-a'];
  assert.ok(room, `stats has /room-a: ${s.text}`);
  assert.deepEqual(Object.keys(st.rooms).sort(), ['/room-a', '/room-b'], s.text);
  assert.equal(room.peers, 2, s.text);
  assert.equal(room.nodes, 1, s.text);
  assert.ok(typeof room.bytes === 'number' && room.bytes > 0, s.text);
  assert.ok(room.messagesIn >= 2, `messagesIn: ${s.text}`);
  assert.ok(room.messagesOut >= 3, `messagesOut (ack, forward, reply): ${s.text}`);
  assert.equal(st.rooms['/room-b'].peers, 1);
  assert.equal(st.rooms['/room-b'].nodes, 0);
  const tot = st.totals;
  assert.equal(tot.rooms, 2, s.text);
  assert.equal(tot.peers, 3, s.text);
  assert.equal(tot.nodes, 1, s.text);
  for (const k of ['bytes', 'messagesIn', 'messagesOut'] as const) {
    assert.equal(typeof tot[k], 'number', `totals.${k}`);
    assert.ok(tot[k] >= room[k], `totals.${k} >= room's`);
  }
  void c;
  await a.close();
  const s2 = await poll(async () => {
    const x = await httpGet(srv.http + '/_/stats');
    return x.json?.rooms?.['/room-a']?.peers === 1 ? x : undefined;
  }, 2000, 50, '/room-a peers to drop to 1');
  assert.equal(s2.json!.totals.peers, 2);
});

test('plain HTTP GET on a room path answers 404 with a JSON explanation, never hangs', async () => {
  // '/a/b/c/': a trailing "/" names the room /a/b/c; without it, GET /a/b/c reads key "c" of room
  // /a/b over GUN's HTTP protocol (test/gun-http.test.ts), which answers 200 null.
  for (const p of ['/room-a', '/' + uid('x'), '/a/b/c/']) {
    const r = await httpGet(server.http + p, 2000);
    assert.equal(r.status, 404, `${p}: ${r.status} ${r.text}`);
    assert.ok(r.json && typeof r.json === 'object', `${p}: JSON body: ${r.text}`);
    assert.ok(Object.values(r.json).some((v) => typeof v === 'string' && v.length > 10), `${p}: body explains: ${r.text}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Limits

test('--max-message-bytes 1000: a 2000-byte frame closes that socket with 1009; others unaffected', async (t) => {
  const { peers } = await ownServer(t, ['--max-message-bytes', '1000']);
  const r = '/' + uid('mmb');
  const a = await peers.connect(r);
  const c = await peers.connect(r);
  const d = await peers.connect('/' + uid('mmb-other'));
  const small = a.put({ s: node('s', { v: 'x'.repeat(800) }) });
  assert.equal((await a.waitFor((m) => m['@'] === small)).ok, 1, 'an 850-byte frame is fine');
  const bigId = uid('big');
  const frame = JSON.stringify({ '#': bigId, put: { b: node('b', { v: 'y'.repeat(1950) }) } });
  assert.ok(frame.length >= 2000);
  a.send(frame);
  const closed = await Promise.race([a.closed, sleep(2000).then(() => undefined)]);
  assert.equal(closed?.code, 1009, `close: ${JSON.stringify(closed)}; ${a.describe()}`);
  assert.ok(c.isOpen && d.isOpen);
  assert.equal((await c.putAck({ c: node('c', { v: 1 }) })).ok, 1);
  assert.equal((await d.putAck({ d: node('d', { v: 1 }) })).ok, 1);
  assert.equal((await c.ask({ '#': 's' })).put?.s?.v, 'x'.repeat(800));
  assert.equal((await c.ask({ '#': 'b' })).put, undefined, 'the big put was not stored');
  await c.expectNone((m) => m['#'] === bigId, 0, 'relay of the oversized frame');
});

test('--max-peers-per-room 2: a third upgrade to that room gets HTTP 503, other rooms still accept', async (t) => {
  const { srv, peers } = await ownServer(t, ['--max-peers-per-room', '2']);
  const r = '/' + uid('full');
  const a = await peers.connect(r);
  await peers.connect(r);
  const third = await tryUpgrade(srv.ws + r);
  if (third.kind === 'open') third.ws.terminate();
  assert.equal(third.kind, 'rejected', `third peer: ${third.kind}`);
  assert.equal((third as { statusCode: number }).statusCode, 503);
  const other = await peers.connect('/' + uid('free'));
  assert.equal((await other.putAck({ o: node('o', { v: 1 }) })).ok, 1);
  // a place frees up when a peer leaves
  await a.close();
  const again = await poll(async () => {
    const x = await tryUpgrade(srv.ws + r);
    if (x.kind === 'open') return x;
    return undefined;
  }, 2000, 50, 'a free place in the room');
  again.ws.terminate();
});

test('--max-rooms 2: a third room is refused with HTTP 503; existing rooms still take peers', async (t) => {
  const { srv, peers } = await ownServer(t, ['--max-rooms', '2']);
  const [r1, r2, r3] = ['/' + uid('r1'), '/' + uid('r2'), '/' + uid('r3')];
  await peers.connect(r1);
  await peers.connect(r2);
  const x = await tryUpgrade(srv.ws + r3);
  if (x.kind === 'open') x.ws.terminate();
  assert.equal(x.kind, 'rejected', `third room: ${x.kind}`);
  assert.equal((x as { statusCode: number }).statusCode, 503);
  const more = await peers.connect(r1);
  assert.equal((await more.putAck({ m: node('m', { v: 1 }) })).ok, 1);
  const s = await httpGet(srv.http + '/_/stats');
  assert.equal(s.json?.totals?.rooms, 2, s.text);
});

test('--max-room-bytes 2000: a put that would exceed the cap gets an err ack; earlier data and other rooms intact', async (t) => {
  const { peers } = await ownServer(t, ['--max-room-bytes', '2000']);
  const rx = '/' + uid('cap');
  const a = await peers.connect(rx);
  const b = await peers.connect(rx);
  const y = await peers.connect('/' + uid('cap-other'));
  assert.equal((await a.putAck({ keep: node('keep', { name: 'Jack' }) })).ok, 1);
  const big = await a.putAck({ huge: node('huge', { v: 'z'.repeat(3000) }) });
  assert.equal(typeof big.err, 'string', `over-cap put: ${JSON.stringify(big)}`);
  assert.ok(!big.ok);
  assert.equal((await b.ask({ '#': 'keep' })).put?.keep?.name, 'Jack', 'earlier data intact');
  assert.equal((await b.ask({ '#': 'huge' })).put, undefined, 'over-cap put not stored');
  assert.equal((await a.putAck({ small: node('small', { v: 1 }) })).ok, 1, 'room still takes small puts');
  const oy = await y.putAck({ other: node('other', { v: 'w'.repeat(1000) }) });
  assert.equal(oy.ok, 1, `other room: ${JSON.stringify(oy)}`);
  assert.equal((await y.ask({ '#': 'other' })).put?.other?.v, 'w'.repeat(1000));
});

// ---------------------------------------------------------------------------------------------
// Room TTL

test('--room-ttl 1: an empty room keeps its graph for the TTL, then disappears completely', async (t) => {
  const { srv, peers } = await ownServer(t, ['--room-ttl', '1']);
  const stats = async () => (await httpGet(srv.http + '/_/stats')).json!;
  const stay = await peers.connect('/stay');
  assert.equal((await stay.putAck({ keep: node('keep', { name: 'Stay' }) })).ok, 1);

  const a = await peers.connect('/ttl');
  assert.equal((await a.putAck({ keep: node('keep', { name: 'Jack' }) })).ok, 1);
  await a.close();
  assert.ok((await stats()).rooms?.['/ttl'], 'the empty room is still listed');
  const b = await peers.connect('/ttl');
  assert.equal((await b.ask({ '#': 'keep' })).put?.keep?.name, 'Jack', 'a peer reconnecting within the TTL gets the data');
  await b.close();
  const left = Date.now();
  assert.ok((await stats()).rooms?.['/ttl'], 'the empty room is still listed');
  const goneAt = await poll(async () => ((await stats()).rooms?.['/ttl'] ? 0 : Date.now()), 4000, 50, '/ttl to leave /_/stats');
  const after = goneAt - left;
  assert.ok(after >= 800, `room freed ${after} ms after its last peer left; TTL is 1 s`);
  assert.ok(after <= 3000, `room freed only ${after} ms after its last peer left`);
  const st = await stats();
  assert.equal(st.totals.rooms, 1, JSON.stringify(st));

  const c = await peers.connect('/ttl');
  assert.equal((await c.ask({ '#': 'keep' })).put, undefined, 'the graph is gone');
  // a room with a peer is never freed
  assert.ok(stay.isOpen);
  assert.equal((await stay.ask({ '#': 'keep' })).put?.keep?.name, 'Stay', 'a room with a peer keeps its data past the TTL');
});

// ---------------------------------------------------------------------------------------------
// Heartbeat, shutdown

test('heartbeat pings are spread over the interval, not sent to every peer in one burst', async (t) => {
  // Regression: all peers were pinged in one loop; with 10,000 peers that is one 10,000-write
  // turn, and every client answers at the same instant (a latency tail for every room).
  const { peers } = await ownServer(t, ['--heartbeat', '1']);
  const r = '/' + uid('hbspread');
  const list = await Promise.all(Array.from({ length: 40 }, () => peers.connect(r)));
  const firstPing: number[] = [];
  for (const p of list) p.ws.once('ping', () => firstPing.push(Date.now()));
  await poll(async () => (firstPing.length === list.length ? true : undefined), 3000, 20, 'every peer to get a ping');
  const spread = Math.max(...firstPing) - Math.min(...firstPing);
  assert.ok(spread >= 400, `first pings of 40 peers arrived within ${spread} ms of each other: one burst`);
  for (const p of list) assert.ok(p.isOpen, 'every peer answered and stays');
});

test('--heartbeat 0.3: a peer that does not answer pings is dropped; a live one stays', async (t) => {
  const { srv, peers } = await ownServer(t, ['--heartbeat', '0.3']);
  const r = '/' + uid('hb');
  const alive = await peers.connect(r);
  const dead = await peers.connect(r, { autoPong: false });
  const t0 = Date.now();
  const closed = await Promise.race([dead.closed, sleep(1500).then(() => undefined)]);
  assert.ok(closed, `a peer that never pongs is still connected after 1.5 s: ${dead.describe()}`);
  assert.ok(Date.now() - t0 <= 1500);
  assert.ok(alive.isOpen, 'the live peer stays');
  assert.ok(alive.pings > 0 || alive.frames.includes('[]'), 'the live peer got heartbeats');
  await sleep(Math.max(0, 1000 - (Date.now() - t0)));
  assert.ok(alive.isOpen, 'the live peer stays');
  assert.equal((await alive.putAck({ hb: node('hb', { v: 1 }) })).ok, 1);
  const s = await poll(async () => {
    const x = await httpGet(srv.http + '/_/stats');
    return x.json?.rooms?.[r]?.peers === 1 ? x : undefined;
  }, 1000, 50, 'stats to count one peer');
  assert.equal(s.json!.totals.peers, 1);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`graceful shutdown on ${signal}: peers closed with 1001, exit 0 within 5 s`, async () => {
    const srv = await startServer();
    const peers = new PeerPool(srv.ws);
    try {
      const a = await peers.connect('/s1');
      const b = await peers.connect('/s1');
      const c = await peers.connect('/s2');
      const t0 = Date.now();
      const code = await srv.stop(signal);
      const took = Date.now() - t0;
      assert.equal(code, 0, `exit code; logs:\n${srv.logs.slice(-5).join('\n')}`);
      assert.ok(took < 5000, `exit took ${took} ms`);
      for (const p of [a, b, c]) {
        const info = await Promise.race([p.closed, sleep(1000).then(() => undefined)]);
        assert.equal(info?.code, 1001, `${p.room} close: ${JSON.stringify(info)}`);
      }
    } finally {
      await peers.closeAll();
      await srv.stop();
    }
  });
}
