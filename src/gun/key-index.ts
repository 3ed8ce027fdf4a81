// key -> slot of one GUN node, in insertion order. A JavaScript Map grows by rehashing every
// entry at once: a node that reaches 2^21 keys stalls the whole process for ~250 ms on the
// insert that crosses the boundary (measured on the bench VM), and every room on the server
// waits. So past SEGMENT keys the index is split over SHARDS Maps, each key in the one its last
// characters pick: no single rehash is bigger than a shard's, and a lookup is still one Map probe.
// (It used to start a new Map every SEGMENT keys and look in each, newest first: a key not yet
// in a 4.8M-key node, i.e. every new key, cost 73 probes, each a cache miss, and that was 30 %
// of the server's busy time in the gun-fanout bench.)

const SEGMENT = 8_192;
const SHARDS = 256;

/** Which shard holds `key`: a mix of its length and last four characters (cheap, spreads counters and random ids alike). */
function shardOf(key: string): number {
  const n = key.length;
  let h = n;
  for (let i = n > 4 ? n - 4 : 0; i < n; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x9e3779b1);
  return h >>> 24;
}

export class KeyIndex {
  /** Until the node has SEGMENT keys: one Map. */
  private small: Map<string, number> | undefined = new Map();
  /** After: SHARDS Maps. */
  private shards: Map<string, number>[] | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(key: string): number | undefined {
    return this.small !== undefined ? this.small.get(key) : this.shards![shardOf(key)].get(key);
  }

  /** Add a key that is not in the index yet. */
  add(key: string, slot: number): void {
    this.count++;
    const small = this.small;
    if (small === undefined) { this.shards![shardOf(key)].set(key, slot); return; }
    small.set(key, slot);
    if (small.size < SEGMENT) return;
    // Once: spread the first SEGMENT keys over the shards (about one rehash of this size: ~2 ms).
    const shards: Map<string, number>[] = Array.from({ length: SHARDS }, () => new Map());
    for (const [k, s] of small) shards[shardOf(k)].set(k, s);
    this.shards = shards;
    this.small = undefined;
  }

  /** The keys in insertion order (by slot, which the store hands out in that order). */
  *keys(): IterableIterator<string> {
    if (this.small !== undefined) return yield* this.small.keys();
    const all: Array<[string, number]> = [];
    for (const shard of this.shards!) for (const e of shard) all.push(e);
    all.sort((a, b) => a[1] - b[1]);
    for (const e of all) yield e[0];
  }
}
