// Room tokens: JWTs signed with --jwt-secret (HS256) or the private half of --jwt-public-key
// (RS256, ES256, EdDSA), verified with `jose`. A verified token becomes a Principal; anything else
// becomes a refusal with a stable code. Results are cached by token text (until the token's own
// expiry), so a reconnect storm of clients holding the same token costs one verification each.
import type { KeyObject } from 'node:crypto';
import { errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { permsFromClaim } from './permissions.js';
import { roomMatcher } from './room-glob.js';
import type { AccessRefusal, Principal } from './principal.js';

export interface TokenKeys {
  /** HS256 secret. */
  secret?: Uint8Array;
  /** Public key of an asymmetric issuer and the algorithms it may use. */
  publicKey?: { key: KeyObject; algorithms: string[] };
  issuer?: string;
  audience?: string;
}

/** Longest token accepted; a JWT with a few claims is a few hundred bytes. */
export const MAX_TOKEN_LENGTH = 8192;
export const MAX_USER_LENGTH = 256;
const MAX_ROOM_GLOBS = 100;
const CACHE_SIZE = 4096;
/** Clock difference tolerated between the issuer and this server for exp and nbf. */
const CLOCK_TOLERANCE_S = 5;

const refuse = (code: AccessRefusal['code'], message: string, status: 401 | 403 = 401): AccessRefusal => ({ status, code, message });

export class TokenVerifier {
  private readonly algorithms: string[];
  private readonly getKey: JWTVerifyGetKey;
  private readonly cache = new Map<string, Principal>();

  constructor(private readonly keys: TokenKeys) {
    this.algorithms = [...(keys.secret ? ['HS256'] : []), ...(keys.publicKey?.algorithms ?? [])];
    if (this.algorithms.length === 0) throw new Error('TokenVerifier needs a secret or a public key');
    const { secret, publicKey } = keys;
    // jose has already checked the header's alg against `algorithms`: pick the matching key.
    this.getKey = (header) => (header.alg === 'HS256' ? secret! : publicKey!.key);
  }

  async verify(token: string, now = Date.now()): Promise<Principal | AccessRefusal> {
    if (token.length > MAX_TOKEN_LENGTH) return refuse('token_invalid', `token longer than ${MAX_TOKEN_LENGTH} characters`);
    const cached = this.cache.get(token);
    if (cached) {
      if (cached.expiresAt === undefined || cached.expiresAt > now - CLOCK_TOLERANCE_S * 1000) return cached;
      this.cache.delete(token);
      return refuse('token_expired', 'the token has expired');
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.getKey, {
        algorithms: this.algorithms,
        clockTolerance: CLOCK_TOLERANCE_S,
        currentDate: new Date(now),
        ...(this.keys.issuer !== undefined ? { issuer: this.keys.issuer } : {}),
        ...(this.keys.audience !== undefined ? { audience: this.keys.audience } : {}),
      }));
    } catch (err) {
      return refusalOf(err);
    }
    const principal = principalOf(payload);
    if ('code' in principal) return principal;
    // A token that is not yet valid is refused above, so only good tokens are cached.
    if (this.cache.size >= CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(token, principal);
    return principal;
  }
}

function refusalOf(err: unknown): AccessRefusal {
  if (err instanceof errors.JWTExpired) return refuse('token_expired', 'the token has expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return refuse('token_invalid', 'the token is not valid yet (nbf)');
    return refuse('token_invalid', `the token's "${err.claim}" claim is not accepted (${err.reason})`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return refuse('token_invalid', 'the token is signed with an algorithm this server does not accept');
  if (err instanceof errors.JWSSignatureVerificationFailed) return refuse('token_invalid', 'the token signature does not verify');
  return refuse('token_invalid', 'the token is not a well-formed signed JWT');
}

/** The claims this server reads, checked for shape: a token whose claims are malformed is invalid. */
function principalOf(payload: JWTPayload): Principal | AccessRefusal {
  const { sub } = payload;
  if (sub !== undefined && (typeof sub !== 'string' || sub.length > MAX_USER_LENGTH)) {
    return refuse('token_invalid', `"sub" must be a string of at most ${MAX_USER_LENGTH} characters`);
  }
  const perms = permsFromClaim(payload.perms);
  if (perms === null) return refuse('token_invalid', '"perms" must be an array of permission names');
  let rooms: Principal['rooms'];
  if (payload.rooms !== undefined) {
    const globs = typeof payload.rooms === 'string' ? [payload.rooms] : payload.rooms;
    if (!Array.isArray(globs) || globs.length > MAX_ROOM_GLOBS || !globs.every((g) => typeof g === 'string' && g.startsWith('/'))) {
      return refuse('token_invalid', `"rooms" must be an array of at most ${MAX_ROOM_GLOBS} globs starting with "/"`);
    }
    try {
      rooms = roomMatcher(globs as string[]);
    } catch (err) {
      return refuse('token_invalid', `"rooms": ${(err as Error).message}`);
    }
  }
  return {
    ...(sub !== undefined && sub !== '' ? { user: sub } : {}),
    perms,
    ...(rooms ? { rooms } : {}),
    ...(typeof payload.exp === 'number' ? { expiresAt: payload.exp * 1000 } : {}),
  };
}
