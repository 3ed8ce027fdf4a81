// Real room tokens for a server started with --jwt-secret (see docs on room tokens): generators
// write "$JWT_<kind>" where a token may go, and the run fills in a token of that kind signed with
// the secret (HS256, made here with node:crypto), or leaves the placeholder as garbage when the
// server runs without tokens.
import { createHmac } from 'node:crypto';

export const JWT_KINDS = ['ok', 'admin', 'read', 'write', 'expired', 'other', 'future', 'badsig', 'sub'] as const;

function b64(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}

export function hs256(secret: string, claims: Record<string, unknown>): string {
  const head = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64(claims);
  return head + '.' + createHmac('sha256', secret).update(head).digest('base64url');
}

export class TokenMint {
  private readonly made = new Map<string, string>();

  constructor(private readonly secret: string | undefined) {}

  static fromServerArgs(args: readonly string[]): TokenMint {
    const i = args.indexOf('--jwt-secret');
    return new TokenMint(i >= 0 ? args[i + 1] : undefined);
  }

  get enabled(): boolean { return this.secret !== undefined; }

  token(kind: string): string {
    if (!this.secret) return '$JWT_' + kind;
    let t = this.made.get(kind);
    if (t) return t;
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = { iat: now, exp: now + 3600 };
    switch (kind) {
      case 'admin': claims.perms = ['admin']; break;
      case 'read': claims.perms = ['read']; break;
      case 'write': claims.perms = ['write', 'publish', 'send', 'request', 'push']; break;
      case 'expired': claims.exp = now - 60; break;
      case 'other': claims.rooms = ['/elsewhere/**']; break;
      case 'future': claims.nbf = now + 3600; break;
      case 'sub': claims.sub = 'u'.repeat(300) + '\u0000"</script>'; break;
    }
    t = hs256(this.secret, claims);
    if (kind === 'badsig') t = t.slice(0, -4) + 'AAAA';
    this.made.set(kind, t);
    return t;
  }

  /** `text` with every "$JWT_<kind>" replaced. */
  fill(text: string): string {
    return this.secret && text.includes('$JWT_') ? text.replace(/\$JWT_([a-z]+)/g, (_m, kind: string) => this.token(kind)) : text;
  }

  fillBytes(b: Buffer): Buffer {
    if (!this.secret || !b.includes('$JWT_')) return b;
    return Buffer.from(this.fill(b.toString('latin1')), 'latin1');
  }
}
