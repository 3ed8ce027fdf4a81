// GET /_/metrics (issue 12 §1): the Prometheus text format, our counters moving with real traffic
// (GUN puts/gets/acks, native publish/request, connections by protocol and transport, closes,
// refused upgrades), no room name in it, and the /_/stats rule for who may read it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { startServer, type RunningServer } from './helpers/server.ts';
import WebSocket from 'ws';
import { GunPeer, awaitUpgrade, uid as gunUid } from './helpers/gun-wire.ts';
import { SseMember, WsMember, uid, type Msg } from './helpers/native.ts';
import { ENGINE_KINDS, startCluster } from './helpers/cluster.ts';

const SECRET = 'metrics-test-secret-0123456789-abcdefgh';
const ADMIN_TOKEN = 'metrics-admin-token-0123456789';

let open: RunningServer;
let guarded: RunningServer;
before(async () => {
  [open, guarded] = await Promise.all([
    startServer({ args: ['--resume-grace', '0'] }),
    startServer({ args: ['--admin-token', ADMIN_TOKEN], env: { MULTISOCKET_JWT_SECRET: SECRET } }),
  ]);
});
after(async () => { await Promise.all([open?.stop(), guarded?.stop()]); });

type Samples = Map<string, number>;

/** Parse the exposition text strictly: every line a comment, blank, or `name{labels} value`. */
function parse(text: string): Samples {
  const samples: Samples = new Map();
  const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+-]+|[Nn]a[Nn]|[+-]Inf)$/;
  // prom-client writes NaN as "Nan" (an event-loop histogram with no samples yet); Go's ParseFloat, which Prometheus uses, takes any case.
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = sample.exec(line);
    assert.ok(m, `not an exposition line: ${JSON.stringify(line)}`);
    samples.set(m[1] + (m[2] ?? ''), Number(m[3]));
  }
  return samples;
}

async function scrape(server: RunningServer, headers: Record<string, string> = {}): Promise<{ text: string; samples: Samples }> {
  const res = await fetch(server.http + '/_/metrics', { headers, signal: AbortSignal.timeout(3000) });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return { text, samples: parse(text) };
}

const value = (s: Samples, key: string): number => s.get(key) ?? 0;

test('/_/metrics: Prometheus text; GUN, native, connection, close and refusal counters move; no room names', async () => {
  const gunRoom = '/' + gunUid('metrics-gun');
  const nativeRoom = '/' + uid('metrics-native');
  const before = (await scrape(open)).samples;

  // GUN: a put (acked ok), an invalid put (an err ack), a get.
  const peer = await GunPeer.connect(open.ws, gunRoom);
  const soul = gunUid('soul');
  const ok = await peer.putAck({ [soul]: { _: { '#': soul, '>': { a: 1 } }, a: 1 } });
  assert.equal(ok.ok, 1, JSON.stringify(ok));
  const bad = await peer.putAck({ [soul]: 5 });
  assert.ok(bad.err, JSON.stringify(bad));
  await peer.ask({ '#': soul });

  // Native: a WebSocket member serving requests, an SSE member publishing and asking.
  const server = await WsMember.connect(open.ws, nativeRoom);
  const sse = await SseMember.connect(open.http, nativeRoom);
  server.send({ type: 'serve' });
  server.send({ type: 'presence' });
  await server.waitFor((m: Msg) => m.type === 'presence', 2000, 'presence after serve');
  const pub = await sse.send({ type: 'publish', data: { hi: 1 } });
  assert.equal(pub.status, 200, pub.text);
  await server.waitFor((m: Msg) => m.type === 'message' && m.data?.hi === 1, 2000, 'the publication');
  const asking = sse.send({ type: 'request', id: 'q1', data: 2 });
  const req = await server.waitFor((m: Msg) => m.type === 'request', 2000, 'the request');
  server.send({ type: 'reply', id: req.id, data: 3 });
  const replied = await asking;
  assert.equal(replied.body?.data, 3, replied.text);
  const failing = sse.send({ type: 'request', id: 'q2', data: 4 });
  const req2 = await server.waitFor((m: Msg) => m.type === 'request' && m.id !== req.id, 2000, 'the second request');
  server.send({ type: 'reply', id: req2.id, error: { code: 'nope', message: 'refused by the handler' } });
  assert.equal((await failing).body?.error?.code, 'nope');

  // A refused upgrade (an unknown multisocket.* subprotocol).
  const refused = await awaitUpgrade(new WebSocket(open.ws + nativeRoom, 'multisocket.v9', { perMessageDeflate: false }));
  assert.equal(refused.kind, 'rejected');

  const during = await scrape(open);
  const s = during.samples;
  assert.equal(value(s, 'multisocket_connections{protocol="gun",transport="websocket"}'), 1);
  assert.equal(value(s, 'multisocket_connections{protocol="native",transport="websocket"}'), 1);
  assert.equal(value(s, 'multisocket_connections{protocol="native",transport="sse"}'), 1);
  assert.ok(value(s, 'multisocket_rooms') >= 2);
  assert.ok(value(s, 'multisocket_gun_puts_total') >= value(before, 'multisocket_gun_puts_total') + 2);
  assert.ok(value(s, 'multisocket_gun_gets_total') >= value(before, 'multisocket_gun_gets_total') + 1);
  assert.equal(value(s, 'multisocket_gun_acks_total'), value(before, 'multisocket_gun_acks_total') + 1);
  assert.equal(value(s, 'multisocket_gun_err_acks_total'), value(before, 'multisocket_gun_err_acks_total') + 1);
  assert.equal(value(s, 'multisocket_native_requests_total{outcome="ok"}'), value(before, 'multisocket_native_requests_total{outcome="ok"}') + 1);
  assert.equal(value(s, 'multisocket_native_requests_total{outcome="handler_error"}'), value(before, 'multisocket_native_requests_total{outcome="handler_error"}') + 1);
  for (const p of ['gun', 'native']) {
    assert.ok(value(s, `multisocket_messages_in_total{protocol="${p}"}`) > value(before, `multisocket_messages_in_total{protocol="${p}"}`), `messages in (${p})`);
    assert.ok(value(s, `multisocket_messages_out_total{protocol="${p}"}`) > value(before, `multisocket_messages_out_total{protocol="${p}"}`), `messages out (${p})`);
  }
  // Latency: the ok ack (not the err one), and both answers of the responder (ok, handler_error).
  const count = (x: Samples, name: string) => value(x, `${name}_count`);
  assert.equal(count(s, 'multisocket_gun_put_ack_seconds'), count(before, 'multisocket_gun_put_ack_seconds') + 1);
  assert.equal(count(s, 'multisocket_native_request_reply_seconds'), count(before, 'multisocket_native_request_reply_seconds') + 2);
  for (const h of ['multisocket_gun_put_ack_seconds', 'multisocket_native_request_reply_seconds']) {
    assert.equal(value(s, `${h}_bucket{le="+Inf"}`), count(s, h), `${h}: +Inf bucket = count`);
    assert.ok(value(s, `${h}_sum`) > value(before, `${h}_sum`) && value(s, `${h}_sum`) < 5, `${h}_sum grew by a latency`);
  }
  assert.equal(value(s, 'multisocket_upgrades_refused_total{reason="unsupported_subprotocol"}'), value(before, 'multisocket_upgrades_refused_total{reason="unsupported_subprotocol"}') + 1);
  assert.ok(s.has('nodejs_eventloop_lag_seconds'), 'the event-loop lag collector');
  assert.ok(s.has('process_resident_memory_bytes'), 'the process collectors');
  assert.ok(!s.has('multisocket_broker_up{kind="memory"}'), 'no broker gauge without a cluster');
  for (const r of [gunRoom, nativeRoom, soul]) assert.ok(!during.text.includes(r.slice(1)), `${r} appears in the metrics`);

  // A request nobody serves, then everyone leaves: closes by code, and counts survive the rooms.
  server.send({ type: 'unserve' });
  server.send({ type: 'presence' });
  await server.waitFor((m: Msg) => m.type === 'presence' && server.count((x: Msg) => x.type === 'presence') >= 2, 2000, 'presence after unserve');
  assert.equal((await sse.send({ type: 'request', id: 'q3', data: 5 })).body?.error?.code, 'no_responder');
  await Promise.all([peer.close(), server.close(), sse.close()]);
  // A client's close resolves when its side is closed; the server counts the close when its own
  // side is, which a loaded machine may run after the next scrape: scrape until both are counted.
  const closes = (x: Samples) => [...x].filter(([k]) => k.startsWith('multisocket_closes_total{')).reduce((n, [, v]) => n + v, 0);
  let after = await scrape(open);
  for (const end = Date.now() + 3000; closes(after.samples) < closes(before) + 2 && Date.now() < end;) after = await scrape(open);
  const a = after.samples;
  assert.equal(count(a, 'multisocket_native_request_reply_seconds'), count(s, 'multisocket_native_request_reply_seconds'), 'no_responder is not a latency');
  assert.equal(value(a, 'multisocket_native_requests_total{outcome="no_responder"}'), value(before, 'multisocket_native_requests_total{outcome="no_responder"}') + 1);
  assert.equal(closes(a), closes(before) + 2, 'two WebSocket closes (the GUN peer and the WebSocket member)');
  assert.ok(value(a, 'multisocket_messages_in_total{protocol="native"}') >= value(s, 'multisocket_messages_in_total{protocol="native"}'));
});

const delta = (a: Samples, b: Samples, key: string): number => value(a, key) - value(b, key);

test('/_/metrics: bytes in and out, messages out and deliveries by protocol (one publication or relayed put to two recipients: one message, two deliveries)', async () => {
  // Native: three members over WebSocket; one publishes a message the two others receive.
  const room = '/' + uid('metrics-fanout');
  const [a, b, c] = [await WsMember.connect(open.ws, room), await WsMember.connect(open.ws, room), await WsMember.connect(open.ws, room)];
  a.send({ type: 'presence' });
  await a.waitFor((m: Msg) => m.type === 'presence' && m.members?.length === 3, 2000, 'presence of three');
  const before = (await scrape(open)).samples;
  const publish = JSON.stringify({ type: 'publish', data: { fan: 'out'.repeat(100) }, ack: true, ref: 'p1' });
  a.send(publish);
  const got = await Promise.all([b, c].map((m) => m.waitFor((x: Msg) => x.type === 'message' && x.data?.fan !== undefined, 2000, 'the publication')));
  await a.waitFor((x: Msg) => x.type === 'ack' && x.ref === 'p1', 2000, 'the ack');
  const after = (await scrape(open)).samples;
  const p = (name: string) => delta(after, before, `${name}{protocol="native"}`);
  assert.equal(p('multisocket_bytes_in_total'), Buffer.byteLength(publish), 'bytes in: the publish frame\'s payload');
  // Written: the publication to b and c (one OutFrame, two deliveries) and the ack to a.
  assert.equal(p('multisocket_messages_out_total'), 2, 'the publication and the ack');
  assert.equal(p('multisocket_deliveries_total'), 3, 'the publication twice, the ack once');
  const publication = Buffer.byteLength(JSON.stringify(got[0]));
  assert.ok(p('multisocket_bytes_out_total') >= 2 * (publication + 4), `bytes out ${p('multisocket_bytes_out_total')} < two publications of ${publication} bytes`);
  assert.ok(p('multisocket_bytes_out_total') < 2 * (publication + 4) + 400, `bytes out ${p('multisocket_bytes_out_total')}: more than the publication twice and an ack`);
  assert.equal(delta(after, before, 'multisocket_deliveries_total{protocol="gun"}'), 0, 'nothing written to GUN peers');

  // GUN: a put relayed to two other peers (one frame, two deliveries) and acked to its sender.
  const gunRoom = '/' + gunUid('metrics-gun-fanout');
  const peers = [await GunPeer.connect(open.ws, gunRoom), await GunPeer.connect(open.ws, gunRoom), await GunPeer.connect(open.ws, gunRoom)];
  const gunBefore = (await scrape(open)).samples;
  const soul = gunUid('fan');
  const put = JSON.stringify({ '#': gunUid('put'), put: { [soul]: { _: { '#': soul, '>': { v: 1 } }, v: 'x'.repeat(200) } } });
  peers[0].send(put);
  await Promise.all(peers.slice(1).map((q) => q.waitFor((m: Msg) => m.put?.[soul] !== undefined, 2000, 'the relayed put')));
  await peers[0].waitFor((m: Msg) => m.ok === 1, 2000, 'the ack');
  const gunAfter = (await scrape(open)).samples;
  const g = (name: string) => delta(gunAfter, gunBefore, `${name}{protocol="gun"}`);
  assert.equal(g('multisocket_bytes_in_total'), Buffer.byteLength(put));
  assert.equal(g('multisocket_messages_out_total'), 2, 'the relayed put and the ack');
  assert.equal(g('multisocket_deliveries_total'), 3, 'the put to two peers, the ack to one');
  assert.ok(g('multisocket_bytes_out_total') >= 2 * Buffer.byteLength(put), 'the put written twice');
  assert.equal(delta(gunAfter, gunBefore, 'multisocket_gun_put_ack_seconds_count'), 1);

  // SSE and POST: a POST's body is bytes in; its answer (the ack) is a message, a delivery and bytes out.
  const sse = await SseMember.connect(open.http, room);
  const sseBefore = (await scrape(open)).samples;
  const posted = await sse.send({ type: 'publish', data: 7 });
  assert.equal(posted.status, 200, posted.text);
  await Promise.all([a, b, c].map((m) => m.waitFor((x: Msg) => x.type === 'message' && x.data === 7, 2000, 'the POSTed publication')));
  const sseAfter = (await scrape(open)).samples;
  const n = (name: string) => delta(sseAfter, sseBefore, `${name}{protocol="native"}`);
  assert.ok(n('multisocket_bytes_in_total') > 0, 'the POST body');
  assert.equal(n('multisocket_messages_out_total'), 2, 'the publication and the POST\'s answer');
  assert.equal(n('multisocket_deliveries_total'), 4, 'three members, and the POST\'s answer');
  assert.ok(n('multisocket_bytes_out_total') >= posted.text.length + 3 * 20);
  await Promise.all([a, b, c, sse, ...peers].map((m) => m.close()));
});

test('/_/metrics with credentials configured: 401 without the admin credential, 200 with --admin-token or an admin room token', async () => {
  const bare = await fetch(guarded.http + '/_/metrics');
  assert.equal(bare.status, 401);
  assert.equal((await bare.json() as Msg).error.code, 'token_required');
  const wrong = await fetch(guarded.http + '/_/metrics', { headers: { Authorization: 'Bearer wrong-wrong-wrong-wrong' } });
  assert.ok(wrong.status === 401 || wrong.status === 403, String(wrong.status));
  const user = await new SignJWT({ rooms: ['/**'] }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
  const notAdmin = await fetch(guarded.http + '/_/metrics', { headers: { Authorization: `Bearer ${user}` } });
  assert.equal(notAdmin.status, 403);
  await scrape(guarded, { Authorization: `Bearer ${ADMIN_TOKEN}` });
  const admin = await new SignJWT({ perms: ['admin'] }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
  await scrape(guarded, { Authorization: `Bearer ${admin}` });
});

test('/_/metrics: multisocket_rate_limited_total counts native messages dropped for --max-messages-per-second', async () => {
  const limited = await startServer({ args: ['--max-messages-per-second', '5'] });
  try {
    const w = await WsMember.connect(limited.ws, '/' + uid('metrics-rate'));
    // A batch of 8 in one frame: 5 within the budget, 3 dropped.
    w.send(Array.from({ length: 8 }, (_, i) => ({ type: 'publish', data: i, ref: `p${i}` })));
    await w.waitForCount((x: Msg) => x.type === 'error' && x.code === 'rate_limited', 3, 2000, 'rate_limited errors');
    assert.equal((await scrape(limited)).samples.get('multisocket_rate_limited_total'), 3);
    await w.close();
  } finally {
    await limited.stop();
  }
});

for (const kind of ENGINE_KINDS) {
  test(`[${kind}] /_/metrics in a cluster: broker up, round trip and backlog; a request across nodes and a put through the engine are timed`, async () => {
    const cluster = await startCluster(kind, { nodes: 2 });
    try {
      const [n0, n1] = cluster.nodes;
      const s = (await scrape(n0)).samples;
      assert.equal(s.get(`multisocket_broker_up{kind="${kind}"}`), 1, [...s.keys()].filter((k) => k.startsWith('multisocket_')).join(', '));
      // The first probe goes out as the node starts: answered well within a second on loopback.
      const rtt = s.get(`multisocket_broker_rtt_seconds{kind="${kind}"}`);
      assert.ok(rtt !== undefined && rtt > 0 && rtt < 1, `broker rtt ${rtt}`);
      const backlog = s.get(`multisocket_broker_backlog{kind="${kind}"}`);
      assert.ok(backlog !== undefined && backlog >= 0 && backlog < 100, `broker backlog ${backlog}`);

      // A request from node 1 to a member on node 0: timed on the requester's node (its hub holds the request).
      const room = '/' + uid('metrics-cluster');
      const asker = await WsMember.connect(n1.ws, room);
      const server = await WsMember.connect(n0.ws, room);
      await asker.waitFor((m: Msg) => m.type === 'join' && m.cid === server.hello!.cid, 3000, 'join of the server on node 1');
      const before1 = (await scrape(n1)).samples;
      asker.send({ type: 'request', id: 'c1', to: server.hello!.cid, data: 1 });
      const req = await server.waitFor((m: Msg) => m.type === 'request', 3000, 'the request on node 0');
      server.send({ type: 'reply', id: req.id, data: 2 });
      await asker.waitFor((m: Msg) => m.type === 'reply' && m.id === 'c1', 3000, 'the reply on node 1');
      const after1 = (await scrape(n1)).samples;
      assert.equal(delta(after1, before1, 'multisocket_native_request_reply_seconds_count'), 1);
      assert.equal(delta(after1, before1, 'multisocket_native_requests_total{outcome="ok"}'), 1);

      // A GUN put is acked once the engine took it: timed on the node of the peer that put it.
      const gunRoom = '/' + gunUid('metrics-cluster-gun');
      const peer = await GunPeer.connect(n0.ws, gunRoom);
      const before0 = (await scrape(n0)).samples;
      const soul = gunUid('soul');
      const ack = await peer.putAck({ [soul]: { _: { '#': soul, '>': { a: 1 } }, a: 1 } }, 5000);
      assert.equal(ack.ok, 1, JSON.stringify(ack));
      const after0 = (await scrape(n0)).samples;
      assert.equal(delta(after0, before0, 'multisocket_gun_put_ack_seconds_count'), 1);
      assert.ok(delta(after0, before0, 'multisocket_gun_put_ack_seconds_sum') > 0);

      // The engine hangs (SIGSTOP): a put waits in the backlog, and the next probe's wait shows as
      // a round trip that keeps growing (the probe goes out every 5 s: seen within ~7 s).
      cluster.engine.pause();
      try {
        const soul2 = gunUid('soul');
        peer.put({ [soul2]: { _: { '#': soul2, '>': { b: 1 } }, b: 1 } });
        let sawBacklog = 0, sawRtt = 0;
        for (const until = Date.now() + 12_000; (sawBacklog < 1 || sawRtt < 1) && Date.now() < until;) {
          const h = (await scrape(n0)).samples;
          sawBacklog = Math.max(sawBacklog, h.get(`multisocket_broker_backlog{kind="${kind}"}`) ?? 0);
          sawRtt = Math.max(sawRtt, h.get(`multisocket_broker_rtt_seconds{kind="${kind}"}`) ?? 0);
          await new Promise((r) => setTimeout(r, 200));
        }
        assert.ok(sawBacklog >= 1, `backlog while the engine hangs: ${sawBacklog}`);
        assert.ok(sawRtt >= 1, `round trip while the engine hangs: ${sawRtt} s`);
      } finally {
        cluster.engine.resume();
      }
      // Answered again: the round trip comes back down within a probe or two, the backlog empties.
      for (const until = Date.now() + 15_000; ;) {
        const h = (await scrape(n0)).samples;
        const r = h.get(`multisocket_broker_rtt_seconds{kind="${kind}"}`) ?? Infinity;
        const b = h.get(`multisocket_broker_backlog{kind="${kind}"}`) ?? Infinity;
        if (r < 0.5 && b === 0) break;
        assert.ok(Date.now() < until, `after the engine came back: rtt ${r} s, backlog ${b}`);
        await new Promise((res) => setTimeout(res, 200));
      }
      await Promise.all([server.close(), asker.close(), peer.close()]);
    } finally {
      await cluster.stop();
    }
  });
}
