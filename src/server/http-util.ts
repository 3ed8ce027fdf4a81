// Small helpers for answering plain HTTP requests and refusing upgrades before the handshake.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import type { Config } from '../config.js';
import type { AdmissionRefusal } from '../rooms/registry.js';

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
    (status === 503 || status === 429 ? 'Retry-After: 5\r\n' : '') +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n` +
    body,
  );
  socket.once('finish', () => socket.destroy());
}

/** The request body as text, or null when it passes `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) { req.resume(); return resolve(null); }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) { req.removeAllListeners('data'); req.resume(); resolve(null); return; }
      chunks.push(c);
    });
    req.on('end', () => { if (size <= limit) resolve(Buffer.concat(chunks).toString('utf8')); });
    req.on('error', reject);
  });
}

/**
 * An HTTP error body understood by both protocols on room paths: GUN's `{"err": text}` and the
 * native `{"error": {"code", "message"}}`.
 */
export function errorBody(code: string, message: string): { err: string; error: { code: string; message: string } } {
  return { err: message, error: { code, message } };
}

/** HTTP status and message for a refused admission to a room. */
export function refusal(reason: AdmissionRefusal, room: string, config: Config): [number, string] {
  switch (reason) {
    case 'room_full': return [503, `room ${room} has reached --max-peers-per-room (${config.maxPeersPerRoom})`];
    case 'too_many_rooms': return [503, `the server has reached --max-rooms (${config.maxRooms})`];
    case 'room_closed': return [410, `room ${room} was closed by its owner`];
    case 'room_create_rate_limited': return [429, `this client address has created --new-rooms-per-ip (${config.newRoomsPerIp}) rooms in the last minute`];
  }
}
