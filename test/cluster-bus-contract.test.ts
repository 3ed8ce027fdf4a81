// The ClusterBus and NodeRegistry contracts (src/cluster/cluster-bus.ts, node-registry.ts), one set
// of tests run against every implementation: memory (in-process "nodes" on one network), Redis on
// a private redis-server and NATS on a private nats-server (test/helpers/engines.ts). Bus: a room's
// publications reach every subscribed node including the publisher and no other; one publisher's
// order holds over 1,000 messages; toNode reaches one node; a node with another cluster key can
// neither read nor inject (counted, reported) and the engine carries no plaintext; the engine hung
// then resumed, and restarted (resubscription). Registry: nodes see each other, a node that stops
// beating is reported gone once within the TTL, one claimant wins the clean-up, a clean stop is
// reported at once. Waits are on events and round trips, except letting a (short) TTL pass.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { connect } from '@nats-io/transport-node';
import { ClusterKey } from '../src/cluster/cluster-key.ts';
import type { BusMessage, BusRejection, ClusterBus } from '../src/cluster/cluster-bus.ts';
import { MemoryBusNetwork, MemoryClusterBus } from '../src/cluster/memory-cluster-bus.ts';
import { RedisClusterBus } from '../src/cluster/redis-cluster-bus.ts';
import { NatsClusterBus } from '../src/cluster/nats-cluster-bus.ts';
import type { NodeGone, NodeRegistry, NodeRegistryOptions } from '../src/cluster/node-registry.ts';
import { MemoryNodeRegistry, MemoryRegistryNetwork } from '../src/cluster/memory-node-registry.ts';
import { RedisNodeRegistry } from '../src/cluster/redis-node-registry.ts';
import { NatsNodeRegistry } from '../src/cluster/nats-node-registry.ts';
import { startNats, startRedis, type RunningEngine } from './helpers/engines.ts';

const KEY_A = ClusterKey.fromSecret('bus-contract-cluster-key-A-0123456789');
const KEY_B = ClusterKey.fromSecret('bus-contract-cluster-key-B-0123456789');
const BEAT_MS = 200;
const TTL_MS = 1000;
const REGISTRY: NodeRegistryOptions = { beatMs: BEAT_MS, ttlMs: TTL_MS, claimTtlMs: 5000 };
const WAIT_MS = 8000; // bound of every wait for an event (a busy 2-core machine)

/** A started bus plus what it received, for the tests. */
interface Node {
  bus: ClusterBus;
  /** room -> messages, in arrival order */
  rooms: Map<string, BusMessage[]>;
  inbox: BusMessage[];
  rejections: BusRejection[];
  /** resolves when `predicate` holds (checked after every arrival) */
  until(predicate: () => boolean, what: string): Promise<void>;
  subscribe(room: string): Promise<void>;
}

/** Short health checks, for the test of a hung engine. */
interface Tuning { pingIntervalMs: number; timeoutMs: number }

interface Impl {
  name: 'memory' | 'redis' | 'nats';
  engine?: RunningEngine;
  bus(ns: string, id: string, key: ClusterKey | null, tuning?: Tuning): ClusterBus;
  registry(ns: string, key: ClusterKey | null, options?: NodeRegistryOptions): NodeRegistry;
  /** Everything the engine carries under `ns` from now on (a raw subscriber to every channel/subject). */
  capture?(ns: string): Promise<{ frames: Buffer[]; stop(): Promise<void> }>;
}

const busNetworks = new Map<string, MemoryBusNetwork>();
const registryNetworks = new Map<string, MemoryRegistryNetwork>();
const memory: Impl = {
  name: 'memory',
  bus(ns, id, key) {
    if (!busNetworks.has(ns)) busNetworks.set(ns, new MemoryBusNetwork());
    return new MemoryClusterBus(key, { nodeId: id, ...hooks.get(id) }, busNetworks.get(ns));
  },
  registry(ns, key, options = REGISTRY) {
    if (!registryNetworks.has(ns)) registryNetworks.set(ns, new MemoryRegistryNetwork());
    return new MemoryNodeRegistry(key, options, registryNetworks.get(ns));
  },
};
const redis: Impl = {
  name: 'redis',
  bus(ns, id, key, tuning) { return new RedisClusterBus(this.engine!.url, key, { nodeId: id, prefix: ns, timeoutMs: 2000, ...tuning, ...hooks.get(id) }); },
  registry(ns, key, options = REGISTRY) { return new RedisNodeRegistry(this.engine!.url, key, { ...options, prefix: ns }); },
  async capture(ns) {
    const r = new Redis(this.engine!.url);
    const frames: Buffer[] = [];
    r.on('pmessageBuffer', (_p: Buffer, channel: Buffer, message: Buffer) => { if (channel.toString().startsWith(`${ns}:`)) frames.push(channel, message); });
    await r.psubscribe('*');
    return { frames, async stop() { r.disconnect(); } };
  },
};
const nats: Impl = {
  name: 'nats',
  bus(ns, id, key, tuning) { return new NatsClusterBus(this.engine!.url, key, { nodeId: id, prefix: ns, reconnectWaitMs: 200, ...tuning, ...hooks.get(id) }); },
  registry(ns, key, options = REGISTRY) { return new NatsNodeRegistry(this.engine!.url, key, { ...options, prefix: ns, reconnectWaitMs: 200 }); },
  async capture(ns) {
    const nc = await connect({ servers: this.engine!.url });
    const frames: Buffer[] = [];
    nc.subscribe('>', { callback: (err, m) => { if (!err && m.subject.startsWith(`${ns}.`)) frames.push(Buffer.from(m.subject), Buffer.from(m.data)); } });
    await nc.flush();
    return { frames, async stop() { await nc.close(); } };
  },
};

// The hooks a bus is built with, by node id (set by makeNode before the impl builds the bus).
const hooks = new Map<string, { onNodeMessage: (m: BusMessage) => void; onRejected: (r: BusRejection) => void }>();
const open: (() => Promise<void>)[] = [];
let nsCounter = 0;
const newNs = () => `t${randomBytes(3).toString('hex')}${nsCounter++}`;
const newRoom = () => `/room-${randomBytes(3).toString('hex')}/é {x} a.b *>`; // subject-unsafe on purpose
const bytes = (x: unknown) => Buffer.from(JSON.stringify(x));
const parse = (m: BusMessage) => JSON.parse(Buffer.from(m.payload).toString()) as unknown;

async function makeNode(impl: Impl, ns: string, name: string, key: ClusterKey | null = KEY_A, tuning?: Tuning): Promise<Node> {
  const id = `${ns}-${name}`;
  const waiters = new Set<() => void>();
  const arrived = () => { for (const w of [...waiters]) w(); };
  const node: Node = {
    bus: undefined as unknown as ClusterBus,
    rooms: new Map(),
    inbox: [],
    rejections: [],
    until(predicate, what) {
      if (predicate()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`${id}: timed out waiting for ${what}`)); }, WAIT_MS);
        const check = () => { if (predicate()) { clearTimeout(timer); waiters.delete(check); resolve(); } };
        waiters.add(check);
      });
    },
    async subscribe(room) {
      node.rooms.set(room, []);
      await node.bus.subscribeRoom(room, (m, r) => { node.rooms.get(r)!.push(m); arrived(); });
    },
  };
  hooks.set(id, {
    onNodeMessage: (m) => { node.inbox.push(m); arrived(); },
    onRejected: (r) => { node.rejections.push(r); arrived(); },
  });
  node.bus = impl.bus(ns, id, key, tuning);
  await node.bus.start();
  open.push(() => node.bus.close());
  return node;
}

const texts = (ms: BusMessage[] | undefined) => (ms ?? []).map((m) => parse(m));
const quantile = (xs: number[], p: number) => xs.slice().sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

/** Poll (round trips to the engine, or in-process reads) until `check` holds. */
async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, everyMs = 25): Promise<T> {
  const until = Date.now() + WAIT_MS;
  for (;;) {
    const got = await check();
    if (got !== undefined) return got;
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

for (const impl of [memory, redis, nats]) {
  describe(`ClusterBus and NodeRegistry contract: ${impl.name}`, () => {
    before(async () => {
      if (impl.name === 'redis') impl.engine = await startRedis();
      if (impl.name === 'nats') impl.engine = await startNats({ jetstream: true });
    });
    after(async () => {
      await Promise.all(open.splice(0).map((close) => close().catch(() => {})));
      await impl.engine?.stop();
    });

    test(`${impl.name}: a room publication reaches every subscribed node, the publisher included, and no unsubscribed node or other room`, async () => {
      const ns = newNs();
      const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n) => makeNode(impl, ns, n)));
      const room = newRoom();
      const other = newRoom();
      await a.subscribe(room);
      await b.subscribe(room);
      await c.subscribe(other);
      await a.bus.publishRoom(room, 'pub', bytes('one'));
      await b.bus.publishRoom(room, 'join', bytes('two'));
      await a.until(() => a.rooms.get(room)!.length === 2, 'two on a');
      await b.until(() => b.rooms.get(room)!.length === 2, 'two on b');
      for (const n of [a, b]) {
        const got = n.rooms.get(room)!;
        assert.deepEqual(got.map((m) => [m.kind, m.from, parse(m)]).sort(), [['join', b.bus.nodeId, 'two'], ['pub', a.bus.nodeId, 'one']]);
      }
      // Fence: c's own room, published after from the same two connections; what a and b sent
      // before would have reached c first.
      await a.bus.publishRoom(other, 'pub', bytes('fence-a'));
      await b.bus.publishRoom(other, 'pub', bytes('fence-b'));
      await c.until(() => c.rooms.get(other)!.length === 2, 'fences on c');
      assert.deepEqual(texts(c.rooms.get(other)).sort(), ['fence-a', 'fence-b'], 'c saw only its room');
      assert.equal(c.rooms.has(room), false);

      await b.bus.unsubscribeRoom(room);
      await a.bus.publishRoom(room, 'pub', bytes('after-unsubscribe'));
      await a.until(() => a.rooms.get(room)!.length === 3, 'a hears itself');
      await a.bus.toNode(b.bus.nodeId, 'fence', bytes('fence'));
      await b.until(() => b.inbox.length === 1, 'fence on b');
      assert.equal(b.rooms.get(room)!.length, 2, 'an unsubscribed node gets nothing more');
      assert.deepEqual(texts(a.rooms.get(room)).at(-1), 'after-unsubscribe');

      // a node that never subscribed publishes without hearing itself
      await c.bus.publishRoom(room, 'pub', bytes('from-c'));
      await a.until(() => a.rooms.get(room)!.length === 4, 'c reaches a');
      assert.equal(c.rooms.has(room), false);
      for (const n of [a, b, c]) assert.deepEqual(n.rejections, []);
    });

    test(`${impl.name}: per publisher and room, delivery order is publish order (2 publishers x 1,000 messages)`, async () => {
      const ns = newNs();
      const [a, b] = await Promise.all(['a', 'b'].map((n) => makeNode(impl, ns, n)));
      const room = newRoom();
      await a.subscribe(room);
      await b.subscribe(room);
      const N = 1000;
      const sent: (void | Promise<void>)[] = [];
      for (let i = 0; i < N; i++) { sent.push(a.bus.publishRoom(room, 'pub', bytes(i))); sent.push(b.bus.publishRoom(room, 'pub', bytes(i))); }
      await Promise.all(sent);
      for (const n of [a, b]) {
        await n.until(() => n.rooms.get(room)!.length === 2 * N, `${2 * N} messages`);
        for (const from of [a, b]) {
          const mine = n.rooms.get(room)!.filter((m) => m.from === from.bus.nodeId).map(parse);
          assert.deepEqual(mine, Array.from({ length: N }, (_, i) => i), `${from.bus.nodeId}'s order on ${n.bus.nodeId}`);
        }
      }
    });

    test(`${impl.name}: toNode reaches only that node's inbox (itself included), in order`, async () => {
      const ns = newNs();
      const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n) => makeNode(impl, ns, n)));
      for (let i = 0; i < 50; i++) await a.bus.toNode(b.bus.nodeId, 'req', bytes(i));
      await a.bus.toNode(a.bus.nodeId, 'reply', bytes('self'));
      await a.bus.toNode(c.bus.nodeId, 'fence', bytes('fence'));
      await b.until(() => b.inbox.length === 50, '50 on b');
      await a.until(() => a.inbox.length === 1, 'self');
      await c.until(() => c.inbox.length === 1, 'fence');
      assert.deepEqual(b.inbox.map(parse), Array.from({ length: 50 }, (_, i) => i));
      assert.deepEqual(b.inbox.map((m) => [m.kind, m.from])[0], ['req', a.bus.nodeId]);
      assert.deepEqual(a.inbox.map(parse), ['self']);
      assert.deepEqual(texts(c.inbox), ['fence'], 'c got nothing meant for b');
      await assert.rejects(async () => a.bus.toNode('not a node id', 'req', bytes(1)), RangeError);
      await assert.rejects(async () => a.bus.publishRoom(newRoom(), 'bad kind!', bytes(1)), RangeError);
    });

    test(`${impl.name}: a node with another cluster key (or none) can neither read nor inject; dropped frames are counted and reported; the engine carries no plaintext`, async () => {
      const ns = newNs();
      const capture = await impl.capture?.(ns);
      const marker = `plaintext-marker-${randomBytes(4).toString('hex')}`;
      const [a, b] = await Promise.all(['a', 'b'].map((n) => makeNode(impl, ns, n)));
      const wrong = await makeNode(impl, ns, 'wrong', KEY_B);
      const none = await makeNode(impl, ns, 'none', null);
      const room = newRoom();
      for (const n of [a, b, wrong, none]) await n.subscribe(room);

      await a.bus.publishRoom(room, 'pub', bytes(`${marker}-from-a`));
      await a.bus.toNode(wrong.bus.nodeId, 'req', bytes(`${marker}-to-wrong`));
      await wrong.until(() => wrong.rejections.length === 2, 'wrong key: 2 rejections');
      await none.until(() => none.rejections.length === 1, 'no key: 1 rejection');
      assert.deepEqual(wrong.rejections.map((r) => [r.reason, r.kind, r.room]).sort(), [['other-key', 'pub', room], ['other-key', 'req', undefined]]);
      assert.deepEqual(none.rejections.map((r) => r.reason), ['needs-key']);
      assert.equal(wrong.bus.counters.rejected['other-key'], 2);
      assert.equal(none.bus.counters.rejected['needs-key'], 1);

      await wrong.bus.publishRoom(room, 'pub', bytes(`${marker}-injected`));
      await none.bus.publishRoom(room, 'pub', bytes(`${marker}-plain`));
      await wrong.bus.toNode(a.bus.nodeId, 'req', bytes(`${marker}-injected-to-a`));
      await a.until(() => a.rejections.length === 3, '3 rejections on a');
      await b.until(() => b.rejections.length === 2, '2 rejections on b');
      assert.deepEqual(a.rejections.map((r) => r.reason).sort(), ['not-sealed', 'other-key', 'other-key']);
      assert.deepEqual(a.bus.counters.rejected, { 'other-key': 2, 'not-sealed': 1 });
      for (const n of [a, b]) {
        assert.deepEqual(texts(n.rooms.get(room)), [`${marker}-from-a`], `${n.bus.nodeId} got only a's publication`);
      }
      assert.deepEqual(a.inbox, []);
      await wrong.until(() => wrong.rooms.get(room)!.length === 1, 'the wrong node hears itself');
      assert.deepEqual(wrong.rooms.get(room)!.map((m) => m.from), [wrong.bus.nodeId], 'the wrong node hears only itself');
      assert.deepEqual(wrong.inbox, []);

      // A frame sealed for one room does not open on another room's channel (replayed by the engine).
      if (capture) {
        // 5 frames went through the engine (3 room publications, 2 node messages); the raw
        // subscriber's connection gets them on its own schedule.
        await eventually('the raw subscriber saw the 5 frames', () => (capture.frames.length >= 10 ? true : undefined));
        await capture.stop();
        const all = Buffer.concat(capture.frames);
        const plainFrames = capture.frames.filter((f) => f.includes(`${marker}-plain`));
        assert.equal(plainFrames.length, 1, 'the scan does see data a node without a key sent');
        const sealedOnly = Buffer.concat(capture.frames.filter((f) => !f.includes(`${marker}-plain`)));
        assert.equal(sealedOnly.includes(marker), false, 'no plaintext from a sealing node');
        assert.ok(all.length > 0);
      }
    });

    test(`${impl.name}: a frame sealed for one room or node does not open when replayed on another`, async () => {
      const ns = newNs();
      const a = await makeNode(impl, ns, 'a');
      const b = await makeNode(impl, ns, 'b');
      const [r1, r2] = [newRoom(), newRoom()];
      await b.subscribe(r2);
      const { encodeBusFrame, roomContext, nodeContext, receiveFrame, newBusCounters } = await import('../src/cluster/cluster-bus.ts');
      const frame = encodeBusFrame(KEY_A, (k) => roomContext(k, r1), 'pub', a.bus.nodeId, bytes('x'));
      const counters: ReturnType<typeof newBusCounters> = newBusCounters();
      const seen: BusMessage[] = [];
      receiveFrame(KEY_A, b.bus.nodeId, counters, undefined, r2, frame, (m) => seen.push(m));
      receiveFrame(KEY_A, b.bus.nodeId, counters, undefined, undefined, frame, (m) => seen.push(m));
      const toA = encodeBusFrame(KEY_A, (k) => nodeContext(k, a.bus.nodeId), 'req', a.bus.nodeId, bytes('x'));
      receiveFrame(KEY_A, b.bus.nodeId, counters, undefined, undefined, toA, (m) => seen.push(m));
      receiveFrame(KEY_A, b.bus.nodeId, counters, undefined, r1, frame, (m) => seen.push(m));
      assert.equal(seen.length, 1, 'only in its own room');
      assert.deepEqual(counters.rejected, { 'not-authentic': 3 });
      receiveFrame(KEY_A, b.bus.nodeId, counters, undefined, r1, Buffer.from([3, 1]), () => assert.fail());
      assert.equal((counters.rejected as Record<string, number>).malformed, 1);
    });

    // no engine to take away in memory

    if (impl.name !== 'memory') test(`${impl.name}: engine hung briefly (SIGSTOP, within the health bound) then resumed: nothing is lost on either side, and what was published during the pause arrives after it, in order`, async (t) => {
      const ns = newNs();
      const [a, b] = await Promise.all(['a', 'b'].map((n) => makeNode(impl, ns, n)));
      const room = newRoom();
      await a.subscribe(room);
      await b.subscribe(room);
      await a.bus.publishRoom(room, 'pub', bytes('before'));
      await b.until(() => b.rooms.get(room)!.length === 1, 'before');
      impl.engine!.pause();
      const during: Promise<unknown>[] = [];
      try {
        for (let i = 0; i < 5; i++) during.push(Promise.resolve().then(() => a.bus.publishRoom(room, 'pub', bytes(`during-${i}`))).catch((err: Error) => err));
        during.push(Promise.resolve().then(() => b.bus.toNode(a.bus.nodeId, 'req', bytes('during-to-a'))).catch((err: Error) => err));
        assert.equal(b.rooms.get(room)!.length, 1);
      } finally {
        impl.engine!.resume();
      }
      const outcomes = await Promise.all(during);
      for (let i = 0; i < 5; i++) await a.bus.publishRoom(room, 'pub', bytes(`after-${i}`));
      await b.bus.toNode(a.bus.nodeId, 'req', bytes('after-to-a'));
      await b.until(() => texts(b.rooms.get(room)).includes('after-4'), 'after-4 on b');
      await a.until(() => texts(a.rooms.get(room)).includes('after-4'), 'after-4 on a (its own publications come back too)');
      await a.until(() => texts(a.inbox).includes('after-to-a'), 'after on a');
      const expected = ['before', ...Array.from({ length: 5 }, (_, i) => `during-${i}`), ...Array.from({ length: 5 }, (_, i) => `after-${i}`)];
      // Measured: the connections stay open through a SIGSTOP, so the engine reads what was
      // written meanwhile when it continues: the publications made during the pause are delivered,
      // late, in order (Redis: each publish resolves once it is through; NATS: at once).
      assert.deepEqual(outcomes.filter((o) => o instanceof Error), [], 'no publish failed');
      assert.deepEqual(texts(b.rooms.get(room)), expected);
      assert.deepEqual(texts(a.rooms.get(room)), expected);
      assert.deepEqual(texts(a.inbox), ['during-to-a', 'after-to-a']);
      t.diagnostic(`${impl.name}: the ${outcomes.length} messages published during the pause arrived after it, in order`);
    });

    // no engine to take away in memory

    if (impl.name !== 'memory') test(`${impl.name}: engine restarted: publishes while it is down reject with ERR_BUS_DOWN; both nodes reconnect and resubscribe by themselves`, async () => {
      const ns = newNs();
      const [a, b] = await Promise.all(['a', 'b'].map((n) => makeNode(impl, ns, n)));
      const room = newRoom();
      await a.subscribe(room);
      await b.subscribe(room);
      await impl.engine!.down();
      await eventually('a sees the engine down', () => (a.bus.state === 'down' ? true : undefined));
      await assert.rejects(async () => a.bus.publishRoom(room, 'pub', bytes('while-down')), { code: 'ERR_BUS_DOWN' });
      await impl.engine!.up();
      await eventually('both up', () => (a.bus.state === 'up' && b.bus.state === 'up' ? true : undefined));
      // Up means connected; the resubscription is on its way. Probe until one gets through (the
      // probes that go before it are lost: at most once), then everything after flows in order.
      let probe = 0;
      await eventually('a probe from a reaches b through the room', async () => {
        await a.bus.publishRoom(room, 'probe', bytes(probe++));
        return b.rooms.get(room)!.some((m) => m.kind === 'probe') ? true : undefined;
      }, 100);
      await eventually('a probe from b reaches a\'s inbox', async () => {
        await b.bus.toNode(a.bus.nodeId, 'probe', bytes(probe++));
        return a.inbox.length > 0 ? true : undefined;
      }, 100);
      for (let i = 0; i < 10; i++) await b.bus.publishRoom(room, 'pub', bytes(i));
      await a.until(() => a.rooms.get(room)!.filter((m) => m.kind === 'pub').length === 10, '10 after the restart');
      assert.deepEqual(a.rooms.get(room)!.filter((m) => m.kind === 'pub').map(parse), Array.from({ length: 10 }, (_, i) => i));
      assert.equal(texts(a.rooms.get(room)).includes('while-down'), false);
    });

    // no engine to take away in memory

    if (impl.name !== 'memory') test(`${impl.name}: engine hung for longer than the health bound: the bus goes down (publishes reject with ERR_BUS_DOWN), and up again after SIGCONT; messages flow`, async () => {
      const ns = newNs();
      const tuning = { pingIntervalMs: 150, timeoutMs: 400 };
      const [a, b] = await Promise.all(['a', 'b'].map((n) => makeNode(impl, ns, n, KEY_A, tuning)));
      const room = newRoom();
      await a.subscribe(room);
      await b.subscribe(room);
      impl.engine!.pause();
      try {
        await eventually('a sees the engine down', () => (a.bus.state === 'down' ? true : undefined));
        await assert.rejects(async () => a.bus.publishRoom(room, 'pub', bytes('while-hung')), { code: 'ERR_BUS_DOWN' });
      } finally {
        impl.engine!.resume();
      }
      await eventually('both up', () => (a.bus.state === 'up' && b.bus.state === 'up' ? true : undefined));
      let probe = 0;
      await eventually('a probe from a reaches b', async () => {
        await a.bus.publishRoom(room, 'probe', bytes(probe++));
        return b.rooms.get(room)!.some((m) => m.kind === 'probe') ? true : undefined;
      }, 100);
      await b.bus.publishRoom(room, 'pub', bytes('after'));
      await a.until(() => texts(a.rooms.get(room)).includes('after'), 'after on a');
      assert.equal(texts(b.rooms.get(room)).includes('while-hung'), false);
    });

    test(`${impl.name}: cross-node latency, publish on A to handler on B (printed)`, async (t) => {
      const ns = newNs();
      const [a, b] = await Promise.all(['a', 'b'].map((n) => makeNode(impl, ns, n)));
      const room = newRoom();
      await b.subscribe(room);
      const payload = bytes({ text: 'x'.repeat(100) });
      const ms: number[] = [];
      for (let i = 0; i < 300; i++) {
        const t0 = performance.now();
        await a.bus.publishRoom(room, 'pub', payload);
        await b.until(() => b.rooms.get(room)!.length === i + 1, `message ${i}`);
        ms.push(performance.now() - t0);
      }
      const line = `${impl.name}: publishRoom on A -> handler on B, sealed, 100-byte payload: p50 ${quantile(ms, 0.5).toFixed(3)} ms p99 ${quantile(ms, 0.99).toFixed(3)} ms`;
      t.diagnostic(line);
      console.log(`# ${line}`);
    });

    test(`${impl.name}: registry: two nodes see each other, with their counts; a node with another key is not listed`, async () => {
      const ns = newNs();
      const a = impl.registry(ns, KEY_A, { ...REGISTRY, counts: () => ({ rooms: 3, connections: 7 }) });
      const b = impl.registry(ns, KEY_A);
      const w = impl.registry(ns, KEY_B);
      open.push(() => a.stop(), () => b.stop(), () => w.stop());
      const t0 = Date.now();
      await a.start({ id: `${ns}-a`, startedAt: t0 });
      await b.start({ id: `${ns}-b`, startedAt: t0 + 1 });
      await w.start({ id: `${ns}-w`, startedAt: t0 + 2 });
      const ids = async (r: NodeRegistry) => (await r.list()).map((n) => n.id).sort();
      await eventually('a and b see each other', async () => ((await ids(a)).length === 2 && (await ids(b)).length === 2 ? true : undefined));
      assert.deepEqual(await ids(a), [`${ns}-a`, `${ns}-b`]);
      const seenByB = (await b.list()).find((n) => n.id === `${ns}-a`)!;
      assert.equal(seenByB.startedAt, t0);
      assert.equal(seenByB.rooms, 3);
      assert.equal(seenByB.connections, 7);
      assert.ok(seenByB.lastSeen >= t0 && seenByB.lastSeen <= Date.now() + 1000);
      await eventually('a rejected w\'s heartbeats', () => ((a.counters.rejected['other-key'] ?? 0) > 0 ? true : undefined));
      assert.deepEqual(await ids(w), [`${ns}-w`], 'the other-key node sees only itself');
    });

    test(`${impl.name}: registry: a node that stops beating (as if SIGKILLed) is reported gone within the TTL, once; exactly one claimant wins its clean-up; a clean stop is reported at once`, async (t) => {
      const ns = newNs();
      const [a, b, c, d] = [impl.registry(ns, KEY_A), impl.registry(ns, KEY_A), impl.registry(ns, KEY_A), impl.registry(ns, KEY_A)];
      open.push(() => a.stop(), () => c.stop());
      const gone: Record<string, (NodeGone & { at: number })[]> = { a: [], c: [] };
      a.onNodeGone((g) => gone.a.push({ ...g, at: Date.now() }));
      c.onNodeGone((g) => gone.c.push({ ...g, at: Date.now() }));
      const now = Date.now();
      await Promise.all([a.start({ id: `${ns}-a`, startedAt: now }), b.start({ id: `${ns}-b`, startedAt: now }), c.start({ id: `${ns}-c`, startedAt: now }), d.start({ id: `${ns}-d`, startedAt: now })]);
      await eventually('everyone sees 4 nodes', async () => ((await a.list()).length === 4 && (await c.list()).length === 4 ? true : undefined));

      await b.halt();
      const haltedAt = Date.now();
      await eventually('b reported gone on a and c', () => (gone.a.length && gone.c.length ? true : undefined), 20);
      const took = Math.max(gone.a[0].at, gone.c[0].at) - haltedAt;
      assert.ok(took <= TTL_MS + BEAT_MS + 1500, `reported ${took} ms after the last beat (TTL ${TTL_MS} ms)`);
      for (const list of [gone.a, gone.c]) assert.deepEqual(list.map((g) => [g.id, g.reason]), [[`${ns}-b`, 'expired']]);
      assert.deepEqual((await a.list()).map((n) => n.id).sort(), [`${ns}-a`, `${ns}-c`, `${ns}-d`]);

      const claims = await Promise.all([a.claimCleanup(`${ns}-b`), c.claimCleanup(`${ns}-b`)]);
      assert.deepEqual(claims.sort(), [false, true], 'exactly one claimant wins');
      assert.equal(await a.claimCleanup(`${ns}-b`), false, 'and the claim holds');

      await d.stop();
      const stoppedAt = Date.now();
      await eventually('d reported stopped on a and c', () => (gone.a.length === 2 && gone.c.length === 2 ? true : undefined), 10);
      const tookStop = Math.max(gone.a[1].at, gone.c[1].at) - stoppedAt;
      for (const list of [gone.a, gone.c]) assert.deepEqual(list[1] && [list[1].id, list[1].reason], [`${ns}-d`, 'stopped']);
      assert.ok(tookStop < TTL_MS, `a clean stop is reported at once (${tookStop} ms)`);

      // Exactly once: a few more heartbeat rounds (each one a full read on Redis) report nothing new.
      const beats = a.counters.beats;
      await eventually('three more beats of a', () => (a.counters.beats >= beats + 3 ? true : undefined), BEAT_MS / 2);
      await a.list();
      await c.list();
      assert.equal(gone.a.length, 2);
      assert.equal(gone.c.length, 2);
      t.diagnostic(`${impl.name}: halted node reported gone after ${took} ms (TTL ${TTL_MS} ms, beat ${BEAT_MS} ms); clean stop after ${tookStop} ms`);
    });

    // no engine to take away in memory

    if (impl.name !== 'memory') test(`${impl.name}: registry: an engine restart (Redis loses every record; NATS keeps none) reports nobody gone; both nodes are listed again`, async () => {
      const ns = newNs();
      const [a, b] = [impl.registry(ns, KEY_A), impl.registry(ns, KEY_A)];
      open.push(() => a.stop(), () => b.stop());
      const gone: NodeGone[] = [];
      a.onNodeGone((g) => gone.push(g));
      b.onNodeGone((g) => gone.push(g));
      await a.start({ id: `${ns}-a`, startedAt: Date.now() });
      await b.start({ id: `${ns}-b`, startedAt: Date.now() });
      await eventually('a and b see each other', async () => ((await a.list()).length === 2 && (await b.list()).length === 2 ? true : undefined));
      await impl.engine!.restart();
      const back = Date.now();
      // Past the TTL after the restart, with a few beats of both: nobody was reported gone.
      await eventually('a TTL and 3 beats after the restart', async () => {
        const lists = [await a.list().catch(() => []), await b.list().catch(() => [])];
        return Date.now() - back > TTL_MS + 3 * BEAT_MS && lists.every((l) => l.length === 2) ? true : undefined;
      }, BEAT_MS);
      assert.deepEqual(gone, []);
    });
  });
}
