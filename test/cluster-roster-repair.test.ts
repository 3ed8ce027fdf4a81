// Repairs of the native roster's soft state (docs/cluster.md, "Native membership and calls"):
// the periodic digest that repairs a lost last change, and the re-announcement of a node whose
// heartbeats lapsed (it stalled past the TTL, the others dropped its members). Two nodes on one
// engine; node 1 runs with the test hook that drops every `r.leave` it would publish, so that a
// leave there reaches node 0 only through the digest. Both engines.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINE_KINDS, startCluster, type RunningCluster } from './helpers/cluster.js';
import { WsMember, uid, type Msg } from './helpers/native.js';

const isJoin = (cid: string) => (m: Msg) => m.type === 'join' && m.cid === cid;
const isLeave = (cid: string) => (m: Msg) => m.type === 'leave' && m.cid === cid;
/** DIGEST_MS (3 s) + one round trip, with room for a loaded machine. */
const DIGEST_BOUND_MS = 6000;

for (const kind of ENGINE_KINDS) {
  describe(`roster repair on ${kind}`, () => {
    let cluster: RunningCluster;
    const open: WsMember[] = [];
    const ws = async (i: number, r: string): Promise<WsMember> => {
      const m = await WsMember.connect(cluster.nodes[i].ws, r, { timeoutMs: 5000 });
      open.push(m);
      return m;
    };

    before(async () => {
      cluster = await startCluster(kind, { nodes: 1, args: ['--resume-grace', '0'] });
      await cluster.addNode({ env: { MULTISOCKET_TEST_DROP_ROSTER_LEAVES: '1' } });
    });
    after(async () => {
      await Promise.all(open.splice(0).map((m) => m.close().catch(() => {})));
      await cluster?.stop();
    });

    test('a lost last change (a leave) is repaired by the next digest', async () => {
      const r = '/' + uid('lost');
      const a = await ws(0, r);
      const b = await ws(1, r);
      await a.waitFor(isJoin(b.cid), 3000, 'join of b on node 0');
      const t0 = Date.now();
      await b.close(); // its node publishes no r.leave (the hook): only the digest tells node 0
      await a.waitFor(isLeave(b.cid), DIGEST_BOUND_MS, 'leave of b on node 0, through the digest');
      const took = Date.now() - t0;
      // A leave through the notice takes milliseconds; the digest waits for the room to settle (500 ms).
      assert.ok(took >= 400, `leave after ${took} ms: the hook did not drop the notice`);
      console.log(`[${kind}] the dropped leave repaired by the digest after ${took} ms`);
      const p = await (async () => { const ref = uid('p'); a.send({ type: 'presence', ref }); return a.waitFor((x) => x.ref === ref, 3000, 'presence'); })();
      assert.deepEqual(p.members, [a.cid]);
    });

    test('a node stalled past the TTL (SIGSTOP ~10 s) re-announces its members when it resumes', async () => {
      const r = '/' + uid('stall');
      const a = await ws(0, r);
      const b = await ws(1, r);
      assert.ok(b.hello.members.includes(a.cid), 'a (node 0) listed on node 1');
      const stalled = cluster.nodes[0].proc;
      stalled.kill('SIGSTOP');
      try {
        // Node 1 reports node 0 gone within TTL + beat (7 + 2 s) and drops its member.
        await b.waitFor(isLeave(a.cid), 12_000, 'leave of a on node 1 (node 0 reported gone)');
      } finally {
        b.clear();
        stalled.kill('SIGCONT');
      }
      const t0 = Date.now();
      // Node 0 finds its lapse at its next beat (≤ 2 s) and publishes its snapshot: a joins again.
      await b.waitFor(isJoin(a.cid), 6000, 'a joins again on node 1');
      const took = Date.now() - t0;
      // Its log line may be read after b's join (another pipe): bounded wait for it.
      const logs = cluster.nodes[0].logs;
      for (const end = Date.now() + 3000; !logs.some((l) => l.includes('stalled past the heartbeat TTL')) && Date.now() < end;) await new Promise((res) => setTimeout(res, 50));
      assert.ok(logs.some((l) => l.includes('stalled past the heartbeat TTL')), 'node 0 found its own lapse: ' + logs.slice(-8).join('\n'));
      // And node 0 is listed again on node 1 (its tombstone lifted by the higher lapse).
      const nodes = await fetch(cluster.nodes[1].http + '/_/nodes').then((x) => x.json()) as { nodes?: { id: string }[] } | { id: string }[];
      const list = Array.isArray(nodes) ? nodes : nodes.nodes ?? [];
      assert.ok(list.some((n) => n.id === cluster.ids[0]), `node 0 listed on node 1 again: ${JSON.stringify(nodes)}`);
      // Calls reach it again: b sends to a.
      b.send({ type: 'send', to: a.cid, data: 'back', ack: true, ref: 'back' });
      const ack = await b.waitFor((x) => x.ref === 'back', 3000, 'send ack');
      assert.equal(ack.type, 'ack', JSON.stringify(ack));
      await a.waitFor((x) => x.type === 'message' && x.data === 'back', 3000, 'a gets the message');
      // Node 0 saw nothing of it: it dropped nobody (b never left in its view).
      assert.equal(a.messages.filter(isLeave(b.cid)).length, 0);
      console.log(`[${kind}] a rejoined on node 1 ${took} ms after SIGCONT`);
    });
  });
}
