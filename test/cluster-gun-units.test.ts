// The pure parts of GUN across nodes (docs/cluster.md): what part of a put changes a node's copy
// (what a node relays to its peers), and what a node holds that the engine's log lacks (what it
// appends again after the engine lost entries), and the relay's put path with a log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { changedPart, GunRelay, ENGINE_UNAVAILABLE, type RelayHost } from '../src/gun/relay.ts';
import type { Connection } from '../src/transports/connection.ts';
import type { OutFrame } from '../src/transports/out-frame.ts';
import { OPEN } from '../src/access/principal.ts';
import { createIdGenerator } from '../src/gun/ids.ts';
import { silentLogger } from '../src/log.ts';
import { missingFromLog } from '../src/cluster/graph-missing.ts';
import { MemoryGraphStore, type DeferredWrite } from '../src/gun/graph-store.ts';
import { graphJson } from '../src/gun/node-json.ts';
import type { GraphLoad } from '../src/cluster/graph-log.ts';
import type { GraphUpdate, GunValue } from '../src/gun/types.ts';

const g = (soul: string, fields: Record<string, [GunValue, number]>): GraphUpdate =>
  [{ soul, fields: Object.entries(fields).map(([key, [value, state]]) => ({ key, value, state })) }];
const loadOf = (...graphs: GraphUpdate[]): GraphLoad => ({ puts: graphs.map((graph, i) => ({ id: `p${i}`, offset: i + 1, graph: graphJson(graph) })), last: graphs.length, lost: 0 });

test('changedPart: the fields HAM takes or defers and the nodes a copy lacks; the put itself when all of it changes', () => {
  const now = 1000;
  const store = new MemoryGraphStore();
  assert.equal(store.merge(g('s', { a: ['x', 10], b: ['y', 10] }), now).ok, true);
  const all = g('t', { k: ['new', 5] });
  assert.equal(changedPart(store, all, now), all, 'a new node: the same object');
  assert.deepEqual(changedPart(store, g('s', { a: ['x', 10], b: ['z', 9] }), now), [], 'the same value, an older state: nothing');
  assert.deepEqual(changedPart(store, g('s', { a: ['x', 10], b: ['z', 11], c: ['f', 5000] }), now), g('s', { b: ['z', 11], c: ['f', 5000] }), 'a newer state, a future state');
  assert.deepEqual(changedPart(store, [{ soul: 'empty', fields: [] }], now), [{ soul: 'empty', fields: [] }], 'an empty node the copy lacks');
  assert.deepEqual(changedPart(store, g('s', { a: ['w', 10] }), now), [], 'equal states: the lexically smaller value loses');
});

test('missingFromLog: what a copy holds beyond the log (past winners and deferred future states), in chunks; nothing when the log has it all', () => {
  const now = 1000;
  const store = new MemoryGraphStore();
  store.merge(g('s', { a: ['x', 10], b: ['y', 20] }), now);
  store.merge([{ soul: 'e', fields: [] }], now);
  const deferred: DeferredWrite[] = [{ soul: 's', key: 'f', value: 'future', state: 5000 }];
  // The log has everything: nothing to add.
  const full = loadOf(g('s', { a: ['x', 10], b: ['y', 20], f: ['future', 5000] }), [{ soul: 'e', fields: [] }]);
  assert.deepEqual(missingFromLog(store, deferred, full, now), []);
  // An empty log (Redis restarted without persistence): all of it.
  assert.deepEqual(missingFromLog(store, deferred, loadOf(), now), [[
    { soul: 's', fields: [{ key: 'a', value: 'x', state: 10 }, { key: 'b', value: 'y', state: 20 }] },
    { soul: 'e', fields: [] },
    { soul: 's', fields: [{ key: 'f', value: 'future', state: 5000 }] },
  ]]);
  // The log has an older b and another future state: b and the future write.
  assert.deepEqual(missingFromLog(store, deferred, loadOf(g('s', { a: ['x', 10], b: ['old', 15], f: ['other', 6000] }), [{ soul: 'e', fields: [] }]), now), [[
    { soul: 's', fields: [{ key: 'b', value: 'y', state: 20 }, { key: 'f', value: 'future', state: 5000 }] },
  ]]);
  // A log with newer values lacks nothing this copy could add.
  assert.deepEqual(missingFromLog(store, [], loadOf(g('s', { a: ['x2', 11], b: ['y2', 21] }), [{ soul: 'e', fields: [] }]), now), []);
  // Chunked.
  const big = new MemoryGraphStore();
  for (let i = 0; i < 100; i++) big.merge(g(`n${i}`, { v: ['x'.repeat(100), 1] }), now);
  const chunks = missingFromLog(big, [], loadOf(), now, 2000);
  assert.ok(chunks.length > 5, `${chunks.length} chunks`);
  assert.equal(chunks.flat().length, 100);
});

// ---- the relay's put path with a log (no sockets: a fake room, a put log the test answers) ----

interface FakePeer extends Connection { got: Record<string, unknown>[] }
function fakePeer(id: string): FakePeer {
  const got: Record<string, unknown>[] = [];
  return { id, transport: 'websocket', remoteAddress: '', isOpen: true, bufferedBytes: 0, principal: OPEN, got, send(frame: OutFrame) { got.push(JSON.parse(frame.text)); }, close() {} } as FakePeer;
}

/** A room of two peers with a relay whose log appends wait for the test: `answer(i, ok)`. */
function loggedRoom() {
  const [writer, reader] = [fakePeer('w'), fakePeer('r')];
  const peers = new Set<Connection>([writer, reader]);
  const host: RelayHost = {
    name: '/units', peers, log: silentLogger,
    send: (peer, frame) => peer.send(frame),
    broadcast: (frame, except) => { for (const p of peers) if (p !== except) p.send(frame); },
  };
  const relay = new GunRelay(host, new MemoryGraphStore(), { pid: 'pid', newId: createIdGenerator() });
  const appends: { id: string; json: string; resolve: () => void; reject: (e: Error) => void }[] = [];
  relay.attachLog({ append: (id, json) => new Promise<void>((resolve, reject) => appends.push({ id, json, resolve, reject })) });
  const tick = () => new Promise((r) => setImmediate(r));
  const puts = (p: FakePeer, id: string) => p.got.filter((m) => m['#'] === id && m.put !== undefined).length;
  const ack = (id: string) => writer.got.find((m) => m['@'] === id);
  return { relay, writer, reader, appends, tick, puts, ack };
}

const wirePut = (id: string, value: string, state = 1) => JSON.stringify({ '#': id, put: { s: { _: { '#': 's', '>': { k: state } }, k: value } } });

test('relay with a log: acked, merged and relayed only once the append resolves; the watch echo of its own put changes nothing', async () => {
  const { relay, writer, reader, appends, tick, puts, ack } = loggedRoom();
  relay.receive(writer, wirePut('p1', 'v1'));
  assert.equal(appends.length, 1);
  assert.equal(ack('p1'), undefined, 'no ack before the append');
  assert.equal(puts(reader, 'p1'), 0, 'not relayed before the append');
  assert.equal(relay.store.read('s'), undefined, 'not merged before the append');
  appends[0].resolve();
  await tick();
  assert.equal(ack('p1')?.ok, 1);
  assert.equal(puts(reader, 'p1'), 1);
  assert.equal(relay.store.read('s')![0].value, 'v1');
  assert.equal(relay.logged({ id: 'p1', graph: appends[0].json }), true, 'its own');
  assert.equal(puts(reader, 'p1'), 1, 'the echo is not relayed again');
  // The echo may come first (Redis publishes inside the append): merged and relayed then, once.
  relay.receive(writer, wirePut('p2', 'v2', 2));
  relay.logged({ id: 'p2', graph: appends[1].json });
  assert.equal(puts(reader, 'p2'), 1);
  assert.equal(ack('p2'), undefined, 'acked by the append\'s answer');
  appends[1].resolve();
  await tick();
  assert.equal(ack('p2')?.ok, 1);
  assert.equal(puts(reader, 'p2'), 1, 'still once');
  // Another node's put: merged and relayed (to every peer) once.
  const other = JSON.stringify({ s: { _: { '#': 's', '>': { k: 3 } }, k: 'remote' } });
  relay.logged({ id: 'x1', graph: other });
  relay.logged({ id: 'x1', graph: other });
  assert.equal(puts(reader, 'x1'), 1);
  assert.equal(puts(writer, 'x1'), 1);
  assert.equal(relay.store.read('s')![0].value, 'remote');
  // ...and one that changes nothing here is not relayed.
  relay.logged({ id: 'x2', graph: JSON.stringify({ s: { _: { '#': 's', '>': { k: 1 } }, k: 'old' } }) });
  assert.equal(puts(reader, 'x2'), 0);
});

test('relay with a log: a put the engine did not take gets an err ack and is neither merged nor relayed; one that landed after all (timed out) is merged and relayed when the watch brings it', async () => {
  const { relay, writer, reader, appends, tick, puts, ack } = loggedRoom();
  relay.receive(writer, wirePut('p1', 'v1'));
  appends[0].reject(new Error('down'));
  await tick();
  assert.equal(ack('p1')?.err, ENGINE_UNAVAILABLE);
  assert.equal(puts(reader, 'p1'), 0);
  assert.equal(relay.store.read('s'), undefined);
  relay.logged({ id: 'p1', graph: appends[0].json }); // it landed after all
  assert.equal(relay.store.read('s')![0].value, 'v1');
  assert.equal(puts(reader, 'p1'), 1);
  // A refused put may come again with its id: it is taken again.
  relay.receive(writer, wirePut('p3', 'v3', 3));
  appends[1].reject(new Error('down'));
  await tick();
  relay.receive(writer, wirePut('p3', 'v3', 3));
  assert.equal(appends.length, 3, 'the retry is appended');
  appends[2].resolve();
  await tick();
  assert.equal(writer.got.filter((m) => m['@'] === 'p3' && m.ok === 1).length, 1);
  // A put that changes nothing here is durable already: acked without an append.
  relay.receive(writer, wirePut('p4', 'v3', 3));
  assert.equal(appends.length, 3);
  assert.equal(ack('p4')?.ok, 1);
});
