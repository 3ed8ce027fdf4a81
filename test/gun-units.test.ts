// Pure protocol logic, tested without sockets: HAM, lex matching, frame parsing, put validation,
// the `##` hash, reply chunking and the graph store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ham } from '../src/gun/ham.ts';
import { parseKeyQuery, matchesKey } from '../src/gun/lex.ts';
import { parseFrame } from '../src/gun/wire.ts';
import { validateGraph } from '../src/gun/validate.ts';
import { stringHash, canonicalKeyOrder } from '../src/gun/hash.ts';
import { chunkNode, nodePutJson, limitByBytes } from '../src/gun/node-json.ts';
import { MemoryGraphStore } from '../src/gun/graph-store.ts';
import { Dedup } from '../src/gun/dedup.ts';
import { DeferredWrites } from '../src/gun/deferred-writes.ts';

const NOW = 1_700_000_000_000;

test('HAM: greater state wins, lower is historical', () => {
  assert.equal(ham(2, 'b', 1, 'a', NOW), 'accept');
  assert.equal(ham(1, 'b', 2, 'a', NOW), 'ignore');
  assert.equal(ham(1, 'a', -Infinity, undefined, NOW), 'accept');
});

test('HAM: future states are deferred', () => {
  assert.equal(ham(NOW + 1, 'x', -Infinity, undefined, NOW), 'defer');
  assert.equal(ham(NOW, 'x', -Infinity, undefined, NOW), 'accept');
});

test('HAM: equal states resolve by lexical order of the JSON value', () => {
  assert.equal(ham(5, 'Zzz', 5, 'Jack', NOW), 'accept');
  assert.equal(ham(5, 'Aaa', 5, 'Jack', NOW), 'ignore');
  assert.equal(ham(5, 'Jack', 5, 'Jack', NOW), 'ignore');
  assert.equal(ham(5, 5, 5, 'Zzz', NOW), 'accept'); // "5" > "\"Zzz\""
  assert.equal(ham(5, { '#': 'a' }, 5, true, NOW), 'accept'); // links beat booleans
  assert.equal(ham(5, true, 5, null, NOW), 'accept');
  assert.equal(ham(5, null, 5, false, NOW), 'accept');
  assert.equal(ham(5, false, 5, 9, NOW), 'accept');
  assert.equal(ham(5, 9, 5, false, NOW), 'ignore');
});

test('lex: exact, prefix, inclusive range, and rejection of bad shapes', () => {
  assert.deepEqual(parseKeyQuery('name'), { equals: 'name' });
  assert.equal(parseKeyQuery(undefined), undefined);
  const prefix = parseKeyQuery({ '*': 'na' })!;
  assert.ok(matchesKey('name', prefix));
  assert.ok(!matchesKey('nick', prefix));
  const range = parseKeyQuery({ '>': 'b', '<': 'd' })!;
  assert.ok(matchesKey('b', range) && matchesKey('c', range) && matchesKey('d', range));
  assert.ok(!matchesKey('a', range) && !matchesKey('da', range));
  assert.deepEqual(parseKeyQuery({ '=': 'x' }), { equals: 'x' });
  assert.throws(() => parseKeyQuery(5));
  assert.throws(() => parseKeyQuery({ '*': 5 }));
  assert.throws(() => parseKeyQuery(['a']));
});

test('frames: single message, batch, empty batch, garbage', () => {
  const one = parseFrame('{"#":"a","get":{"#":"x"}}');
  assert.ok(one.ok && one.single && one.messages.length === 1);
  const batch = parseFrame('[{"#":"a"},{"#":"b"}]');
  assert.ok(batch.ok && !batch.single && batch.messages.length === 2);
  const empty = parseFrame('[]');
  assert.ok(empty.ok && empty.messages.length === 0);
  for (const bad of ['not json', '"str"', '42', 'null', '[1,2]', '[{"a":1},"x"]', '{"a":']) {
    const r = parseFrame(bad);
    assert.equal(r.ok, false, bad);
  }
});

test('frames: deep nesting does not throw', () => {
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  const r = parseFrame(deep);
  assert.equal(r.ok, false);
});

const node = (soul: string, fields: Record<string, unknown>, states: Record<string, unknown>) => ({ [soul]: { _: { '#': soul, '>': states }, ...fields } });

test('validate: accepts every legal value type', () => {
  const r = validateGraph(node('s', { a: 'x', b: 1.5, c: true, d: null, e: { '#': 'other' } }, { a: 1, b: 1, c: 1, d: 1, e: 1 }));
  assert.ok(r.ok);
  assert.equal(r.graph[0].fields.length, 5);
});

test('validate: rejects each kind of invalid put with a reason', () => {
  const cases: Array<[unknown, RegExp]> = [
    [null, /graph object/],
    [[1], /graph object/],
    ['x', /graph object/],
    [{ s: 5 }, /must be an object/],
    [{ s: { name: 'x' } }, /metadata/],
    [{ s: { _: { '#': 't', '>': {} } } }, /soul mismatch/],
    [{ s: { _: { '#': 's' } } }, /states/],
    [node('s', { a: 'x' }, {}), /state/],
    [node('s', { a: 'x' }, { a: '1' }), /state/],
    [node('s', { a: [1] }, { a: 1 }), /invalid value/],
    [node('s', { a: { b: 1 } }, { a: 1 }), /invalid value/],
    [node('s', { a: { '#': 'x', b: 1 } }, { a: 1 }), /invalid value/],
    [node('s', { a: JSON.parse('1e999') }, { a: 1 }), /invalid value/],
    [node('s', { a: 'x' }, { a: JSON.parse('1e999') }), /state/],
    [{ '': { _: { '#': '', '>': {} } } }, /empty soul/],
  ];
  for (const [put, reason] of cases) {
    const r = validateGraph(put);
    assert.equal(r.ok, false, JSON.stringify(put));
    if (!r.ok) assert.match(r.err, reason);
  }
});

test('hash: matches GUN\'s String.hash and its key order', () => {
  assert.equal(stringHash(''), 0);
  assert.equal(stringHash('a'), 97);
  assert.equal(stringHash('ab'), 97 * 31 + 98);
  assert.deepEqual(canonicalKeyOrder(['b', '10', 'a', '2', '_', 'B']), ['2', '10', 'B', '_', 'a', 'b']);
  // Same text as JSON.stringify with GUN's sorter (copy keys in sorted order into a fresh object).
  const sortDeep = (v: unknown): unknown => {
    if (typeof v !== 'object' || v === null) return v;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = sortDeep((v as Record<string, unknown>)[k]);
    return out;
  };
  const fields = [{ key: '1', value: 'one', state: 3 }, { key: 'Zed', value: null, state: 1 }, { key: 'name', value: 'Jack', state: 2 }, { key: 'z', value: { '#': 'k' } as const, state: 4 }];
  const json = nodePutJson('jack', fields);
  const viaGun = JSON.stringify(sortDeep(JSON.parse(json)));
  assert.equal(json, viaGun);
});

test('chunks: big nodes split, every field exactly once', () => {
  const fields = Array.from({ length: 600 }, (_, i) => ({ key: 'k' + String(i).padStart(4, '0'), value: 'v' + i, state: 1 }));
  const chunks = chunkNode('big', fields);
  assert.ok(chunks.length >= 3);
  const seen = new Set<string>();
  for (const c of chunks) for (const k of Object.keys(JSON.parse(c.json).big)) if (k !== '_') seen.add(k);
  assert.equal(seen.size, 600);
  assert.equal(chunkNode('empty', []).length, 1);
  assert.equal(limitByBytes(fields, 1).length, 1);
  assert.equal(limitByBytes(fields, 10_000_000).length, 600);
});

test('graph store: HAM merge, reads, size cap is all-or-nothing', () => {
  const store = new MemoryGraphStore(1000);
  const upd = (soul: string, key: string, value: string | null, state: number) => [{ soul, fields: [{ key, value, state }] }];
  assert.deepEqual(store.merge(upd('a', 'x', '1', 1), NOW), { ok: true, changed: 2, deferred: [] });
  assert.deepEqual(store.merge(upd('a', 'x', '0', 0), NOW), { ok: true, changed: 0, deferred: [] });
  assert.equal(store.read('a')![0].value, '1');
  const future = store.merge(upd('a', 'y', 'later', NOW + 10), NOW);
  assert.ok(future.ok && future.deferred.length === 1 && future.changed === 0);
  assert.equal(store.read('a', { equals: 'y' })!.length, 0);
  assert.equal(store.read('missing'), undefined);
  const before = store.approxBytes;
  const big = store.merge(upd('a', 'z', 'x'.repeat(2000), 2), NOW);
  assert.equal(big.ok, false);
  assert.equal(store.approxBytes, before);
  assert.equal(store.read('a', { equals: 'z' })!.length, 0);
  // __proto__ is plain data
  assert.ok(store.merge(upd('__proto__', '__proto__', 'p', 1), NOW).ok);
  assert.equal(store.read('__proto__')![0].key, '__proto__');
  assert.equal(({} as Record<string, unknown>).p, undefined);
});

test('dedup: remembers ids for the window, then forgets', () => {
  let t = 0;
  const d = new Dedup<number>(100, 1000, () => t);
  d.set('a', 1);
  t = 50; assert.equal(d.get('a'), 1);
  t = 120; assert.equal(d.get('a'), 1); // in the previous generation
  t = 250; assert.equal(d.get('a'), undefined);
});

test('deferred writes fire when due, in order, and are bounded', async () => {
  const got: string[] = [];
  const dw = new DeferredWrites((due) => got.push(...due.map((w) => w.key)), 3);
  const now = Date.now();
  assert.ok(dw.add([{ soul: 's', key: 'b', value: 1, state: now + 40 }, { soul: 's', key: 'a', value: 1, state: now + 20 }]));
  assert.equal(dw.add([{ soul: 's', key: 'c', value: 1, state: now + 30 }, { soul: 's', key: 'd', value: 1, state: now + 30 }]), false);
  await new Promise((r) => setTimeout(r, 120));
  assert.deepEqual(got, ['a', 'b']);
  dw.clear();
});

test('key index: past one segment (65,536 keys) lookups, insertion order and size still hold', async () => {
  // A node's key map is split in segments so no Map rehash of a huge node stalls the process.
  const { KeyIndex } = await import('../src/gun/key-index.ts');
  const index = new KeyIndex();
  const N = 150_000;
  for (let i = 0; i < N; i++) index.add('k' + i, i);
  assert.equal(index.size, N);
  for (const i of [0, 1, 65_535, 65_536, 65_537, 131_072, N - 1]) assert.equal(index.get('k' + i), i, `k${i}`);
  assert.equal(index.get('nope'), undefined);
  let n = 0;
  for (const k of index.keys()) { if (k !== 'k' + n) assert.fail(`order broken at ${n}: ${k}`); n++; }
  assert.equal(n, N);
  const store = new MemoryGraphStore();
  for (let i = 0; i < 70_000; i++) store.merge([{ soul: 's', fields: [{ key: 'f' + i, value: i, state: 1 }] }], 10);
  assert.equal(store.merge([{ soul: 's', fields: [{ key: 'f69999', value: 'new', state: 2 }] }], 10).ok, true);
  assert.deepEqual(store.read('s', { equals: 'f69999' } as never), [{ key: 'f69999', value: 'new', state: 2 }]);
  assert.equal(store.read('s')!.length, 70_000);
});
