// Where a request carries its room token: `Authorization: Bearer <jwt>` (HTTP, SSE and WebSocket
// clients that can set headers), else `?token=<jwt>` in the URL (browsers' WebSocket and
// EventSource, and GUN peer URLs, which cannot).
import type { IncomingMessage } from 'node:http';
import { queryParams } from './query-params.js';

export function requestToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  return queryParams(req.url ?? '').get('token') ?? undefined;
}

/** The URL with its token value hidden, for logs. */
export function redactToken(rawUrl: string): string {
  return rawUrl.replace(/([?&]token=)[^&#]*/gi, '$1…');
}
