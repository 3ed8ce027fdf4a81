// key -> slot of one GUN node, in insertion order. A JavaScript Map grows by rehashing every
// entry at once: a node that reaches 2^21 keys stalls the whole process for ~250 ms on the
// insert that crosses the boundary (measured on the bench VM), and every room on the server
// waits. Past SEGMENT keys the index starts a new Map, so no single rehash is bigger than one
// segment's; a lookup then checks the segments newest first, which costs little next to the
// JSON parse of the put that asked.

const SEGMENT = 65_536;

export class KeyIndex {
  private readonly segments: Map<string, number>[] = [new Map()];

  get size(): number {
    const n = this.segments.length;
    return (n - 1) * SEGMENT + this.segments[n - 1].size;
  }

  get(key: string): number | undefined {
    const segs = this.segments;
    for (let i = segs.length - 1; i >= 0; i--) {
      const slot = segs[i].get(key);
      if (slot !== undefined) return slot;
    }
    return undefined;
  }

  /** Add a key that is not in the index yet. */
  add(key: string, slot: number): void {
    let last = this.segments[this.segments.length - 1];
    if (last.size >= SEGMENT) this.segments.push((last = new Map()));
    last.set(key, slot);
  }

  *keys(): IterableIterator<string> {
    for (const seg of this.segments) yield* seg.keys();
  }
}
