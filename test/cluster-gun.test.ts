// GUN rooms across nodes (issue 11; docs/cluster.md, "GUN across nodes"): three nodes started
// the way the README starts one (node dist/cli.js --broker …), on a private Redis and on a private
// NATS with JetStream. Real GUN clients (each in its own process, test/helpers/gun-clients.ts) for
// the flows a user sees; raw GUN-wire peers (test/helpers/gun-wire.ts) where a test needs exact
// frames: counting deliveries, equal and future HAM states, err acks, latency. Every wait is on a
// round trip (an ack, an answer, a delivery) with a bound.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { CLUSTER_KEY, ENGINE_KINDS, startCluster, startNode, type RunningCluster } from './helpers/cluster.ts';
import { rawJetStream, rawRedis } from './helpers/engines.ts';
import { GunPeer, node, uid, type Msg } from './helpers/gun-wire.ts';
import { Session, isAck, isOnce, type ClientEvent } from './helpers/gun-clients.ts';
import type { RunningServer } from './helpers/server.ts';

const OTHER_KEY = 'another-key-0123456789abcdef';
const DELIVERY_MS = 5000;

let roomCounter = 0;
const newRoom = (what: string) => `/cg-${what}-${process.pid.toString(36)}-${(++roomCounter).toString(36)}-${randomBytes(2).toString('hex')}`;

/** The put message a raw peer received with id `id` (relayed puts keep the writer's message id). */
const isPut = (id: string) => (m: Msg) => m['#'] === id && m.put !== undefined;
const ackOf = (id: string) => (m: Msg) => m['@'] === id && (m.ok !== undefined || m.err !== undefined);

/** GET on a node; the node (or null) as JSON. */
async function httpRead(server: RunningServer, path: string): Promise<unknown> {
  const res = await fetch(server.http + path, { signal: AbortSignal.timeout(DELIVERY_MS) });
  assert.equal(res.status, 200, `GET ${path} on ${server.port}: ${res.status}`);
  return res.json();
}

async function httpPost(server: RunningServer, path: string, body: unknown): Promise<{ status: number; json: Msg }> {
  const res = await fetch(server.http + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(8000) });
  return { status: res.status, json: await res.json() as Msg };
}

/** A raw get's answer: the node's fields (without `_`), or null when not found. */
async function fieldsOn(server: RunningServer, room: string, soul: string): Promise<Msg | null> {
  const peer = await GunPeer.connect(server.ws, room);
  try {
    const answer = await peer.ask({ '#': soul }, DELIVERY_MS);
    const n = answer.put?.[soul] as Msg | undefined;
    if (!n) return null;
    const { _: _meta, ...fields } = n;
    return fields;
  } finally {
    await peer.close();
  }
}

/** Same fields and values, whatever their order. */
const sameFields = (a: Msg | null, b: Msg) => a !== null && JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

const q = (xs: number[], p: number) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

for (const kind of ENGINE_KINDS) {
  describe(`GUN across nodes: ${kind}`, () => {
    let cluster: RunningCluster;
    let A: RunningServer, B: RunningServer, C: RunningServer;
    const peers: GunPeer[] = [];
    const connect = async (server: RunningServer, room: string) => {
      const p = await GunPeer.connect(server.ws, room);
      peers.push(p);
      return p;
    };

    before(async () => {
      cluster = await startCluster(kind, { nodes: 3 });
      [A, B, C] = cluster.nodes;
    });
    after(async () => {
      await Promise.allSettled(peers.map((p) => p.close()));
      await cluster?.stop();
    });

    test(`${kind}: a put acked on A reaches GUN clients on B (a raw peer there gets it once); a get on C, new to the room, returns everything written through A and B`, async (t) => {
      const s = new Session(t);
      const room = newRoom('basic');
      const [writerA, writerB, readerB] = await Promise.all([
        s.connected('writer-a', `${A.ws}${room}`), s.connected('writer-b', `${B.ws}${room}`), s.connected('reader-b', `${B.ws}${room}`),
      ]);
      readerB.send({ op: 'on', key: 'jack' });
      const rawB = await connect(B, room);
      writerA.send({ op: 'put', key: 'jack', value: { name: 'Jack' }, id: 'name' });
      writerB.send({ op: 'put', key: 'jack', value: { age: 30 }, id: 'age' });
      for (const [w, id] of [[writerA, 'name'], [writerB, 'age']] as const) {
        const ack = await w.waitFor(`ack of ${id}`, isAck(id));
        assert.equal(ack.err, null, JSON.stringify(ack));
      }
      const complete = (e: ClientEvent) => e.event === 'saw' && e.key === 'jack' && (e.value as Msg | null)?.name === 'Jack' && (e.value as Msg | null)?.age === 30;
      await readerB.waitFor('the reader on B sees both writes merged', complete);
      // Exact count on the wire: a raw put through A reaches a raw peer on B once.
      const rawA = await connect(A, room);
      const id = uid('once');
      rawA.put({ doc: node('doc', { v: 'once' }, Date.now()) }, id);
      const ack = await rawA.waitFor(ackOf(id), DELIVERY_MS, 'ack on A');
      assert.equal(ack.ok, 1, JSON.stringify(ack));
      await rawB.waitFor(isPut(id), DELIVERY_MS, 'the put on B');
      await rawB.expectNone((m) => m['#'] === id && rawB.messages.filter(isPut(id)).length > 1, 300, 'a second copy');
      assert.equal(rawB.messages.filter(isPut(id)).length, 1, 'delivered once on B');
      assert.equal(rawA.messages.filter(isPut(id)).length, 0, 'not echoed to its writer');
      // C has never seen the room: its first client is let in once C has loaded it.
      const readerC = await s.connected('reader-c', `${C.ws}${room}`);
      readerC.send({ op: 'once', key: 'jack', id: 'jack', wait: 1000 });
      const got = await readerC.waitFor('jack on C', isOnce('jack'));
      assert.deepEqual(got.value, { name: 'Jack', age: 30 });
      assert.deepEqual(await fieldsOn(C, room, 'doc'), { v: 'once' });
    });

    test(`${kind}: SEA across nodes: a user created and writing through A logs in and reads through C; a forgery through B is refused there and reaches nobody`, async (t) => {
      const s = new Session(t);
      const room = newRoom('sea');
      const alice = await s.connected('alice-a', `${A.ws}${room}`);
      alice.send({ op: 'create', alias: 'alice', pass: 'alice-password-1', id: 'create' });
      assert.equal((await alice.waitFor('user.create', (e) => e.event === 'created' && e.id === 'create', 20_000)).err, null);
      alice.send({ op: 'auth', alias: 'alice', pass: 'alice-password-1', id: 'auth' });
      const authed = await alice.waitFor('auth', (e) => e.event === 'authed' && e.id === 'auth', 20_000);
      assert.equal(authed.err, null);
      alice.send({ op: 'uput', path: ['profile'], value: 'Alice', id: 'profile' });
      assert.equal((await alice.waitFor('ack of profile', isAck('profile'))).err, null);
      const spyA = await connect(A, room);
      const forger = await connect(B, room);
      const forged = await forger.putAck({ '~@alice': node('~@alice', { '~evilpub.evil': { '#': '~evilpub.evil' } }, Date.now()) }, DELIVERY_MS);
      assert.match(String(forged.err), /^SEA:/, JSON.stringify(forged));
      const reader = await s.connected('alice-c', `${C.ws}${room}`);
      reader.send({ op: 'auth', alias: 'alice', pass: 'alice-password-1', id: 'auth' });
      const again = await reader.waitFor('login through C', (e) => e.event === 'authed' && e.id === 'auth', 20_000);
      assert.equal(again.err, null);
      assert.equal(again.pub, authed.pub);
      reader.send({ op: 'uonce', path: ['profile'], id: 'profile', wait: 1000 });
      assert.equal((await reader.waitFor('profile through C', isOnce('profile'))).value, 'Alice');
      assert.equal(spyA.messages.filter((m) => m.put?.['~@alice']?.['~evilpub.evil']).length, 0, 'the forgery reached A\'s peer');
      assert.equal(Object.keys(await fieldsOn(C, room, '~@alice') ?? {}).some((k) => k.includes('evil')), false, 'the forgery is stored nowhere');
    });

    test(`${kind}: concurrent writes to one field through A and B converge to the same HAM winner on every node, deferred future states included`, async () => {
      const room = newRoom('ham');
      const [pa, pb] = await Promise.all([connect(A, room), connect(B, room)]);
      const now = Date.now();
      const past = now - 1000;
      const future = now + 1500; // deferred by every node until then
      // Equal states, different values: the lexically greater value wins everywhere.
      const ids = [
        pa.put({ s: node('s', { tie: 'apple', fut: 'a-future' }, { tie: past, fut: future }) }),
        pb.put({ s: node('s', { tie: 'banana', fut: 'b-future' }, { tie: past, fut: future }) }),
        pa.put({ s: node('s', { newer: 'from-a' }, past + 10) }),
        pb.put({ s: node('s', { newer: 'from-b' }, past + 5) }),
      ];
      await Promise.all(ids.map((id, i) => (i % 2 ? pb : pa).waitFor(ackOf(id), DELIVERY_MS, `ack ${i}`)));
      const before = { tie: 'banana', newer: 'from-a' };
      if (Date.now() < future - 300) {
        for (const n of [A, B, C]) assert.deepEqual(await fieldsOn(n, room, 's'), before, `before the future state is due, node ${n.port}`);
      }
      const after = { tie: 'banana', newer: 'from-a', fut: 'b-future' };
      const deadline = future + DELIVERY_MS;
      for (const n of [A, B, C]) {
        for (;;) {
          const got = await fieldsOn(n, room, 's');
          if (sameFields(got, after) || Date.now() > deadline) { assert.deepEqual(got, after, `node ${n.port}`); break; }
          await new Promise((r) => setTimeout(r, Math.max(50, future - Date.now())));
        }
      }
    });

    test(`${kind}: legacy HTTP GET/POST on any node reads and writes the same graph; HTTP and legacy envelope puts reach modern and envelope peers on the other nodes`, async () => {
      const room = newRoom('http');
      const [peerC, legacyB] = await Promise.all([connect(C, room), connect(B, room)]);
      // A legacy envelope peer (GUN v0.1): its get makes it one; relayed puts reach it as pushes.
      legacyB.send({ url: { pathname: '/jack' }, headers: { 'ws-rid': 'r1' } });
      await legacyB.waitFor((m) => m.headers?.['ws-rid'] === 'r1', DELIVERY_MS, 'the envelope answer');
      const t0 = Date.now();
      const posted = await httpPost(A, room, { jack: node('jack', { name: 'Jack' }, t0) });
      assert.deepEqual({ status: posted.status, json: posted.json }, { status: 200, json: { ok: 1 } });
      await peerC.waitFor((m) => m.put?.jack?.name === 'Jack', DELIVERY_MS, 'the HTTP write on C\'s peer');
      await legacyB.waitFor((m) => m.body?.jack?.name === 'Jack' && m.put === undefined, DELIVERY_MS, 'the HTTP write pushed to the envelope peer on B');
      // An envelope put on B reaches the modern peer on C.
      legacyB.send({ url: { pathname: '/' }, headers: { 'ws-rid': 'r2' }, body: { jill: node('jill', { name: 'Jill' }, t0) } });
      const put = await legacyB.waitFor((m) => m.headers?.['ws-rid'] === 'r2', DELIVERY_MS, 'the envelope put\'s answer');
      assert.equal(put.status, 200, JSON.stringify(put));
      await peerC.waitFor((m) => m.put?.jill?.name === 'Jill', DELIVERY_MS, 'the envelope write on C\'s peer');
      for (const n of [A, B, C]) assert.deepEqual((await httpRead(n, `${room}?%23=jack`) as Msg)?.name, 'Jack', `GET on ${n.port}`);
      assert.equal((await httpPost(B, room, { jack: node('jack', { age: 31 }, t0 + 1) })).status, 200);
      for (const n of [A, C]) assert.equal((await httpRead(n, `${room}/jack`) as Msg)?.age, 31, `GET by key on ${n.port}`);
      const fresh = newRoom('http-fresh');
      assert.equal((await httpPost(B, fresh, node('bob', { name: 'Bob' }, t0))).status, 200);
      assert.equal((await httpRead(C, `${fresh}?%23=bob`) as Msg)?.name, 'Bob', 'a GET on a node that never saw the room loads it first');
    });

    test(`${kind}: a wrong-key node sees none of the room's data and cannot inject into it`, async () => {
      const room = newRoom('key');
      const pa = await connect(A, room);
      const id = uid('k');
      pa.put({ secret: node('secret', { v: 'for-the-cluster' }, Date.now()) }, id);
      await pa.waitFor(ackOf(id), DELIVERY_MS);
      const wrong = await startNode(cluster.engine, `wrong-${kind}`, { key: OTHER_KEY });
      try {
        assert.equal(await fieldsOn(wrong, room, 'secret'), null, 'the wrong-key node reads nothing');
        const pw = await GunPeer.connect(wrong.ws, room);
        try {
          const inject = uid('inject');
          pw.put({ secret: node('secret', { v: 'injected' }, Date.now() + 1) }, inject);
          await pw.waitFor(ackOf(inject), DELIVERY_MS); // its own engine write (nobody else can open it)
          await pa.expectNone(isPut(inject), 500, 'the injected put on A');
        } finally { await pw.close(); }
        for (const n of [A, B]) assert.deepEqual(await fieldsOn(n, room, 'secret'), { v: 'for-the-cluster' });
        assert.ok(A.logs.some((l) => l.includes('cluster entry not opened')), 'A logged the entry it could not open');
      } finally {
        await wrong.stop();
      }
    });

    test(`${kind}: with a cluster key the engine holds no plaintext room data`, async () => {
      const marker = `plain-${randomBytes(4).toString('hex')}`;
      const room = newRoom('plain');
      const pa = await connect(A, room);
      const id = pa.put({ [`${marker}-soul`]: node(`${marker}-soul`, { [`${marker}-key`]: `${marker}-value` }, Date.now()) });
      await pa.waitFor(ackOf(id), DELIVERY_MS);
      assert.equal((await httpPost(B, room, { m: node('m', { x: `${marker}-http` }, Date.now()) })).status, 200);
      let raw: Buffer;
      if (kind === 'redis') {
        raw = Buffer.concat(await rawRedis(cluster.engine.url, '*', { types: ['string', 'hash', 'stream', 'set'], keys: true, skipOthers: true }));
        assert.ok(raw.includes(Buffer.from(`{${room}}:g`)), 'the scan found the room\'s log');
      } else {
        raw = Buffer.concat(await rawJetStream(cluster.engine.url, 'MS_G'));
      }
      assert.ok(raw.length > 200, 'the scan found entries');
      assert.equal(raw.includes(Buffer.from(marker)), false, 'no plaintext in the engine');
    });

    test(`${kind}: put on A → delivery on B, p50/p99 over 200 puts (printed)`, async (t) => {
      const room = newRoom('latency');
      const [pa, pb] = await Promise.all([connect(A, room), connect(B, room)]);
      const ms: number[] = [];
      for (let i = 0; i < 200; i++) {
        const id = uid('lat');
        const t0 = performance.now();
        pa.put({ [`s${i % 10}`]: node(`s${i % 10}`, { text: 'x'.repeat(100), n: i }, Date.now()) }, id);
        await pb.waitFor(isPut(id), DELIVERY_MS, `put ${i} on B`);
        ms.push(performance.now() - t0);
      }
      const line = `${kind}: GUN put on A → delivery on B p50 ${q(ms, 0.5).toFixed(2)} ms, p99 ${q(ms, 0.99).toFixed(2)} ms (200 puts, one in flight, sealed)`;
      t.diagnostic(line);
      console.log(`# ${line}`);
    });

    test(`${kind}: past 1,000 puts beyond the last snapshot the log is compacted by one node, and a node new to the room reads the same graph from the snapshot`, async () => {
      const room = newRoom('compact');
      const [pa, pb] = await Promise.all([connect(A, room), connect(B, room)]);
      const N = 1100;
      const t0 = Date.now();
      const ids: string[] = [];
      for (let i = 0; i < N; i++) {
        const peer = i % 2 ? pb : pa;
        ids.push(peer.put({ [`c${i % 50}`]: node(`c${i % 50}`, { [`f${i}`]: i, last: i }, t0 + i) }));
        if (i % 100 === 99) await peer.waitFor(ackOf(ids[i]), DELIVERY_MS, `ack ${i}`); // keep the sockets from piling up
      }
      await Promise.all(ids.map((id, i) => (i % 2 ? pb : pa).waitFor(ackOf(id), 20_000, `ack ${i}`)));
      // The snapshot is in the engine: Redis holds it in :gs, NATS in a head message.
      const deadline = Date.now() + 10_000;
      for (;;) {
        let snapshotted = false;
        if (kind === 'redis') {
          const r = new Redis(cluster.engine.url);
          try { snapshotted = (await r.hexists(`ms:{${room}}:gs`, 'u')) === 1; } finally { r.disconnect(); }
        } else {
          snapshotted = [A, B, C].some((n) => n.logs.some((l) => l.includes('graph log compacted') && l.includes(room)));
          if (!snapshotted) snapshotted = (await rawJetStream(cluster.engine.url, 'MS_G')).some((b) => b.toString().startsWith('Ms-Upto'));
        }
        if (snapshotted) break;
        assert.ok(Date.now() < deadline, 'no snapshot after 1,100 puts');
        await new Promise((r) => setTimeout(r, 200));
      }
      // One node compacted: the one whose put brought the log to 1,000 puts beyond the snapshot.
      const compacted = () => [A, B].filter((n) => n.logs.some((l) => l.includes('graph log compacted') && l.includes(JSON.stringify(room)) && !l.includes('refused')));
      const deadline3 = Date.now() + 5000;
      while (compacted().length === 0 && Date.now() < deadline3) await new Promise((r) => setTimeout(r, 50));
      const tried = [A, B, C].filter((n) => n.logs.some((l) => l.includes('graph log compacted') && l.includes(JSON.stringify(room)))).length;
      if (kind === 'redis') {
        assert.equal(compacted().length, 1, 'one node compacted');
        assert.equal(tried, 1, 'no other node tried');
      } else {
        // NATS: two nodes' republishes may pass each other, so near the crossing the nodes' counts
        // can differ by a put: a second node may try too (docs/cluster.md, "Compaction").
        assert.ok(compacted().length >= 1 && tried <= 2, `compacted by ${compacted().length}, tried by ${tried}`);
      }
      // B's puts reach A through the live feed, after their acks: on a busy machine A may still be
      // merging the last of them. Read A once it has every field (bounded), then the new node.
      const complete = async (soul: string) => {
        const until = Date.now() + 15_000;
        for (;;) {
          const got = await fieldsOn(A, room, soul);
          if ((got && Object.keys(got).length === N / 50 + 1) || Date.now() > until) return got;
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      const late = await cluster.addNode();
      try {
        for (const soul of ['c0', 'c7', 'c49']) {
          const want = await complete(soul);
          assert.deepEqual(await fieldsOn(late, room, soul), want, `${soul}: the same on a node new to the room`);
          assert.equal(Object.keys(want!).length, N / 50 + 1);
        }
      } finally {
        await late.stop();
      }
    });

    test(`${kind}: writes through a node that is then killed (SIGKILL) are served by the others, also to a node new to the room`, async () => {
      const room = newRoom('kill');
      const victim = await cluster.addNode();
      const pv = await GunPeer.connect(victim.ws, room);
      const ids = Array.from({ length: 5 }, (_, i) => pv.put({ doc: node('doc', { [`f${i}`]: i }, Date.now()) }));
      await Promise.all(ids.map((id) => pv.waitFor(ackOf(id), DELIVERY_MS)));
      victim.proc.kill('SIGKILL');
      await pv.closed;
      assert.deepEqual(await fieldsOn(C, room, 'doc'), { f0: 0, f1: 1, f2: 2, f3: 3, f4: 4 }, 'C, new to the room, after the writer died');
    });

    test(`${kind}: engine outage: a put during it gets an err ack (not stored, not relayed); writes acked before it survive, also for a node new to the room; puts work again after`, async () => {
      const room = newRoom('outage');
      const [pa, pb] = await Promise.all([connect(A, room), connect(B, room)]);
      const before = pa.put({ doc: node('doc', { before: 'yes' }, Date.now()) });
      await pa.waitFor(ackOf(before), DELIVERY_MS);
      await pb.waitFor(isPut(before), DELIVERY_MS);
      await cluster.engine.down();
      let upAgain = false;
      try {
        const during = pa.put({ doc: node('doc', { during: 'no' }, Date.now()) });
        const [ack, posted] = await Promise.all([
          pa.waitFor(ackOf(during), 8000, 'the err ack during the outage'),
          httpPost(B, room, { doc: node('doc', { http: 'no' }, Date.now()) }),
        ]);
        assert.equal(ack.err, 'cluster engine unavailable; retry', JSON.stringify(ack));
        assert.equal(posted.status, 503, JSON.stringify(posted.json));
        await pb.expectNone(isPut(during), 300, 'the refused put on B');
        await cluster.engine.up();
        upAgain = true;
      } finally {
        if (!upAgain) await cluster.engine.up();
      }
      // The nodes reconnect by themselves: retry (as a GUN client would) until a put is acked.
      const deadline = Date.now() + 20_000;
      let afterId = '';
      for (;;) {
        afterId = pa.put({ doc: node('doc', { after: 'yes' }, Date.now()) });
        const ack = await pa.waitFor(ackOf(afterId), 8000);
        if (ack.ok) break;
        assert.ok(Date.now() < deadline, `puts still refused after the engine came back: ${JSON.stringify(ack)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      // B's engine connections come back on their own schedule (reconnect wait plus jitter, slower on
      // a busy machine); the put reaches B live or through the reload that follows B's reconnect.
      await pb.waitFor(isPut(afterId), 15_000, 'the put after the outage on B');
      if (kind === 'redis') {
        // redis-server restarted without persistence: the log came back empty, and the nodes
        // that hold the room appended what they had again (NATS keeps its store).
        assert.ok([A, B].some((n) => n.logs.some((l) => l.includes('graph log lacked writes this node holds'))), 'a node re-seeded the log');
      }
      const want = { before: 'yes', after: 'yes' };
      for (const n of [A, B]) assert.deepEqual(await fieldsOn(n, room, 'doc'), want, `node ${n.port}`);
      // A node new to the room loads it from the engine (Redis restarted empty: the nodes appended
      // what they held again once they were back).
      const late = await cluster.addNode();
      const deadline2 = Date.now() + 10_000;
      for (;;) {
        const got = await fieldsOn(late, room, 'doc');
        if (sameFields(got, want) || Date.now() > deadline2) { assert.deepEqual(got, want, 'a node new to the room'); break; }
        await new Promise((r) => setTimeout(r, 200));
      }
    });
  });
}

void CLUSTER_KEY;
