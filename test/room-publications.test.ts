// RoomPublications (src/cluster/room-publications.ts) without an engine: a fake cluster node over
// MemoryRoomStreams whose watch handler the test can also call itself, to produce what is hard to
// provoke on a real engine at a chosen moment — a seq jump, an entry that did not open, a new
// epoch, a replay read that is slow while live entries arrive, the engine going away and back.
// The three-node behaviour on Redis and NATS is test/cluster-publish.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RoomPublications } from '../src/cluster/room-publications.ts';
import { MemoryRoomStreams } from '../src/cluster/memory-room-streams.ts';
import type { LiveEntry, PublishRecord, RoomStreams, StreamPosition, StreamReplay, WatchHandler } from '../src/cluster/room-stream.ts';
import { Perm } from '../src/access/permissions.ts';
import { Subscriptions } from '../src/channels/topics.ts';
import type { ClusterNode } from '../src/cluster/cluster-node.ts';
import type { Room } from '../src/rooms/room.ts';
import type { Member } from '../src/channels/hub.ts';
import type { BusState } from '../src/cluster/cluster-bus.ts';

const LIMITS = { maxEntries: 100, maxBytes: 1 << 20, maxAgeMs: 60_000 };
const ROOM = '/unit';

/** MemoryRoomStreams, asynchronous where a test needs it to be, and with its watch handler in reach. */
class Streams implements RoomStreams {
  readonly inner = new MemoryRoomStreams(LIMITS);
  handler: WatchHandler | undefined;
  /** while set, since() waits for it (a slow engine read); `readFirst`: the answer is computed before the wait */
  gate: Promise<void> | undefined;
  readFirst = false;
  failAppends = false;
  failSince = false;
  watch(room: string, handler: WatchHandler): void {
    this.handler = handler;
    this.inner.watch(room, handler);
  }
  unwatch(room: string): void { this.inner.unwatch(room); }
  async since(room: string, seq: number, epoch?: string): Promise<StreamReplay> {
    if (this.failSince) throw new Error('engine away');
    const early = this.readFirst ? this.inner.since(room, seq, epoch) : undefined;
    await this.gate;
    return early ?? this.inner.since(room, seq, epoch);
  }
  append(room: string, record: PublishRecord): StreamPosition {
    if (this.failAppends) throw new Error('engine refused'); // even synchronously: the caller must not throw
    return this.inner.append(room, record);
  }
  position(room: string): StreamPosition { return this.inner.position(room); }
  drop(room: string): void { this.inner.drop(room); }
}

function setup() {
  const streams = new Streams();
  const stateHandlers: ((s: BusState) => void)[] = [];
  const cluster = {
    state: 'up' as BusState, streams,
    onState(h: (s: BusState) => void) { stateHandlers.push(h); },
  };
  const setState = (s: BusState) => { cluster.state = s; for (const h of stateHandlers) h(s); };
  const room = { name: ROOM, log: { warn() {}, info() {}, debug() {}, error() {} } } as unknown as Room;
  const pubs = new RoomPublications(cluster as unknown as ClusterNode, room);
  const members = new Map<string, Member>();
  const got = new Map<string, Record<string, unknown>[]>();
  const member = (cid: string, opts: { perms?: number; topics?: string[] } = {}): Member => {
    const frames: Record<string, unknown>[] = [];
    got.set(cid, frames);
    let topics: Subscriptions | undefined;
    if (opts.topics) { topics = new Subscriptions(); for (const t of opts.topics) topics.add(t); }
    const m = { cid, perms: opts.perms ?? (Perm.PUBLISH | Perm.SUBSCRIBE), topics, conn: {} } as unknown as Member;
    members.set(cid, m);
    return m;
  };
  pubs.attach({ members, deliver: (m, frame) => got.get(m.cid)!.push(JSON.parse(frame.text)) });
  return { streams, pubs, setState, member, got };
}

const rec = (data: unknown, extra: Partial<PublishRecord> = {}): PublishRecord => ({ from: 'other', echo: false, data: JSON.stringify(data), at: Date.now(), ...extra });
const publishMsg = (data: unknown, extra: Record<string, unknown> = {}) => ({ type: 'publish' as const, data: data as never, echo: false, ack: true, ref: 'r', ...extra });
const answers = () => {
  const list: { message: Record<string, unknown>; status?: number }[] = [];
  return { list, respond: (message: object, status?: number) => { list.push({ message: message as Record<string, unknown>, status }); } };
};
const turn = () => new Promise((r) => setImmediate(r));

test('delivery from the watch: seq, topics, echo, subscribe permission; the ack carries the seq', async () => {
  const { pubs, member, got } = setup();
  await pubs.ready();
  const a = member('a');
  member('b', { topics: ['chat.*'] });
  member('mute', { perms: Perm.PUBLISH });
  const { list, respond } = answers();
  pubs.publish(a.cid, publishMsg('hello'), respond);
  pubs.publish(a.cid, publishMsg('topic', { topic: 'chat.x', ref: 't' }), respond);
  pubs.publish(a.cid, publishMsg('echoed', { echo: true, ack: false }), respond);
  await turn();
  assert.deepEqual(list.map((x) => x.message), [{ type: 'ack', ref: 'r', seq: 1 }, { type: 'ack', ref: 't', seq: 2 }, { ok: true, seq: 3 }]);
  assert.deepEqual(got.get('a')!.map((m) => m.data), ['echoed']);
  assert.deepEqual(got.get('b'), [
    { type: 'message', kind: 'publish', from: 'a', data: 'hello', seq: 1 },
    { type: 'message', kind: 'publish', from: 'a', topic: 'chat.x', data: 'topic', seq: 2 },
    { type: 'message', kind: 'publish', from: 'a', data: 'echoed', seq: 3 },
  ]);
  assert.deepEqual(got.get('mute'), []);
  assert.equal(pubs.seq, 3);
});

test('watch: a seq jump is a gap, an old seq is ignored, a lost entry is a gap of its seq, a new epoch is a reset gap with the epoch', async () => {
  const { streams, pubs, member, got } = setup();
  await pubs.ready();
  member('b');
  const epoch = pubs.epoch!;
  const live = (e: LiveEntry, ep = epoch) => streams.handler!(e, ep);
  live({ seq: 1, ...rec(1) });
  live({ seq: 4, ...rec(4) }); // 2 and 3 missed
  live({ seq: 4, ...rec('again') }); // already seen
  live({ seq: 5, lost: 'other-key' });
  live({ seq: 2, ...rec('new epoch') }, 'E2'); // 1 of the new epoch missed
  assert.deepEqual(got.get('b'), [
    { type: 'message', kind: 'publish', from: 'other', data: 1, seq: 1 },
    { type: 'gap', from: 2, to: 3 },
    { type: 'message', kind: 'publish', from: 'other', data: 4, seq: 4 },
    { type: 'gap', from: 5, to: 5 },
    { type: 'gap', reset: true, from: 1, to: 1, epoch: 'E2' },
    { type: 'message', kind: 'publish', from: 'other', data: 'new epoch', seq: 2 },
  ]);
  assert.deepEqual([pubs.seq, pubs.epoch], [2, 'E2']);
});

for (const readFirst of [false, true]) {
  test(`replay: live entries arriving while it is read come after it, once (the read ${readFirst ? 'before' : 'after'} they were appended)`, async () => {
    const { streams, pubs, member, got } = setup();
    await pubs.ready();
    for (let i = 1; i <= 3; i++) await streams.append(ROOM, rec(i));
    let open!: () => void;
    streams.gate = new Promise<void>((r) => { open = r; });
    streams.readFirst = readFirst;
    const joiner = member('j');
    pubs.replay(joiner, 1, pubs.epoch);
    for (let i = 4; i <= 6; i++) await streams.append(ROOM, rec(i)); // live, held for j
    assert.deepEqual(got.get('j'), [], 'nothing before the replay');
    open();
    await turn();
    assert.deepEqual(got.get('j')!.map((m) => m.seq), [2, 3, 4, 5, 6]);
    await streams.append(ROOM, rec(7));
    assert.deepEqual(got.get('j')!.map((m) => m.seq), [2, 3, 4, 5, 6, 7], 'then live as usual');
  });
}

test('replay ahead of this node\'s watch: the entries it brought are not given again when the watch catches up', async () => {
  const { streams, pubs, member, got } = setup();
  await pubs.ready();
  const epoch = pubs.epoch!;
  streams.inner.unwatch(ROOM); // appends now reach the engine but not (yet) this node's watch
  for (let i = 1; i <= 4; i++) streams.inner.append(ROOM, rec(i));
  pubs.replay(member('j'), 0, epoch);
  await turn();
  assert.deepEqual(got.get('j')!.map((m) => m.seq), [1, 2, 3, 4]);
  for (let seq = 1; seq <= 5; seq++) streams.handler!({ seq, ...rec(seq) }, epoch); // the watch catches up, then goes on
  assert.deepEqual(got.get('j')!.map((m) => m.seq), [1, 2, 3, 4, 5]);
});

test('replay that cannot be read: the member is told what it may have missed', async () => {
  const { streams, pubs, member, got } = setup();
  await pubs.ready();
  for (let i = 1; i <= 3; i++) await streams.append(ROOM, rec(i));
  streams.failSince = true;
  pubs.replay(member('j'), 1, pubs.epoch);
  await turn();
  assert.deepEqual(got.get('j'), [{ type: 'gap', from: 2, to: 3 }]);
});

test('a failed append: broker_unavailable to the publisher, delivered nowhere', async () => {
  const { streams, pubs, member, got } = setup();
  await pubs.ready();
  const a = member('a');
  member('b');
  streams.failAppends = true;
  const { list, respond } = answers();
  pubs.publish(a.cid, publishMsg('lost'), respond);
  await turn();
  assert.equal(list[0].message.code, 'broker_unavailable');
  assert.equal(list[0].status, 503);
  assert.deepEqual(got.get('b'), []);
});

test('engine away: local members get publications unnumbered, acks without seq; back: one outage gap each, numbering goes on', async () => {
  const { streams, pubs, member, got, setState } = setup();
  await pubs.ready();
  const a = member('a');
  member('b');
  await streams.append(ROOM, rec('before'));
  setState('down');
  const { list, respond } = answers();
  pubs.publish(a.cid, publishMsg('during'), respond);
  assert.deepEqual(list[0].message, { type: 'ack', ref: 'r' });
  assert.deepEqual(got.get('b')!.at(-1), { type: 'message', kind: 'publish', from: 'a', data: 'during' });
  setState('up');
  await turn();
  assert.deepEqual(got.get('b')!.at(-1), { type: 'gap', from: 2, to: 1, outage: true });
  assert.deepEqual(got.get('a'), [{ type: 'message', kind: 'publish', from: 'other', data: 'before', seq: 1 }, { type: 'gap', from: 2, to: 1, outage: true }]);
  await streams.append(ROOM, rec('after'));
  assert.deepEqual(got.get('b')!.at(-1), { type: 'message', kind: 'publish', from: 'other', data: 'after', seq: 2 });
  // back as a new epoch (the engine lost the stream)
  setState('down');
  streams.drop(ROOM);
  setState('up');
  await turn();
  const gap = got.get('b')!.at(-1)!;
  assert.deepEqual({ ...gap, epoch: undefined }, { type: 'gap', reset: true, from: 1, to: 0, epoch: undefined, outage: true });
  assert.notEqual(gap.epoch, undefined);
  assert.equal(pubs.epoch, gap.epoch);
});
