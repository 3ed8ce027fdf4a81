// Upstream for SSE members: `POST /<room>` with `{...message, "token"}` (docs/protocol.md §1).
// The token names the member (and so `from`); answers that a message needs come back in the
// HTTP response. In a cluster the POST may reach a node that does not hold the member: the
// token's tag names the member's node, the POST is forwarded there over the bus and its answer
// carried back (docs/cluster.md).
import type http from 'node:http';
import { OK, type Respond } from '../channels/hub.js';
import { parseClientMessage } from '../channels/messages.js';
import type { MultisocketServer } from './server.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, MAX_REQUEST_TIMEOUT_MS } from './request-timeouts.js';
import { sendJsonSized } from './http-util.js';
import { errorBody, isKnownErrorCode, statusOf, type KnownErrorCode } from '../protocol/errors.js';
import { nodeTokenTag, tokenTagOf } from '../channels/cid.js';
import { RosterDirectory } from '../cluster/roster-directory.js';
import { nodeOfTag } from '../cluster/node-tags.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import { refreshMember } from './native.js';
import { requestToken } from './request-token.js';

export function isNativeBody(body: unknown): body is { token: string } & Record<string, unknown> {
  return typeof body === 'object' && body !== null && !Array.isArray(body) && typeof (body as Record<string, unknown>).token === 'string';
}

/** Where a POST's answer goes: the HTTP response here, or (forwarded) back to the node that took the POST. */
interface PostSink {
  answer(status: number, body: unknown): void;
  /** the HTTP request is gone (a request's reply then goes down the member's stream) */
  readonly gone: boolean;
}

/** How long a forwarding node waits for the member's node, beyond a request's own timeout. */
const FORWARD_MARGIN_MS = 5000;

export function handleNativePost(server: MultisocketServer, req: http.IncomingMessage, res: http.ServerResponse, roomName: string, body: { token: string } & Record<string, unknown>, cors: Record<string, string>): void {
  // The answer is a message to this client (an ack, a reply, an error): counted like one written to a stream.
  const traffic = server.tally.native;
  const sink: PostSink = {
    answer: (status, b) => { traffic.bytesOut += sendJsonSized(res, status, b, cors); traffic.messagesOut++; traffic.deliveries++; },
    get gone() { return res.destroyed; },
  };
  // `auth` over POST: "token" is the connection's, so the room token is "jwt" or the Bearer header.
  const jwt = body.type === 'auth' && body.jwt === undefined && req.headers.authorization !== undefined ? requestToken(req) : undefined;
  if (jwt !== undefined) body = { ...body, jwt };
  const cluster = server.cluster;
  if (cluster && !server.rooms.isTombstoned(roomName) && !localMember(server, roomName, body.token)) {
    const tag = tokenTagOf(body.token);
    if (tag !== undefined && tag !== nodeTokenTag(cluster.nodeId)) return void forward(server, cluster, roomName, body, tag, sink);
  }
  answerNativePost(server, roomName, body, sink);
}

/** The cluster forwards POSTs for members here to this node: answered as if they had come here. */
export function serveForwardedPosts(server: MultisocketServer, cluster: ClusterNode): void {
  RosterDirectory.of(cluster).setPostHandler((call, answer) => {
    if (typeof call.body.token !== 'string') return answer(401, errorBody('bad_token', 'a native message needs its connection\'s "token"'));
    answerNativePost(server, call.room, call.body as { token: string } & Record<string, unknown>, { answer, gone: false });
  });
}

function localMember(server: MultisocketServer, roomName: string, token: string): boolean {
  const room = server.rooms.get(roomName);
  return room !== undefined && room.members > 0 && room.channels().memberByToken(token) !== undefined;
}

async function forward(server: MultisocketServer, cluster: ClusterNode, roomName: string, body: { token: string } & Record<string, unknown>, tag: string, sink: PostSink): Promise<void> {
  let node: string | undefined;
  try {
    node = await nodeOfTag(cluster, tag);
  } catch (err) {
    return sink.answer(statusOf('broker_unavailable'), errorBody('broker_unavailable', `the member's node could not be reached: ${(err as Error)?.message ?? err}`));
  }
  if (node === undefined || node === cluster.nodeId) return sink.answer(statusOf('bad_token'), errorBody('bad_token', 'unknown token for this room (its connection may be gone)'));
  return forwardTo(cluster, node, roomName, body, sink);
}

/** Forward the POST to `node` (the member's) and carry its answer back. */
async function forwardTo(cluster: ClusterNode, node: string, roomName: string, body: { token: string } & Record<string, unknown>, sink: PostSink): Promise<void> {
  const fail = (code: KnownErrorCode, message: string) => sink.answer(statusOf(code), errorBody(code, message));
  try {
    const waitMs = body.type === 'request'
      ? Math.min(typeof body.timeout === 'number' ? body.timeout : DEFAULT_REQUEST_TIMEOUT_MS, MAX_REQUEST_TIMEOUT_MS) + FORWARD_MARGIN_MS
      : FORWARD_MARGIN_MS;
    const answer = await RosterDirectory.of(cluster).forwardPost(node, roomName, body, waitMs);
    if (!answer) return fail('broker_unavailable', `the member's node (${node}) did not answer`);
    sink.answer(answer.status, answer.body);
  } catch (err) {
    fail('broker_unavailable', `the member's node could not be reached: ${(err as Error)?.message ?? err}`);
  }
}

function answerNativePost(server: MultisocketServer, roomName: string, body: { token: string } & Record<string, unknown>, sink: PostSink): void {
  const fail = (code: KnownErrorCode, message: string, status = statusOf(code)) => sink.answer(status, errorBody(code, message));
  if (server.rooms.isTombstoned(roomName)) return fail('room_closed', `room ${roomName} was closed by its owner`);
  const room = server.rooms.get(roomName);
  const hub = room && room.members > 0 ? room.channels() : undefined;
  const member = hub?.memberByToken(body.token);
  if (!room || !hub || !member) {
    // Its member was handed over to another node lately (it resumed there): one more hop.
    const movedTo = server.cluster && room?.link('native') ? room.channels().handedTo(body.token) : undefined;
    if (movedTo) return void forwardTo(server.cluster!, movedTo, roomName, body, sink);
    return fail('bad_token', 'unknown token for this room (its connection may be gone)');
  }
  const conn = member.conn as { budget?: { take(now: number): boolean } } | undefined;
  if (conn?.budget && !conn.budget.take(Date.now())) {
    server.tally.rateLimited++;
    return fail('rate_limited', 'over --max-messages-per-second');
  }
  const parsed = parseClientMessage(body);
  if (!parsed.ok) return fail('bad_message', parsed.message);
  if (parsed.msg.type === 'auth' && typeof body.jwt !== 'string') {
    return fail('bad_message', 'auth over POST carries the room token as "jwt" (or in Authorization: Bearer); "token" is the connection\'s');
  }
  let answered = false;
  const respond: Respond = (message, status = 200) => {
    if (answered) return;
    answered = true;
    // A request's POST waits for its reply; if that HTTP connection is gone by then (a network
    // cut), the reply goes down the member's stream instead, numbered, so a resume brings it.
    if (sink.gone && parsed.msg.type === 'request' && (message as { type?: string }).type === 'reply') {
      return hub.tell(member, message as { type: string });
    }
    if (message === OK) return sink.answer(200, OK);
    const m = message as { type?: string; code?: string; message?: string; error?: { code: string; message: string }; seq?: number; job?: string };
    // A POST's answer is its ack: {"ok":true} with the publish's seq or the push's job id.
    if (m.type === 'ack') return sink.answer(200, { ok: true, ...(m.seq !== undefined ? { seq: m.seq } : {}), ...(m.job !== undefined ? { job: m.job } : {}) });
    if (status >= 400) {
      const err = m.error ?? { code: m.code ?? 'internal', message: m.message ?? '' };
      // The hub answers with the table's codes; anything else is a bug, not a new code.
      return isKnownErrorCode(err.code) ? fail(err.code, err.message, status) : fail('internal', `unlisted error code ${err.code}: ${err.message}`);
    }
    sink.answer(200, message);
  };
  if (parsed.msg.type === 'auth') {
    if (!member.conn) return fail('bad_token', 'this member\'s stream is down; refresh its token once it has resumed');
    refreshMember(server.access, room, member, member.conn, parsed.msg.token, parsed.msg.ref, respond).catch((err: unknown) => {
      server.log.error('token refresh failed', { room: roomName, err: (err as Error).stack });
      if (!answered) fail('internal', 'the server failed to check this token');
    });
    return;
  }
  hub.receive(member, parsed.msg, respond);
}
