import type { Logger } from './log.js';

// A bounded voice for events a client can cause at will (refused upgrades, bad frames): the first
// of a kind is logged at once, the rest of that kind at most once per interval, each such line
// saying how many of its kind went unlogged since the previous one. A flood costs a counter.

export class LogThrottle {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly intervalMs = 10_000, private readonly maxKinds = 256) {}

  /**
   * Whether to log this event of kind `key` now: the number of its kind left unlogged since the
   * previous line (0 for the first), or undefined to stay silent (it is counted).
   */
  take(key: string, now = Date.now()): number | undefined {
    const seen = this.last.get(key);
    if (seen && now - seen.at < this.intervalMs) { seen.suppressed++; return undefined; }
    const suppressed = seen?.suppressed ?? 0;
    // Kinds are a fixed set of codes today; the bound keeps a future free-text key from growing it.
    if (!seen && this.last.size >= this.maxKinds) this.last.clear();
    this.last.set(key, { at: now, suppressed: 0 });
    return suppressed;
  }
}

const failures = new LogThrottle();

/**
 * A failure line on a per-message path (a handler that threw, an engine that refused an append):
 * the first of each text at once, then at most one per 10 s with `suppressed`, so that a client
 * repeating a bad message, or an engine down under load, cannot flood the log.
 */
export function logFailure(log: Logger, level: 'warn' | 'error', msg: string, fields: Record<string, unknown>): void {
  const suppressed = failures.take(level + ':' + msg);
  if (suppressed === undefined) return;
  log[level](msg, suppressed > 0 ? { ...fields, suppressed } : fields);
}
