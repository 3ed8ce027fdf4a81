// push/pull across three nodes (docs/cluster.md, "Work queue"), on Redis and on NATS: jobs pushed
// by a member on node A go through the engine's queue to pullers on B and C — every job exactly
// once, to both, within each puller's prefetch; nack and a dropped puller send the job to a puller
// elsewhere (attempt 2); after --job-max-attempts the pusher on A hears job_failed; a job never goes
// to its own pusher (not even when it is the only free puller); the bound answers queue_full; the
// job held by a node that dies goes to a puller elsewhere after the engine's ack wait.
// Raw protocol clients (test/helpers/native.ts), one pool per node.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINE_KINDS, startCluster, type RunningCluster } from './helpers/cluster.js';
import { MemberPool, short, uid, type Msg, type WsMember } from './helpers/native.js';

const ARGS = ['--resume-grace', '0', '--job-ack-wait', '1', '--job-max-attempts', '3', '--max-queued-jobs', '40'];
const isJob = (data?: unknown) => (m: Msg) => m.type === 'message' && m.kind === 'push' && (data === undefined || JSON.stringify(m.data) === JSON.stringify(data));

/** Send, then a presence round trip: the node has handled everything before it. */
async function act(m: WsMember, msg: Msg | Msg[]): Promise<void> {
  const n = m.count((x) => x.type === 'presence');
  m.send(msg);
  m.send({ type: 'presence' });
  await m.waitUntil(() => m.count((x) => x.type === 'presence') > n, 3000, `presence after ${short(msg)}`);
}

/** A puller that acks each job `holdMs` after it arrives, with `{by, data}`; records the most it held at once. */
function worker(m: WsMember, holdMs: number): { seen: Msg[]; maxHeld: number } {
  const state = { seen: [] as Msg[], maxHeld: 0 };
  let held = 0;
  let read = 0;
  const scan = () => {
    for (; read < m.messages.length; read++) {
      const job = m.messages[read];
      if (!isJob()(job)) continue;
      state.seen.push(job);
      state.maxHeld = Math.max(state.maxHeld, ++held);
      setTimeout(() => { held--; m.send({ type: 'ack', job: job.job, data: { by: m.cid, data: job.data } }); }, holdMs);
    }
  };
  scan(); // jobs that came before it started
  m.watch(scan);
  return state;
}

for (const kind of ENGINE_KINDS) {
  describe(`work queue across 3 nodes: ${kind}`, () => {
    let cluster: RunningCluster;
    let pools: MemberPool[];
    before(async () => {
      cluster = await startCluster(kind, { nodes: 3, args: ARGS });
      pools = cluster.nodes.map((n) => new MemberPool(n.ws, n.http));
    });
    after(async () => {
      await Promise.all((pools ?? []).map((p) => p.closeAll()));
      await cluster?.stop();
    });
    const on = (node: number, r: string) => pools[node].ws(r);

    test(`${kind}: pushes on A reach pullers on B and C exactly once each, both of them, within prefetch; every outcome reaches the pusher`, async () => {
      const r = '/' + uid('cq');
      const pusher = await on(0, r);
      const b = await on(1, r);
      const c = await on(2, r);
      await act(b, { type: 'pull', prefetch: 2 });
      await act(c, { type: 'pull' });
      const wb = worker(b, 20);
      const wc = worker(c, 20);
      const N = 30;
      for (let i = 0; i < N; i++) pusher.send({ type: 'push', data: { i }, ack: true, ref: `p${i}` });
      const acks = await pusher.waitForCount((x) => x.type === 'ack', N, 10_000, 'acks of the pushes');
      const outcomes = await pusher.waitForCount((x) => x.type === 'job', N, 20_000, 'job outcomes');
      const delivered = [...wb.seen, ...wc.seen];
      const byId = new Map<string, number>();
      for (const j of delivered) byId.set(j.job, (byId.get(j.job) ?? 0) + 1);
      assert.equal(byId.size, N, 'every job delivered');
      assert.deepEqual([...byId.values()].filter((n) => n !== 1), [], 'no job delivered twice');
      assert.deepEqual(new Set(acks.map((a) => a.job)), new Set(byId.keys()), 'the delivered ids are those the pusher was given');
      assert.ok(wb.seen.length > 0 && wc.seen.length > 0, `both pullers work (B ${wb.seen.length}, C ${wc.seen.length})`);
      assert.ok(wb.maxHeld <= 2, `B (prefetch 2) held ${wb.maxHeld} at once`);
      assert.ok(wc.maxHeld <= 1, `C (prefetch 1) held ${wc.maxHeld} at once`);
      for (const j of delivered) {
        assert.equal(j.from, pusher.cid);
        assert.equal(j.attempt, 1);
      }
      for (const o of outcomes) {
        assert.equal(o.status, 'done', short(o));
        assert.equal(o.attempts, 1);
        assert.ok([b.cid, c.cid].includes(o.from));
        assert.equal(o.data.by, o.from, 'the outcome carries the data of the puller that acked');
        assert.deepEqual(o.data.data, { i: Number(String(o.ref).slice(1)) }, 'each outcome answers its own push');
      }
    });

    test(`${kind}: nack sends the job to a puller on another node (attempt 2); after --job-max-attempts the pusher on A hears job_failed`, async () => {
      const r = '/' + uid('cq-nack');
      const pusher = await on(0, r);
      const w1 = await on(1, r);
      const w2 = await on(2, r);
      await act(w1, { type: 'pull' });
      await act(w2, { type: 'pull' });
      pusher.send({ type: 'push', data: 'poison', ack: true, ref: 'x' });
      const deliveries: Msg[] = [];
      for (let attempt = 1; attempt <= 3; attempt++) {
        const got = await Promise.race([w1, w2].map((w) => w.waitFor((x) => isJob('poison')(x) && x.attempt === attempt, 5000, `attempt ${attempt}`).then((m) => ({ m, w }))));
        deliveries.push({ attempt: got.m.attempt, to: got.w.cid });
        got.w.send({ type: 'nack', job: got.m.job, error: { code: 'boom', message: `failed ${attempt}` } });
      }
      assert.notEqual(deliveries[0].to, deliveries[1].to, `a nacked job went back to the same puller: ${short(deliveries)}`);
      assert.notEqual(deliveries[1].to, deliveries[2].to, `a nacked job went back to the same puller: ${short(deliveries)}`);
      const failed = await pusher.waitFor((x) => x.type === 'job' && x.ref === 'x', 5000);
      assert.equal(failed.status, 'failed');
      assert.equal(failed.attempts, 3);
      assert.equal(failed.error.code, 'job_failed');
      assert.match(failed.error.message, /boom: failed 3/);
      await w1.expectNone((x) => isJob('poison')(x) && x.attempt > 3, 100, 'delivery after job_failed');
    });

    test(`${kind}: a puller that drops gives its job to a puller on another node; one that lets the ack wait run out too, and its late ack is unknown_job`, async () => {
      const r = '/' + uid('cq-drop');
      const pusher = await on(0, r);
      const dying = await on(1, r);
      await act(dying, { type: 'pull' });
      pusher.send({ type: 'push', data: 'a', ack: true, ref: 'a' });
      await dying.waitFor(isJob('a'), 5000);
      const heir = await on(2, r);
      await act(heir, { type: 'pull' });
      await dying.terminate();
      const again = await heir.waitFor(isJob('a'), 5000, 'the dropped puller\'s job');
      assert.equal(again.attempt, 2);
      heir.send({ type: 'ack', job: again.job, data: 'ok' });
      const done = await pusher.waitFor((x) => x.type === 'job' && x.ref === 'a', 5000);
      assert.equal(done.status, 'done');
      assert.equal(done.from, heir.cid);
      assert.equal(done.attempts, 2);
      // ack wait (1 s): the slow puller's job goes to the one on another node
      const slow = await on(1, r);
      await act(heir, { type: 'unpull' });
      await act(slow, { type: 'pull' });
      pusher.send({ type: 'push', data: 'b', ack: true, ref: 'b' });
      const held = await slow.waitFor(isJob('b'), 5000);
      await act(heir, { type: 'pull' });
      const t0 = Date.now();
      const redelivered = await heir.waitFor(isJob('b'), 5000, 'the job after its ack wait');
      assert.ok(Date.now() - t0 >= 500, 'redelivered before the ack wait ran out');
      assert.equal(redelivered.attempt, 2);
      slow.send({ type: 'ack', job: held.job, ref: 'late' });
      assert.equal((await slow.waitFor((x) => x.type === 'error' && x.ref === 'late')).code, 'unknown_job');
      heir.send({ type: 'ack', job: redelivered.job, data: 'second try' });
      const outcome = await pusher.waitFor((x) => x.type === 'job' && x.ref === 'b', 5000);
      assert.equal(outcome.from, heir.cid);
      assert.equal(outcome.attempts, 2);
    });

    test(`${kind}: a job never goes to its own pusher, even when it is the only free puller; it waits (no attempt spent) for another`, async () => {
      const r = '/' + uid('cq-self');
      const both = await on(0, r);
      await act(both, { type: 'pull' });
      both.send({ type: 'push', data: 'not for me', ack: true, ref: 's' });
      await both.waitFor((x) => x.type === 'ack' && x.ref === 's', 5000);
      // Let its node take and give the job back a few times (the only free puller is its pusher).
      await both.expectNone(isJob(), 400, 'its own job');
      const other = await on(2, r);
      await act(other, { type: 'pull' });
      const job = await other.waitFor(isJob('not for me'), 5000);
      assert.equal(job.attempt, 1, 'giving it back cost no attempt');
      other.send({ type: 'ack', job: job.job });
      assert.equal((await both.waitFor((x) => x.type === 'job' && x.ref === 's', 5000)).status, 'done');
      assert.equal(both.count(isJob()), 0);
    });

    test(`${kind}: an SSE member on A pushes by POST (answered with the job id); the outcome reaches its stream from C`, async () => {
      const r = '/' + uid('cq-sse');
      const sse = await pools[0].sse(r);
      const w = await on(2, r);
      await act(w, { type: 'pull' });
      const post = await sse.send({ type: 'push', data: 'by post', ack: true });
      assert.equal(post.status, 200, post.text);
      assert.match(post.body.job, /^j/);
      const job = await w.waitFor(isJob('by post'), 5000);
      assert.equal(job.job, post.body.job);
      assert.equal(job.from, sse.cid);
      w.send({ type: 'ack', job: job.job, data: 42 });
      const outcome = await sse.waitFor((x) => x.type === 'job' && x.job === post.body.job, 5000, 'the outcome on the SSE stream');
      assert.equal(outcome.status, 'done');
      assert.equal(outcome.data, 42);
    });

    test(`${kind}: the bound: --max-queued-jobs jobs wait in the engine while nobody pulls; then queue_full`, async () => {
      const r = '/' + uid('cq-full');
      const pusher = await on(0, r);
      for (let i = 0; i < 40; i++) pusher.send({ type: 'push', data: i, ack: true, ref: `q${i}` });
      await pusher.waitForCount((x) => x.type === 'ack', 40, 10_000);
      pusher.send({ type: 'push', data: 40, ack: true, ref: 'q40' });
      assert.equal((await pusher.waitFor((x) => x.type === 'error' && x.ref === 'q40', 5000)).code, 'queue_full');
      const w = await on(1, r);
      await act(w, { type: 'pull', prefetch: 10 });
      const got = worker(w, 0);
      await pusher.waitForCount((x) => x.type === 'job', 40, 20_000, 'outcomes of the waiting jobs');
      assert.deepEqual(got.seen.map((j) => j.data).sort((x, y) => x - y), Array.from({ length: 40 }, (_, i) => i));
    });

    test(`${kind}: a node that dies (SIGKILL) holding a job: the engine hands the job to a puller on another node after its ack wait, attempt 2`, async () => {
      const doomed = await cluster.addNode();
      const doomedPool = new MemberPool(doomed.ws, doomed.http);
      const r = '/' + uid('cq-kill');
      const pusher = await on(0, r);
      const holder = await doomedPool.ws(r);
      await act(holder, { type: 'pull' });
      pusher.send({ type: 'push', data: 'orphan', ack: true, ref: 'o' });
      await holder.waitFor(isJob('orphan'), 5000);
      const heir = await on(2, r);
      await act(heir, { type: 'pull' });
      const t0 = Date.now();
      await doomed.stop('SIGKILL');
      // engine ack wait = 1 s + max(1 s, 0.5 s) = 2 s, then the heir's node's next poll (≤ 0.5 s)
      const again = await heir.waitFor(isJob('orphan'), 8000, 'the dead node\'s job');
      const after = Date.now() - t0;
      assert.equal(again.attempt, 2);
      heir.send({ type: 'ack', job: again.job, data: 'rescued' });
      const done = await pusher.waitFor((x) => x.type === 'job' && x.ref === 'o', 5000);
      assert.equal(done.from, heir.cid);
      assert.equal(done.attempts, 2);
      console.log(`# ${kind}: the dead node's job redelivered ${after} ms after the kill`);
      await doomedPool.closeAll().catch(() => {});
    });

    test(`${kind}: push on A → delivery to a puller on B, one job at a time (latency, printed)`, async () => {
      const r = '/' + uid('cq-lat');
      const pusher = await on(0, r);
      const w = await on(1, r);
      await act(w, { type: 'pull' });
      const times: number[] = [];
      for (let i = 0; i < 60; i++) {
        const t0 = performance.now();
        pusher.send({ type: 'push', data: i });
        const job = await w.waitFor(isJob(i), 5000);
        times.push(performance.now() - t0);
        w.send({ type: 'ack', job: job.job });
      }
      const sorted = times.slice(10).sort((x, y) => x - y); // the first ones warm up
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(2);
      console.log(`# ${kind}: push on A → job on B: p50 ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${at(1)} ms (${sorted.length} jobs, one at a time)`);
    });
  });
}

// Redis: a dead node's jobs go back as soon as the registry reports it gone (5 to 9 s after the
// kill), long before the engine ack wait (here 60 s + 30 s). NATS has no such shortcut (its pull
// consumer does not say which client holds what): there the ack wait above is the only way.
describe('work queue across nodes: redis releases a dead node\'s jobs when it is reported gone', () => {
  let cluster: RunningCluster;
  let pools: MemberPool[];
  before(async () => {
    cluster = await startCluster('redis', { nodes: 3, args: ['--resume-grace', '0', '--job-ack-wait', '60'] });
    pools = cluster.nodes.map((n) => new MemberPool(n.ws, n.http));
  });
  after(async () => {
    await Promise.all((pools ?? []).map((p) => p.closeAll().catch(() => {})));
    await cluster?.stop();
  });

  test('redis: a node SIGKILLed while holding a job: the job reaches a puller on another node once the node is reported gone', async () => {
    const r = '/' + uid('cq-gone');
    const pusher = await pools[0].ws(r);
    const holder = await pools[2].ws(r);
    await act(holder, { type: 'pull' });
    pusher.send({ type: 'push', data: 'orphan', ack: true, ref: 'o' });
    await holder.waitFor(isJob('orphan'), 5000);
    const heir = await pools[1].ws(r);
    await act(heir, { type: 'pull' });
    const t0 = Date.now();
    await cluster.nodes[2].stop('SIGKILL');
    const again = await heir.waitFor(isJob('orphan'), 15_000, 'the dead node\'s job');
    const after = Date.now() - t0;
    assert.equal(again.attempt, 2);
    heir.send({ type: 'ack', job: again.job });
    assert.equal((await pusher.waitFor((x) => x.type === 'job' && x.ref === 'o', 5000)).attempts, 2);
    console.log(`# redis: the dead node's job redelivered ${after} ms after the kill (node TTL 7 s, ack wait 60 s)`);
  });
});
