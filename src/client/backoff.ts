// Reconnect delays: exponential from `initial` doubling to `max`, each spread by ±`jitter` so that
// the members of a room a restarted server dropped do not all come back in the same millisecond.

export interface BackoffOptions {
  /** First delay, ms (default 250). */
  initial?: number;
  /** Ceiling before jitter, ms (default 10,000). */
  max?: number;
  /** Relative spread, 0..1 (default 0.5: each delay is 50%..150% of the nominal one). */
  jitter?: number;
}

export const DEFAULT_BACKOFF: Required<BackoffOptions> = { initial: 250, max: 10_000, jitter: 0.5 };

/** The delay before reconnect attempt `attempt` (0 for the first), in ms. `random` is in [0, 1). */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const { initial, max, jitter } = { ...DEFAULT_BACKOFF, ...opts };
  const nominal = Math.min(max, initial * 2 ** Math.min(Math.max(0, attempt), 30));
  const spread = Math.min(1, Math.max(0, jitter));
  return Math.max(0, Math.round(nominal * (1 + spread * (2 * random() - 1))));
}
