// Native protocol messages from clients, checked once at the edge into a typed union
// (docs/protocol.md §3). Anything that does not fit becomes a `bad_message` error.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Ref = string | number | undefined;

export type ClientMessage =
  | { type: 'publish'; data: Json; topic?: string; echo: boolean; ref: Ref }
  | { type: 'send'; to: string; data: Json; ref: Ref }
  | { type: 'subscribe' | 'unsubscribe'; topic: string; ref: Ref }
  | { type: 'request'; id: string | number; data: Json; to?: string; timeout?: number; ref: Ref }
  | { type: 'reply'; id: string | number; data: Json; error?: { code: string; message: string }; ref: Ref }
  | { type: 'serve' | 'unserve' | 'pull' | 'unpull' | 'presence'; ref: Ref }
  | { type: 'push'; data: Json; ref: Ref }
  | { type: 'auth'; token: string; ref: Ref };

export type Parsed = { ok: true; msg: ClientMessage } | { ok: false; message: string; ref: Ref };

export const MAX_TOPIC_LENGTH = 256;
export const MAX_ID_LENGTH = 128;

type Obj = Record<string, unknown>;

function isId(v: unknown): v is string | number {
  return (typeof v === 'string' && v.length > 0 && v.length <= MAX_ID_LENGTH) || (typeof v === 'number' && Number.isFinite(v));
}

function topicError(t: unknown): string | undefined {
  if (typeof t !== 'string' || t.length === 0 || t.length > MAX_TOPIC_LENGTH) return `topic must be a string of 1 to ${MAX_TOPIC_LENGTH} characters`;
  return undefined;
}

/** Turn one decoded JSON value into a client message. moshpit's `{data, cid?}` (no type) is publish/send. */
export function parseClientMessage(value: unknown): Parsed {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, message: 'a message must be a JSON object', ref: undefined };
  const m = value as Obj;
  const ref: Ref = typeof m.ref === 'string' || typeof m.ref === 'number' ? m.ref : typeof m.type === 'string' ? m.type : undefined;
  const bad = (message: string): Parsed => ({ ok: false, message, ref });
  const data = (m.data === undefined ? null : m.data) as Json;
  let type = m.type;
  if (type === undefined && 'data' in m) type = typeof m.cid === 'string' ? 'send' : 'publish';
  switch (type) {
    case 'publish': {
      if (m.topic !== undefined) { const e = topicError(m.topic); if (e) return bad(e); if ((m.topic as string).endsWith('*')) return bad('publish to a concrete topic; "*" is for subscribe'); }
      return { ok: true, msg: { type, data, topic: m.topic as string | undefined, echo: m.echo === true, ref } };
    }
    case 'send': {
      const to = m.to ?? m.cid;
      if (typeof to !== 'string' || to === '') return bad('send needs "to": a member cid');
      return { ok: true, msg: { type, to, data, ref } };
    }
    case 'subscribe':
    case 'unsubscribe': {
      const e = topicError(m.topic);
      if (e) return bad(e);
      return { ok: true, msg: { type, topic: m.topic as string, ref } };
    }
    case 'request': {
      if (!isId(m.id)) return bad(`request needs "id": a number or a string of 1 to ${MAX_ID_LENGTH} characters`);
      if (m.to !== undefined && (typeof m.to !== 'string' || m.to === '')) return bad('"to" must be a member cid');
      if (m.timeout !== undefined && (typeof m.timeout !== 'number' || !Number.isFinite(m.timeout) || m.timeout <= 0)) return bad('"timeout" must be a positive number of ms');
      return { ok: true, msg: { type, id: m.id, data, to: m.to as string | undefined, timeout: m.timeout as number | undefined, ref } };
    }
    case 'reply': {
      if (!isId(m.id)) return bad('reply needs the "id" of the request');
      let error: { code: string; message: string } | undefined;
      if (m.error !== undefined) {
        const e = m.error as Obj;
        if (typeof e !== 'object' || e === null || typeof e.code !== 'string') return bad('"error" must be {"code":string,"message"?:string}');
        error = { code: e.code.slice(0, 64), message: typeof e.message === 'string' ? e.message.slice(0, 1024) : '' };
      }
      return { ok: true, msg: { type, id: m.id, data, error, ref } };
    }
    case 'serve':
    case 'unserve':
    case 'pull':
    case 'unpull':
    case 'presence':
      return { ok: true, msg: { type, ref } };
    case 'push':
      return { ok: true, msg: { type, data, ref } };
    case 'auth': {
      // Over WebSocket the new room token is "token"; in an SSE POST "token" is the connection's
      // own, so the room token is "jwt" there (or the request's Authorization header).
      const token = typeof m.jwt === 'string' ? m.jwt : m.token;
      if (typeof token !== 'string' || token === '') return bad('auth needs "token": a room token (JWT)');
      return { ok: true, msg: { type, token, ref } };
    }
    default:
      return bad(typeof type === 'string' ? `unknown type "${type.slice(0, 64)}"` : 'a message needs a "type"');
  }
}
