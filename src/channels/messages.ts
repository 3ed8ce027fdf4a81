// Native protocol messages from clients, checked once at the edge into a typed union
// (docs/protocol.md §3). Anything that does not fit becomes a `bad_message` error. The wire
// shapes are those of src/protocol/messages.ts (shared with the SDK); this is their checked,
// normalised form (defaults filled in, `ref` always present).
import type * as Wire from '../protocol/messages.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Ref = string | number | undefined;
type ErrorInfo = { code: string; message: string };

export type ClientMessage =
  | { type: 'publish'; data: Json; topic?: string; echo: boolean; ack: boolean; ref: Ref }
  | { type: 'send'; to: string; data: Json; ack: boolean; ref: Ref }
  | { type: 'subscribe' | 'unsubscribe'; topic: string; ref: Ref }
  | { type: 'request'; id: Wire.RequestId; data: Json; to?: string; timeout?: number; ref: Ref }
  | { type: 'reply'; id: Wire.RequestId; data: Json; error?: ErrorInfo; ref: Ref }
  | { type: 'serve' | 'unserve' | 'unpull' | 'presence' | 'leave'; ref: Ref }
  | { type: 'pull'; prefetch: number; ack: boolean; ref: Ref }
  | { type: 'push'; data: Json; ack: boolean; ref: Ref }
  | { type: 'ack'; job: Wire.JobId; data: Json; ref: Ref }
  | { type: 'nack'; job: Wire.JobId; error: ErrorInfo; ref: Ref }
  | { type: 'auth'; token: string; ref: Ref };

// Every wire command has its checked form here (a compile error when one is added to the protocol only).
type Missing = Exclude<Wire.ClientMessage['type'], ClientMessage['type']>;
const everyTypeParsed: Missing extends never ? true : Missing = true;
void everyTypeParsed;

/** Most jobs one puller may hold unacknowledged (`pull.prefetch`). */
export const MAX_PREFETCH = 1000;

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

function errorInfo(v: unknown): ErrorInfo | undefined {
  const e = v as Obj;
  if (typeof e !== 'object' || e === null || typeof e.code !== 'string') return undefined;
  return { code: e.code.slice(0, 64), message: typeof e.message === 'string' ? e.message.slice(0, 1024) : '' };
}

/** Turn one decoded JSON value into a client message. moshpit's `{data, cid?}` (no type) is publish/send. */
export function parseClientMessage(value: unknown): Parsed {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, message: 'a message must be a JSON object', ref: undefined };
  const m = value as Obj;
  const ref: Ref = typeof m.ref === 'string' || typeof m.ref === 'number' ? m.ref : undefined;
  const bad = (message: string): Parsed => ({ ok: false, message, ref });
  const data = (m.data === undefined ? null : m.data) as Json;
  let type = m.type;
  if (type === undefined && 'data' in m) type = typeof m.cid === 'string' ? 'send' : 'publish';
  switch (type) {
    case 'publish': {
      if (m.topic !== undefined) { const e = topicError(m.topic); if (e) return bad(e); if ((m.topic as string).endsWith('*')) return bad('publish to a concrete topic; "*" is for subscribe'); }
      return { ok: true, msg: { type, data, topic: m.topic as string | undefined, echo: m.echo === true, ack: m.ack === true, ref } };
    }
    case 'send': {
      const to = m.to ?? m.cid;
      if (typeof to !== 'string' || to === '') return bad('send needs "to": a member cid');
      return { ok: true, msg: { type, to, data, ack: m.ack === true, ref } };
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
      let error: ErrorInfo | undefined;
      if (m.error !== undefined) {
        error = errorInfo(m.error);
        if (!error) return bad('"error" must be {"code":string,"message"?:string}');
      }
      return { ok: true, msg: { type, id: m.id, data, error, ref } };
    }
    case 'serve':
    case 'unserve':
    case 'unpull':
    case 'presence':
    case 'leave':
      return { ok: true, msg: { type, ref } };
    case 'pull': {
      const prefetch = m.prefetch ?? 1;
      if (typeof prefetch !== 'number' || !Number.isInteger(prefetch) || prefetch < 1 || prefetch > MAX_PREFETCH) return bad(`"prefetch" must be an integer from 1 to ${MAX_PREFETCH}`);
      return { ok: true, msg: { type, prefetch, ack: m.ack !== false, ref } };
    }
    case 'push':
      return { ok: true, msg: { type, data, ack: m.ack === true, ref } };
    case 'ack':
    case 'nack': {
      if (typeof m.job !== 'string' || m.job === '' || m.job.length > MAX_ID_LENGTH) return bad(`${type} needs "job": the id of a job this member took`);
      if (type === 'ack') return { ok: true, msg: { type, job: m.job, data, ref } };
      const error = m.error === undefined ? { code: 'handler_error', message: '' } : errorInfo(m.error);
      if (!error) return bad('"error" must be {"code":string,"message"?:string}');
      return { ok: true, msg: { type, job: m.job, error, ref } };
    }
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
