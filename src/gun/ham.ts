// HAM (Hypothetical Amnesia Machine): GUN's per-field conflict resolution. Pure, so it is tested
// without sockets and shared by every door into a room's graph.

export type HamDecision = 'accept' | 'defer' | 'ignore';

/**
 * Decide what to do with an incoming field write.
 * - state in the future (> now): defer until due (it is still relayed at once by the caller);
 * - state older than the current one: ignore (historical);
 * - equal states: the lexically greater JSON wins; an equal value changes nothing;
 * - newer state: accept.
 * `currentState` is -Infinity when the field does not exist.
 */
export function ham(
  incomingState: number,
  incomingValue: unknown,
  currentState: number,
  currentValue: unknown,
  now: number,
): HamDecision {
  if (incomingState > now) return 'defer';
  if (incomingState < currentState) return 'ignore';
  if (incomingState > currentState) return 'accept';
  // Equal states: converge deterministically on every peer by comparing serialized values.
  const incoming = JSON.stringify(incomingValue);
  const current = JSON.stringify(currentValue);
  return incoming > current ? 'accept' : 'ignore';
}
