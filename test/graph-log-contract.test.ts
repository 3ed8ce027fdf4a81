// The GraphLog contract (src/cluster/graph-log.ts), one set of tests run against every
// implementation: MemoryGraphLog, RedisGraphLog on a private redis-server and NatsGraphLog on a
// private nats-server with JetStream (test/helpers/engines.ts). Graphs are merged with the relay's
// own path (mergePut: MemoryGraphStore's HAM, DeferredWrites), so "the same graph" means what a
// GUN peer would read from each node. Every wait is on a round trip, except those that let a
// future state come due or a TTL pass.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { ClusterKey } from '../src/cluster/cluster-key.ts';
import {
  compactGraphs, compactRoom, loadedGraphs, type LoggedPut, type GraphLoad, type GraphLog, type GraphLogCounters, type GraphLogOptions,
} from '../src/cluster/graph-log.ts';
import { MemoryGraphLog, MemoryGraphLogStore } from '../src/cluster/memory-graph-log.ts';
import { RedisGraphLog } from '../src/cluster/redis-graph-log.ts';
import { NatsGraphLog } from '../src/cluster/nats-graph-log.ts';
import { MemoryGraphStore } from '../src/gun/graph-store.ts';
import { DeferredWrites } from '../src/gun/deferred-writes.ts';
import { mergeDue, mergePut } from '../src/gun/merge-put.ts';
import { graphJson } from '../src/gun/node-json.ts';
import type { GraphUpdate, GunValue } from '../src/gun/types.ts';
import { rawJetStream, rawRedis, startNats, startRedis, type RunningEngine } from './helpers/engines.ts';

const KEY_A = ClusterKey.fromSecret('graph-log-contract-cluster-key-A-0123456789');
const KEY_B = ClusterKey.fromSecret('graph-log-contract-cluster-key-B-0123456789');
const PAUSE_TIMEOUT_MS = 800; // the bound of an append while the engine hangs: it rejects then

type Log = GraphLog & { counters: GraphLogCounters; close?: () => Promise<void> };
interface NodeOptions extends GraphLogOptions { key?: ClusterKey | null }

interface Impl {
  name: 'memory' | 'redis' | 'nats';
  engine?: RunningEngine;
  /** A "node": a new instance with its own client, sharing `ns` (the key prefix / stream) with the others of one test. */
  node(ns: string, opts?: NodeOptions): Log;
  /** Every byte the engine holds under `ns` (values, entry ids, headers). */
  raw(ns: string, node: Log): Promise<Buffer[]>;
}

const made: Log[] = [];
const closeAll = async () => { await Promise.all(made.splice(0).map((s) => s.close?.())); };

const memoryStores = new Map<string, MemoryGraphLogStore>();
const memory: Impl = {
  name: 'memory',
  node(ns, opts = {}) {
    let store = memoryStores.get(ns);
    if (!store) { store = new MemoryGraphLogStore(); memoryStores.set(ns, store); }
    return new MemoryGraphLog(store, opts.key ?? null, opts);
  },
  async raw(ns) {
    const out: Buffer[] = [];
    for (const log of memoryStores.get(ns)?.rooms.values() ?? []) {
      for (const e of log.puts) out.push(e.frame);
      if (log.snapshot) out.push(log.snapshot.frame);
    }
    return out;
  },
};

const redis: Impl = {
  name: 'redis',
  node(ns, opts = {}) {
    const s = new RedisGraphLog(this.engine!.url, opts.key ?? null, { prefix: ns, ...opts });
    made.push(s);
    return s;
  },
  raw(ns) {
    return rawRedis(this.engine!.url, `${ns}:*`, { types: ['string', 'hash', 'stream'] });
  },
};

const nats: Impl = {
  name: 'nats',
  node(ns, opts = {}) {
    const s = new NatsGraphLog(this.engine!.url, opts.key ?? null, { prefix: ns, ...opts });
    made.push(s);
    return s;
  },
  async raw(ns, node) {
    const stream = (node as NatsGraphLog).stream;
    assert.equal(stream, `${ns.toUpperCase()}_G`);
    return rawJetStream(this.engine!.url, stream);
  },
};

let nsCounter = 0;
const newNs = () => `g${randomBytes(3).toString('hex')}${nsCounter++}`;
const room = () => `/room-${randomBytes(3).toString('hex')}/é {x} a.b*>`; // braces, dots, wildcards, non-ASCII on purpose
const putId = () => randomBytes(6).toString('base64url');

type Fields = Record<string, [GunValue, number]>;
/** A put graph as JSON text, as the relay logs it. */
function putJson(nodes: Record<string, Fields>): string {
  const update: GraphUpdate = Object.entries(nodes).map(([soul, fields]) => ({
    soul, fields: Object.entries(fields).map(([key, [value, state]]) => ({ key, value, state })),
  }));
  return graphJson(update);
}

/** A node's copy of a room's graph: the relay's store and deferred writes, merged by mergePut. */
class GraphNode {
  readonly store = new MemoryGraphStore();
  readonly deferred: DeferredWrites = new DeferredWrites((due) => assert.equal(mergeDue(this.store, () => this.deferred, due), ''));
  merge(graphs: readonly GraphUpdate[], now = Date.now()): this {
    for (const g of graphs) assert.equal(mergePut(this.store, () => this.deferred, g, now), '');
    return this;
  }
  /** Every node and field, sorted: what a GUN peer reading each soul would see. */
  dump(): [string, [string, GunValue, number][]][] {
    return [...this.store.souls('')].sort().map((soul) => [soul, this.store.read(soul)!.map((f) => [f.key, f.value, f.state] as [string, GunValue, number]).sort((a, b) => (a[0] < b[0] ? -1 : 1))]);
  }
  dispose(): void { this.deferred.clear(); }
}

/** The graph a load stands for at `now` (Infinity: once every future state has come due). */
const graphOf = (load: GraphLoad, now = Date.now(), order: (g: GraphUpdate[]) => GraphUpdate[] = (g) => g) => new GraphNode().merge(order(loadedGraphs(load)), now);

async function until(what: string, check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    assert.ok(Date.now() < end, `${what}: not within ${ms} ms`);
    await delay(20);
  }
}

for (const impl of [memory, redis, nats]) {
  describe(`GraphLog contract: ${impl.name}`, () => {
    before(async () => {
      if (impl.name === 'redis') impl.engine = await startRedis();
      if (impl.name === 'nats') impl.engine = await startNats({ jetstream: true });
    });
    after(async () => {
      await closeAll();
      await impl.engine?.stop();
    });

    test(`${impl.name}: append then load returns every put, ids and graph text intact, offsets increasing; rooms are separate`, async () => {
      const log = impl.node(newNs());
      const r = room();
      assert.deepEqual(await log.load(r), { puts: [], last: 0, lost: 0 }, 'a room never written');
      const puts = [
        { id: putId(), graph: putJson({ a: { name: ['ünïcødé ✓ 🎉', 1], n: [1.5, 1] } }) },
        { id: 'id with\nnewline "quoted"', graph: putJson({ b: { link: [{ '#': 'a' }, 2], gone: [null, 2], yes: [true, 2] } }) },
        { id: putId(), graph: putJson({ a: { name: ['second', 3] }, c: {} }) },
      ];
      const offsets: number[] = [];
      for (const p of puts) offsets.push((await log.append(r, p)).offset);
      for (let i = 1; i < offsets.length; i++) assert.ok(offsets[i] > offsets[i - 1], `offsets increase: ${offsets}`);
      const load = await log.load(r);
      assert.deepEqual(load, { puts: puts.map((p, i) => ({ offset: offsets[i], ...p })), last: offsets.at(-1), lost: 0 });
      assert.deepEqual(graphOf(load).dump(), [
        ['a', [['n', 1.5, 1], ['name', 'second', 3]]],
        ['b', [['gone', null, 2], ['link', { '#': 'a' }, 2], ['yes', true, 2]]],
        ['c', []],
      ]);
      const other = room();
      await log.append(other, { id: putId(), graph: putJson({ x: { y: [1, 1] } }) });
      assert.equal((await log.load(other)).puts.length, 1);
      assert.equal((await log.load(r)).puts.length, 3);
    });

    test(`${impl.name}: watch: every put appended to the room by any node (the watcher's own too) is delivered once, in offset order, learned from the append; other rooms and other keys are not; unwatch stops it; snapshots are announced; touch gives the last offset`, async () => {
      const ns = newNs();
      const a = impl.node(ns, { key: KEY_A });
      const lostSeen: string[] = [];
      const b = impl.node(ns, { key: KEY_A, onLost: (_r, _o, why) => lostSeen.push(why) });
      const intruder = impl.node(ns, { key: KEY_B });
      const r = room();
      const got: { a: LoggedPut[]; b: LoggedPut[] } = { a: [], b: [] };
      let resumed = 0;
      const snapshots: number[] = [];
      await a.watch(r, { put: (p) => got.a.push(p), resumed: () => resumed++, snapshot: (upTo) => snapshots.push(upTo) });
      await b.watch(r, { put: (p) => got.b.push(p), resumed: () => resumed++ });
      const N = 20;
      const acked = await Promise.all([
        ...Array.from({ length: N }, (_, i) => a.append(r, { id: `a${i}`, graph: putJson({ s: { [`a${i}`]: [i, 1] } }) })),
        ...Array.from({ length: N }, (_, i) => b.append(r, { id: `b${i}`, graph: putJson({ s: { [`b${i}`]: [i, 1] } }) })),
        a.append(room(), { id: 'elsewhere', graph: putJson({ s: { x: [1, 1] } }) }),
      ]);
      await intruder.append(r, { id: 'intruder', graph: putJson({ s: { evil: [1, 1] } }) });
      const last = await a.append(r, { id: 'last', graph: putJson({ s: { z: [1, 1] } }) });
      await until('both watchers have every put', () => got.a.length >= 2 * N + 1 && got.b.length >= 2 * N + 1, 5000);
      const want = acked.slice(0, 2 * N).map((x) => x.offset).concat(last.offset).sort((x, y) => x - y);
      for (const [who, list] of Object.entries(got)) {
        if (impl.name === 'nats') {
          // NATS republishes each stored message from the publishing connection's goroutine: the
          // puts of two nodes may pass each other, each node's stay in order (HAM needs neither).
          assert.deepEqual(list.map((p) => p.offset).sort((x, y) => x - y), want, `${who}: every put once`);
          for (const writer of ['a', 'b']) {
            const offsets = list.filter((p) => new RegExp(`^${writer}\\d`).test(p.id)).map((p) => p.offset);
            assert.deepEqual(offsets, offsets.slice().sort((x, y) => x - y), `${who}: ${writer}'s puts in order`);
          }
        } else assert.deepEqual(list.map((p) => p.offset), want, `${who}: every put once, in offset order`);
        assert.ok(!list.some((p) => p.id === 'elsewhere' || p.id === 'intruder'), `${who}: not another room's, not another key's`);
        const first = list.find((p) => p.id === 'a3')!;
        assert.equal(first.graph, putJson({ s: { a3: [3, 1] } }), 'the graph text as appended');
      }
      assert.deepEqual(lostSeen, ['other-key'], 'the intruder\'s put was counted and reported');
      assert.equal(b.counters.notOpened['other-key'], 1);
      assert.equal(resumed, 0);
      await b.unwatch(r);
      await a.append(r, { id: 'after-unwatch', graph: putJson({ s: { u: [1, 1] } }) });
      await until('a still watches', () => got.a.some((p) => p.id === 'after-unwatch'), 5000);
      assert.ok(!got.b.some((p) => p.id === 'after-unwatch'), 'b unwatched');
      // touch says where the log ends: what a watcher compares with the last offset it merged
      assert.equal((await b.touch(r)).last, got.a.at(-1)!.offset, 'touch: the room\'s last offset');
      assert.equal((await b.touch(room())).last, 0, 'touch: a room without a log');
      const upTo = got.a.at(-1)!.offset; // (not compactRoom: the intruder's put does not open, so it would refuse)
      assert.equal(await a.snapshot(r, '[]', upTo), true);
      assert.equal((await b.touch(r)).last, got.a.at(-1)!.offset, 'touch after a compaction');
      await until('the watcher is told of the snapshot', () => snapshots.length > 0, 5000);
      assert.deepEqual(snapshots, [upTo], 'a snapshot notice, once');
      await a.append(r, { id: 'after-snapshot', graph: putJson({ s: { z: [2, 2] } }) });
      await until('puts after the snapshot', () => got.a.some((p) => p.id === 'after-snapshot'), 5000);
    });

    if (impl.name !== 'memory') test(`${impl.name}: watch across an engine restart: the watcher is told (resumed) once the watch is set up again, and puts are delivered again`, async () => {
      const ns = newNs();
      const a = impl.node(ns);
      const b = impl.node(ns);
      const r = room();
      const got: string[] = [];
      let resumed = 0;
      await b.watch(r, { put: (p) => got.push(p.id), resumed: () => resumed++ });
      await a.append(r, { id: 'before', graph: putJson({ s: { k: [1, 1] } }) });
      await until('delivered before', () => got.includes('before'), 5000);
      await impl.engine!.restart();
      await until('resumed', () => resumed >= 1, 15_000);
      await until('appends work again', async () => { try { await a.append(r, { id: 'after', graph: putJson({ s: { k: [2, 2] } }) }); return true; } catch { return false; } }, 15_000);
      await until('delivered after the restart', () => got.includes('after'), 5000);
    });

    test(`${impl.name}: two nodes appending concurrently to one room: both loads see every put`, async () => {
      const ns = newNs();
      const a = impl.node(ns);
      const b = impl.node(ns);
      const r = room();
      const N = 25;
      const write = (log: Log, who: string) => Array.from({ length: N }, (_, i) => log.append(r, { id: `${who}${i}`, graph: putJson({ [who]: { [`f${i}`]: [i, 1] } }) }));
      const acked = await Promise.all([...write(a, 'a'), ...write(b, 'b')]);
      assert.equal(new Set(acked.map((x) => x.offset)).size, 2 * N, 'distinct offsets');
      for (const reader of [a, b]) {
        const load = await reader.load(r);
        assert.deepEqual(load.puts.map((p) => p.id).sort(), [...Array.from({ length: N }, (_, i) => `a${i}`), ...Array.from({ length: N }, (_, i) => `b${i}`)].sort());
        assert.deepEqual(load.puts.map((p) => p.offset).sort((x, y) => x - y), acked.map((x) => x.offset).sort((x, y) => x - y));
        assert.equal(load.last, Math.max(...acked.map((x) => x.offset)));
      }
    });

    test(`${impl.name}: convergence: puts to the same fields through two nodes, merged in different orders by two new nodes, give one graph (equal states, deferred future states)`, async () => {
      const ns = newNs();
      const a = impl.node(ns);
      const b = impl.node(ns);
      const r = room();
      const t = Date.now();
      const due = t + 1000; // a future state: deferred by whoever merges it before then
      const fromA = [
        putJson({ s: { same: ['apple', t - 10], newer: ['a-old', t - 20], tie: ['a', t - 5] } }),
        putJson({ s: { fut: ['a-future', due], newer: ['a-new', t - 1] }, u: { only: ['a', t - 3] } }),
        putJson({ s: { late: ['a-past', t - 9] } }),
      ];
      const fromB = [
        putJson({ s: { same: ['banana', t - 10], tie: ['b', t - 5] } }), // equal states: the lexically greater value wins
        putJson({ s: { fut: ['b-future', due], late: ['b-future-later', due + 200] } }), // equal future states, and a later one
        putJson({ s: { newer: ['b-mid', t - 15] }, u: { only: ['b', t - 4] } }),
      ];
      await Promise.all([
        (async () => { for (const g of fromA) await a.append(r, { id: putId(), graph: g }); })(),
        (async () => { for (const g of fromB) await b.append(r, { id: putId(), graph: g }); })(),
      ]);
      // Two nodes new to the room (fresh instances) load and merge, in opposite orders.
      const loadC = await impl.node(ns).load(r);
      const loadD = await impl.node(ns).load(r);
      assert.equal(loadC.puts.length, 6);
      const c = graphOf(loadC);
      const d = graphOf(loadD, Date.now(), (g) => g.slice().reverse());
      // One more, as a node that saw the puts live as they were acked: A's, then B's.
      const live = new GraphNode().merge([...fromA, ...fromB].map((g) => loadedGraphs({ puts: [{ id: '', offset: 1, graph: g }], last: 1, lost: 0 })[0]));
      try {
        const expectedNow: ReturnType<GraphNode['dump']> = [
          ['s', [['late', 'a-past', t - 9], ['newer', 'a-new', t - 1], ['same', 'banana', t - 10], ['tie', 'b', t - 5]]],
          ['u', [['only', 'a', t - 3]]],
        ];
        if (Date.now() < due - 50) { // a busy machine may have got here after `due`: then only the end state is checked
          for (const n of [c, d, live]) {
            assert.deepEqual(n.dump(), expectedNow);
            assert.equal(n.deferred.size, 3, 'the future states wait');
          }
        }
        await until('the future states come due', () => [c, d, live].every((n) => n.deferred.size === 0), due - Date.now() + 5000);
        const expectedLater: ReturnType<GraphNode['dump']> = [
          ['s', [['fut', 'b-future', due], ['late', 'b-future-later', due + 200], ['newer', 'a-new', t - 1], ['same', 'banana', t - 10], ['tie', 'b', t - 5]]],
          ['u', [['only', 'a', t - 3]]],
        ];
        for (const n of [c, d, live]) assert.deepEqual(n.dump(), expectedLater);
      } finally {
        for (const n of [c, d, live]) n.dispose();
      }
    });

    test(`${impl.name}: snapshot + trim, then load = the same graph as merging everything; a stale snapshot is refused`, async () => {
      const ns = newNs();
      const a = impl.node(ns);
      const b = impl.node(ns);
      const r = room();
      const t = Date.now();
      const graphs: string[] = [];
      for (let i = 0; i < 30; i++) {
        const g = putJson({ [`n${i % 4}`]: { v: [`${i}`, t - 1000 + (i % 7)], [`k${i}`]: [i, t - 500] }, ...(i % 10 === 0 ? { f: { x: [`future-${i}`, t + 60_000 + i] } } : {}) });
        graphs.push(g);
        await (i % 2 ? a : b).append(r, { id: `p${i}`, graph: g });
      }
      const before = await b.load(r);
      const upTo = await compactRoom(a, r);
      assert.equal(upTo, before.last, 'the snapshot covers everything loaded');
      const after = await b.load(r);
      assert.ok(after.snapshot, 'a snapshot');
      assert.equal(after.snapshot!.upTo, upTo);
      assert.deepEqual(after.puts, [], 'the log was trimmed up to the snapshot');
      assert.equal(after.last, upTo);
      assert.equal(await b.snapshot(r, '[]', upTo!), false, 'a snapshot covering no more than the stored one is refused');
      assert.equal(await compactRoom(b, r), undefined, 'nothing to compact');
      // more puts after the snapshot
      for (let i = 30; i < 35; i++) {
        const g = putJson({ n1: { v: [`late-${i}`, t - 900 + i] }, f: { x: [`future-${i}`, t + 60_000 + i] } });
        graphs.push(g);
        await a.append(r, { id: `p${i}`, graph: g });
      }
      const final = await impl.node(ns).load(r);
      assert.equal(final.puts.length, 5);
      assert.ok(final.puts.every((p) => p.offset > upTo!));
      const everything = { puts: graphs.map((graph, i) => ({ id: `p${i}`, offset: i + 1, graph })), last: graphs.length, lost: 0 };
      for (const now of [Date.now(), Infinity]) { // as read now, and once every future state is due
        const want = graphOf(everything, now);
        const got = graphOf(final, now);
        assert.deepEqual(got.dump(), want.dump(), `now = ${now}`);
        assert.equal(got.deferred.size, want.deferred.size);
        want.dispose(); got.dispose();
      }
      // compacting again folds the snapshot and the later puts
      const upTo2 = await compactRoom(b, r);
      assert.ok(upTo2! > upTo!);
      const compacted = await a.load(r);
      assert.equal(compacted.puts.length, 0);
      assert.deepEqual(graphOf(compacted, Infinity).dump(), graphOf(everything, Infinity).dump());
    });

    test(`${impl.name}: a node joining later (fresh instance, the writers gone) sees every acked put`, async () => {
      const ns = newNs();
      const r = room();
      const writers = [impl.node(ns), impl.node(ns)];
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) {
        const id = `w${i}`;
        await writers[i % 2].append(r, { id, graph: putJson({ doc: { [`f${i}`]: [i, i + 1] } }) });
        ids.push(id);
        if (i === 6) await compactRoom(writers[0], r);
      }
      for (const w of writers) await w.close?.();
      const late = impl.node(ns);
      const load = await late.load(r);
      assert.equal(load.lost, 0);
      assert.deepEqual(graphOf(load).dump(), [['doc', Array.from({ length: 10 }, (_, i) => [`f${i}`, i, i + 1] as [string, GunValue, number]).sort((x, y) => (x[0] < y[0] ? -1 : 1))]]);
    });

    test(`${impl.name}: with a cluster key the engine holds no plaintext; a reader with another key (or none) skips, counts and reports`, async () => {
      const marker = `plaintext-marker-${randomBytes(4).toString('hex')}`;
      const write = async (ns: string, key: ClusterKey | null) => {
        const log = impl.node(ns, { key });
        const r = room();
        for (let i = 0; i < 3; i++) await log.append(r, { id: `${marker}-id-${i}`, graph: putJson({ [`${marker}-soul`]: { [`${marker}-key`]: [`${marker}-value-${i}`, i + 1] } }) });
        await compactRoom(log, r);
        await log.append(r, { id: `${marker}-id-3`, graph: putJson({ [`${marker}-soul`]: { x: [`${marker}-after`, 9] } }) });
        return { log, r, raw: Buffer.concat(await impl.raw(ns, log)) };
      };
      const plain = await write(newNs(), null);
      assert.ok(plain.raw.includes(marker), 'the scan does see the data when it is not sealed');
      const ns = newNs();
      const sealed = await write(ns, KEY_A);
      assert.ok(sealed.raw.length > 200, 'the scan found the entries');
      assert.equal(sealed.raw.includes(marker), false, 'no plaintext in the engine');
      const own = await sealed.log.load(sealed.r);
      assert.equal(own.lost, 0);
      assert.ok(own.snapshot);
      assert.equal(own.puts.length, 1);
      for (const [key, reason] of [[KEY_B, 'other-key'], [null, 'needs-key']] as const) {
        const lostSeen: string[] = [];
        const reader = impl.node(ns, { key, onLost: (rm, _offset, why) => { assert.equal(rm, sealed.r); lostSeen.push(why); } });
        const load = await reader.load(sealed.r);
        assert.deepEqual({ ...load, last: 0 }, { puts: [], last: 0, lost: 2 }, reason); // the snapshot and the put after it
        assert.equal(reader.counters.notOpened[reason], 2, reason);
        assert.deepEqual(lostSeen, [reason, reason]);
      }
      const intruder = impl.node(ns, { key: KEY_B });
      await intruder.append(sealed.r, { id: 'x', graph: putJson({ other: { k: [1, 1] } }) });
      assert.equal(await compactRoom(intruder, sealed.r), undefined, 'a node that cannot read the log does not compact it');
      const again = await sealed.log.load(sealed.r);
      assert.equal(again.lost, 1, 'a put of another key does not open for the owner either (it cannot inject)');
      assert.equal(sealed.log.counters.notOpened['other-key'], 1);
      assert.equal(again.snapshot!.upTo, own.snapshot!.upTo, 'the snapshot is still the owner\'s');
      assert.equal(again.puts.length, 1);
    });

    // no engine to take away in memory

    if (impl.name !== 'memory') test(`${impl.name}: engine hung (SIGSTOP): append rejects with ERR_GRAPH_LOG_TIMEOUT within its bound; after SIGCONT appends work and nothing acked is lost`, async () => {
      const ns = newNs();
      const log = impl.node(ns, { timeoutMs: PAUSE_TIMEOUT_MS });
      const r = room();
      await log.append(r, { id: 'before', graph: putJson({ s: { k: ['before', 1] } }) });
      impl.engine!.pause();
      try {
        for (const call of [() => log.append(r, { id: 'during', graph: putJson({ s: { d: ['during', 2] } }) }), () => log.load(r)]) {
          const t0 = Date.now();
          await assert.rejects(call(), { code: 'ERR_GRAPH_LOG_TIMEOUT' });
          const took = Date.now() - t0;
          assert.ok(took >= PAUSE_TIMEOUT_MS - 20 && took < PAUSE_TIMEOUT_MS + 3000, `rejected after ${took} ms`);
        }
      } finally {
        impl.engine!.resume();
      }
      await log.append(r, { id: 'after', graph: putJson({ s: { k: ['after', 3] } }) });
      const load = await impl.node(ns).load(r);
      const ids = load.puts.map((p) => p.id);
      assert.deepEqual(ids.filter((id) => id !== 'during'), ['before', 'after'], 'the acked puts, in order; the timed-out one may have landed');
    });

    test(`${impl.name}: drop removes the room's log and snapshot, and only that room's`, async () => {
      const ns = newNs();
      const log = impl.node(ns);
      const [r, keep] = [room(), room()];
      for (const x of [r, keep]) {
        await log.append(x, { id: '1', graph: putJson({ s: { k: [1, 1] } }) });
        await compactRoom(log, x);
        await log.append(x, { id: '2', graph: putJson({ s: { k: [2, 2] } }) });
      }
      await log.drop(r);
      assert.deepEqual(await impl.node(ns).load(r), { puts: [], last: 0, lost: 0 });
      const kept = await log.load(keep);
      assert.ok(kept.snapshot);
      assert.equal(kept.puts.length, 1);
      await log.drop(room()); // a room that never was
    });

    test(`${impl.name}: TTL: an abandoned room's log disappears; touch keeps a live one`, async (t) => {
      const ttlMs = 1000;
      const log = impl.node(newNs(), { ttlMs });
      const r = room();
      const t0 = Date.now();
      await log.append(r, { id: '1', graph: putJson({ s: { k: ['kept', 1] } }) });
      await log.append(r, { id: '2', graph: putJson({ s: { j: ['kept too', 1] } }) });
      await delay(600);
      await log.touch(r); // past ttl/2: NATS rewrites the room as a fresh snapshot
      const touchedAt = Date.now() - t0;
      if (impl.name === 'nats') assert.equal(log.counters.snapshots, 1, 'NATS: touch past ttl/2 rewrote the room as a fresh snapshot');
      await delay(Math.max(0, t0 + 1300 - Date.now()));
      if (touchedAt < ttlMs - 100) {
        assert.deepEqual(graphOf(await log.load(r)).dump(), [['s', [['j', 'kept too', 1], ['k', 'kept', 1]]]], 'touched: still there after the TTL from the writes');
      } else t.diagnostic(`touch came ${touchedAt} ms after the writes (busy machine): the kept check is skipped`);
      await until('the room expires', async () => {
        const load = await log.load(r);
        return load.puts.length === 0 && load.snapshot === undefined;
      }, ttlMs + 6000);
    });

    test(`${impl.name}: snapshot size: a big snapshot round-trips (chunked on NATS); one over maxSnapshotBytes is refused with ERR_GRAPH_LOG_TOO_BIG`, async () => {
      const log = impl.node(newNs(), { maxSnapshotBytes: 4 * 1024 * 1024 });
      const r = room();
      const { offset } = await log.append(r, { id: '1', graph: putJson({ s: { k: ['v', 1] } }) });
      const big = compactGraphs([[{ soul: 'big', fields: Array.from({ length: 3000 }, (_, i) => ({ key: `k${i}`, value: "x".repeat(1000), state: 1 })) }]], Date.now());
      assert.ok(big.length > 2.5 * 1024 * 1024);
      assert.equal(await log.snapshot(r, big, offset), true);
      const back = await log.load(r);
      assert.equal(back.snapshot!.graph, big);
      assert.equal(back.puts.length, 0);
      await assert.rejects(log.snapshot(r, big + ' '.repeat(2 * 1024 * 1024), offset + 1), { code: 'ERR_GRAPH_LOG_TOO_BIG' });
      if (impl.name === 'nats') {
        await assert.rejects(log.append(r, { id: 'huge', graph: putJson({ s: { k: ['x'.repeat(1024 * 1024), 2] } }) }), { code: 'ERR_GRAPH_LOG_TOO_BIG' });
      }
    });

    test(`${impl.name}: latency of append and load (printed)`, async (t) => {
      const log = impl.node(newNs(), { key: KEY_A });
      const r = room();
      const appendMs: number[] = [];
      for (let i = 0; i < 200; i++) {
        const graph = putJson({ [`soul${i % 20}`]: { text: ['x'.repeat(100), Date.now()], [`f${i}`]: [i, Date.now()] } });
        const t0 = performance.now();
        await log.append(r, { id: `l${i}`, graph });
        appendMs.push(performance.now() - t0);
      }
      const loadMs: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t0 = performance.now();
        assert.equal((await log.load(r)).puts.length, 200);
        loadMs.push(performance.now() - t0);
      }
      const c0 = performance.now();
      await compactRoom(log, r);
      const compactMs = performance.now() - c0;
      const snapMs: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t0 = performance.now();
        assert.ok((await log.load(r)).snapshot);
        snapMs.push(performance.now() - t0);
      }
      const q = (xs: number[], p: number) => xs.slice().sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(p * xs.length))].toFixed(3);
      const line = `${impl.name}: append p50 ${q(appendMs, 0.5)} ms p99 ${q(appendMs, 0.99)} ms; load of 200 puts p50 ${q(loadMs, 0.5)} ms; compact ${compactMs.toFixed(1)} ms; load of the snapshot p50 ${q(snapMs, 0.5)} ms`;
      t.diagnostic(line);
      console.log(`# ${line}`);
    });
  });
}

test('compactGraphs keeps, per field, the winner among past states and the winner of each future state', () => {
  const now = 1000;
  const g = (key: string, value: GunValue, state: number): GraphUpdate => [{ soul: 's', fields: [{ key, value, state }] }];
  const json = compactGraphs([g('a', 'x', 5), g('a', 'y', 5), g('a', 'z', 4), g('a', 'f1', 2000), g('a', 'f0', 2000), g('a', 'f2', 3000), g('b', 'only-future', 5000), [{ soul: 'empty', fields: [] }]], now);
  const layers = JSON.parse(json) as unknown[];
  assert.deepEqual(layers, [
    { s: { _: { '#': 's', '>': { a: 5, b: 5000 } }, a: 'y', b: 'only-future' }, empty: { _: { '#': 'empty', '>': {} } } },
    { s: { _: { '#': 's', '>': { a: 2000 } }, a: 'f1' } },
    { s: { _: { '#': 's', '>': { a: 3000 } }, a: 'f2' } },
  ]);
});

test('mergeDue: deferred writes to one field with equal states come due together and resolve by HAM, whatever their order', () => {
  const at = Date.now() + 60_000;
  const writes = [{ soul: 's', key: 'k', value: 'b-wins' as GunValue, state: at }, { soul: 's', key: 'k', value: 'a-loses' as GunValue, state: at }];
  const results = [writes, writes.slice().reverse()].map((due) => {
    const node = new GraphNode();
    assert.equal(mergeDue(node.store, () => node.deferred, due, at), '');
    return node.dump();
  });
  assert.deepEqual(results[0], [['s', [['k', 'b-wins', at]]]]);
  assert.deepEqual(results[1], results[0]);
});
