// Topic subscriptions of one member: exact names, and prefixes from names ending in "*".
// The sets are made on first use: most members of a big room never subscribe to anything.

export class Subscriptions {
  private exact: Set<string> | undefined;
  private prefixes: Set<string> | undefined;

  add(topic: string): void {
    if (topic.endsWith('*')) (this.prefixes ??= new Set()).add(topic.slice(0, -1));
    else (this.exact ??= new Set()).add(topic);
  }

  remove(topic: string): void {
    if (topic.endsWith('*')) this.prefixes?.delete(topic.slice(0, -1));
    else this.exact?.delete(topic);
  }

  matches(topic: string): boolean {
    if (this.exact?.has(topic)) return true;
    if (this.prefixes) for (const p of this.prefixes) if (topic.startsWith(p)) return true;
    return false;
  }

  /** The subscriptions as given (a prefix with its "*"). */
  list(): string[] {
    const out = this.exact ? [...this.exact] : [];
    if (this.prefixes) for (const p of this.prefixes) out.push(p + '*');
    return out;
  }

  get size(): number { return (this.exact?.size ?? 0) + (this.prefixes?.size ?? 0); }
}
