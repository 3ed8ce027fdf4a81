// What a node holds of a room that the engine's log lacks. A log can lose entries a node still
// has (a Redis restarted without persistence, a room that aged out while a node was cut off); a
// node that finds so after it loads the room again appends the difference, so that a node joining
// later finds every write that was acked (docs/cluster.md, "Engine outage").
import type { DeferredWrite, GraphStore } from '../gun/graph-store.js';
import type { GraphUpdate, NodeUpdate } from '../gun/types.js';
import { foldGraphs, hamWins, loadedGraphs, type GraphLoad } from './graph-log.js';

/** Put graphs (each about `chunkBytes` of JSON at most) holding every field of `store` and `deferred` the loaded log would not give. */
export function missingFromLog(store: GraphStore, deferred: readonly DeferredWrite[], load: GraphLoad, now: number, chunkBytes = 256 * 1024): GraphUpdate[] {
  const log = foldGraphs(loadedGraphs(load), now);
  const out: GraphUpdate[] = [];
  let chunk: GraphUpdate = [];
  let bytes = 0;
  const add = (soul: string, field?: NodeUpdate['fields'][number]) => {
    let node = chunk.at(-1)?.soul === soul ? chunk.at(-1) : undefined;
    if (!node) { node = { soul, fields: [] }; chunk.push(node); bytes += soul.length + 16; }
    if (field) { node.fields.push(field); bytes += field.key.length + JSON.stringify(field.value).length + 24; }
    if (bytes >= chunkBytes) { out.push(chunk); chunk = []; bytes = 0; }
  };
  for (const soul of store.souls('')) {
    const logged = log.get(soul);
    if (!logged) add(soul); // GUN keeps a node once named, even empty
    for (const f of store.read(soul) ?? []) {
      if (hamWins(f, logged?.get(f.key)?.past)) add(soul, f);
    }
  }
  for (const d of deferred) {
    if (hamWins(d, log.get(d.soul)?.get(d.key)?.future.get(d.state))) add(d.soul, { key: d.key, value: d.value, state: d.state });
  }
  if (chunk.length) out.push(chunk);
  return out;
}
