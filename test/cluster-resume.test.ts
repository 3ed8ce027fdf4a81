// A native member resumed on another node (issue 11; docs/cluster.md, "Resume on another node"):
// the node the connection reaches takes the member over from the node that held it — same cid,
// `resumed:true`, no leave/join for anyone, what was sent to it alone meanwhile delivered after the
// resume — while that node lives, after it drained (SIGTERM), and not after it was killed (the
// member starts afresh: never a silent hole). Every case runs on Redis and on NATS.
import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { ENGINE_KINDS, startCluster, type RunningCluster } from './helpers/cluster.js';
import type { RunningServer } from './helpers/server.js';
import { SseMember, WsMember, postJson, short, uid, type Member, type Msg } from './helpers/native.js';
import { FAST, next, opened } from './helpers/client.ts';
import { connect, type Room } from '../src/client/index.ts';

const room = (p = 'rs') => '/' + uid(p);
const isPresence = (cid: string) => (m: Msg) => (m.type === 'join' || m.type === 'leave') && m.cid === cid;
const isDirect = (data: unknown) => (m: Msg) => m.type === 'message' && m.kind === 'direct' && m.data === data;

for (const kind of ENGINE_KINDS) {
  describe(`native resume across nodes on ${kind}`, () => {
    let cluster: RunningCluster;
    let n: RunningServer[];
    const open: Member[] = [];
    const rooms: Room[] = [];

    const ws = async (node: RunningServer, r: string, query?: string): Promise<WsMember> => {
      const m = await WsMember.connect(node.ws, r, { query, timeoutMs: 6000 });
      open.push(m);
      return m;
    };
    /** Done as `m` and handled by its node: a presence round trip after the frame. */
    const act = async (m: WsMember, msg: Msg): Promise<Msg> => {
      const ref = uid('ref');
      m.send({ ...msg, ref });
      m.send({ type: 'presence', ref });
      return m.waitFor((x) => x.ref === ref, 4000, `answer to ${short(msg)}`);
    };
    /** The highest `n` `m` has received. */
    const lastN = (m: WsMember): number => Math.max(0, ...m.messages.map((x) => (typeof x.n === 'number' ? x.n : 0)));

    before(async () => {
      cluster = await startCluster(kind, { nodes: 3 });
      n = cluster.nodes;
    });
    afterEach(async () => {
      await Promise.all(rooms.splice(0).map((r) => r.close().catch(() => {})));
      await Promise.all(open.splice(0).map((m) => m.close().catch(() => {})));
    });
    after(async () => {
      await cluster?.stop();
    });

    test('a member dropped from node A resumes on node B: same cid, no leave/join, a direct message sent meanwhile (from C) follows, sends and requests from C reach it on B; dropped again, it resumes on C', async () => {
      const r = room('live');
      const onA = await ws(n[0], r);
      const onB = await ws(n[1], r);
      const c = await ws(n[2], r);
      const m = await ws(n[0], r);
      for (const o of [onA, onB, c]) await o.waitFor((x) => x.type === 'join' && x.cid === m.cid, 4000, 'join of the member');
      await act(c, { type: 'send', to: m.cid, data: 'before' });
      await m.waitFor(isDirect('before'), 4000, 'the direct message before the drop');
      const seen = lastN(m);
      assert.ok(seen >= 1, 'direct messages are numbered');

      // A token with A's tag but not the member's: no hand-over (the hash differs), a new member.
      const forged = await ws(n[1], r, `resume=${m.token.slice(0, 8)}${'0'.repeat(32)}&seen=0`);
      assert.equal(forged.hello.resumed, false);
      assert.notEqual(forged.hello.cid, m.cid);
      await forged.close();

      await m.terminate(); // a drop, not a leave: A keeps it for the resume grace
      await act(c, { type: 'send', to: m.cid, data: 'while away', ack: true });
      const started = Date.now();
      const back = await ws(n[1], r, `resume=${m.token}&seen=${seen}`);
      const resumeMs = Date.now() - started;
      assert.equal(back.hello.cid, m.cid, short(back.hello));
      assert.equal(back.hello.resumed, true);
      assert.equal(back.hello.token, m.token);
      const away = await back.waitFor(isDirect('while away'), 4000, 'the direct message sent while it was away');
      assert.equal(away.from, c.cid);
      assert.ok(away.n > seen, short(away));
      assert.equal(back.messages.filter(isDirect('before')).length, 0, 'what it saw is not resent');

      // Now on B: a send and a request from C reach it there.
      await act(c, { type: 'send', to: m.cid, data: 'after', ack: true });
      await back.waitFor(isDirect('after'), 4000, 'a send from C after the resume');
      back.ws.on('message', (raw) => {
        const x = JSON.parse(String(raw)) as Msg;
        if (x.type === 'request') back.send({ type: 'reply', id: x.id, data: `B has ${x.data}` });
      });
      c.send({ type: 'request', id: 'q1', to: m.cid, data: 'q1', timeout: 4000 });
      const reply = await c.waitFor((x) => x.type === 'reply' && x.id === 'q1', 6000, 'reply from the member on B');
      assert.equal(reply.data, 'B has q1', short(reply));

      // Dropped again and resumed on C: its token still names A, which passes the ask on to B.
      const seen2 = lastN(back);
      await back.terminate();
      const third = await ws(n[2], r, `resume=${m.token}&seen=${seen2}`);
      assert.equal(third.hello.cid, m.cid, short(third.hello));
      assert.equal(third.hello.resumed, true);
      await act(onA, { type: 'send', to: m.cid, data: 'on C', ack: true });
      await third.waitFor(isDirect('on C'), 4000, 'a send from A after the second move');

      // Every node lists it once, and nobody saw it leave or join again.
      for (const o of [onA, onB, c]) {
        const p = await act(o, { type: 'presence' });
        assert.equal(p.members.filter((x: string) => x === m.cid).length, 1, `presence on ${o.label}: ${short(p)}`);
        assert.deepEqual(o.messages.filter(isPresence(m.cid)).map((x) => x.type), ['join'], `${o.label} saw only its first join`);
      }
      console.log(`# ${kind}: resume on another node (live old node): ${resumeMs} ms from the upgrade to connect`);
    });

    test('requests across the move: its own request pending on A is answered on B; one it was answering on A ends with `gone`', async () => {
      const r = room('calls');
      const x = await ws(n[0], r); // asks the member, on A
      const c = await ws(n[2], r); // answers the member, on C
      const m = await ws(n[0], r);
      await c.waitFor((y) => y.type === 'join' && y.cid === m.cid, 4000, 'join of the member on C');
      m.send({ type: 'request', id: 'mine', to: c.cid, data: 'from m', timeout: 8000 });
      const held = await c.waitFor((y) => y.type === 'request' && y.data === 'from m', 4000, 'the member\'s request on C');
      x.send({ type: 'request', id: 'theirs', to: m.cid, data: 'to m', timeout: 8000 });
      await m.waitFor((y) => y.type === 'request' && y.data === 'to m', 4000, 'the request to the member');
      const seen = Math.max(...m.messages.map((y) => (typeof y.n === 'number' ? y.n : 0)));
      await m.terminate();
      const back = await ws(n[1], r, `resume=${m.token}&seen=${seen}`);
      assert.equal(back.hello.resumed, true);
      const gone = await x.waitFor((y) => y.type === 'reply' && y.id === 'theirs', 4000, 'the end of the request the member was answering');
      assert.equal(gone.error?.code, 'gone', short(gone));
      c.send({ type: 'reply', id: held.id, data: 'for m' });
      const reply = await back.waitFor((y) => y.type === 'reply' && y.id === 'mine', 4000, 'the reply to its own request, on B');
      assert.equal(reply.data, 'for m');
      assert.equal(reply.from, c.cid);
      assert.ok(reply.n > seen, short(reply));
    });

    test('an SSE member resumed on B: its POSTs are answered on B, and on C (forwarded to A by the token\'s tag, which hands them on to B)', async () => {
      const r = room('sse');
      const c = await ws(n[2], r);
      const m = await SseMember.connect(n[0].http, r, { timeoutMs: 6000 });
      open.push(m);
      await c.waitFor((x) => x.type === 'join' && x.cid === m.cid, 4000, 'join of the SSE member');
      await m.close();
      const back = await SseMember.connect(n[1].http, r, { query: `resume=${m.token}&seen=0`, timeoutMs: 6000 });
      open.push(back);
      assert.equal(back.hello.cid, m.cid);
      assert.equal(back.hello.resumed, true);
      for (const [i, node] of [n[1], n[2], n[0]].entries()) {
        const res = await postJson(node.http + r, { type: 'send', to: c.cid, data: `post ${i}`, token: m.token });
        assert.equal(res.status, 200, `POST on node ${i}: ${res.status} ${res.text}`);
        const got = await c.waitFor(isDirect(`post ${i}`), 4000, `the POST made on node ${i}`);
        assert.equal(got.from, m.cid);
      }
    });

    test('SDK given [A, B]: A drains (SIGTERM); the SDK resumes on B with the same cid, its request in flight answered, sends reach it after', async () => {
      const a = await cluster.addNode({ args: ['--drain-timeout', '4'] });
      const r = room('drain');
      const answerer = await ws(n[2], r);
      let gate!: (x: Msg) => void;
      const asked = new Promise<Msg>((resolve) => { gate = resolve; });
      answerer.ws.on('message', (raw) => {
        const x = JSON.parse(String(raw)) as Msg;
        if (x.type === 'request') gate(x);
      });
      const client = connect([a.http + r, n[1].http + r], { transport: 'websocket', ...FAST });
      rooms.push(client);
      await opened(client);
      const cid = client.cid!;
      await answerer.waitFor((x) => x.type === 'join' && x.cid === cid, 4000, 'join of the SDK member');
      const moved = next(client, 'reconnecting', (e) => e.reason === 'restart', 8000);
      const answered = client.request<string>('q1', { to: answerer.cid, timeout: 8000 });
      const q = await asked;
      const termAt = Date.now();
      const exited = once(a.proc, 'exit').then(([code]) => ({ code, ms: Date.now() - termAt }));
      a.proc.kill('SIGTERM');
      // The drain keeps the asker until the reply went through.
      answerer.send({ type: 'reply', id: q.id, data: 'answer to q1' });
      assert.equal(await answered, 'answer to q1');
      const e = await moved;
      assert.equal(e.url, n[1].http + r);
      // Sent while it is between nodes: delivered after the resume.
      const heard = next(client, 'message', (x) => x.data === 'between nodes', 8000);
      await act(answerer, { type: 'send', to: cid, data: 'between nodes', ack: true });
      const back = await next(client, 'connect', undefined, 8000);
      const resumedAt = Date.now();
      assert.equal(back.cid, cid);
      assert.equal(back.resumed, true);
      assert.equal((await heard).from, answerer.cid);
      const after = next(client, 'message', (x) => x.data === 'after the move', 4000);
      await act(answerer, { type: 'send', to: cid, data: 'after the move', ack: true });
      await after;
      answerer.ws.on('message', (raw) => {
        const x = JSON.parse(String(raw)) as Msg;
        if (x.type === 'request' && x.data === 'q2') answerer.send({ type: 'reply', id: x.id, data: 'answer to q2' });
      });
      assert.equal(await client.request<string>('q2', { to: answerer.cid, timeout: 4000 }), 'answer to q2');
      assert.deepEqual(answerer.messages.filter(isPresence(cid)).map((x) => x.type), ['join'], 'no leave/join for the moved member');
      const exit = await exited;
      assert.equal(exit.code, 0, 'the drained node exits 0 once its members were handed over');
      console.log(`# ${kind}: drained node: the SDK resumed elsewhere ${resumedAt - termAt} ms after SIGTERM, the node exited after ${exit.ms} ms`);
    });

    test('a node killed (SIGKILL) cannot hand over: the resume on B starts afresh (resumed:false)', async () => {
      const a = await cluster.addNode();
      const r = room('kill');
      const c = await ws(n[2], r);
      const m = await ws(a, r);
      await c.waitFor((x) => x.type === 'join' && x.cid === m.cid, 4000, 'join of the member');
      await act(c, { type: 'send', to: m.cid, data: 'before', ack: true });
      await m.waitFor(isDirect('before'), 4000, 'the direct message');
      a.proc.kill('SIGKILL');
      await m.waitClosed(4000);
      const started = Date.now();
      const back = await ws(n[1], r, `resume=${m.token}&seen=${lastN(m)}`);
      console.log(`# ${kind}: killed node: the resume on B started afresh after ${Date.now() - started} ms`);
      assert.equal(back.hello.resumed, false, short(back.hello));
      assert.notEqual(back.hello.cid, m.cid);
    });
  });
}
