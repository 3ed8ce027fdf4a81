// Native membership, presence and calls across nodes (issue 11; docs/cluster.md, "Native
// membership and calls"): three nodes on one engine, real clients (raw WebSocket and SSE + POST)
// on different nodes. Every case runs on Redis and on NATS. The node kill and the engine outage
// come last (the kill takes node 2 away; after the outage, the registry reports no death for one TTL).
import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINE_KINDS, startCluster, type RunningCluster } from './helpers/cluster.js';
import type { RunningServer } from './helpers/server.js';
import { SseMember, WsMember, postJson, short, uid, unnumbered, until, type Member, type Msg } from './helpers/native.js';
import { Handles, opened, record, until as untilTrue } from './helpers/client.ts';

type AnyMember = WsMember | SseMember;

const room = (p = 'cr') => '/' + uid(p);
const isJoin = (cid: string) => (m: Msg) => m.type === 'join' && m.cid === cid;
const isLeave = (cid: string) => (m: Msg) => m.type === 'leave' && m.cid === cid;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

for (const kind of ENGINE_KINDS) {
  describe(`native roster across 3 nodes on ${kind}`, () => {
    let cluster: RunningCluster;
    let n: RunningServer[];
    const open: Member[] = [];

    const ws = async (node: RunningServer, r: string, query?: string): Promise<WsMember> => {
      const m = await WsMember.connect(node.ws, r, { query, timeoutMs: 5000 });
      open.push(m);
      return m;
    };
    const sse = async (node: RunningServer, r: string, query?: string): Promise<SseMember> => {
      const m = await SseMember.connect(node.http, r, { query, timeoutMs: 5000 });
      open.push(m);
      return m;
    };
    /** Done as `m` and handled by its node: a POST's 200, or a presence round trip after the frame. */
    const act = async (m: AnyMember, msg: Msg): Promise<Msg> => {
      if (m instanceof SseMember) {
        const r = await m.send(msg);
        assert.equal(r.status, 200, `POST ${short(msg)} → ${r.status} ${r.text}`);
        return r.body;
      }
      const ref = uid('ref');
      m.send({ ...msg, ref });
      m.send({ type: 'presence', ref });
      return m.waitFor((x) => x.ref === ref, 3000, `answer to ${short(msg)}`);
    };
    /** `request` as `m`: the reply (over SSE, the POST's answer). */
    const ask = async (m: AnyMember, req: Msg): Promise<Msg> => {
      const msg = { type: 'request', ...req };
      if (m instanceof SseMember) return (await m.send(msg)).body;
      m.send(msg);
      return m.waitFor((x) => x.type === 'reply' && x.id === req.id, (req.timeout ?? 5000) + 3000, `reply to ${req.id}`);
    };
    /** Answer every request `m` gets with `{by: cid, data}` (WebSocket members). */
    const autoReply = (m: WsMember): void => {
      m.ws.on('message', (raw) => {
        const x = JSON.parse(String(raw)) as Msg;
        if (x.type === 'request') m.send({ type: 'reply', id: x.id, data: { by: m.cid, data: x.data } });
      });
    };
    /** Wait until requests without `to` from `asker` have reached every one of `servers` (their `serve` crossed the bus). */
    const serversKnown = async (asker: WsMember, servers: WsMember[]): Promise<void> => {
      const seen = new Set<string>();
      const until = Date.now() + 5000;
      for (let i = 0; seen.size < servers.length; i++) {
        assert.ok(Date.now() < until, `servers ${servers.map((s) => s.cid)} not all reached; reached ${[...seen]}`);
        const r = await ask(asker, { id: uid('warm'), data: i, timeout: 2000 });
        if (r.data?.by) seen.add(r.data.by);
      }
    };

    before(async () => {
      // A closed connection leaves at once (no resume grace): these tests are about membership.
      cluster = await startCluster(kind, { nodes: 3, args: ['--resume-grace', '0'] });
      n = cluster.nodes;
    });
    afterEach(async () => {
      await Promise.all(open.splice(0).map((m) => m.close().catch(() => {})));
    });
    after(async () => {
      await Promise.all(open.splice(0).map((m) => m.close().catch(() => {})));
      await cluster?.stop();
    });

    test('connect, join/leave, presence and the owner are cluster-wide; cids are unique across nodes', async () => {
      const r = room('members');
      const a = await ws(n[0], r, 'info=' + encodeURIComponent('{"name":"a"}'));
      const b = await sse(n[1], r);
      const c = await ws(n[2], r, 'info=' + encodeURIComponent('{"name":"c"}'));
      assert.deepEqual(new Set(c.hello.members), new Set([a.cid, b.cid, c.cid]), short(c.hello));
      assert.deepEqual(new Set(b.hello.members), new Set([a.cid, b.cid]), short(b.hello));
      assert.equal(c.hello.owner, a.cid, 'the longest-present member (on another node) owns the room');
      assert.equal(b.hello.owner, a.cid);
      assert.deepEqual(c.hello.infos, { [a.cid]: { name: 'a' }, [c.cid]: { name: 'c' } });
      await a.waitFor(isJoin(b.cid), 3000, 'join of b (node 1) on node 0');
      const joinC = await a.waitFor(isJoin(c.cid), 3000, 'join of c (node 2) on node 0');
      assert.deepEqual(joinC.info, { name: 'c' });
      await b.waitFor(isJoin(c.cid), 3000, 'join of c on node 1 (SSE)');
      // presence on each node lists everyone
      for (const m of [a, b, c]) {
        const p = await act(m, { type: 'presence' });
        assert.deepEqual(new Set(p.members), new Set([a.cid, b.cid, c.cid]), `presence on ${m.label}: ${short(p)}`);
        assert.equal(p.owner, a.cid);
      }
      assert.equal(new Set([a.cid, b.cid, c.cid]).size, 3);
      // cids: a prefix per node (derived from its id), so no two nodes can give the same one
      const prefix = (cid: string) => cid.slice(0, 9);
      assert.equal(new Set([a.cid, b.cid, c.cid].map(prefix)).size, 3, `per-node prefixes: ${[a.cid, b.cid, c.cid]}`);
      // leave on node 2: seen on 0 and 1
      await c.close();
      await a.waitFor(isLeave(c.cid), 3000, 'leave of c on node 0');
      await b.waitFor(isLeave(c.cid), 3000, 'leave of c on node 1');
      // the owner (node 0) leaves: b (node 1), the longest present, takes over, announced in `leave`
      await a.close();
      const leaveA = await b.waitFor(isLeave(a.cid), 3000, 'leave of the owner on node 1');
      assert.equal(leaveA.owner, b.cid, short(leaveA));
      const late = await ws(n[2], r);
      assert.equal(late.hello.owner, b.cid);
      assert.deepEqual(new Set(late.hello.members), new Set([b.cid, late.cid]));
    });

    test('send reaches a member on another node; unknown_target when no node has it', async () => {
      const r = room('send');
      const a = await ws(n[0], r);
      const b = await sse(n[1], r);
      await a.waitFor(isJoin(b.cid), 3000, 'join of b');
      a.send({ type: 'send', to: b.cid, data: { hi: 'b' }, ack: true, ref: 's1' });
      const ack = await a.waitFor((m) => m.type === 'ack' && m.ref === 's1', 3000, 'ack of the send');
      assert.deepEqual(unnumbered(ack), { type: 'ack', ref: 's1' });
      const got = await b.waitFor((m) => m.type === 'message' && m.kind === 'direct', 3000, 'direct message on node 1');
      assert.deepEqual(unnumbered(got), { type: 'message', kind: 'direct', from: a.cid, data: { hi: 'b' } });
      const posted = await b.send({ type: 'send', to: a.cid, data: 'back' });
      assert.equal(posted.status, 200, posted.text);
      const back = await a.waitFor((m) => m.type === 'message' && m.kind === 'direct', 3000, 'direct message on node 0');
      assert.equal(back.from, b.cid);
      assert.equal(back.data, 'back');
      a.send({ type: 'send', to: 'c-nobody-anywhere', data: 1, ref: 's2' });
      const e = await a.waitFor((m) => m.type === 'error' && m.ref === 's2', 3000, 'unknown_target');
      assert.equal(e.code, 'unknown_target');
    });

    test('request with `to` across nodes, both ways (an SSE requester gets its reply as the POST answer)', async () => {
      const r = room('req-to');
      const a = await ws(n[0], r);
      const b = await sse(n[1], r);
      await a.waitFor(isJoin(b.cid), 3000, 'join of b');
      a.send({ type: 'request', id: 'q1', to: b.cid, data: 'ping?' });
      const q = await b.waitFor((m) => m.type === 'request', 3000, 'request on node 1');
      assert.equal(q.from, a.cid);
      assert.equal(q.data, 'ping?');
      const ok = await b.send({ type: 'reply', id: q.id, data: 'pong!' });
      assert.equal(ok.status, 200, ok.text);
      const rep = await a.waitFor((m) => m.type === 'reply' && m.id === 'q1', 3000, 'reply on node 0');
      assert.deepEqual(unnumbered(rep), { type: 'reply', id: 'q1', from: b.cid, data: 'pong!' });
      // the SSE member asks the WebSocket member on node 0
      const post = b.send({ type: 'request', id: 'q2', to: a.cid, data: 2, timeout: 5000 });
      const q2 = await a.waitFor((m) => m.type === 'request' && m.from === b.cid, 3000, 'request on node 0');
      a.send({ type: 'reply', id: q2.id, error: { code: 'handler_error', message: 'boom' } });
      const answer = await post;
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(answer.body, { type: 'reply', id: 'q2', from: a.cid, error: { code: 'handler_error', message: 'boom' } });
      // a reply to nothing pending (or already answered) stays unknown_request on the server's node
      const again = await b.send({ type: 'reply', id: q.id, data: 'twice' });
      assert.equal(again.status, 404, again.text);
      assert.equal(again.body.error.code, 'unknown_request');
    });

    test('request without `to` round-robins over servers on two other nodes; latency A → B → A', async () => {
      const r = room('rr');
      const asker = await ws(n[0], r);
      const s1 = await ws(n[1], r);
      const s2 = await ws(n[2], r);
      autoReply(s1);
      autoReply(s2);
      await act(asker, { type: 'serve' }); // never its own requests
      await act(s1, { type: 'serve' });
      await act(s2, { type: 'serve' });
      await serversKnown(asker, [s1, s2]);
      const by = new Map<string, number>();
      const ms: number[] = [];
      for (let i = 0; i < 200; i++) {
        const t0 = performance.now();
        const rep = await ask(asker, { id: `rr${i}`, data: i });
        ms.push(performance.now() - t0);
        assert.equal(rep.data?.data, i, short(rep));
        by.set(rep.data.by, (by.get(rep.data.by) ?? 0) + 1);
      }
      assert.deepEqual([...by.keys()].sort(), [s1.cid, s2.cid].sort(), `servers used: ${short([...by])}`);
      for (const [cid, count] of by) assert.ok(count >= 80, `${cid} got ${count} of 200`);
      assert.equal(asker.count((m) => m.type === 'request'), 0, 'the requester never gets its own requests');
      ms.sort((x, y) => x - y);
      // the same with the server on the requester's node, for comparison
      const r2 = room('rr-local');
      const localAsker = await ws(n[0], r2);
      const localServer = await ws(n[0], r2);
      autoReply(localServer);
      await act(localServer, { type: 'serve' });
      const local: number[] = [];
      for (let i = 0; i < 200; i++) {
        const t0 = performance.now();
        const rep = await ask(localAsker, { id: `lo${i}`, data: i });
        local.push(performance.now() - t0);
        assert.equal(rep.data?.by, localServer.cid, short(rep));
      }
      local.sort((x, y) => x - y);
      const fmt = (xs: number[]) => `p50 ${percentile(xs, 50).toFixed(2)} ms, p99 ${percentile(xs, 99).toFixed(2)} ms`;
      console.log(`# ${kind}: request → reply, one in flight, 200 requests: server on another node ${fmt(ms)} (max ${ms[ms.length - 1].toFixed(2)} ms; per server ${short([...by.values()])}); server on the same node ${fmt(local)}`);
    });

    test('no_responder, timeout, and gone when the serving member leaves', async () => {
      const r = room('fail');
      const asker = await sse(n[0], r);
      const nobody = await ask(asker, { id: 'nr', data: 1 });
      assert.equal(nobody.error?.code, 'no_responder', short(nobody));
      const slow = await ws(n[1], r);
      await act(slow, { type: 'serve' });
      // until node 0 knows it serves (its `serve` crosses the bus)
      const t0 = Date.now();
      let out: Msg;
      do {
        out = await ask(asker, { id: uid('t'), data: 1, timeout: 300 });
        assert.ok(Date.now() - t0 < 5000, `still ${short(out)}`);
      } while (out.error?.code === 'no_responder');
      assert.equal(out.error?.code, 'timeout', short(out));
      assert.equal(out.from, slow.cid);
      // a late reply to a timed-out request: unknown_request, as on one node. Node 0 told node 1 to
      // forget the request before answering; a direct message from node 0 after that is behind it.
      await act(asker, { type: 'send', to: slow.cid, data: 'sync' });
      await slow.waitFor((m) => m.type === 'message' && m.data === 'sync', 3000, 'sync message');
      const late = slow.all((m) => m.type === 'request').at(-1)!;
      slow.send({ type: 'reply', id: late.id, data: 'late', ref: 'late' });
      assert.equal((await slow.waitFor((m) => m.type === 'error' && m.ref === 'late', 3000, 'late reply refused')).code, 'unknown_request');
      // gone: the server leaves while a request waits on it
      const pending = ask(asker, { id: 'g', to: slow.cid, data: 2, timeout: 10_000 });
      await slow.waitFor((m) => m.type === 'request' && m.data === 2, 3000, 'the request');
      slow.send({ type: 'leave' });
      const gone = await pending;
      assert.equal(gone.error?.code, 'gone', short(gone));
      assert.equal(gone.from, slow.cid);
    });

    test('the SDK on three nodes (WebSocket, SSE): members, send, request round-robin', async () => {
      const handles = new Handles();
      try {
        const path = room('sdk');
        const a = handles.join(n[0].http, path, 'websocket');
        await opened(a);
        const joined: string[] = [];
        a.on('join', (j) => joined.push(j.cid));
        const b = handles.join(n[1].http, path, 'sse');
        const c = handles.join(n[2].http, path, 'websocket');
        await opened(b, c);
        await untilTrue(() => joined.includes(b.cid!) && joined.includes(c.cid!), 'joins of b and c on node 0');
        assert.deepEqual(new Set(c.members), new Set([a.cid, b.cid, c.cid]));
        assert.equal(c.owner, a.cid);
        const aLog = record(a);
        b.send(a.cid!, 'from b over SSE on node 1');
        await untilTrue(() => aLog.length === 1, 'direct message from b');
        assert.equal(aLog[0].from, b.cid);
        b.serve((data) => ({ by: 'b', data }));
        c.serve((data) => ({ by: 'c', data }));
        const by = new Set<string>();
        const end = Date.now() + 5000;
        for (let i = 0; by.size < 2; i++) {
          assert.ok(Date.now() < end, `servers reached: ${[...by]}`);
          const answer = (await a.request(i).catch((e: Error & { code?: string }) => ({ by: e.code }))) as { by: string };
          if (answer.by === 'b' || answer.by === 'c') by.add(answer.by);
        }
        assert.deepEqual((await a.request('to c', { to: c.cid })) as Msg, { by: 'c', data: 'to c' });
      } finally {
        await handles.closeAll();
      }
    });

    test('an SSE member\'s POST is accepted by any node (forwarded to the member\'s node)', async () => {
      const r = room('post');
      const a = await ws(n[0], r);
      const b = await sse(n[1], r);
      await a.waitFor(isJoin(b.cid), 3000, 'join of b');
      // b's POSTs through node 2, which does not hold it
      const sent = await postJson(n[2].http + r, { token: b.token, type: 'send', to: a.cid, data: 'via node 2' });
      assert.equal(sent.status, 200, sent.text);
      assert.deepEqual(sent.body, { ok: true });
      const got = await a.waitFor((m) => m.type === 'message' && m.kind === 'direct', 3000, 'message sent through node 2');
      assert.equal(got.from, b.cid);
      const presence = await postJson(n[0].http + r, { token: b.token, type: 'presence' });
      assert.equal(presence.status, 200, presence.text);
      assert.deepEqual(new Set(presence.body.members), new Set([a.cid, b.cid]));
      autoReply(a);
      const rep = await postJson(n[2].http + r, { token: b.token, type: 'request', id: 'via2', to: a.cid, data: 7 }, 8000);
      assert.equal(rep.status, 200, rep.text);
      assert.deepEqual(rep.body, { type: 'reply', id: 'via2', from: a.cid, data: { by: a.cid, data: 7 } });
      const bad = await postJson(n[2].http + r, { token: '0'.repeat(40), type: 'presence' });
      assert.equal(bad.status, 401, bad.text);
      assert.equal(bad.body.error.code, 'bad_token');
    });

    test('an owned room (/_/new) closes on every node when its owner leaves', async () => {
      const owner = await ws(n[0], '/_/new');
      const r = owner.hello.room as string;
      assert.match(r, /^\/r-/);
      const b = await ws(n[1], r);
      const c = await sse(n[2], r);
      assert.equal(b.hello.owner, owner.cid, short(b.hello));
      assert.equal(c.hello.owner, owner.cid);
      await owner.waitFor(isJoin(b.cid), 3000, 'the owner sees b join');
      await owner.waitFor(isJoin(c.cid), 3000, 'the owner sees c join');
      await b.expectNone((m) => m.type === 'join', 100, 'join to a non-owner');
      owner.send({ type: 'leave' });
      const closedB = await b.waitFor((m) => m.type === 'closed', 5000, 'closed on node 1');
      assert.equal(closedB.reason, 'owner_left');
      const closedC = await c.waitFor((m) => m.type === 'closed', 5000, 'closed on node 2');
      assert.equal(closedC.reason, 'owner_left');
      await b.waitClosed(3000);
      // the path answers 410 on the nodes that had it
      const again = await postJson(n[1].http + r, { token: b.token, type: 'presence' });
      assert.equal(again.status, 410, again.text);
    });

    test('--max-peers-per-room counts the members of every node; a node that stops takes its members along', async () => {
      // a fourth node with a limit of 2: it learns of the room's members elsewhere before admitting
      const limited = await cluster.addNode({ args: ['--max-peers-per-room', '2'] });
      const r = room('full');
      const a = await ws(n[0], r);
      const b = await sse(n[1], r);
      await a.waitFor(isJoin(b.cid), 3000, 'join of b');
      await assert.rejects(WsMember.connect(limited.ws, r, { timeoutMs: 5000 }), (e: Error & { statusCode?: number; body?: string }) => {
        assert.equal(e.statusCode, 503, e.message);
        assert.match(e.body ?? '', /room_full/);
        return true;
      });
      const refusedSse = await fetch(limited.http + r, { headers: { Accept: 'text/event-stream' } });
      assert.equal(refusedSse.status, 503);
      assert.equal(((await refusedSse.json()) as Msg).error.code, 'room_full');
      await b.close();
      await a.waitFor(isLeave(b.cid), 3000, 'leave of b');
      const c = await ws(limited, r);
      assert.deepEqual(new Set(c.hello.members), new Set([a.cid, c.cid]));
      // a node that stops cleanly (SIGTERM): its members leave on the others at once, not after the TTL
      const t0 = Date.now();
      await limited.stop();
      await a.waitFor(isLeave(c.cid), 3000, 'leave of the stopped node\'s member');
      assert.ok(Date.now() - t0 < 3000);
    });

    test('a node with many members answers in pages: a new node gets them all', async () => {
      const r = room('pages');
      const info = 'info=' + encodeURIComponent(JSON.stringify({ pad: 'x'.repeat(950) })); // near --max-info-bytes (1 KiB)
      const many: WsMember[] = [];
      for (let i = 0; i < 100; i++) many.push(await ws(n[1], r, info)); // ≈ 100 KiB of records: two pages
      const late = await ws(n[2], r);
      assert.equal(late.hello.members.length, 101, `members: ${late.hello.members.length}`);
      assert.deepEqual(new Set(late.hello.members), new Set([...many.map((m) => m.cid), late.cid]));
      assert.equal(Object.keys(late.hello.infos).length, 100);
    });

    test('a node SIGKILLed: its members leave on the others within 10 s, a request pending on one ends with gone', async () => {
      const r = room('kill');
      const a = await ws(n[0], r);
      const watcher = await sse(n[1], r);
      const doomed = await ws(n[2], r);
      const doomedSse = await sse(n[2], r);
      await until([a], () => a.count(isJoin(doomed.cid)) > 0 && a.count(isJoin(doomedSse.cid)) > 0, 3000, 'joins from node 2');
      const pending = ask(a, { id: 'kq', to: doomed.cid, data: 'never answered', timeout: 30_000 });
      await doomed.waitFor((m) => m.type === 'request', 3000, 'the request on node 2');
      const t0 = Date.now();
      n[2].proc.kill('SIGKILL');
      const gone = await pending;
      const goneMs = Date.now() - t0;
      assert.equal(gone.error?.code, 'gone', short(gone));
      assert.equal(gone.from, doomed.cid);
      await a.waitFor(isLeave(doomed.cid), 10_000 - (Date.now() - t0), 'leave of the dead node\'s member on node 0');
      await a.waitFor(isLeave(doomedSse.cid), 10_000 - (Date.now() - t0), 'leave of its SSE member on node 0');
      await watcher.waitFor(isLeave(doomed.cid), 10_000 - (Date.now() - t0), 'leave on node 1');
      const leftMs = Date.now() - t0;
      assert.ok(leftMs < 10_000, `${leftMs} ms`);
      console.log(`# ${kind}: SIGKILLed node: request ended with gone after ${goneMs} ms, members left everywhere after ${leftMs} ms`);
      const p = await act(a, { type: 'presence' });
      assert.deepEqual(new Set(p.members), new Set([a.cid, watcher.cid]));
      const nobody = await ask(a, { id: 'after', to: doomed.cid, data: 1 });
      assert.equal(nobody.error?.code, 'unknown_target');
    });

    test('the engine goes away and comes back: joins and leaves made meanwhile are reconciled', async () => {
      const r = room('outage');
      const a = await ws(n[0], r);
      const b = await ws(n[1], r);
      const keep = await ws(n[1], r); // keeps the room on node 1
      await until([a], () => a.count(isJoin(b.cid)) > 0 && a.count(isJoin(keep.cid)) > 0, 3000, 'joins from node 1');
      await cluster.engine.down();
      // node 1 keeps serving its own members
      await b.close();
      await keep.waitFor(isLeave(b.cid), 3000, 'leave on node 1 while the engine is down');
      const c = await ws(n[1], r);
      await keep.waitFor(isJoin(c.cid), 3000, 'join on node 1 while the engine is down');
      const t0 = Date.now();
      await cluster.engine.up();
      await a.waitFor(isLeave(b.cid), 20_000, 'leave of b on node 0 after the engine is back');
      await a.waitFor(isJoin(c.cid), 20_000, 'join of c on node 0 after the engine is back');
      console.log(`# ${kind}: engine back → membership reconciled on node 0 after ${Date.now() - t0} ms`);
      autoReply(c);
      const rep = await ask(a, { id: 'after-outage', to: c.cid, data: 1 });
      assert.equal(rep.data?.by, c.cid, short(rep));
    });
  });
}
