// GUN's legacy HTTP protocol on room paths, over the same per-room graph as the WebSocket peers
// (docs/gun-legacy.md). How a path splits into room and key: a one-segment path, or any path that
// ends in "/", names a room; otherwise the last segment is a key inside the room the rest names.
//   GET  /<room>/<key>              node under key (a key association, else the key as a soul)
//   GET  /<room>?%23=<soul>         node by soul          GET /<room>?*=<prefix>  nodes by soul prefix
//   POST|PUT /<room>                graph or single node  → HAM merge, relayed to the room's peers
//   POST /<room>/<key>  {"#":soul}  key → soul association (a single-node body also sets it)
// `?jsonp=<callback>` wraps any GET (and a put given as `$=<json>`) as a script.
import type http from 'node:http';
import type { MultisocketServer } from './server.js';
import type { Room } from '../rooms/room.js';
import { asGraph, isSoulLink } from '../gun/legacy-envelope.js';
import { validateGraph } from '../gun/validate.js';
import type { PutRefusal } from '../gun/relay.js';
import { checkSeaWrite, EMPTY_GRAPH } from '../gun/sea/check.js';
import { admissionMessage, answerPreflight, readBody, sendError } from './http-util.js';
import { errorBody, statusOf, type KnownErrorCode } from '../protocol/errors.js';
import { handleNativePost, isNativeBody } from './native-post.js';
import { requestToken } from './request-token.js';
import { clientAddress } from './client-address.js';
import { isRefusal } from '../access/principal.js';
import { Perm, permNames } from '../access/permissions.js';
import { queryParams } from './query-params.js';
import { nestsTooDeep, TOO_DEEP } from '../json-depth.js';

const JSONP_CALLBACK = /^[A-Za-z_$][\w$]{0,63}(?:\.[A-Za-z_$][\w$]{0,63}){0,4}$/;
const MAX_LISTED_NODES = 1000;

/** An error answer (as JSONP when asked for): errorBody(code, message) with the code's status. */
type AnswerError = (code: KnownErrorCode, message: string) => void;

interface Target {
  room: string;
  key?: string;
}

/** Split the request path into the room and, when there is one, the key inside it. */
function targetOf(rawUrl: string, room: string): Target {
  const end = rawUrl.search(/[?#]/);
  const pathname = end === -1 ? rawUrl : rawUrl.slice(0, end);
  const cut = room.lastIndexOf('/');
  if (cut <= 0 || pathname.endsWith('/')) return { room };
  return { room: room.slice(0, cut), key: room.slice(cut + 1) };
}

export function handleGunHttp(server: MultisocketServer, req: http.IncomingMessage, res: http.ServerResponse, roomName: string, cors: Record<string, string>): void {
  const method = req.method ?? 'GET';
  if (method === 'OPTIONS') return answerPreflight(req, res, cors, 'GET, HEAD, POST, PUT, OPTIONS', 'Content-Type, Authorization');
  if (!['GET', 'HEAD', 'POST', 'PUT'].includes(method)) {
    return sendError(res, 'method_not_allowed', `method ${method} not allowed on a room path`, { ...cors, Allow: 'GET, HEAD, POST, PUT, OPTIONS' });
  }
  const params = queryParams(req.url ?? '/');
  const jsonp = params.get('jsonp');
  if (jsonp !== null && !JSONP_CALLBACK.test(jsonp)) {
    return sendError(res, 'bad_callback', 'jsonp callback must be a JavaScript identifier path like cb or a.b', cors);
  }
  const answer = (status: number, bodyJson: string) => {
    // An answer of GUN's HTTP API is a message to this client: counted like one written to a peer.
    const traffic = server.tally.gun;
    traffic.messagesOut++;
    traffic.deliveries++;
    if (jsonp === null) {
      traffic.bytesOut += sendText(res, status, 'application/json; charset=utf-8', bodyJson, cors);
      return;
    }
    // JSONP always answers 200 (a script tag cannot read a status); the status rides in the body.
    const script = `/**/${jsonp}({"headers":{"status":${status}},"body":${bodyJson}});`;
    traffic.bytesOut += sendText(res, 200, 'text/javascript; charset=utf-8', script, cors);
  };
  const answerError: AnswerError = (code, message) => answer(statusOf(code), JSON.stringify(errorBody(code, message)));
  const target = targetOf(req.url ?? '/', roomName);
  // An owned room that was closed answers 410 on its whole path for the room TTL.
  if (server.rooms.isTombstoned(roomName) || server.rooms.isTombstoned(target.room)) {
    return answerError('room_closed', `room ${server.rooms.isTombstoned(roomName) ? roomName : target.room} was closed by its owner`);
  }
  const limit = Number(params.get('%'));
  const limitBytes = Number.isFinite(limit) && limit > 0 ? limit : undefined;
  const creator = clientAddress(req, server.config.trustProxy);
  /**
   * Run `then` once the request's token allows `perm` in the target room (at once when tokens are
   * off); otherwise answer 401/403. A failure inside answers 500 for this request alone.
   */
  const allowed = (perm: number, then: () => void): void => {
    if (!server.access.enabled) return then();
    server.access.admit(target.room, requestToken(req)).then((p) => {
      if (isRefusal(p)) return answerError(p.code, p.message);
      if (!(p.perms & perm)) {
        const need = perm === Perm.GUN_WRITE ? 'write' : 'read';
        return answerError('forbidden', `the token does not allow "${need}" (it allows: ${permNames(p.perms).join(', ') || 'nothing'})`);
      }
      then();
    }).catch((err: unknown) => failed(server, res, cors, err));
  };

  if (method === 'GET' || method === 'HEAD') {
    const putParam = params.get('$');
    if (jsonp !== null && putParam !== null) {
      let body: unknown;
      try { body = JSON.parse(putParam); } catch { return answerError('bad_json', '"$" is not JSON'); }
      if (nestsTooDeep(body, putParam.length)) return answerError('bad_message', TOO_DEEP);
      return allowed(Perm.GUN_WRITE, () => write(server, target, body, answerError, answer, creator));
    }
    return allowed(Perm.GUN_READ, () => {
      // Cluster: a node reads its own copy of the room, which it makes (loading the room's log)
      // if it has none yet: the room may have been written through other nodes only.
      if (!server.cluster || server.rooms.get(target.room)) return whenPrepared(server.rooms.get(target.room), answerError, () => read(server, params, target, roomName, answer, limitBytes));
      const room = admit(server, target.room, answerError, creator);
      if (room) whenPrepared(room, answerError, () => read(server, params, target, roomName, answer, limitBytes));
    });
  }

  // POST / PUT: the body is JSON, at most --max-message-bytes.
  readBody(req, server.config.maxMessageBytes).then((text) => {
    if (text === null) return sendError(res, 'too_large', `body larger than ${server.config.maxMessageBytes} bytes`, { ...cors, Connection: 'close' });
    let body: unknown;
    try { body = JSON.parse(text); } catch { return answerError('bad_json', 'body is not JSON'); }
    (isNativeBody(body) ? server.tally.native : server.tally.gun).bytesIn += Buffer.byteLength(text);
    if (nestsTooDeep(body, text.length)) return answerError('bad_message', TOO_DEEP);
    // A body with a string token is a native-protocol message of an SSE member, not a GUN put;
    // the connection's token stands for the room token its stream was opened with.
    if (isNativeBody(body)) return handleNativePost(server, req, res, roomName, body, cors);
    // A string "type" at the top level is a native message without its token: no GUN put has
    // one (in a graph a soul maps to a node object; a bare node has its "_" metadata), so it
    // would only get a puzzling error about nodes.
    if (isTokenlessNativeMessage(body)) {
      return answerError('bad_token', 'native messages POSTed to a room carry their connection\'s token ({"token":"<connect.token>","type":…}, docs/protocol.md §1); open the event stream first to get one');
    }
    allowed(Perm.GUN_WRITE, () => write(server, target, body, answerError, answer, creator));
  }, () => res.destroy()).catch((err: unknown) => failed(server, res, cors, err));
}

/** Legacy reads: a node by key or soul, or the nodes under a soul prefix. */
function read(server: MultisocketServer, params: URLSearchParams, target: Target, roomName: string, answer: (status: number, json: string) => void, limitBytes: number | undefined): void {
  const soul = params.get('#');
  const prefix = params.get('*');
  const room = server.rooms.get(target.room);
  if (room) room.messagesIn++;
  if (soul !== null && soul !== '*') return answer(200, room?.gun.readNode(soul, undefined, limitBytes) ?? 'null');
  if (prefix !== null || soul === '*') return answer(200, room ? room.gun.readGraph(prefix ?? '', MAX_LISTED_NODES, limitBytes) : '{}');
  if (target.key !== undefined) return answer(200, room?.gun.readNode(room.gun.resolveKey(target.key), undefined, limitBytes) ?? 'null');
  return answer(statusOf('not_found'), JSON.stringify({
    ...errorBody('not_found', `${roomName} is a multisocket room; GET ${roomName}/<key> or ${roomName}?%23=<soul> reads its graph, POST ${roomName} writes it, GUN peers and native clients (docs/protocol.md) connect to ${roomName}`),
    room: roomName,
  }));
}

/** The one answer for a request whose handling threw: 500 for it alone, never the process. */
function failed(server: MultisocketServer, res: http.ServerResponse, cors: Record<string, string>, err: unknown): void {
  server.log.error('request failed', { err: (err as Error)?.stack ?? String(err) });
  if (!res.headersSent) sendError(res, 'internal', 'the server failed to handle this request', cors);
  else res.destroy();
}

/** A put or a key association from HTTP, into the room the path names. */
function write(server: MultisocketServer, target: Target, body: unknown, fail: AnswerError, answer: (status: number, json: string) => void, creator: string): void {
  if (target.key !== undefined && isSoulLink(body)) {
    const room = admit(server, target.room, fail, creator);
    if (!room) return;
    room.messagesIn++;
    const err = room.gun.associate(target.key, body['#']);
    return err ? fail('bad_message', err) : answer(200, '{"ok":1}');
  }
  const graph = asGraph(body);
  // Checked before the room is looked up, so a bad write never creates a room.
  const valid = validateGraph(graph);
  if (!valid.ok) return fail('bad_message', valid.err);
  if (!server.rooms.get(target.room)) {
    // No room yet: SEA's rules against an empty graph, so a forged write does not create one either.
    const sea = checkSeaWrite(valid.graph, EMPTY_GRAPH, Date.now());
    if (!sea.ok) return fail('sea_rejected', sea.err);
  }
  const room = admit(server, target.room, fail, creator);
  if (!room) return;
  room.messagesIn++;
  whenPrepared(room, fail, () => {
    const done = (refused: PutRefusal | undefined) => {
      if (refused) return fail(refused.code === 'sea_rejected' ? 'sea_rejected' : refused.code === 'broker_unavailable' ? 'broker_unavailable' : 'bad_message', refused.err);
      // A single node posted under a key is also filed under that key, as GUN's HTTP server did.
      if (target.key !== undefined && graph !== body) {
        const keyErr = room.gun.associate(target.key, Object.keys(graph as object)[0]);
        if (keyErr) return fail('bad_message', keyErr);
      }
      answer(200, '{"ok":1}');
    };
    // Cluster: answered once the put is durable in the engine (the promise); else at once.
    const outcome = room.gun.applyPut(graph, undefined, valid.graph);
    if (outcome instanceof Promise) outcome.then(done, () => fail('internal', 'the put failed'));
    else done(outcome);
  });
}

/**
 * Run `then` once `room` is joined with the cluster for GUN (its log loaded, live puts routed
 * here): at once without a cluster (or without a room); broker_unavailable when the engine does not answer.
 */
function whenPrepared(room: Room | undefined, fail: AnswerError, then: () => void): void {
  const ready = room?.prepare('gun');
  if (!ready) return then();
  ready.then(then, () => fail('broker_unavailable', 'the cluster\'s engine did not answer; try again'));
}

function admit(server: MultisocketServer, name: string, fail: AnswerError, creator: string): Room | undefined {
  const a = server.rooms.ensure(name, creator);
  if (a.ok) return a.room;
  fail(a.reason, admissionMessage(a.reason, name, server.config));
  return undefined;
}

function isTokenlessNativeMessage(body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const b = body as Record<string, unknown>;
  return typeof b.type === 'string' && b._ === undefined;
}

/** Returns the body's length in bytes. */
function sendText(res: http.ServerResponse, status: number, type: string, text: string, headers: Record<string, string>): number {
  const length = Buffer.byteLength(text);
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': length,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : text);
  return length;
}

