// A node whose heartbeats lapsed (node-registry.ts): the others' tombstone of it holds against its
// late beats and lifts for a beat with a higher `lapse`; LapseWatch finds a stall from its own
// beat timer's gaps. The engines' side of it: test/cluster-roster-repair.test.ts (SIGSTOP).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LapseWatch, LivenessTracker, newRegistryCounters } from '../src/cluster/node-registry.ts';

test('a tombstoned incarnation comes back only with a higher lapse', () => {
  const t = new LivenessTracker(newRegistryCounters());
  const gone: string[] = [];
  t.onGone((g) => gone.push(`${g.id}@${g.startedAt}`));
  t.seen({ id: 'x', startedAt: 1, at: 10 }, 10);
  t.gone('x', 'expired', 1);
  assert.deepEqual(gone, ['x@1']);
  t.seen({ id: 'x', startedAt: 1, at: 11 }, 11); // a late beat from before the stall
  assert.equal(t.live.has('x'), false);
  t.seen({ id: 'x', startedAt: 1, at: 20, lapse: 1 }, 20);
  assert.equal(t.live.get('x')?.lapse, 1);
  t.gone('x', 'expired', 1); // a second stall: reported again, and held until lapse 2
  assert.deepEqual(gone, ['x@1', 'x@1']);
  t.seen({ id: 'x', startedAt: 1, at: 21, lapse: 1 }, 21);
  assert.equal(t.live.has('x'), false);
  t.seen({ id: 'x', startedAt: 1, at: 30, lapse: 2 }, 30);
  assert.equal(t.live.has('x'), true);
});

test('LapseWatch: a beat timer late by about the TTL is a lapse, told once', async () => {
  const w = new LapseWatch({ beatMs: 2000, ttlMs: 7000 });
  let told = 0;
  w.onLapsed(() => told++);
  assert.equal(w.tick(1000), false);
  assert.equal(w.tick(3000), false);
  assert.equal(w.tick(7900), false); // 4.9 s: the others cannot have expired it (7 s)
  assert.equal(w.tick(17_900), true);
  assert.equal(w.lapses, 1);
  await new Promise((r) => setImmediate(r));
  assert.equal(told, 1);
});
