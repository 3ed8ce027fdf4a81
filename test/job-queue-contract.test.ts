// The JobQueue contract (src/cluster/job-queue.ts), one set of tests run against every
// implementation: MemoryJobQueue, RedisJobQueue on a private redis-server and NatsJobQueue on a
// private nats-server with JetStream (test/helpers/engines.ts). Several "nodes" (instances with
// their own node id and client) share one queue: each job taken goes to exactly one of them; the
// bound refuses with queue_full; ack removes; requeue hands the job out again with its attempts
// carried; a job held past the engine ack wait (its node is gone) is handed out again with its
// attempt counted, and the old holder's ack is refused; payloads are sealed, and a job that does not
// open is dropped and counted. Every wait is on a round trip, except the one that lets the ack wait pass.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { ClusterKey } from '../src/cluster/cluster-key.ts';
import { openJob, sealJob, type JobQueue, type JobQueueLimits, type JobRecord, type TakenJob } from '../src/cluster/job-queue.ts';
import { MemoryJobQueue, MemoryJobStore } from '../src/cluster/memory-job-queue.ts';
import { RedisJobQueue } from '../src/cluster/redis-job-queue.ts';
import { NatsJobQueue } from '../src/cluster/nats-job-queue.ts';
import { rawRedis, startNats, startRedis, type RunningEngine } from './helpers/engines.ts';

const KEY_A = ClusterKey.fromSecret('job-queue-contract-cluster-key-A-0123456789');
const KEY_B = ClusterKey.fromSecret('job-queue-contract-cluster-key-B-0123456789');
const LIMITS: JobQueueLimits = { maxJobs: 1000, maxBytes: 1 << 20, engineAckWaitMs: 30_000 };

interface NodeOptions { key?: ClusterKey | null; limits?: JobQueueLimits; id?: string }

interface Impl {
  name: 'memory' | 'redis' | 'nats';
  engine?: RunningEngine;
  /** bounds bytes per room (NATS does not: JetStream has no per-subject byte limit) */
  boundsBytes: boolean;
  node(ns: string, opts?: NodeOptions): JobQueue;
  raw?(ns: string, node: JobQueue): Promise<Buffer[]>;
}

const made: JobQueue[] = [];
const closeAll = async () => { await Promise.all(made.splice(0).map((q) => q.close?.())); };
let nodeCounter = 0;
const nodeId = () => `node${nodeCounter++}`;

const memoryStores = new Map<string, MemoryJobStore>();
const memory: Impl = {
  name: 'memory',
  boundsBytes: true,
  node(ns, opts = {}) {
    let store = memoryStores.get(ns);
    if (!store) memoryStores.set(ns, (store = new MemoryJobStore()));
    return new MemoryJobQueue(store, opts.key ?? null, opts.id ?? nodeId(), opts.limits ?? LIMITS);
  },
};

const redis: Impl = {
  name: 'redis',
  boundsBytes: true,
  node(ns, opts = {}) {
    const q = new RedisJobQueue(this.engine!.url, opts.key ?? null, opts.id ?? nodeId(), opts.limits ?? LIMITS, { prefix: ns });
    made.push(q);
    return q;
  },
  raw(ns) {
    return rawRedis(this.engine!.url, `${ns}:*`);
  },
};

const nats: Impl = {
  name: 'nats',
  boundsBytes: false,
  node(ns, opts = {}) {
    const q = new NatsJobQueue(this.engine!.url, opts.key ?? null, opts.limits ?? LIMITS, { prefix: ns });
    made.push(q);
    return q;
  },
  // A work-queue stream takes no second consumer on a subject: read it message by message.
  async raw(_ns, node) {
    const nc = await natsConnect({ servers: this.engine!.url });
    try {
      const jsm = await jetstreamManager(nc);
      const { state } = await jsm.streams.info((node as NatsJobQueue).stream);
      const out: Buffer[] = [];
      for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
        const m = await jsm.streams.getMessage((node as NatsJobQueue).stream, { seq }).catch(() => null);
        if (!m) continue;
        out.push(Buffer.from(m.data), Buffer.from(m.subject));
        for (const [k, v] of m.header ?? []) out.push(Buffer.from(`${k}: ${v.join(',')}`));
      }
      return out;
    } finally { await nc.close(); }
  },
};

let nsCounter = 0;
const newNs = () => `q${randomBytes(3).toString('hex')}${nsCounter++}`;
const room = () => `/jobs-${randomBytes(3).toString('hex')}/é {x}`; // braces and non-ASCII on purpose
let jobCounter = 0;
const job = (data: unknown, extra: Partial<JobRecord> = {}): JobRecord => ({
  id: `j${++jobCounter}`, from: 'c1', node: 'nA', ref: `r${jobCounter}`, report: true, data: JSON.stringify(data), at: Date.now(), ...extra,
});
const ids = (taken: TakenJob[]) => taken.map((t) => t.job.id);

/** Take until `want` jobs came, or fail after `ms` (the ack-wait cases). */
async function takeWithin(q: JobQueue, r: string, want: number, ms: number): Promise<TakenJob[]> {
  const out: TakenJob[] = [];
  const until = Date.now() + ms;
  while (out.length < want) {
    out.push(...await q.take(r, want - out.length));
    if (out.length >= want) break;
    assert.ok(Date.now() < until, `only ${out.length} of ${want} jobs within ${ms} ms`);
    await delay(50);
  }
  return out;
}

for (const impl of [memory, redis, nats]) {
  describe(`JobQueue contract: ${impl.name}`, () => {
    before(async () => {
      if (impl.name === 'redis') impl.engine = await startRedis();
      if (impl.name === 'nats') impl.engine = await startNats({ jetstream: true });
    });
    after(async () => {
      await closeAll();
      await impl.engine?.stop();
    });

    test(`${impl.name}: push → take (attempt 1, the job intact) → ack removes it; ack twice is refused; rooms are separate`, async () => {
      const ns = newNs();
      const a = impl.node(ns);
      const b = impl.node(ns);
      const r = room();
      const j = job({ text: 'ünïcødé ✓ 🎉', n: [1, null] }, { ref: 7 });
      assert.equal(await a.push(r, j), 'ok');
      assert.equal(await a.push(room(), job('elsewhere')), 'ok');
      const [taken, ...rest] = await b.take(r, 5);
      assert.deepEqual(rest, []);
      assert.deepEqual(taken.job, j);
      assert.equal(taken.attempt, 1);
      assert.deepEqual(await a.take(r, 5), [], 'a job held by one node is not handed to another');
      assert.equal(await b.ack(r, taken.handle), true);
      assert.equal(await b.ack(r, taken.handle), false, 'acked already');
      assert.deepEqual(await a.take(r, 5), []);
      assert.deepEqual(await b.take(room(), 5), [], 'a room never pushed to');
    });

    test(`${impl.name}: take hands out at most \`max\`, oldest first; three nodes taking concurrently get every job exactly once`, async () => {
      const ns = newNs();
      const nodes = [impl.node(ns), impl.node(ns), impl.node(ns)];
      const r = room();
      const N = 60;
      for (let i = 0; i < N; i++) assert.equal(await nodes[i % 3].push(r, job(i, { id: `k${i}` })), 'ok');
      const first = await nodes[0].take(r, 4);
      assert.deepEqual(ids(first), ['k0', 'k1', 'k2', 'k3']);
      const seen = new Map<string, number>(first.map((t) => [t.job.id, 0]));
      // Each node takes 3 at a time until the queue is empty; all three at once.
      await Promise.all(nodes.map(async (q, n) => {
        for (;;) {
          const got = await q.take(r, 3);
          if (got.length === 0) return;
          assert.ok(got.length <= 3);
          for (const t of got) {
            assert.equal(seen.has(t.job.id), false, `${t.job.id} taken twice (again by node ${n})`);
            seen.set(t.job.id, n);
            assert.equal(t.attempt, 1);
            assert.equal(await q.ack(r, t.handle), true);
          }
        }
      }));
      assert.equal(seen.size, N, 'every job taken');
      for (const t of first) assert.equal(await nodes[0].ack(r, t.handle), true);
      assert.deepEqual(await nodes[1].take(r, 10), []);
    });

    test(`${impl.name}: the bound: --max-queued-jobs counts jobs stored (waiting or held); queue_full stores nothing${impl.boundsBytes ? '; bytes too' : ''}`, async () => {
      const ns = newNs();
      const q = impl.node(ns, { limits: { ...LIMITS, maxJobs: 3, maxBytes: 100 } });
      const r = room();
      for (let i = 0; i < 3; i++) assert.equal(await q.push(r, job(i)), 'ok');
      assert.equal(await q.push(r, job('one too many')), 'queue_full');
      const [held] = await q.take(r, 1);
      assert.equal(await q.push(r, job('still full: the held one counts')), 'queue_full');
      assert.equal(await q.ack(r, held.handle), true);
      assert.equal(await q.push(r, job(3)), 'ok');
      const rest = await q.take(r, 10);
      assert.deepEqual(rest.map((t) => t.job.data), ['1', '2', '3'], 'the refused pushes were not stored');
      for (const t of rest) await q.ack(r, t.handle);
      if (impl.boundsBytes) {
        const r2 = room();
        assert.equal(await q.push(r2, job('x'.repeat(60))), 'ok');
        assert.equal(await q.push(r2, job('y'.repeat(60))), 'queue_full', 'over maxBytes');
        assert.equal(await q.push(r2, job('z'.repeat(20))), 'ok');
      }
      const none = impl.node(ns, { limits: { ...LIMITS, maxJobs: 0 } });
      assert.equal(await none.push(room(), job('nothing may wait')), 'queue_full');
    });

    test(`${impl.name}: requeue hands the job to the next taker with the attempts carried; a give-back (attempts unchanged) costs none`, async () => {
      const ns = newNs();
      const a = impl.node(ns);
      const b = impl.node(ns);
      const r = room();
      await a.push(r, job('retry me', { id: 'jr' }));
      const [t1] = await a.take(r, 1);
      assert.equal(t1.attempt, 1);
      assert.equal(await a.requeue(r, t1, 1), true, 'nacked after attempt 1');
      const [t2] = await b.take(r, 1);
      assert.equal(t2.job.id, 'jr');
      assert.equal(t2.attempt, 2);
      assert.equal(await a.ack(r, t1.handle), false, 'the old delivery is gone');
      assert.equal(await b.requeue(r, t2, t2.attempt - 1), true, 'given back without reaching a puller');
      const [t3] = await a.take(r, 1);
      assert.equal(t3.attempt, 2, 'a give-back costs no attempt');
      assert.equal(await a.requeue(r, t3, 2), true);
      const [t4] = await a.take(r, 1);
      assert.equal(t4.attempt, 3);
      assert.equal(await a.ack(r, t4.handle), true);
      assert.deepEqual(await b.take(r, 1), []);
    });

    test(`${impl.name}: a job held past the engine ack wait goes to another node with its attempt counted; the old holder can no longer ack it`, async () => {
      const ns = newNs();
      const limits = { ...LIMITS, engineAckWaitMs: 1000 };
      const a = impl.node(ns, { limits });
      const b = impl.node(ns, { limits });
      const r = room();
      await a.push(r, job('slow', { id: 'js' }));
      const [held] = await a.take(r, 1);
      const t0 = Date.now();
      assert.deepEqual(await b.take(r, 1), [], 'not before the ack wait');
      const [again] = await takeWithin(b, r, 1, 5000);
      assert.ok(Date.now() - t0 >= 800, `handed out again after ${Date.now() - t0} ms`);
      assert.equal(again.job.id, 'js');
      assert.equal(again.attempt, 2);
      assert.equal(await a.ack(r, held.handle), false, 'its holder lost it');
      assert.equal(await b.ack(r, again.handle), true);
      assert.deepEqual(await a.take(r, 1), []);
    });

    test(`${impl.name}: releaseNode: the jobs a gone node held go back at once with its delivery counted (NATS: 0, its ack wait does it)`, async () => {
      const ns = newNs();
      const a = impl.node(ns, { id: 'gone-node' });
      const b = impl.node(ns);
      const r = room();
      await a.push(r, job('held by the dead', { id: 'jd' }));
      await a.push(r, job('still waiting', { id: 'jw' }));
      const [held] = await a.take(r, 1);
      assert.equal(held.job.id, 'jd');
      const released = await b.releaseNode(r, 'gone-node');
      if (impl.name === 'nats') {
        assert.equal(released, 0);
        await a.ack(r, held.handle);
      } else {
        assert.equal(released, 1);
        assert.equal(await b.releaseNode(r, 'gone-node'), 0, 'idempotent');
        const got = await b.take(r, 5);
        assert.deepEqual(got.map((t) => [t.job.id, t.attempt]), [['jw', 1], ['jd', 2]], 'behind the waiting job, attempt 2');
        assert.equal(await a.ack(r, held.handle), false, 'the gone node no longer holds it');
        for (const t of got) assert.equal(await b.ack(r, t.handle), true);
      }
      assert.equal(await b.releaseNode(room(), 'gone-node'), 0, 'a room without a queue');
    });

    if (impl.raw) test(`${impl.name}: with a cluster key the engine holds no plaintext; a node with another key or none drops the job and counts it`, async () => {
      const marker = `plaintext-marker-${randomBytes(4).toString('hex')}`;
      const write = async (ns: string, key: ClusterKey | null) => {
        const q = impl.node(ns, { key });
        const r = room();
        for (let i = 0; i < 2; i++) await q.push(r, job({ secret: `${marker}-${i}` }, { from: marker, ref: marker }));
        return { q, r, raw: Buffer.concat(await impl.raw!(ns, q)) };
      };
      const plain = await write(newNs(), null);
      assert.ok(plain.raw.includes(marker), 'the scan does see the data when it is not sealed');
      const ns = newNs();
      const sealed = await write(ns, KEY_A);
      assert.ok(sealed.raw.length > 100, 'the scan found the jobs');
      assert.equal(sealed.raw.includes(marker), false, 'no plaintext in the engine');
      for (const [key, reason] of [[KEY_B, 'other-key'], [null, 'needs-key']] as const) {
        const other = impl.node(ns, { key });
        assert.deepEqual(await other.take(sealed.r, 1), [], reason);
        assert.equal(other.counters.notOpened[reason], 1, reason);
      }
      assert.deepEqual(await sealed.q.take(sealed.r, 5), [], 'dropped, not left to clog the queue');
      // Bound to its room: a job moved into another room's queue does not open there.
      const j = job('moved');
      assert.equal(openJob(KEY_A, room(), sealJob(KEY_A, sealed.r, j)), 'not-authentic');
      assert.deepEqual(openJob(KEY_A, sealed.r, sealJob(KEY_A, sealed.r, j)), j);
    });
  });
}
