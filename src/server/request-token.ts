// Where a request carries its room token: `Authorization: Bearer <jwt>` (HTTP, SSE and WebSocket
// clients that can set headers), else `?token=<jwt>` in the URL (browsers' WebSocket and
// EventSource, and GUN peer URLs, which cannot). Query parameters are read without `new URL()`:
// a raw request path like `//x` is not a valid relative URL and must never throw here.
import type { IncomingMessage } from 'node:http';

/** One query parameter of a raw request URL, or null. */
export function queryParam(rawUrl: string, name: string): string | null {
  const q = rawUrl.indexOf('?');
  if (q === -1) return null;
  const hash = rawUrl.indexOf('#', q);
  return new URLSearchParams(rawUrl.slice(q + 1, hash === -1 ? undefined : hash)).get(name);
}

export function requestToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  return queryParam(req.url ?? '', 'token') ?? undefined;
}

/** The URL with its token value hidden, for logs. */
export function redactToken(rawUrl: string): string {
  return rawUrl.replace(/([?&]token=)[^&#]*/gi, '$1…');
}
