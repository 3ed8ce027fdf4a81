// What the SDK reads from a room token (a JWT) without verifying it: when it expires, so it can
// fetch a new one in time. The server verifies; this only schedules.

export interface TokenTimes {
  /** ms since the epoch */
  expiresAt?: number;
  /** ms since the epoch */
  issuedAt?: number;
}

export function tokenTimes(token: string): TokenTimes {
  try {
    const payload = token.split('.')[1];
    if (!payload) return {};
    const claims: unknown = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/')));
    if (typeof claims !== 'object' || claims === null) return {};
    const { exp, iat } = claims as { exp?: unknown; iat?: unknown };
    return {
      ...(typeof exp === 'number' && Number.isFinite(exp) ? { expiresAt: exp * 1000 } : {}),
      ...(typeof iat === 'number' && Number.isFinite(iat) ? { issuedAt: iat * 1000 } : {}),
    };
  } catch {
    return {};
  }
}

/**
 * When to ask for the next token: a fifth of the token's life before it ends (at least 2 s, at
 * most a minute before), so a slow token endpoint still has time. undefined: never (no `exp`).
 */
export function refreshAt(token: string, now = Date.now()): number | undefined {
  const { expiresAt, issuedAt } = tokenTimes(token);
  if (expiresAt === undefined) return undefined;
  const life = expiresAt - (issuedAt ?? now);
  const margin = Math.min(60_000, Math.max(2_000, life / 5));
  return expiresAt - margin;
}
