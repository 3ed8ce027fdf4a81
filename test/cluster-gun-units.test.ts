// The pure parts of GUN across nodes (docs/cluster.md): what part of a put changes a node's copy
// (what a node relays to its peers), and what a node holds that the engine's log lacks (what it
// appends again after the engine lost entries).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { changedPart } from '../src/gun/relay.ts';
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
