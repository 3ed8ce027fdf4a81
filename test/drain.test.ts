// The drain (docs/cluster.md "Drain", docs/protocol.md §1 and §7): SIGTERM (or POST /_/drain) makes
// /_/ready answer 503 and the doors refuse, closes GUN peers with 1001, tells each native member
// `closed` `restart` with a `retryMs` and closes it with 1012 once no request is in flight for it
// (at the latest after --drain-timeout), then exits 0. The SDK comes back after retryMs, on the next
// of its URLs. One node, memory broker (and a check on Redis and NATS that a drained node leaves the
// cluster); every server here is its own process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import WebSocket, { WebSocketServer } from 'ws';
import { startServer, type RunningServer } from './helpers/server.js';
import { ENGINE_KINDS, startCluster } from './helpers/cluster.ts';
import { SseMember, SUBPROTOCOL, WsMember, httpStatus, postJson, type Msg } from './helpers/native.ts';
import { FAST, next, opened, uid, until } from './helpers/client.ts';
import { connect, type Room, type TransportName } from '../src/client/index.ts';
import { restartDelay, MAX_RESTART_DELAY_MS } from '../src/client/backoff.ts';
import { retryHint, RETRY_MIN_MS, RETRY_SPREAD_MS } from '../src/server/drain.ts';

const DRAIN = ['--drain-timeout', '2'];
const isRestart = (m: Msg) => m.type === 'closed' && m.reason === 'restart';

/** The process's exit code, once it exits (bounded). */
async function exitCode(srv: RunningServer, timeoutMs = 8000): Promise<number | null> {
  if (srv.proc.exitCode !== null) return srv.proc.exitCode;
  const timer = setTimeout(() => srv.proc.kill('SIGKILL'), timeoutMs);
  const [code] = await once(srv.proc, 'exit');
  clearTimeout(timer);
  return code as number | null;
}

async function ready(srv: RunningServer): Promise<{ status: number; body: unknown }> {
  const r = await httpStatus(`${srv.http}/_/ready`);
  return { status: r.status, body: JSON.parse(r.text) };
}

/** Poll /_/ready (each poll a round trip) until it answers 503: the drain has begun. */
async function untilDraining(srv: RunningServer): Promise<void> {
  const end = Date.now() + 4000;
  while ((await ready(srv)).status !== 503) {
    if (Date.now() > end) throw new Error('/_/ready never answered 503');
  }
}

/** An event stream read as text by fetch; resolves with all of it once the server ends it. */
async function rawStream(url: string): Promise<{ text: Promise<string> }> {
  const res = await fetch(url, { headers: { accept: 'text/event-stream' }, signal: AbortSignal.timeout(8000) });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const first = await reader.read(); // the stream is open (the `connect` event or the retry line)
  text += decoder.decode(first.value, { stream: true });
  const rest = async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return text;
      text += decoder.decode(value, { stream: true });
    }
  };
  return { text: rest() }; // wrapped: an async function returning the promise itself would wait for it
}

/** A GUN peer: a WebSocket without a subprotocol; resolves once open, with its close to await. */
async function gunPeer(srv: RunningServer, room: string): Promise<{ ws: WebSocket; closed: Promise<number> }> {
  const ws = new WebSocket(srv.ws + room);
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  await once(ws, 'open');
  return { ws, closed };
}

test('SIGTERM: /_/ready 503, doors refuse, GUN peers 1001, members `closed restart` + 1012, a request in flight is answered, exit 0', async () => {
  const srv = await startServer({ args: DRAIN });
  const room = '/' + uid('drain');
  try {
    assert.deepEqual(await ready(srv), { status: 200, body: { status: 'ready' } });
    const asker = await WsMember.connect(srv.ws, room);
    const answerer = await WsMember.connect(srv.ws, room);
    const idle = await WsMember.connect(srv.ws, room);
    const sse = await SseMember.connect(srv.http, room);
    const peer = await gunPeer(srv, room);
    const raw = await rawStream(srv.http + room);
    answerer.send({ type: 'serve' });
    answerer.send({ type: 'presence', ref: 'p' });
    await answerer.waitFor((m) => m.type === 'presence'); // serve was taken before it
    asker.send({ type: 'request', id: 7, data: 'question' });
    const asked = await answerer.waitFor((m) => m.type === 'request');

    const started = Date.now();
    srv.proc.kill('SIGTERM');
    await untilDraining(srv);
    assert.deepEqual(await ready(srv), { status: 503, body: { status: 'draining' } });
    assert.equal((await httpStatus(`${srv.http}/_/health`)).status, 200, '/_/health stays the liveness check');

    // Members with nothing in flight are told at once, each with its own retryMs, and closed with 1012.
    for (const m of [idle, sse]) {
      const closed = await m.waitFor(isRestart, 2000, 'closed restart');
      assert.ok(Number.isInteger(closed.retryMs) && closed.retryMs >= RETRY_MIN_MS && closed.retryMs < RETRY_MIN_MS + RETRY_SPREAD_MS, `retryMs ${closed.retryMs}`);
    }
    assert.deepEqual(await idle.waitClosed(), { code: 1012, reason: 'restart' });
    await sse.waitUntil(() => sse.streamEnds > 0, 2000, 'the event stream to end');
    sse.es.close();
    assert.equal(await peer.closed, 1001, 'a GUN peer closes with 1001');
    // On the wire of an event stream, `retry:` carries the hint for a plain EventSource too.
    assert.match(await raw.text, /retry: (\d+)\nevent: closed\ndata: \{"type":"closed","reason":"restart","retryMs":\1\}\n\n$/);

    // New connections are refused while it drains.
    const refused = await WsMember.connect(srv.ws, room).then(() => undefined, (e: { statusCode?: number; body?: string }) => e);
    assert.equal(refused?.statusCode, 503);
    assert.match(refused?.body ?? '', /shutting_down/);
    const stream = await httpStatus(srv.http + room, { accept: 'text/event-stream' });
    assert.equal(stream.status, 503);
    assert.match(stream.text, /shutting_down/);

    // The two ends of the request in flight are kept until it is answered; the reply reaches the asker.
    assert.ok(!asker.messages.some(isRestart) && !answerer.messages.some(isRestart), 'both ends of the request are kept');
    answerer.send({ type: 'reply', id: asked.id, data: 'answer' });
    const reply = await asker.waitFor((m) => m.type === 'reply', 2000, 'the reply');
    assert.equal(reply.data, 'answer');
    assert.equal(reply.id, 7);
    for (const m of [asker, answerer]) {
      await m.waitFor(isRestart, 2000, 'closed restart after the reply');
      assert.equal((await m.waitClosed()).code, 1012);
    }
    assert.equal(await exitCode(srv), 0);
    const ms = Date.now() - started;
    assert.ok(ms < 2000 + 1500, `the drain did not wait for its timeout once nothing was in flight (${ms} ms)`);
  } finally {
    await srv.stop();
  }
});

test('a request never answered holds its two members until --drain-timeout, then they are closed and the process exits 0', async () => {
  const srv = await startServer({ args: DRAIN });
  const room = '/' + uid('drain-cut');
  try {
    const { asker, answerer } = await requestInFlight(srv, room); // never answered
    const started = Date.now();
    srv.proc.kill('SIGTERM');
    await asker.waitFor(isRestart, 4000, 'closed restart at the drain timeout');
    const ms = Date.now() - started;
    assert.ok(ms >= 1800 && ms < 3500, `told at the 2 s drain timeout (${ms} ms)`);
    assert.equal((await asker.waitClosed()).code, 1012);
    assert.equal((await answerer.waitClosed()).code, 1012);
    assert.equal(await exitCode(srv), 0);
  } finally {
    await srv.stop();
  }
});

test('a request whose answerer has dropped holds nobody: its asker is told at once', async () => {
  const srv = await startServer({ args: ['--drain-timeout', '5'] });
  const room = '/' + uid('drain-dropped');
  try {
    const { asker, answerer } = await requestInFlight(srv, room);
    await answerer.terminate(); // dropped: kept for a resume that a draining server cannot take
    // Until the server has seen the drop (each look a round trip).
    const end = Date.now() + 3000;
    while (JSON.parse((await httpStatus(`${srv.http}/_/health`)).text).connections !== 1) {
      if (Date.now() > end) throw new Error('the server never saw the answerer drop');
    }
    const started = Date.now();
    srv.proc.kill('SIGTERM');
    await asker.waitFor(isRestart, 2000, 'closed restart');
    const ms = Date.now() - started;
    assert.ok(ms < 1500, `told at once, not at the 5 s drain timeout (${ms} ms)`);
    assert.equal(await exitCode(srv), 0);
  } finally {
    await srv.stop();
  }
});

test('POST /_/drain: with --admin-token only its bearer may drain (401 otherwise); GET is 405; the drain exits 0', async () => {
  const secret = 'an-admin-secret-of-some-length';
  const srv = await startServer({ args: [...DRAIN, '--admin-token', secret] });
  try {
    const url = `${srv.http}/_/drain`;
    assert.equal((await httpStatus(url)).status, 405);
    const none = await postJson(url, {});
    assert.equal(none.status, 401);
    assert.equal(none.body.error.code, 'token_required');
    const wrong = await fetch(url, { method: 'POST', headers: { authorization: 'Bearer not-the-secret' } });
    assert.equal(wrong.status, 401);
    assert.equal(((await wrong.json()) as Msg).error.code, 'token_invalid');
    assert.equal((await ready(srv)).status, 200, 'a refused drain changes nothing');
    const member = await WsMember.connect(srv.ws, '/' + uid('admin-drain'));
    const ok = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${secret}` } });
    assert.equal(ok.status, 202);
    assert.deepEqual(await ok.json(), { status: 'draining', drainTimeoutMs: 2000 });
    await member.waitFor(isRestart, 2000, 'closed restart');
    assert.equal(await exitCode(srv), 0);
  } finally {
    await srv.stop();
  }
});

test('POST /_/drain without an admin credential: 404 (the admin API is off); with --admin-loopback loopback only, not through a proxy, not from a web page (403)', async () => {
  const off = await startServer({ args: DRAIN });
  try {
    const res = await fetch(`${off.http}/_/drain`, { method: 'POST' });
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as Msg).error.code, 'not_found');
    assert.equal((await fetch(`${off.http}/_/ready`)).status, 200, 'not draining');
  } finally {
    await off.stop();
  }
  const srv = await startServer({ args: [...DRAIN, '--admin-loopback'] });
  try {
    const url = `${srv.http}/_/drain`;
    const proxied = await fetch(url, { method: 'POST', headers: { 'x-forwarded-for': '203.0.113.9' } });
    assert.equal(proxied.status, 403);
    assert.equal(((await proxied.json()) as Msg).error.code, 'forbidden');
    const fromPage = await fetch(url, { method: 'POST', headers: { origin: 'https://some-page.example' } });
    assert.equal(fromPage.status, 403, 'a web page open on this machine may not drain it');
    const ok = await fetch(url, { method: 'POST' });
    assert.equal(ok.status, 202);
    assert.equal(await exitCode(srv), 0);
  } finally {
    await srv.stop();
  }
});

/** A member asking and a member serving, with one request pending between them (its id at the answerer). */
async function requestInFlight(srv: RunningServer, room: string): Promise<{ asker: WsMember; answerer: WsMember; id: string }> {
  const asker = await WsMember.connect(srv.ws, room);
  const answerer = await WsMember.connect(srv.ws, room);
  answerer.send({ type: 'serve' });
  answerer.send({ type: 'presence', ref: 'p' });
  await answerer.waitFor((m) => m.type === 'presence');
  asker.send({ type: 'request', id: 1, data: 'q', timeout: 30_000 });
  const asked = await answerer.waitFor((m) => m.type === 'request');
  return { asker, answerer, id: asked.id };
}

test('SIGINT drains as SIGTERM does; a second signal exits at once with 1', async () => {
  const srv = await startServer({ args: ['--drain-timeout', '5'] });
  try {
    await requestInFlight(srv, '/' + uid('sigint'));
    srv.proc.kill('SIGINT');
    await untilDraining(srv); // held by the request in flight
    const started = Date.now();
    srv.proc.kill('SIGTERM');
    assert.equal(await exitCode(srv), 1);
    assert.ok(Date.now() - started < 1000, 'at once, not after the drain');
  } finally {
    await srv.stop();
  }
});

test('a signal during a drain POST /_/drain began lets the drain go on: the reply still arrives, exit 0', async () => {
  const srv = await startServer({ args: ['--drain-timeout', '5', '--admin-loopback'] });
  try {
    const { asker, answerer, id } = await requestInFlight(srv, '/' + uid('post-then-signal'));
    assert.equal((await fetch(`${srv.http}/_/drain`, { method: 'POST' })).status, 202);
    srv.proc.kill('SIGTERM');
    await until(() => srv.logs.some((l) => l.includes('draining on')), 'the server to take the signal', 4000);
    answerer.send({ type: 'reply', id, data: 'still here' });
    assert.equal((await asker.waitFor((m) => m.type === 'reply', 2000, 'the reply')).data, 'still here');
    await asker.waitFor(isRestart, 2000, 'closed restart');
    assert.equal(await exitCode(srv), 0);
  } finally {
    await srv.stop();
  }
});

/** Handles opened by the SDK test; closed at its end. */
function sdk(urls: string | string[], transport: TransportName, open: Room[]): Room {
  const r = connect(urls, { transport, ...FAST });
  open.push(r);
  return r;
}

for (const transport of ['websocket', 'sse'] as const) {
  test(`SDK (${transport}) given two URLs: a request in flight is answered through the drain, then the handles move to the second server and keep working`, async () => {
    const [a, b] = await Promise.all([startServer({ args: DRAIN }), startServer({ args: DRAIN })]);
    const room = uid('move');
    const open: Room[] = [];
    try {
      const urls = [a.http + room, b.http + room];
      const asker = sdk(urls, transport, open);
      const answerer = sdk(urls, transport, open);
      const onB = sdk(b.http + room, transport, open);
      await opened(asker, answerer, onB);
      let release!: () => void;
      const gate = new Promise<void>((r) => { release = r; });
      let asked = 0;
      answerer.serve(async (q: string) => { asked++; await gate; return `answer to ${q}`; });
      await answerer.presence(); // serve was taken
      const moves = [asker, answerer].map((r) => next(r, 'reconnecting', (e) => e.reason === 'restart', 6000));
      const answered = asker.request<string>('q1', { timeout: 8000 });
      await until(() => asked === 1, 'the request to reach the answerer (its handler waits on the gate)');
      a.proc.kill('SIGTERM');
      await untilDraining(a);
      release();
      assert.equal(await answered, 'answer to q1', 'the reply of the request in flight reaches the asker');
      for (const e of await Promise.all(moves)) {
        assert.equal(e.code, 1012);
        assert.equal(e.url, b.http + room);
        assert.ok(e.delay >= RETRY_MIN_MS * 0.75 && e.delay <= (RETRY_MIN_MS + RETRY_SPREAD_MS) * 1.25, `delay ${e.delay}`);
      }
      const back = await Promise.all([asker, answerer].map((r) => next(r, 'connect', undefined, 8000)));
      for (const c of back) assert.equal(c.reconnected, true);
      assert.equal(await exitCode(a), 0);

      // On B: a publish reaches the member there, and a request finds the answerer again.
      const heard = next(onB, 'message', (m) => m.data === 'after the move', 4000);
      await asker.publish('after the move', { ack: true });
      assert.equal((await heard).from, asker.cid);
      assert.equal(await asker.request<string>('q2', { timeout: 4000 }), 'answer to q2');
    } finally {
      await Promise.all(open.map((r) => r.close()));
      await Promise.all([a.stop(), b.stop()]);
    }
  });
}

test('SDK: a WebSocket closed with 1012 and no `closed` message is a restart too: the handle moves to its next URL', async () => {
  // A stand-in server that admits one member and closes it with 1012 at once, saying nothing else.
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => SUBPROTOCOL });
  await once(wss, 'listening');
  wss.on('connection', (ws) => {
    ws.send(JSON.stringify({ type: 'connect', room: '/bare', cid: 'c1', token: '0123456789abcdef', resumed: false, owner: 'c1', members: ['c1'], seq: 0, epoch: 'e1' }));
    ws.close(1012, 'service restart');
  });
  const b = await startServer();
  const open: Room[] = [];
  try {
    const stand = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/bare`;
    const r = sdk([stand, b.ws + '/bare'], 'websocket', open);
    const moved = await next(r, 'reconnecting', undefined, 4000);
    assert.equal(moved.code, 1012);
    assert.equal(moved.reason, 'restart');
    assert.equal(moved.url, b.ws + '/bare');
    assert.ok(moved.delay >= 750 && moved.delay <= 1250, `the default 1 s ±25% without a hint (${moved.delay} ms)`);
    const again = await next(r, 'connect', undefined, 4000);
    assert.notEqual(again.cid, 'c1');
    assert.equal(r.state, 'open');
  } finally {
    await Promise.all(open.map((r) => r.close()));
    await new Promise((resolve) => wss.close(resolve));
    await b.stop();
  }
});

for (const kind of ENGINE_KINDS) {
  test(`cluster (${kind}): a drained node leaves the cluster (gone from the other's /_/nodes at once) and exits 0`, async () => {
    const cluster = await startCluster(kind, { nodes: 2, args: DRAIN });
    try {
      const [a, b] = cluster.nodes;
      const nodes = async () => (JSON.parse((await httpStatus(`${b.http}/_/nodes`)).text) as { nodes: { id: string }[] }).nodes.map((n) => n.id).sort();
      assert.deepEqual(await nodes(), [...cluster.ids].sort());
      const member = await WsMember.connect(a.ws, '/' + uid('cluster-drain'));
      a.proc.kill('SIGTERM');
      await member.waitFor(isRestart, 4000, 'closed restart');
      assert.equal(await exitCode(a), 0);
      assert.deepEqual(await nodes(), [cluster.ids[1]], 'its record went with cluster.stop(), not after the node TTL');
    } finally {
      await cluster.stop();
    }
  });

  test(`cluster (${kind}): a member of the draining node answering a request from another node is kept until it replies; the reply reaches the asker there`, async () => {
    const cluster = await startCluster(kind, { nodes: 2, args: DRAIN });
    try {
      const [a, b] = cluster.nodes;
      const room = '/' + uid('cluster-drain-req');
      const answerer = await WsMember.connect(a.ws, room);
      const idle = await WsMember.connect(a.ws, room);
      const asker = await WsMember.connect(b.ws, room);
      await answerer.waitFor((m) => m.type === 'join' && m.cid === asker.cid, 5000, 'the asker on B in A\'s view');
      asker.send({ type: 'request', id: 3, to: answerer.cid, data: 'across', timeout: 8000 });
      const asked = await answerer.waitFor((m) => m.type === 'request', 5000, 'the request from B');
      a.proc.kill('SIGTERM');
      await idle.waitFor(isRestart, 4000, 'closed restart for a member with nothing in flight');
      assert.ok(!answerer.messages.some(isRestart), 'the answerer is kept while the request from another node waits for it');
      answerer.send({ type: 'reply', id: asked.id, data: 'answered while draining' });
      const reply = await asker.waitFor((m) => m.type === 'reply', 5000, 'the reply on B');
      assert.equal(reply.data, 'answered while draining');
      await answerer.waitFor(isRestart, 4000, 'closed restart after the reply');
      assert.equal(await exitCode(a), 0);
    } finally {
      await cluster.stop();
    }
  });
}

test('retry hints: the server spreads retryMs over 500..2000 ms; the SDK waits ±25% of it, at most 30 s', () => {
  assert.equal(retryHint(() => 0), RETRY_MIN_MS);
  assert.equal(retryHint(() => 0.999999), RETRY_MIN_MS + RETRY_SPREAD_MS - 1);
  assert.equal(restartDelay(1000, () => 0), 750);
  assert.equal(restartDelay(1000, () => 0.5), 1000);
  assert.equal(restartDelay(undefined, () => 0.5), 1000);
  assert.equal(restartDelay(10 * MAX_RESTART_DELAY_MS, () => 0.5), MAX_RESTART_DELAY_MS);
  assert.equal(restartDelay(-5, () => 0.5), 0);
});
