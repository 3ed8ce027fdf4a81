// Who is behind a connection or request, as far as the room is concerned: the token's subject,
// what it may do, which rooms it opens and until when.
import { ALL_PERMS, DEFAULT_PERMS } from './permissions.js';
import type { RoomMatcher } from './room-glob.js';

export interface Principal {
  /** The token's `sub`, shown to other members as `user`. */
  readonly user?: string;
  /** Perm bits (permissions.ts). */
  readonly perms: number;
  /** The rooms the token opens; undefined: every room. */
  readonly rooms?: RoomMatcher;
  /** When the token expires (ms since the epoch); undefined: never. */
  readonly expiresAt?: number;
}

/** Every connection when no token key is configured: the relay is open, as before tokens. */
export const OPEN: Principal = Object.freeze({ perms: ALL_PERMS });

/** A client without a token in a room matching --public-rooms. */
export const PUBLIC: Principal = Object.freeze({ perms: DEFAULT_PERMS });

/** Why a request was not let in: an HTTP status and a stable code, as in the error table. */
export interface AccessRefusal {
  readonly status: 401 | 403;
  readonly code: 'token_required' | 'token_invalid' | 'token_expired' | 'forbidden';
  readonly message: string;
}

export function isRefusal(v: Principal | AccessRefusal): v is AccessRefusal {
  return (v as AccessRefusal).code !== undefined;
}

export function can(principal: Principal, perm: number): boolean {
  return (principal.perms & perm) === perm;
}
