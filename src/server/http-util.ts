// Small helpers for answering plain HTTP requests and refusing upgrades before the handshake.
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

/** Answer an upgrade request with a plain HTTP error and close the socket (no WebSocket). */
export function refuseUpgrade(socket: Duplex, status: number, error: string, message: string): void {
  if (!socket.writable) { socket.destroy(); return; }
  const body = JSON.stringify({ error, message });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
    'Connection: close\r\n' +
    'Content-Type: application/json; charset=utf-8\r\n' +
    (status === 503 ? 'Retry-After: 5\r\n' : '') +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n` +
    body,
  );
  socket.once('finish', () => socket.destroy());
}
