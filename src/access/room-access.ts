// The one access decision every door asks for (WebSocket upgrade, SSE stream, legacy HTTP, a
// native `auth` refresh): who is this, and may they into this room at all? What they may do
// inside is then a Perm check where each message is handled.
import { TokenVerifier, type TokenKeys } from './token-verifier.js';
import { OPEN, PUBLIC, isRefusal, type AccessRefusal, type Principal } from './principal.js';
import { Perm } from './permissions.js';
import { roomMatcher, type RoomMatcher } from './room-glob.js';

export interface AccessOptions {
  /** Unset: no tokens, every room open to everyone (the default). */
  keys?: TokenKeys;
  /** Rooms open without a token while tokens are required elsewhere. */
  publicRooms: readonly string[];
}

export class RoomAccess {
  /** False when no token key is configured: every door lets everyone in with OPEN. */
  readonly enabled: boolean;
  private readonly verifier: TokenVerifier | undefined;
  private readonly isPublic: RoomMatcher;

  constructor(opts: AccessOptions) {
    this.verifier = opts.keys ? new TokenVerifier(opts.keys) : undefined;
    this.enabled = this.verifier !== undefined;
    this.isPublic = roomMatcher(opts.publicRooms);
  }

  /** The principal of a client of `room` presenting `token` (undefined or '' when it has none). */
  async admit(room: string, token: string | undefined): Promise<Principal | AccessRefusal> {
    if (!this.verifier) return OPEN;
    if (!token) {
      if (this.isPublic(room)) return PUBLIC;
      return { status: 401, code: 'token_required', message: `room ${room} needs a token (?token=<jwt> or Authorization: Bearer <jwt>)` };
    }
    return this.forRoom(room, await this.verifier.verify(token));
  }

  /**
   * A new token for a connection already in `room` (native `auth`): it must open the same room
   * and name the same user as the old one, or none if that named none (others saw it in `join`).
   */
  async refresh(room: string, token: string, current: Principal): Promise<Principal | AccessRefusal> {
    if (!this.verifier) return current;
    const next = this.forRoom(room, await this.verifier.verify(token));
    if (isRefusal(next)) return next;
    if (next.user !== current.user) {
      return { status: 403, code: 'forbidden', message: current.user === undefined ? 'a refreshed token must name no user, as the first did' : `a refreshed token must name the same user ("${current.user}")` };
    }
    return next;
  }

  /** For the server's own endpoints that show every room (`/_/stats`): an `admin` token. */
  async admin(token: string | undefined): Promise<Principal | AccessRefusal> {
    if (!this.verifier) return OPEN;
    if (!token) return { status: 401, code: 'token_required', message: 'this endpoint needs a token with the "admin" permission (Authorization: Bearer <jwt>)' };
    const p = await this.verifier.verify(token);
    if (isRefusal(p)) return p;
    if (!(p.perms & Perm.ADMIN)) return { status: 403, code: 'forbidden', message: 'this endpoint needs the "admin" permission' };
    return p;
  }

  private forRoom(room: string, p: Principal | AccessRefusal): Principal | AccessRefusal {
    if (isRefusal(p)) return p;
    if (p.rooms && !p.rooms(room)) return { status: 403, code: 'forbidden', message: `the token does not open room ${room}` };
    return p;
  }
}
