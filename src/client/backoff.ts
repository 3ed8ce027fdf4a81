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

/** A server's restart notice without `retryMs` (a bare WebSocket 1012): wait about this long. */
export const DEFAULT_RESTART_DELAY_MS = 1000;
/** The longest wait a restart notice can ask for (a bad hint must not park the handle). */
export const MAX_RESTART_DELAY_MS = 30_000;

/**
 * The wait before reconnecting after a server's restart notice (`closed` `restart`, or close code
 * 1012): its `retryMs` (default 1 s, at most 30 s), spread by ±25% on top of the server's own spread.
 */
export function restartDelay(retryMs: number | undefined, random: () => number = Math.random): number {
  const base = Math.min(MAX_RESTART_DELAY_MS, Math.max(0, retryMs ?? DEFAULT_RESTART_DELAY_MS));
  return Math.round(base * (0.75 + 0.5 * random()));
}
