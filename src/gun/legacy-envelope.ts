// GUN's v0.1 WebSocket envelope: `{"url":{"pathname":"/<key>","query":{..}},"headers":{"ws-rid":..},
// "body":graph?}`. No body is a get, a body is a put (or, on a key path with `{"#":soul}`, a key
// association). Replies echo `ws-rid`; the room's puts reach envelope peers as pushes. Old clients
// and modern GUN peers thereby share one room's graph (docs/gun-legacy.md).
import type { Connection } from '../transports/connection.js';
import { OutFrame } from '../transports/out-frame.js';
import type { GunMessage } from './types.js';
import type { GunRelay, PutRefusal } from './relay.js';
import { Perm } from '../access/permissions.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const q = JSON.stringify;

/** Legacy when it has `url`, `headers` or `body` and none of `get`, `put`, `dam`, `@`. */
export function isEnvelope(msg: GunMessage): boolean {
  return msg.get === undefined && msg.put === undefined && msg.dam === undefined && msg['@'] === undefined &&
    (msg.url !== undefined || msg.headers !== undefined || msg.body !== undefined);
}

/** A body that is one node (`{"_":{"#":soul,..},..}`) becomes the graph `{soul: node}`. */
export function asGraph(body: unknown): unknown {
  if (isObj(body) && isObj(body._) && typeof body._['#'] === 'string') return { [body._['#']]: body };
  return body;
}

/** `{"#":soul}` and nothing else: the body of a key association. */
export function isSoulLink(body: unknown): body is { '#': string } {
  return isObj(body) && typeof body['#'] === 'string' && body['#'] !== '' && Object.keys(body).length === 1;
}

/** The key a path inside a room names: "/jack" → "jack", "/" → "". */
export function keyFromPath(pathname: string): string {
  return pathname.split('/').filter(Boolean).map((s) => { try { return decodeURIComponent(s); } catch { return s; } }).join('/');
}

export function handleEnvelope(relay: GunRelay, peer: Connection, msg: GunMessage, reply: (frame: OutFrame) => void): void {
  relay.markLegacy(peer);
  const headers = isObj(msg.headers) ? msg.headers : {};
  const url = isObj(msg.url) ? msg.url : {};
  const query = isObj(url.query) ? url.query : {};
  const key = keyFromPath(typeof url.pathname === 'string' ? url.pathname : '/');
  const replyHeaders = headers['ws-rid'] !== undefined ? '{"ws-rid":' + q(headers['ws-rid']) + '}' : '{}';
  const respond = (status: number, body: string) =>
    reply(new OutFrame('{"headers":' + replyHeaders + ',"status":' + status + ',"body":' + body + '}'));

  if (msg.body !== undefined && msg.body !== null) {
    if (!(peer.principal.perms & Perm.GUN_WRITE)) return respond(403, q({ err: 'forbidden: the room token does not allow write' }));
    if (key && isSoulLink(msg.body)) {
      const err = relay.associate(key, msg.body['#']);
      return err ? respond(400, q({ err })) : respond(200, '{"ok":1}');
    }
    const answer = (refusal: PutRefusal | undefined) => {
      if (!refusal) return respond(200, '{"ok":1}');
      // A write that breaks SEA's rules: 403, with the body shape of HTTP errors (server/http-util.ts errorBody).
      if (refusal.code === 'sea_rejected') return respond(403, q({ err: refusal.err, error: { code: refusal.code, message: refusal.err } }));
      // The cluster's engine did not take it (cluster only): 503, retry.
      if (refusal.code === 'broker_unavailable') return respond(503, q({ err: refusal.err, error: { code: 'broker_unavailable', message: refusal.err } }));
      return respond(400, q({ err: refusal.err }));
    };
    const outcome = relay.applyPut(asGraph(msg.body), peer);
    if (outcome instanceof Promise) outcome.then(answer, () => {});
    else answer(outcome);
    return;
  }
  if (!(peer.principal.perms & Perm.GUN_READ)) return respond(403, q({ err: 'forbidden: the room token does not allow read' }));
  const soul = typeof query['#'] === 'string' ? query['#'] : key ? relay.resolveKey(key) : '';
  if (!soul) return respond(400, q({ err: 'a get needs a key in url.pathname or a soul in url.query["#"]' }));
  respond(200, relay.readNode(soul) ?? 'null');
}
