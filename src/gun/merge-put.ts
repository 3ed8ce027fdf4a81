// The one way a validated put enters a room's graph: HAM-merge into the store, future states to
// the room's deferred writes (merged the same way when due). The relay uses it for every door; a
// cluster node uses it for puts it loads from the engine's log, so both apply the same rule.
import type { DeferredWrites } from './deferred-writes.js';
import type { DeferredWrite, GraphStore } from './graph-store.js';
import type { GraphUpdate } from './types.js';

/** Merge `graph` into `store` at `now`; `deferred()` is asked for only when a state is in the future. Returns an error text, or ''. */
export function mergePut(store: GraphStore, deferred: () => DeferredWrites, graph: GraphUpdate, now = Date.now()): string {
  const outcome = store.merge(graph, now);
  if (!outcome.ok) return outcome.err;
  if (outcome.deferred.length) {
    const queue = deferred();
    if (!queue.add(outcome.deferred)) return `too many future-state writes waiting in this room (limit ${queue.max})`;
  }
  return '';
}

/**
 * Merge deferred writes that came due, one at a time: several may be for one field (equal future
 * states with different values, from different peers), and one update holding a field twice would
 * be planned against the old value for both, so the last in queue order would win instead of HAM's
 * lexical rule (and two nodes that received them in different orders would differ).
 */
export function mergeDue(store: GraphStore, deferred: () => DeferredWrites, due: readonly DeferredWrite[], now = Date.now()): string {
  let err = '';
  for (const w of due) err = mergePut(store, deferred, [{ soul: w.soul, fields: [{ key: w.key, value: w.value, state: w.state }] }], now) || err;
  return err;
}
