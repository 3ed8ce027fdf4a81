// Small helpers for answering plain HTTP requests and refusing upgrades before the handshake.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import type { Config } from '../config.js';
import type { AdmissionRefusal } from '../rooms/registry.js';
import { errorBody, statusOf, type KnownErrorCode } from '../protocol/errors.js';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendJsonSized(res, status, body, headers);
}

/** sendJson, returning the body's length in bytes (what the metrics count as written). */
export function sendJsonSized(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): number {
  const text = JSON.stringify(body);
  const length = Buffer.byteLength(text);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': length,
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : text);
  return length;
}

/**
 * The one HTTP error answer: `errorBody(code, message)` with the code's status from the table
 * (protocol/errors.ts). `status` only where the table cannot know (a 414 path, JSONP's 200).
 */
export function sendError(res: ServerResponse, code: KnownErrorCode, message: string, headers: Record<string, string> = {}, status = statusOf(code)): void {
  sendJson(res, status, errorBody(code, message), headers);
}

/** Answer an upgrade request with a plain HTTP error and close the socket (no WebSocket). */
export function refuseUpgrade(socket: Duplex, code: KnownErrorCode, message: string, status = statusOf(code)): void {
  if (!socket.writable) { socket.destroy(); return; }
  const body = JSON.stringify(errorBody(code, message));
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

/** The message for a refused admission to a room (its status is the code's, from the table). */
export function admissionMessage(reason: AdmissionRefusal, room: string, config: Config): string {
  switch (reason) {
    case 'room_full': return `room ${room} has reached --max-peers-per-room (${config.maxPeersPerRoom})`;
    case 'too_many_rooms': return `the server has reached --max-rooms (${config.maxRooms})`;
    case 'room_closed': return `room ${room} was closed by its owner`;
    case 'room_create_rate_limited': return `this client address has created --new-rooms-per-ip (${config.newRoomsPerIp}) rooms in the last minute`;
  }
}

/** Answer a CORS preflight (OPTIONS): these methods, the headers the page asked for (or `defaultHeaders`). */
export function answerPreflight(req: IncomingMessage, res: ServerResponse, cors: Record<string, string>, methods: string, defaultHeaders: string): void {
  res.writeHead(204, {
    ...cors,
    'Access-Control-Allow-Methods': methods,
    'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] ?? defaultHeaders,
    'Access-Control-Max-Age': '600',
    'Content-Length': '0',
  });
  res.end();
}
