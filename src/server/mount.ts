// server.attach(httpServer, { prefix }): the rooms under a path prefix of someone else's
// http/https server. Requests and upgrades whose path starts with the prefix are multisocket's,
// with the prefix taken off (room "/chat" at "<prefix>/chat", the endpoints at "<prefix>/_/…");
// everything else goes on to the host's own listeners as if multisocket were not there.
//
// Why emit is wrapped rather than a listener added: an EventEmitter cannot stop an event from
// reaching the other listeners, and those would answer our requests too — Express or Fastify (the
// 'request' listener) with a 404, a `ws` server made with `{ server, path }` with a 400 to every
// upgrade not on its own path. Taking our events before any listener sees them works whatever was
// registered before or after attach(), which is what Socket.IO's and engine.io's attach also need.
import type http from 'node:http';
import type { Duplex } from 'node:stream';

/** What a mount hands its events to (MultisocketServer). */
export interface MountTarget {
  handleRequest(req: http.IncomingMessage, res: http.ServerResponse): void;
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
}

export interface AttachOptions {
  /**
   * The path the rooms are mounted under, e.g. `/rt`: room `/chat` is `<prefix>/chat`, the
   * endpoints `<prefix>/_/health`, the SDK bundle `<prefix>/_/client.js`. Matched on whole
   * segments, case-sensitively, before %-decoding. Default `/`: every path is multisocket's.
   */
  prefix?: string;
}

/** The prefix each request under a mount came in with (its url no longer shows it). */
const PREFIX_OF = new WeakMap<http.IncomingMessage, string>();

/**
 * The mount prefix `req` arrived under ('' when the server's own listener took it): for the few
 * answers that name a path the browser must use (the dashboard's redirects, page and cookie).
 */
export function mountPrefix(req: http.IncomingMessage): string {
  return PREFIX_OF.get(req) ?? '';
}

/** Our fallback 'upgrade' listeners, told apart from the host's (see Mount.unclaimed). */
const FALLBACKS = new WeakSet<(...args: never[]) => void>();

/** `/rt/` → `/rt`; `/` and '' → '' (the root). Throws a TypeError on anything else than plain segments. */
export function normalizePrefix(prefix: string | undefined): string {
  if (prefix === undefined || prefix === '' || prefix === '/') return '';
  if (typeof prefix !== 'string') throw new TypeError('attach(server, { prefix }): prefix must be a string like "/rt"');
  const trimmed = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  // Plain segments only: no %-escapes, dot segments, query or fragment, so the raw request path
  // can be compared as text and one prefix has one spelling.
  if (!/^(\/[A-Za-z0-9_~!$&'()*+,;=:@.-]+)+$/.test(trimmed) || /\/\.{1,2}(\/|$)/.test(trimmed)) {
    throw new TypeError(`attach(server, { prefix }): expected a path like "/rt" (segments of letters, digits and -._~!$&'()*+,;=:@), got ${JSON.stringify(prefix)}`);
  }
  return trimmed;
}

/** The request target with `prefix` taken off (always starting with "/"), or undefined when it is not under it. */
export function stripPrefix(url: string, prefix: string): string | undefined {
  if (prefix === '') return url;
  if (!url.startsWith(prefix)) return undefined;
  const rest = url.slice(prefix.length);
  if (rest === '') return '/';
  if (rest[0] === '/') return rest;
  if (rest[0] === '?' || rest[0] === '#') return '/' + rest;
  return undefined; // "/rtx" is not under "/rt"
}

export class Mount {
  private active = true;
  private readonly originalEmit: http.Server['emit'];
  private readonly wrappedEmit: http.Server['emit'];
  private readonly unclaimed: (req: http.IncomingMessage, socket: Duplex) => void;

  constructor(readonly host: http.Server, readonly prefix: string, target: MountTarget) {
    const original = host.emit;
    this.originalEmit = original;
    const mount = this;
    this.wrappedEmit = function (this: http.Server, event: string | symbol, ...args: unknown[]): boolean {
      if (mount.active && (event === 'request' || event === 'upgrade')) {
        const req = args[0] as http.IncomingMessage;
        const rest = stripPrefix(req.url ?? '/', prefix);
        if (rest !== undefined) {
          // Express's mounting does the same: the handler sees the path below the mount.
          req.url = rest;
          if (prefix !== '') PREFIX_OF.set(req, prefix);
          if (event === 'request') target.handleRequest(req, args[1] as http.ServerResponse);
          else target.handleUpgrade(req, args[1] as Duplex, args[2] as Buffer);
          return true;
        }
      }
      return original.apply(this, [event, ...args] as Parameters<http.Server['emit']>);
    } as http.Server['emit'];
    host.emit = this.wrappedEmit;

    // Node hands an upgrade to 'upgrade' only while someone listens for it (otherwise it becomes
    // a plain 'request' and cannot be upgraded), so a mount must listen. Upgrades outside the
    // prefix reach this listener too; it answers them only when the host has no listener of its
    // own (it would have answered them with its 'request' handler, which an upgrade can no longer reach).
    this.unclaimed = (_req, socket) => {
      const hostListens = host.listeners('upgrade').some((l) => !FALLBACKS.has(l as (...args: never[]) => void));
      if (hostListens || socket.destroyed || !socket.writable) return;
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    };
    FALLBACKS.add(this.unclaimed);
    host.on('upgrade', this.unclaimed);
  }

  /** Give the prefix back to the host: its requests and upgrades go to the host's listeners again. */
  detach(): void {
    if (!this.active) return;
    this.active = false;
    this.host.off('upgrade', this.unclaimed);
    // Someone may have wrapped emit after us; then ours stays in their chain, passing everything on.
    if (this.host.emit === this.wrappedEmit) this.host.emit = this.originalEmit;
  }
}
