// Upstream for SSE members: `POST /<room>` with `{...message, "token"}` (docs/protocol.md §1).
// The token names the member (and so `from`); answers that a message needs come back in the
// HTTP response.
import type http from 'node:http';
import { OK, type Respond } from '../channels/hub.js';
import { parseClientMessage } from '../channels/messages.js';
import type { MultisocketServer } from './server.js';
import { sendError, sendJson } from './http-util.js';
import { isKnownErrorCode, type KnownErrorCode } from '../protocol/errors.js';
import { refreshMember } from './native.js';
import { requestToken } from './request-token.js';

export function isNativeBody(body: unknown): body is { token: string } & Record<string, unknown> {
  return typeof body === 'object' && body !== null && !Array.isArray(body) && typeof (body as Record<string, unknown>).token === 'string';
}

export function handleNativePost(server: MultisocketServer, req: http.IncomingMessage, res: http.ServerResponse, roomName: string, body: { token: string } & Record<string, unknown>, cors: Record<string, string>): void {
  const fail = (code: KnownErrorCode, message: string, status?: number) => sendError(res, code, message, cors, status);
  if (server.rooms.isTombstoned(roomName)) return fail('room_closed', `room ${roomName} was closed by its owner`);
  const room = server.rooms.get(roomName);
  const hub = room && room.members > 0 ? room.channels() : undefined;
  const member = hub?.memberByToken(body.token);
  if (!room || !hub || !member) return fail('bad_token', 'unknown token for this room (its connection may be gone)');
  const conn = member.conn as { budget?: { take(now: number): boolean } } | undefined;
  if (conn?.budget && !conn.budget.take(Date.now())) return fail('rate_limited', 'over --max-messages-per-second');
  // `auth` over POST: "token" is the connection's, so the room token is "jwt" or the Bearer header.
  const jwt = body.type === 'auth' && body.jwt === undefined && req.headers.authorization !== undefined ? requestToken(req) : undefined;
  const parsed = parseClientMessage(jwt !== undefined ? { ...body, jwt } : body);
  if (!parsed.ok) return fail('bad_message', parsed.message);
  if (parsed.msg.type === 'auth' && typeof body.jwt !== 'string' && jwt === undefined) {
    return fail('bad_message', 'auth over POST carries the room token as "jwt" (or in Authorization: Bearer); "token" is the connection\'s');
  }
  let answered = false;
  const respond: Respond = (message, status = 200) => {
    if (answered) return;
    answered = true;
    // A request's POST waits for its reply; if that HTTP connection is gone by then (a network
    // cut), the reply goes down the member's stream instead, numbered, so a resume brings it.
    if (res.destroyed && parsed.msg.type === 'request' && (message as { type?: string }).type === 'reply') {
      return hub.tell(member, message as { type: string });
    }
    if (message === OK) return sendJson(res, 200, OK, cors);
    const m = message as { type?: string; code?: string; message?: string; error?: { code: string; message: string }; seq?: number; job?: string };
    // A POST's answer is its ack: {"ok":true} with the publish's seq or the push's job id.
    if (m.type === 'ack') return sendJson(res, 200, { ok: true, ...(m.seq !== undefined ? { seq: m.seq } : {}), ...(m.job !== undefined ? { job: m.job } : {}) }, cors);
    if (status >= 400) {
      const err = m.error ?? { code: m.code ?? 'internal', message: m.message ?? '' };
      // The hub answers with the table's codes; anything else is a bug, not a new code.
      return isKnownErrorCode(err.code) ? fail(err.code, err.message, status) : fail('internal', `unlisted error code ${err.code}: ${err.message}`);
    }
    sendJson(res, 200, message, cors);
  };
  if (parsed.msg.type === 'auth') {
    if (!member.conn) return fail('bad_token', 'this member\'s stream is down; refresh its token once it has resumed');
    refreshMember(server.access, room, member, member.conn, parsed.msg.token, parsed.msg.ref, respond).catch((err: unknown) => {
      server.log.error('token refresh failed', { room: roomName, err: (err as Error).stack });
      if (!res.headersSent) fail('internal', 'the server failed to check this token');
    });
    return;
  }
  hub.receive(member, parsed.msg, respond);
}
