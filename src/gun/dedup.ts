// Remembers message ids for a time window so a message that reaches a room twice is handled once,
// and so replies can be routed back to whoever asked. Two generations swapped lazily: O(1) per
// operation, no timers, memory bounded by the message rate over ~2 windows (and a hard cap).

export class Dedup<V> {
  // Empty until the first id: an idle room should cost next to nothing.
  private current: Map<string, V> | undefined;
  private previous: Map<string, V> | undefined;
  private rotatedAt: number;

  constructor(private readonly windowMs = 9000, private readonly maxPerGeneration = 100_000, private readonly now = Date.now) {
    this.rotatedAt = now();
  }

  private maybeRotate(): void {
    const t = this.now();
    if (t - this.rotatedAt >= this.windowMs || (this.current?.size ?? 0) >= this.maxPerGeneration) {
      this.previous = this.current;
      this.current = undefined;
      this.rotatedAt = t;
    }
  }

  get(id: string): V | undefined {
    this.maybeRotate();
    return this.current?.get(id) ?? this.previous?.get(id);
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  set(id: string, value: V): void {
    this.maybeRotate();
    (this.current ??= new Map()).set(id, value);
  }

  get size(): number {
    return (this.current?.size ?? 0) + (this.previous?.size ?? 0);
  }

  clear(): void {
    this.current = undefined;
    this.previous = undefined;
  }
}
