// Topic subscriptions of one member: exact names, and prefixes from names ending in "*".

export class Subscriptions {
  private readonly exact = new Set<string>();
  private readonly prefixes = new Set<string>();

  add(topic: string): void {
    if (topic.endsWith('*')) this.prefixes.add(topic.slice(0, -1));
    else this.exact.add(topic);
  }

  remove(topic: string): void {
    if (topic.endsWith('*')) this.prefixes.delete(topic.slice(0, -1));
    else this.exact.delete(topic);
  }

  matches(topic: string): boolean {
    if (this.exact.has(topic)) return true;
    for (const p of this.prefixes) if (topic.startsWith(p)) return true;
    return false;
  }

  get size(): number { return this.exact.size + this.prefixes.size; }
}
