// The RoomStreams contract (src/cluster/room-stream.ts), one set of tests run against every
// implementation: MemoryRoomStreams, RedisRoomStreams on a private redis-server and
// NatsRoomStreams on a private nats-server with JetStream (test/helpers/engines.ts). The rules are
// those of the single-process History and the hub's replay: seqs 1..n under a stable epoch, one
// unbroken run bounded by count, bytes and age, a message bigger than the byte bound taking
// everything older with it, the gap when the run no longer reaches since+1, a reset for another
// epoch or a since beyond the last seq, and a new epoch from 1 after drop. The engines also: two
// nodes appending concurrently, no plaintext in the engine with a cluster key, another key's reader
// sees a counted gap, and a hung engine (SIGSTOP) makes calls fail within their bounded timeout
// (ERR_ROOM_STREAM_TIMEOUT), after which calls work again. Every wait is on a round trip, except
// the one that lets an age limit pass.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { ClusterKey } from '../src/cluster/cluster-key.ts';
import type { LiveEntry, PublishRecord, RoomStreams, StreamLimits, StreamReplay } from '../src/cluster/room-stream.ts';
import { MemoryRoomStreams } from '../src/cluster/memory-room-streams.ts';
import { RedisRoomStreams } from '../src/cluster/redis-room-streams.ts';
import { NatsRoomStreams } from '../src/cluster/nats-room-streams.ts';
import { buildReplay, encodeRecord, HIST_KIND, type RoomStreamCounters } from '../src/cluster/stream-replay.ts';
import { seal } from '../src/cluster/seal.ts';
import { connect as natsConnect, headers as natsHeaders } from '@nats-io/transport-node';
import { rawJetStream, rawRedis, startNats, startRedis, type RunningEngine } from './helpers/engines.ts';

const KEY_A = ClusterKey.fromSecret('contract-test-cluster-key-A-0123456789');
const KEY_B = ClusterKey.fromSecret('contract-test-cluster-key-B-0123456789');
const LIMITS: StreamLimits = { maxEntries: 100, maxBytes: 1 << 20, maxAgeMs: 60_000 };
const PAUSE_TIMEOUT_MS = 800; // the bounded wait of a call while the engine hangs

type Streams = RoomStreams & { counters?: RoomStreamCounters; close?: () => Promise<void> };
interface MakeOptions { limits?: StreamLimits; key?: ClusterKey | null; timeoutMs?: number }

interface Impl {
  name: 'memory' | 'redis' | 'nats';
  engine?: RunningEngine;
  /** A "node": a new instance with its own client, sharing `ns` (the key prefix / stream) with the others of one test. */
  node(ns: string, opts?: MakeOptions): Streams;
  /** Every value byte the engine holds under `ns`. */
  raw?(ns: string, node: Streams): Promise<Buffer[]>;
}

const made: Streams[] = [];
const closeAll = async () => { await Promise.all(made.splice(0).map((s) => s.close?.())); };

const memoryByNs = new Map<string, MemoryRoomStreams>();
const memory: Impl = {
  name: 'memory',
  // One process: every "node" of a test is the same store.
  node(ns, opts = {}) {
    let s = memoryByNs.get(ns);
    if (!s) { s = new MemoryRoomStreams(opts.limits ?? LIMITS); memoryByNs.set(ns, s); }
    return s;
  },
};

const redis: Impl = {
  name: 'redis',
  node(ns, opts = {}) {
    const s = new RedisRoomStreams(this.engine!.url, opts.key ?? null, opts.limits ?? LIMITS, { prefix: ns, timeoutMs: opts.timeoutMs });
    made.push(s);
    return s;
  },
  raw(ns) {
    return rawRedis(this.engine!.url, `${ns}:*`);
  },
};

const nats: Impl = {
  name: 'nats',
  node(ns, opts = {}) {
    const s = new NatsRoomStreams(this.engine!.url, opts.key ?? null, opts.limits ?? LIMITS, { prefix: ns, timeoutMs: opts.timeoutMs });
    made.push(s);
    return s;
  },
  async raw(ns, node) {
    const stream = (node as NatsRoomStreams).stream;
    assert.equal(stream, `${ns.toUpperCase()}_HIST`);
    return rawJetStream(this.engine!.url, stream);
  },
};

let nsCounter = 0;
const newNs = () => `t${randomBytes(3).toString('hex')}${nsCounter++}`;
const room = () => `/room-${randomBytes(3).toString('hex')}/é {x}`; // braces and non-ASCII on purpose
const rec = (data: unknown, extra: Partial<PublishRecord> = {}): PublishRecord => ({ from: 'c1', echo: false, data: JSON.stringify(data), at: Date.now(), ...extra });
const seqs = (r: StreamReplay) => r.entries.map((e) => e.seq);

/** What one watcher received, with a bounded wait for the n-th entry (resolved by the handler: no polling). */
class Watched {
  readonly got: { entry: LiveEntry; epoch: string }[] = [];
  private waiter?: { n: number; resolve: () => void };
  readonly handler = (entry: LiveEntry, epoch: string) => {
    this.got.push({ entry, epoch });
    if (this.waiter && this.got.length >= this.waiter.n) this.waiter.resolve();
  };
  async count(n: number, what: string, ms = 5000): Promise<void> {
    if (this.got.length >= n) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what}: ${this.got.length} of ${n} entries within ${ms} ms`)), ms);
      this.waiter = { n, resolve: () => { clearTimeout(timer); resolve(); } };
    });
  }
  get seqs(): number[] { return this.got.map((g) => g.entry.seq); }
}

for (const impl of [memory, redis, nats]) {
  describe(`RoomStreams contract: ${impl.name}`, () => {
    before(async () => {
      if (impl.name === 'redis') impl.engine = await startRedis();
      if (impl.name === 'nats') impl.engine = await startNats({ jetstream: true });
    });
    after(async () => {
      await closeAll();
      await impl.engine?.stop();
    });

    test(`${impl.name}: seqs 1..n under a stable epoch; since returns the entries in order, data intact`, async () => {
      const s = impl.node(newNs());
      const r = room();
      const start = await s.position(r);
      assert.equal(start.seq, 0);
      assert.match(start.epoch, /^[A-Za-z0-9_-]{4,}$/);
      const records = [
        rec({ n: 1 }), rec('ünïcødé ✓ 🎉', { topic: 'a.b', echo: true }), rec([1, 2, { x: null }], { from: 'c2' }), rec(4), rec(null, { topic: '' }),
      ];
      for (let i = 0; i < records.length; i++) assert.deepEqual(await s.append(r, records[i]), { seq: i + 1, epoch: start.epoch });
      assert.deepEqual(await s.position(r), { seq: 5, epoch: start.epoch });
      const all = await s.since(r, 0, start.epoch);
      assert.deepEqual(all, { position: { seq: 5, epoch: start.epoch }, reset: false, entries: records.map((x, i) => ({ seq: i + 1, ...x })) });
      const tail = await s.since(r, 3, start.epoch);
      assert.deepEqual(tail.entries, records.slice(3).map((x, i) => ({ seq: i + 4, ...x })));
      assert.equal(tail.gap, undefined);
      assert.deepEqual(await s.since(r, 5, start.epoch), { position: { seq: 5, epoch: start.epoch }, reset: false, entries: [] });
      assert.deepEqual(seqs(await s.since(r, 2)), [3, 4, 5], 'no epoch given: no reset');
      // another room is another stream
      const other = await s.append(room(), rec('x'));
      assert.equal(other.seq, 1);
      await assert.rejects(async () => s.since(r, -1), RangeError);
    });

    test(`${impl.name}: two nodes appending concurrently to one room get distinct, increasing seqs; every entry readable`, async () => {
      const ns = newNs();
      const a = impl.node(ns);
      const b = impl.node(ns);
      const r = room();
      const N = 25;
      const fromA = Array.from({ length: N }, (_, i) => a.append(r, rec({ node: 'a', i }, { from: 'a' })));
      const fromB = Array.from({ length: N }, (_, i) => b.append(r, rec({ node: 'b', i }, { from: 'b' })));
      const [pa, pb] = await Promise.all([Promise.all(fromA), Promise.all(fromB)]);
      const epoch = pa[0].epoch;
      for (const p of [...pa, ...pb]) assert.equal(p.epoch, epoch);
      for (const list of [pa, pb]) for (let i = 1; i < list.length; i++) assert.ok(list[i].seq > list[i - 1].seq, 'one publisher: increasing in call order');
      const all = [...pa, ...pb].map((p) => p.seq).sort((x, y) => x - y);
      assert.deepEqual(all, Array.from({ length: 2 * N }, (_, i) => i + 1), 'no duplicate, no hole');
      for (const reader of [a, b]) {
        const got = await reader.since(r, 0, epoch);
        assert.deepEqual(seqs(got), all);
        for (const e of got.entries) {
          const { node, i } = JSON.parse(e.data) as { node: 'a' | 'b'; i: number };
          assert.equal((node === 'a' ? pa : pb)[i].seq, e.seq, 'the entry under a seq is the one that was given that seq');
        }
      }
    });

    test(`${impl.name}: watch: appends from two nodes reach every watcher once, in seq order, with the epoch; too big for history is still delivered live; unwatch stops`, async () => {
      const ns = newNs();
      const limits = { ...LIMITS, maxBytes: 50 };
      const a = impl.node(ns, { limits, key: impl.name === 'memory' ? null : KEY_A });
      const b = impl.node(ns, { limits, key: impl.name === 'memory' ? null : KEY_A });
      const r = room();
      const { epoch } = await a.position(r);
      // memory: one process, one store, one watcher per room
      const watchers = impl.name === 'memory' ? [new Watched()] : [new Watched(), new Watched()];
      await Promise.all(watchers.map((w, i) => (i === 0 ? a : b).watch(r, w.handler)));
      const N = 20; // concurrent appenders: on NATS they conflict (10071) and retry; refused publishes must not reach watchers
      const big = 'x'.repeat(80); // over maxBytes: not kept, still live
      const appends = [
        ...Array.from({ length: N }, (_, i) => a.append(r, rec({ node: 'a', i }, { from: 'a', topic: 't.a' }))),
        ...Array.from({ length: N }, (_, i) => b.append(r, rec({ node: 'b', i }, { from: 'b', echo: true }))),
      ];
      const positions = await Promise.all(appends);
      const bigAt = await a.append(r, rec(big));
      for (const w of watchers) {
        await w.count(2 * N + 1, 'watch');
        assert.deepEqual(w.seqs, Array.from({ length: 2 * N + 1 }, (_, i) => i + 1), 'every seq once, in order');
        for (const { entry, epoch: e } of w.got) {
          assert.equal(e, epoch);
          assert.ok(!('lost' in entry), `entry ${entry.seq} delivered`);
          if (entry.seq === bigAt.seq) { assert.equal((entry as { data: string }).data, JSON.stringify(big)); continue; }
          const { node, i } = JSON.parse((entry as { data: string }).data) as { node: 'a' | 'b'; i: number };
          assert.equal(positions[(node === 'a' ? 0 : N) + i].seq, entry.seq, 'the entry under a seq is the one the append was given');
          assert.deepEqual({ ...entry, data: undefined, at: undefined },
            { seq: entry.seq, from: node, echo: node === 'b', data: undefined, at: undefined, ...(node === 'a' ? { topic: 't.a' } : {}) });
        }
      }
      const replay = await a.since(r, 0, epoch);
      assert.deepEqual(replay.gap, { from: 1, to: bigAt.seq }, 'the big one is not kept (and takes everything older)');
      await Promise.all(watchers.map((w, i) => (i === 0 ? a : b).unwatch(r)));
      await a.append(r, rec('after unwatch'));
      await a.position(r); // one more round trip: anything routed would be here by now
      for (const w of watchers) assert.equal(w.got.length, 2 * N + 1, 'nothing after unwatch');
    });

    // The server republishes from the publishing connection's goroutine: two nodes' entries can pass each other.
    if (impl.name === 'nats') test('nats: watch puts entries that pass each other back in seq order; a hole is given up after a bounded wait', async () => {
      const s = impl.node(newNs()) as NatsRoomStreams;
      const r = room();
      const { epoch } = await s.position(r);
      const w = new Watched();
      await s.watch(r, w.handler);
      const raw = await natsConnect({ servers: impl.engine!.url });
      try {
        const send = (seq: number) => {
          const record = rec(seq);
          const h = natsHeaders();
          h.set('Ms-Epoch', epoch);
          h.set('Ms-Seq', String(seq));
          h.set('Ms-Bytes', String(Buffer.byteLength(record.data)));
          raw.publish(s.liveSubject(r), seal(null, { kind: HIST_KIND, room: r }, encodeRecord(record)), { headers: h });
        };
        send(1); send(3); send(2); // 3 passed 2
        await raw.flush();
        await w.count(3, 'reordered');
        assert.deepEqual(w.seqs, [1, 2, 3]);
        send(5); send(6); // 4 never comes
        await raw.flush();
        const t0 = Date.now();
        await w.count(5, 'after the hole');
        assert.deepEqual(w.seqs, [1, 2, 3, 5, 6], 'the hole stays a hole (the caller reports the gap)');
        assert.ok(Date.now() - t0 < 2000);
      } finally { await raw.close(); }
    });

    test(`${impl.name}: gap after trimming by count`, async () => {
      const s = impl.node(newNs(), { limits: { ...LIMITS, maxEntries: 3 } });
      const r = room();
      for (let i = 1; i <= 5; i++) await s.append(r, rec(i));
      const { epoch } = await s.position(r);
      const r0 = await s.since(r, 0, epoch);
      assert.deepEqual(r0.gap, { from: 1, to: 2 });
      assert.deepEqual(seqs(r0), [3, 4, 5]);
      assert.deepEqual(r0.entries.map((e) => e.data), ['3', '4', '5']);
      assert.deepEqual((await s.since(r, 1, epoch)).gap, { from: 2, to: 2 });
      const r2 = await s.since(r, 2, epoch);
      assert.equal(r2.gap, undefined);
      assert.deepEqual(seqs(r2), [3, 4, 5]);
    });

    test(`${impl.name}: gap after trimming by bytes; a message bigger than the byte bound is not kept and takes everything older with it`, async () => {
      const s = impl.node(newNs(), { limits: { ...LIMITS, maxBytes: 10 } });
      const r = room();
      for (const d of ['ab', 'cd', 'ef']) await s.append(r, rec(d)); // 4 bytes each ("ab")
      const { epoch } = await s.position(r);
      const r0 = await s.since(r, 0, epoch);
      assert.deepEqual(r0.gap, { from: 1, to: 1 });
      assert.deepEqual(seqs(r0), [2, 3]);
      assert.equal((await s.append(r, rec('0123456789'))).seq, 4); // 12 bytes > 10
      assert.deepEqual(await s.since(r, 0, epoch), { position: { seq: 4, epoch }, reset: false, gap: { from: 1, to: 4 }, entries: [] });
      assert.deepEqual((await s.since(r, 3, epoch)).gap, { from: 4, to: 4 });
      await s.append(r, rec('gh'));
      const r5 = await s.since(r, 0, epoch);
      assert.deepEqual(r5.gap, { from: 1, to: 4 });
      assert.deepEqual(seqs(r5), [5]);
      assert.equal((await s.since(r, 4, epoch)).gap, undefined);
    });

    test(`${impl.name}: gap after trimming by age`, async () => {
      const ageMs = 500; // an entry appended after the sleep must still be young when read back, even on a busy machine
      const s = impl.node(newNs(), { limits: { ...LIMITS, maxAgeMs: ageMs } });
      const r = room();
      await s.append(r, rec(1));
      await s.append(r, rec(2));
      const { epoch } = await s.position(r);
      await delay(ageMs + 100); // the one sleep: an age limit has to pass
      await s.append(r, rec(3));
      const replay = await s.since(r, 0, epoch);
      assert.deepEqual(replay.position, { seq: 3, epoch }, 'the epoch outlives its expired entries');
      assert.deepEqual(replay.gap, { from: 1, to: 2 });
      assert.deepEqual(seqs(replay), [3]);
    });

    test(`${impl.name}: reset for another epoch and for a since beyond the last seq`, async () => {
      const s = impl.node(newNs(), { limits: { ...LIMITS, maxEntries: 2 } });
      const r = room();
      for (let i = 1; i <= 3; i++) await s.append(r, rec(i));
      const { epoch } = await s.position(r);
      for (const [since, ep] of [[1, 'another-epoch'], [10, epoch], [0, 'x']] as const) {
        const replay = await s.since(r, since, ep);
        assert.equal(replay.reset, true, `since ${since} of ${ep}`);
        assert.deepEqual(replay.gap, { from: 1, to: 1 });
        assert.deepEqual(seqs(replay), [2, 3]);
      }
      const plain = await s.since(r, 3, epoch);
      assert.equal(plain.reset, false);
      assert.deepEqual(plain.entries, []);
    });

    test(`${impl.name}: drop, then a new epoch numbering from 1`, async () => {
      const s = impl.node(newNs());
      const r = room();
      for (let i = 1; i <= 3; i++) await s.append(r, rec(i));
      const old = await s.position(r);
      await s.drop(r);
      const fresh = await s.position(r);
      assert.equal(fresh.seq, 0);
      assert.notEqual(fresh.epoch, old.epoch);
      assert.deepEqual(await s.append(r, rec('again')), { seq: 1, epoch: fresh.epoch });
      const replay = await s.since(r, 3, old.epoch);
      assert.equal(replay.reset, true);
      assert.equal(replay.gap, undefined);
      assert.deepEqual(replay.entries.map((e) => [e.seq, e.data]), [[1, '"again"']]);
      await s.drop(room()); // a room that never was
    });

    // memory has no engine bytes to inspect

    if (impl.raw) test(`${impl.name}: with a cluster key the engine holds no plaintext; a reader with another key sees the entries as a counted gap`, async () => {
      const marker = `plaintext-marker-${randomBytes(4).toString('hex')}`;
      const write = async (ns: string, key: ClusterKey | null) => {
        const s = impl.node(ns, { key });
        const r = room();
        for (let i = 0; i < 3; i++) await s.append(r, rec({ secret: `${marker}-${i}` }, { topic: `${marker}.t`, from: marker }));
        return { ns, s, r, raw: Buffer.concat(await impl.raw!(ns, s)) };
      };
      const plain = await write(newNs(), null);
      assert.ok(plain.raw.includes(marker), 'the scan does see the data when it is not sealed');
      const ns = newNs();
      const sealed = await write(ns, KEY_A);
      assert.ok(sealed.raw.length > 100, 'the scan found the entries');
      assert.equal(sealed.raw.includes(marker), false, 'no plaintext in the engine');

      const { epoch } = await sealed.s.position(sealed.r);
      assert.equal((await sealed.s.since(sealed.r, 0, epoch)).entries.length, 3, 'the same key reads them');
      for (const [key, reason] of [[KEY_B, 'other-key'], [null, 'needs-key']] as const) {
        const reader = impl.node(ns, { key });
        const replay = await reader.since(sealed.r, 0, epoch);
        assert.deepEqual(replay, { position: { seq: 3, epoch }, reset: false, gap: { from: 1, to: 3 }, entries: [] }, reason);
        assert.equal(reader.counters!.notOpened[reason], 3, reason);
        assert.deepEqual((await reader.since(sealed.r, 2, epoch)).gap, { from: 3, to: 3 });
      }
      // and a plain reader of sealed data is refused the same way the other way round
      const sealedReader = impl.node(plain.ns, { key: KEY_A });
      const p = await sealedReader.since(plain.r, 0);
      assert.deepEqual(p.gap, { from: 1, to: 3 });
      assert.equal(sealedReader.counters!.notOpened['not-sealed'], 3);
    });

    // no engine to take away in memory

    if (impl.name !== 'memory') test(`${impl.name}: engine hung (SIGSTOP): calls fail with ERR_ROOM_STREAM_TIMEOUT within their bound; after SIGCONT they work`, async () => {
      const s = impl.node(newNs(), { timeoutMs: PAUSE_TIMEOUT_MS });
      const r = room();
      await s.append(r, rec(1));
      const { epoch } = await s.position(r);
      impl.engine!.pause();
      try {
        for (const call of [() => s.append(r, rec('during the pause')), () => s.since(r, 0, epoch), () => s.position(r)]) {
          const t0 = Date.now();
          await assert.rejects(async () => call(), { code: 'ERR_ROOM_STREAM_TIMEOUT' });
          const took = Date.now() - t0;
          assert.ok(took >= PAUSE_TIMEOUT_MS - 20 && took < PAUSE_TIMEOUT_MS + 3000, `rejected after ${took} ms`);
        }
      } finally {
        impl.engine!.resume();
      }
      // The append that timed out may still have run once the engine went on: seq 2 is then
      // taken (and readable), never given twice.
      const next = await s.append(r, rec('after'));
      assert.equal(next.epoch, epoch);
      assert.ok(next.seq === 2 || next.seq === 3, `seq ${next.seq}`);
      const replay = await s.since(r, 0, epoch);
      assert.deepEqual(seqs(replay), Array.from({ length: next.seq }, (_, i) => i + 1));
      assert.equal(replay.entries.at(-1)!.data, '"after"');
    });

    test(`${impl.name}: latency of append and since (printed)`, async (t) => {
      const s = impl.node(newNs(), { key: impl.name === 'memory' ? null : KEY_A });
      const r = room();
      const data = { text: 'x'.repeat(100) };
      const appendMs: number[] = [];
      for (let i = 0; i < 200; i++) {
        const t0 = performance.now();
        await s.append(r, rec(data));
        appendMs.push(performance.now() - t0);
      }
      const { epoch } = await s.position(r);
      const sinceMs: number[] = [];
      for (let i = 0; i < 50; i++) {
        const t0 = performance.now();
        const replay = await s.since(r, 190, epoch);
        sinceMs.push(performance.now() - t0);
        assert.equal(replay.entries.length, 10);
      }
      const q = (xs: number[], p: number) => xs.slice().sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(p * xs.length))].toFixed(3);
      const line = `${impl.name}: append p50 ${q(appendMs, 0.5)} ms p99 ${q(appendMs, 0.99)} ms; since (10 of 200 kept) p50 ${q(sinceMs, 0.5)} ms p99 ${q(sinceMs, 0.99)} ms`;
      t.diagnostic(line);
      console.log(`# ${line}`);
    });
  });
}

test('buildReplay: an entry the reader cannot open ends the run; it and everything older are in the gap', () => {
  const position = { seq: 5, epoch: 'e' };
  const ok = (seq: number) => ({ seq, bytes: 1, record: { from: 'c', echo: false, data: '1', at: Date.now() } });
  const limits = { maxEntries: 10, maxBytes: 100, maxAgeMs: 60_000 };
  const replay = buildReplay(position, 1, false, [ok(2), { seq: 3, bytes: 1, lost: 'other-key' }, ok(4), ok(5)], limits, Date.now());
  assert.deepEqual(replay.gap, { from: 2, to: 3 });
  assert.deepEqual(seqs(replay), [4, 5]);
  const hole = buildReplay(position, 0, false, [ok(1), ok(2), ok(4), ok(5)], limits, Date.now());
  assert.deepEqual(hole.gap, { from: 1, to: 3 }, 'a hole in the run is reported, never skipped silently');
  assert.deepEqual(seqs(hole), [4, 5]);
});
