// Native publish, seq and replay across nodes (issue 11; docs/cluster.md "Native across nodes"):
// three nodes on one engine (Redis, then NATS), real clients over WebSocket and SSE on different
// nodes. A publication on any node reaches the members of every node (topics, wildcards, echo),
// the room has one seq across the cluster (several publishers on different nodes: no duplicate,
// per-publisher order, the same seq → message everywhere), acks carry the seq, replay with `since`
// or Last-Event-ID works on any node with the gap of a trimmed history, a node new to the room
// announces the cluster's seq/epoch, and while the engine is away members of one node still talk
// to each other, unnumbered, and everyone gets an `outage` gap when it is back. Every wait is on a
// round trip (a message, an ack, a health answer), bounded.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINE_KINDS, startCluster, type RunningCluster } from './helpers/cluster.ts';
import { MemberPool, SseMember, WsMember, uid, until, type Msg } from './helpers/native.ts';
import { startServer } from './helpers/server.ts';
import { CutProxy, FAST, Handles, TRANSPORTS, next, record, until as untilTrue } from './helpers/client.ts';

const HISTORY_SIZE = 20;

const published = (m: Msg) => m.type === 'message' && m.kind === 'publish';
const pubs = (m: { messages: Msg[] }) => m.messages.filter(published);
const datas = (m: { messages: Msg[] }) => pubs(m).map((x) => x.data);

async function health(base: string): Promise<string> {
  const res = await fetch(`${base}/_/health`, { signal: AbortSignal.timeout(3000) });
  const body = await res.json() as { broker?: { state: string } };
  return body.broker?.state ?? 'none';
}

/** Ask each node's /_/health until it reports `state` (bounded: the engine clients reconnect by themselves). */
async function brokerState(cluster: RunningCluster, state: 'up' | 'down', ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  for (const node of cluster.nodes) {
    for (;;) {
      if (await health(node.http) === state) break;
      assert.ok(Date.now() < until, `${node.http} did not report the broker ${state} within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 100)); // the state is the engine client's to change; nothing to wait on here
    }
  }
}

const q = (xs: number[], p: number) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

for (const kind of ENGINE_KINDS) {
  describe(`native publish across nodes: ${kind}`, () => {
    let cluster: RunningCluster;
    let pools: MemberPool[];
    before(async () => {
      cluster = await startCluster(kind, { nodes: 3, args: ['--history-size', String(HISTORY_SIZE)] });
      pools = cluster.nodes.map((n) => new MemberPool(n.ws, n.http));
    });
    after(async () => {
      await Promise.all(pools?.map((p) => p.closeAll()) ?? []);
      await cluster?.stop();
    });
    const [A, B, C] = [0, 1, 2];

    test(`${kind}: a publish on A reaches members on B and C — topics, wildcards, echo`, async () => {
      const room = '/' + uid('fan');
      const a = await pools[A].ws(room);
      const b = await pools[B].ws(room, { query: 'topics=chat.*' });
      const c = await pools[C].sse(room);
      a.send({ type: 'publish', data: 'plain' }); // echo false: not to a
      a.send({ type: 'publish', topic: 'chat.x', data: 'chat' }); // b only (wildcard)
      a.send({ type: 'publish', topic: 'news', data: 'news' }); // nobody subscribed
      a.send({ type: 'publish', data: 'mine', echo: true, ack: true, ref: 'last' });
      const ack = await a.waitFor((m) => m.type === 'ack' && m.ref === 'last', 5000, 'ack');
      assert.equal(ack.seq, 4, 'one seq per room: four publishes, the fourth is 4');
      await until([a, b, c], () => [a, b, c].every((m) => datas(m).includes('mine')), 5000, 'mine everywhere');
      assert.deepEqual(datas(a), ['mine']);
      assert.deepEqual(datas(b), ['plain', 'chat', 'mine']);
      assert.deepEqual(datas(c), ['plain', 'mine']);
      assert.deepEqual(pubs(b).map((m) => m.seq), [1, 2, 4]);
      assert.deepEqual(pubs(b)[1], { type: 'message', kind: 'publish', from: a.cid, topic: 'chat.x', data: 'chat', seq: 2 });
      assert.deepEqual(pubs(c).map((m) => m.seq), [1, 4]);
      assert.deepEqual((c as SseMember).ids.filter((id, i) => published(c.messages[i])), ['1', '4'], 'SSE ids are the seqs');
    });

    test(`${kind}: one seq per room with publishers on three nodes — no duplicate, per-publisher order, the same seq → message everywhere; acks and POST answers carry the seq`, async () => {
      const room = '/' + uid('seq');
      const N = 30;
      const observers = await Promise.all([pools[A].ws(room), pools[B].ws(room), pools[C].sse(room)]);
      const pa = await pools[A].ws(room);
      const pb = await pools[B].ws(room);
      const pc = await pools[C].sse(room);
      const sseAnswers: Promise<Msg>[] = [];
      for (let i = 0; i < N; i++) {
        pa.send({ type: 'publish', data: { p: 'a', i }, ack: true, ref: `a${i}` });
        pb.send({ type: 'publish', data: { p: 'b', i }, ack: true, ref: `b${i}` });
      }
      // one POST after another: an SSE member's order is its POSTs' order
      const posting = (async () => {
        for (let i = 0; i < N; i++) sseAnswers.push(Promise.resolve((await pc.send({ type: 'publish', data: { p: 'c', i } })).body));
      })();
      await posting;
      const total = 3 * N;
      await until(observers, () => observers.every((o) => pubs(o).length >= total), 15_000, `${total} publications at every observer`);
      const mapping = (o: { messages: Msg[] }) => pubs(o).map((m) => `${m.seq}:${m.data.p}${m.data.i}`);
      const first = pubs(observers[0]);
      assert.deepEqual(first.map((m) => m.seq), Array.from({ length: total }, (_, i) => i + 1), 'seqs 1..n, no duplicate, no hole, in order');
      for (const o of observers.slice(1)) assert.deepEqual(mapping(o), mapping(observers[0]), `${o.label} saw the same seq → message`);
      for (const p of ['a', 'b', 'c']) {
        const is = first.filter((m) => m.data.p === p).map((m) => m.data.i);
        assert.deepEqual(is, Array.from({ length: N }, (_, i) => i), `publisher ${p}: its order`);
      }
      const seqOf = new Map(first.map((m) => [`${m.data.p}${m.data.i}`, m.seq]));
      for (const [member, p] of [[pa, 'a'], [pb, 'b']] as const) {
        await until([member], () => member.messages.filter((m) => m.type === 'ack').length >= N, 5000, 'acks');
        for (const ack of member.messages.filter((m) => m.type === 'ack')) assert.equal(ack.seq, seqOf.get(`${p}${String(ack.ref).slice(1)}`), `ack ${ack.ref}`);
      }
      const answers = await Promise.all(sseAnswers);
      answers.forEach((body, i) => assert.deepEqual(body, { ok: true, seq: seqOf.get(`c${i}`) }, `POST ${i}`));
      for (const p of [pa, pb, pc]) assert.equal(pubs(p).filter((m) => m.from === p.cid).length, 0, 'no echo to the publisher');
      await until([pa, pb, pc], () => [pa, pb, pc].every((p) => pubs(p).length >= 2 * N), 5000, 'the others\' publications at each publisher');
      for (const p of [pa, pb, pc]) assert.equal(pubs(p).length, 2 * N);
    });

    test(`${kind}: replay on another node — since (WebSocket) and Last-Event-ID (SSE), the gap of a trimmed history; live frames during a replay come after it, once`, async () => {
      const room = '/' + uid('replay');
      const pub = await pools[A].ws(room);
      const total = 30; // over --history-size 20: 1..10 trimmed
      for (let i = 1; i <= total; i++) pub.send({ type: 'publish', data: i, ack: i === total, ref: 'last' });
      await pub.waitFor((m) => m.type === 'ack', 5000, 'last ack');
      const epoch = pub.hello.epoch;
      const w = await pools[B].ws(room, { query: `since=5&epoch=${epoch}` });
      assert.equal(w.hello.seq, total);
      assert.equal(w.hello.epoch, epoch);
      await until([w], () => datas(w).includes(total), 5000, 'the replay');
      const afterConnect = w.messages.slice(w.messages.indexOf(w.hello) + 1);
      assert.deepEqual(afterConnect[0], { type: 'gap', from: 6, to: 10 });
      assert.deepEqual(pubs(w).map((m) => m.seq), Array.from({ length: 20 }, (_, i) => i + 11));
      const s = await pools[C].sse(room, { headers: { 'Last-Event-ID': '27' } });
      await until([s], () => datas(s).includes(total), 5000, 'the SSE replay');
      assert.deepEqual(datas(s), [28, 29, 30]);
      assert.equal(s.messages.filter((m) => m.type === 'gap').length, 0);
      const reset = await pools[C].ws(room, { query: 'since=3&epoch=not-this-one' });
      await until([reset], () => datas(reset).includes(total), 5000, 'the reset replay');
      assert.deepEqual(reset.messages.find((m) => m.type === 'gap'), { type: 'gap', reset: true, from: 1, to: 10, epoch });

      // Live publications while members join with a replay: each sees one unbroken, increasing run.
      const more = HISTORY_SIZE - 1; // all still kept when the replays are read: no gap may appear
      for (let i = 1; i <= more; i++) pub.send({ type: 'publish', data: total + i });
      const joiners = await Promise.all([
        pools[B].ws(room, { query: `since=${total}&epoch=${epoch}` }),
        pools[C].sse(room, { query: `since=${total}&epoch=${epoch}` }),
      ]);
      await until(joiners, () => joiners.every((j) => datas(j).includes(total + more)), 10_000, 'live after replay');
      for (const j of joiners) {
        const seqs = pubs(j).map((m) => m.seq);
        assert.deepEqual(seqs, Array.from({ length: more }, (_, i) => total + 1 + i), `${j.label}: no duplicate, no hole, in order: ${JSON.stringify(j.messages.map((m) => m.seq ?? m.type))}`);
        assert.deepEqual(datas(j), seqs, 'seq → message');
        assert.equal(j.messages.filter((m) => m.type === 'gap').length, 0);
      }
    });

    test(`${kind}: a node new to the room announces the cluster's seq and epoch; /_/stats lastSeq`, async () => {
      const room = '/' + uid('newnode');
      const a = await pools[A].ws(room);
      for (let i = 0; i < 7; i++) a.send({ type: 'publish', data: i, ack: i === 6, ref: 'x' });
      await a.waitFor((m) => m.type === 'ack', 5000, 'ack');
      const c = await pools[C].ws(room); // C has never seen this room
      assert.equal(c.hello.seq, 7);
      assert.equal(c.hello.epoch, a.hello.epoch);
      const stats = await (await fetch(`${cluster.nodes[C].http}/_/stats`)).json() as { rooms: Record<string, { lastSeq: number; historyBytes: number }> };
      assert.equal(stats.rooms[room].lastSeq, 7);
      assert.equal(stats.rooms[room].historyBytes, 0, 'the history is in the engine, not on the node');
      a.send({ type: 'publish', data: 'next' });
      const m = await c.waitFor(published, 5000, 'the next publication');
      assert.equal(m.seq, 8);
    });

    test(`${kind}: SDK clients moved to another node (the load balancer's choice) replay there what they missed: nothing lost, nothing twice`, async () => {
      const room = '/' + uid('sdk');
      const handles = new Handles();
      const proxy = await CutProxy.start(cluster.nodes[B].port);
      try {
        const clients = TRANSPORTS.map((transport) => handles.join(`ws://127.0.0.1:${proxy.port}`, room, transport, FAST));
        const logs = clients.map(record);
        await Promise.all(clients.map((c) => next(c, 'connect')));
        const sender = handles.join(cluster.nodes[A].ws, room, 'websocket', FAST);
        await next(sender, 'connect');
        const acked: number[] = [];
        for (let i = 1; i <= 5; i++) acked.push((await sender.publish(i, { ack: true })).seq!);
        assert.deepEqual(acked, [1, 2, 3, 4, 5], 'the SDK\'s acked publish resolves with the seq');
        const enough = (n: number) => () => logs.every((l) => l.length >= n);
        await untilTrue(enough(5), 'the first five at B', 10_000);
        proxy.target = cluster.nodes[C].port; // from now on the "load balancer" sends them to C
        const reconnected = clients.map((c) => next(c, 'connect', (e) => e.reconnected, 10_000));
        proxy.cut();
        for (let i = 6; i <= 10; i++) acked.push((await sender.publish(i, { ack: true })).seq!);
        await Promise.all(reconnected);
        await untilTrue(enough(10), 'all ten after the move', 10_000);
        for (const log of logs) {
          assert.deepEqual(log.map((m) => m.data), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
          assert.deepEqual(log.map((m) => m.seq), acked);
        }
      } finally {
        await handles.closeAll();
        await proxy.close();
      }
    });

    test(`${kind}: publish on A → delivery on B, latency at light load, next to one node alone (printed)`, async (t) => {
      const measure = async (pa: MemberPool, pb: MemberPool) => {
        const room = '/' + uid('latency');
        const a = await pa.ws(room);
        const b = await pb.ws(room);
        const ms: number[] = [];
        for (let i = 0; i < 220; i++) {
          const t0 = performance.now();
          a.send({ type: 'publish', data: { i, pad: 'x'.repeat(100) } });
          await b.waitFor((m) => published(m) && m.data.i === i, 5000, `message ${i}`);
          if (i >= 20) ms.push(performance.now() - t0); // the first ones warm up
        }
        return `p50 ${q(ms, 0.5).toFixed(2)} ms p99 ${q(ms, 0.99).toFixed(2)} ms`;
      };
      const across = await measure(pools[A], pools[B]);
      const alone = await startServer(); // the memory broker: the same two clients on one node
      const pool = new MemberPool(alone.ws, alone.http);
      let one: string;
      try { one = await measure(pool, pool); } finally { await pool.closeAll(); await alone.stop(); }
      const line = `${kind}: publish → delivery (WebSocket, 200 messages one in flight): A → B across 3 nodes ${across}; one node, memory broker ${one}`;
      t.diagnostic(line);
      console.log(`# ${line}`);
    });

    test(`${kind}: engine hung (SIGSTOP) under a publish: the publisher is told broker_unavailable, and when the engine goes on the publication is delivered once, through the stream, never also locally`, async () => {
      const room = '/' + uid('hung');
      const a1 = await pools[A].ws(room);
      const a2 = await pools[A].ws(room);
      const b1 = await pools[B].ws(room);
      cluster.engine.pause();
      let answer: Msg;
      try {
        a1.send({ type: 'publish', data: 'hung', ack: true, ref: 'hung' });
        answer = await a1.waitFor((m) => m.ref === 'hung', 15_000, 'the answer while the engine hangs');
      } finally {
        cluster.engine.resume();
      }
      assert.equal(answer.type, 'error');
      assert.equal(answer.code, 'broker_unavailable');
      assert.match(answer.message, /may still be delivered/);
      await until([a2, b1], () => datas(a2).includes('hung') && datas(b1).includes('hung'), 15_000, 'the hung publication, once the engine goes on');
      await brokerState(cluster, 'up');
      let marked = false;
      for (let attempt = 0; attempt < 50 && !marked; attempt++) { // the engine may need a moment after SIGCONT
        a1.send({ type: 'publish', data: `marker${attempt}`, ack: true, ref: `m${attempt}` });
        marked = (await a1.waitFor((m) => m.ref === `m${attempt}`, 10_000, 'the marker\'s answer')).type === 'ack';
      }
      await until([a2, b1], () => [a2, b1].every((m) => datas(m).some((d) => String(d).startsWith('marker'))), 10_000, 'the marker');
      for (const m of [a2, b1]) {
        assert.equal(datas(m).filter((d) => d === 'hung').length, 1, `${m.label}: once`);
        assert.equal(typeof pubs(m).find((x) => x.data === 'hung')!.seq, 'number', 'numbered: it came through the stream');
      }
    });

    // Last: it takes the engine away (Redis comes back empty: a new epoch).
    test(`${kind}: engine away — members of one node still talk (unnumbered, once), the others get nothing; when it is back everyone gets an outage gap and numbering goes on`, async () => {
      const room = '/' + uid('outage');
      const a1 = await pools[A].ws(room);
      const a2 = await pools[A].sse(room);
      const b1 = await pools[B].ws(room);
      a1.send({ type: 'publish', data: 'before', ack: true, ref: 'before' });
      await until([a2, b1], () => datas(a2).includes('before') && datas(b1).includes('before'), 5000, 'before');
      const epoch = a1.hello.epoch;
      await cluster.engine.down();
      try {
        await brokerState(cluster, 'down');
        a1.send({ type: 'publish', data: 'during', ack: true, ref: 'during' });
        const ack = await a1.waitFor((m) => m.type === 'ack' && m.ref === 'during', 5000, 'ack during the outage');
        assert.equal(ack.seq, undefined, 'not numbered');
        const during = await a2.waitFor((m) => published(m) && m.data === 'during', 5000, 'during, on the same node');
        assert.equal(during.seq, undefined);
        assert.equal((a2 as SseMember).ids[a2.messages.indexOf(during)], '', 'no SSE id: Last-Event-ID stays a number of the stream');
        const post = await a2.send({ type: 'publish', data: 'during-post' });
        assert.deepEqual(post.body, { ok: true });
        await a1.waitFor((m) => published(m) && m.data === 'during-post', 5000, 'the POST during the outage');
      } finally {
        await cluster.engine.up();
      }
      await brokerState(cluster, 'up');
      for (const m of [a1, a2, b1]) {
        const gap = await m.waitFor((x) => x.type === 'gap', 15_000, 'the outage gap');
        assert.equal(gap.outage, true);
        if (kind === 'redis') assert.equal(gap.reset, true, 'Redis without persistence lost the stream: a new epoch');
        if (gap.reset) assert.notEqual(gap.epoch, epoch);
        else assert.deepEqual(gap, { type: 'gap', from: 2, to: 1, outage: true }, 'nothing numbered was missed');
      }
      assert.deepEqual(datas(b1), ['before'], 'the other node got nothing of the outage');
      assert.equal(datas(a2).filter((d) => d === 'during').length, 1, 'once');
      // Numbering goes on, cluster-wide (the engine may need a moment: retry on broker_unavailable).
      let after: Msg | undefined;
      for (let attempt = 0; attempt < 50 && !after; attempt++) {
        a1.send({ type: 'publish', data: `after${attempt}`, ack: true, ref: `after${attempt}` });
        const answer = await a1.waitFor((m) => (m.type === 'ack' || m.type === 'error') && m.ref === `after${attempt}`, 10_000, 'the answer after the outage');
        if (answer.type === 'ack') after = answer;
        else assert.equal(answer.code, 'broker_unavailable');
      }
      assert.ok(after, 'a publish succeeded after the outage');
      const got = await b1.waitFor((m) => published(m) && String(m.data).startsWith('after'), 5000, 'after, on the other node');
      assert.equal(got.seq, after.seq);
      const fresh = await pools[C].ws(room);
      assert.equal(fresh.hello.seq, after.seq);
      if (kind === 'nats') assert.equal(fresh.hello.epoch, epoch, 'JetStream kept the stream');
    });
  });
}
