// Which browser origins may use the server (--allowed-origins). Enforced on WebSocket upgrades,
// SSE streams and every HTTP request that carries an Origin header, so a page on another site can
// neither hijack a WebSocket with the visitor's cookies nor read or write rooms. Requests without
// an Origin (servers, curl, GUN in Node) are not from a browser page and are not affected.
import type { IncomingMessage } from 'node:http';

export class OriginPolicy {
  private readonly any: boolean;
  private readonly exact = new Set<string>();
  private readonly suffixes: Array<{ scheme: string; suffix: string }> = [];
  /** The one allowed origin, answered even to requests without Origin (as --cors-origin did). */
  private readonly single: string | undefined;

  constructor(allowed: readonly string[]) {
    this.any = allowed.includes('*');
    for (const o of allowed) {
      if (o === '*') continue;
      const wild = /^([a-z][a-z0-9+.-]*:\/\/)\*(\..+)$/i.exec(o);
      if (wild) this.suffixes.push({ scheme: wild[1].toLowerCase(), suffix: wild[2].toLowerCase() });
      else this.exact.add(o.toLowerCase());
    }
    this.single = !this.any && this.exact.size === 1 && this.suffixes.length === 0 ? [...this.exact][0] : undefined;
  }

  /** The request's Origin header, if it has one. */
  static originOf(req: IncomingMessage): string | undefined {
    const o = req.headers.origin;
    return typeof o === 'string' ? o : undefined;
  }

  allows(origin: string | undefined): boolean {
    if (origin === undefined || this.any) return true;
    const o = origin.toLowerCase();
    if (this.exact.has(o)) return true;
    for (const { scheme, suffix } of this.suffixes) {
      if (o.startsWith(scheme) && o.endsWith(suffix) && o.length > scheme.length + suffix.length && !o.slice(scheme.length).includes('/')) return true;
    }
    return false;
  }

  /** CORS response headers for a request from `origin` (already allowed). */
  corsHeaders(origin: string | undefined): Record<string, string> {
    if (this.any) return { 'Access-Control-Allow-Origin': '*' };
    const allow = origin !== undefined ? origin : this.single;
    return allow !== undefined ? { 'Access-Control-Allow-Origin': allow, Vary: 'Origin' } : { Vary: 'Origin' };
  }
}
