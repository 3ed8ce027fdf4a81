// HTTP of the admin API (docs/operations.md, "Admin API"): /_/rooms and /_/rooms/<room>[/publish|/kick].
// Every request passes checkAdmin first (server/admin-access.ts: 404 while the admin API is off,
// 401/403 without the right credential). A room is named by the path after /_/rooms, or — for
// the root room "/" and for anyone who prefers it — by `?room=<path>`, the path then holding only
// the action: `POST /_/rooms/kick?room=/`.
import type http from 'node:http';
import type { MultisocketServer } from '../server/server.js';
import { adminGuard, checkAdmin } from '../server/admin-access.js';
import { answerPreflight, readBody, sendError, sendJson } from '../server/http-util.js';
import { roomFromUrl } from '../rooms/room-path.js';
import { redactToken } from '../server/request-token.js';
import type { Json } from '../channels/messages.js';
import { nestsTooDeep, TOO_DEEP } from '../json-depth.js';
import { AdminError, DEFAULT_ROOMS_LIMIT, MAX_ROOMS_LIMIT, ROOM_SORTS, type RoomSort } from './admin-api.js';

export const ROOMS_PREFIX = '/_/rooms';
const ACTIONS = new Set(['publish', 'kick']);
/** A kick's reason is shown to the member: bounded. */
const MAX_REASON_LENGTH = 256;

type Cors = Record<string, string>;

/** `name`: the request's normalized path (it starts with /_/rooms). */
export function handleAdminRooms(server: MultisocketServer, req: http.IncomingMessage, res: http.ServerResponse, name: string, cors: Cors): void {
  if (req.method === 'OPTIONS') return answerPreflight(req, res, cors, 'GET, HEAD, POST, DELETE, OPTIONS', 'Authorization, Content-Type');
  checkAdmin(adminGuard(server), req).then((refusal) => {
    if (refusal) {
      req.resume();
      return sendError(res, refusal.code, refusal.message, cors, refusal.status);
    }
    return route(server, req, res, name, cors);
  }).catch((err: unknown) => {
    server.log.error('admin request failed', { url: redactToken(req.url ?? ''), err: (err as Error)?.stack ?? String(err) });
    if (!res.headersSent) sendError(res, 'internal', 'the server failed to handle this request', cors);
    else res.destroy();
  });
}

async function route(server: MultisocketServer, req: http.IncomingMessage, res: http.ServerResponse, name: string, cors: Cors): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  const rest = name.slice(ROOMS_PREFIX.length); // "" or "/<room…>[/action]" or "/action" with ?room=
  const method = req.method ?? 'GET';
  let room: string | undefined;
  let action = '';
  const named = url.searchParams.get('room');
  if (named !== null) {
    const p = roomFromUrl(named.startsWith('/') ? named : '/' + named);
    if (!p.ok) return sendError(res, 'bad_path', `room=${named}: ${p.error}`, cors, p.status);
    if (p.reserved) return sendError(res, 'bad_path', `room=${named}: "/_/" paths are the server's own, not rooms`, cors);
    room = p.room;
    action = rest.replace(/^\//, '');
    if (action !== '' && !ACTIONS.has(action)) return sendError(res, 'not_found', `no admin action "${action}"; with ?room= the path is /_/rooms, /_/rooms/publish or /_/rooms/kick`, cors);
  } else if (rest !== '') {
    room = rest;
    if (method === 'POST') {
      const cut = rest.lastIndexOf('/');
      action = rest.slice(cut + 1);
      room = cut === 0 ? '/' : rest.slice(0, cut);
      if (!ACTIONS.has(action)) return sendError(res, 'not_found', `POST /_/rooms/<room>/publish or /kick; "${action}" is no action`, cors);
    }
  }

  if (room === undefined) {
    if (method !== 'GET' && method !== 'HEAD') return sendError(res, 'method_not_allowed', '/_/rooms takes GET', { ...cors, Allow: 'GET, HEAD, OPTIONS' });
    return listRooms(server, url, res, cors);
  }
  if (action === '') {
    if (method === 'GET' || method === 'HEAD') {
      const detail = await server.admin.room(room);
      if (!detail) return sendError(res, 'not_found', `no room ${room}${server.cluster ? ' on any node' : ''}`, cors);
      return sendJson(res, 200, detail, cors);
    }
    if (method === 'DELETE') {
      const closed = await server.admin.close(room);
      server.log.info('admin action', { action: 'close', room, members: closed.members, gunPeers: closed.gunPeers, found: closed.closed });
      if (!closed.closed && !closed.missing) return sendError(res, 'not_found', `no room ${room}${server.cluster ? ' on any node' : ''}`, cors);
      return sendJson(res, 200, closed, cors);
    }
    return sendError(res, 'method_not_allowed', '/_/rooms/<room> takes GET or DELETE (POST to …/publish or …/kick)', { ...cors, Allow: 'GET, HEAD, DELETE, OPTIONS' });
  }

  const body = await jsonBody(server, req, res, cors);
  if (body === undefined) return;
  try {
    if (action === 'publish') {
      if (!('data' in body)) return sendError(res, 'bad_request', 'publish takes {"data": <any JSON>, "topic"?: "<topic>"}', cors);
      if (body.topic !== undefined && typeof body.topic !== 'string') return sendError(res, 'bad_request', 'topic must be a string', cors);
      const published = await server.admin.publish(room, body.data as Json, body.topic as string | undefined);
      server.log.info('admin action', { action: 'publish', room, ...(body.topic !== undefined ? { topic: body.topic } : {}), ...published });
      return sendJson(res, 200, { ok: true, ...published }, cors);
    }
    // kick
    const cid = typeof body.cid === 'string' ? body.cid : undefined;
    const peer = typeof body.peer === 'string' ? body.peer : undefined;
    if ((cid === undefined) === (peer === undefined)) return sendError(res, 'bad_request', 'kick takes {"cid": "<member cid>"} or {"peer": "<GUN peer id>"}, and "reason"?', cors);
    if (body.reason !== undefined && (typeof body.reason !== 'string' || body.reason.length > MAX_REASON_LENGTH)) {
      return sendError(res, 'bad_request', `reason must be a string of at most ${MAX_REASON_LENGTH} characters`, cors);
    }
    const kicked = await server.admin.kick(room, cid !== undefined ? { cid } : { peer: peer! }, body.reason as string | undefined);
    server.log.info('admin action', { action: 'kick', room, ...(cid !== undefined ? { cid } : { peer }), kicked: kicked.kicked, ...(kicked.node ? { node: kicked.node } : {}) });
    if (!kicked.kicked) return sendError(res, 'not_found', `no ${cid !== undefined ? `member ${cid}` : `GUN peer ${peer}`} in room ${room}`, cors);
    return sendJson(res, 200, kicked, cors);
  } catch (err) {
    if (err instanceof AdminError) return sendError(res, err.code, err.message, cors);
    throw err;
  }
}

async function listRooms(server: MultisocketServer, url: URL, res: http.ServerResponse, cors: Cors): Promise<void> {
  const sort = url.searchParams.get('sort') ?? 'name';
  if (!(ROOM_SORTS as readonly string[]).includes(sort)) return sendError(res, 'bad_request', `sort must be one of ${ROOM_SORTS.join(', ')}`, cors);
  const limit = wholeNumber(url.searchParams.get('limit'), DEFAULT_ROOMS_LIMIT);
  if (limit === undefined || limit < 1 || limit > MAX_ROOMS_LIMIT) return sendError(res, 'bad_request', `limit must be a whole number from 1 to ${MAX_ROOMS_LIMIT}`, cors);
  const offset = wholeNumber(url.searchParams.get('cursor'), 0);
  if (offset === undefined) return sendError(res, 'bad_request', 'cursor must be the `cursor` of a previous page', cors);
  const q = url.searchParams.get('q') ?? '';
  const page = await server.admin.rooms({ sort: sort as RoomSort, prefix: q === '' || q.startsWith('/') ? q : '/' + q, limit, offset });
  sendJson(res, 200, page, cors);
}

function wholeNumber(text: string | null, def: number): number | undefined {
  if (text === null || text === '') return def;
  if (!/^\d{1,9}$/.test(text)) return undefined;
  return Number(text);
}

/** The body as a JSON object; undefined once an error was answered. */
async function jsonBody(server: MultisocketServer, req: http.IncomingMessage, res: http.ServerResponse, cors: Cors): Promise<Record<string, unknown> | undefined> {
  const text = await readBody(req, server.config.maxMessageBytes + 4096);
  if (text === null) { sendError(res, 'too_large', `the body is over --max-message-bytes (${server.config.maxMessageBytes})`, cors); return undefined; }
  let body: unknown;
  try {
    body = JSON.parse(text === '' ? '{}' : text);
  } catch {
    sendError(res, 'bad_json', 'the body is not JSON', cors);
    return undefined;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) { sendError(res, 'bad_request', 'the body must be a JSON object', cors); return undefined; }
  // as at every door: deeper data would overflow the stack when it is framed for the members (a 500)
  if (nestsTooDeep(body, text.length)) { sendError(res, 'bad_message', TOO_DEEP, cors); return undefined; }
  return body as Record<string, unknown>;
}
