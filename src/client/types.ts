// The native protocol's types come from one source, src/protocol (the server uses the same), and
// this file is the one place where untrusted JSON from the server becomes one of them.
import type {
  AckMessage,
  AuthMessage,
  ClosedMessage,
  ConnectMessage,
  DataMessage,
  ErrorInfo,
  ErrorMessage,
  GapMessage,
  JobMessage,
  JoinMessage,
  MessageKind,
  PresenceMessage,
  RequestId,
  ServerLimits,
  ServerMessage,
} from '../protocol/messages.js';

export * from '../protocol/messages.js';
export { SUBPROTOCOL } from '../protocol/subprotocol.js';
export type { ErrorCode, KnownErrorCode, HttpErrorCode } from '../protocol/errors.js';

// ---------------------------------------------------------------------------------------------
// Parsing: untrusted JSON → ServerMessage, once, at the edge

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isOptStr = (v: unknown): v is string | undefined => v === undefined || isStr(v);
const isId = (v: unknown): v is RequestId => isStr(v) || isNum(v);
const isStrArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isStr);

/** A cid → user map, with anything that is not a string dropped. */
function usersOf(v: unknown): Record<string, string> | undefined {
  if (!isObj(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [cid, user] of Object.entries(v)) if (isStr(user)) out[cid] = user;
  return out;
}

/** A cid → presence data map (any JSON per member). */
function infosOf(v: unknown): Record<string, unknown> | undefined {
  return isObj(v) ? { ...v } : undefined;
}

function errorInfo(v: unknown): ErrorInfo | undefined {
  if (!isObj(v) || !isStr(v.code)) return undefined;
  return isStr(v.message) ? { code: v.code, message: v.message } : { code: v.code };
}

const LIMIT_KEYS = ['maxMessageBytes', 'maxMessagesPerSecond', 'maxPendingRequests', 'maxInfoBytes', 'resumeGraceMs', 'maxRequestTimeoutMs'] as const;

/** The limits a server announced; a field it did not send (an older server) is left out. */
function limitsOf(v: unknown): Partial<ServerLimits> | undefined {
  if (!isObj(v)) return undefined;
  const out: Partial<ServerLimits> = {};
  for (const key of LIMIT_KEYS) if (isNum(v[key]) && v[key] > 0) out[key] = v[key];
  return out;
}

const KINDS: readonly string[] = ['publish', 'direct', 'push'];

/** `connect` as the SDK sees it: `limits` may be partial (or absent) from an older server. */
export type ParsedConnect = Omit<ConnectMessage, 'limits'> & { limits?: Partial<ServerLimits> };
export type ParsedServerMessage = Exclude<ServerMessage, ConnectMessage> | ParsedConnect;

/**
 * One decoded JSON value → a typed server message, or `undefined` when it is not one this client
 * knows (unknown `type`, or a known type with missing/mistyped fields). Unknown extra fields are
 * dropped, so nothing untyped leaks past this point.
 */
export function parseServerMessage(v: unknown): ParsedServerMessage | undefined {
  const msg = parseMessage(v);
  // The per-member number of messages sent to this member alone (for resume), on any of them.
  if (msg && msg.type !== 'connect' && isObj(v) && Number.isInteger(v.n) && (v.n as number) > 0) (msg as { n?: number }).n = v.n as number;
  return msg;
}

function parseMessage(v: unknown): ParsedServerMessage | undefined {
  if (!isObj(v) || !isStr(v.type)) return undefined;
  switch (v.type) {
    case 'connect': {
      if (!isStr(v.room) || !isStr(v.cid) || !isStr(v.token) || !isStr(v.owner) || !isStrArray(v.members)) return undefined;
      const c: ParsedConnect = {
        type: 'connect', room: v.room, cid: v.cid, token: v.token, resumed: v.resumed === true, owner: v.owner, members: v.members,
        seq: isNum(v.seq) ? v.seq : 0,
      };
      if (isStr(v.epoch)) c.epoch = v.epoch;
      if (isStr(v.user)) c.user = v.user;
      const users = usersOf(v.users);
      if (users) c.users = users;
      if (v.info !== undefined) c.info = v.info;
      const infos = infosOf(v.infos);
      if (infos) c.infos = infos;
      const limits = limitsOf(v.limits);
      if (limits) c.limits = limits;
      return c;
    }
    case 'message': {
      if (!isStr(v.kind) || !KINDS.includes(v.kind) || !isStr(v.from) || !isOptStr(v.topic)) return undefined;
      const m: DataMessage = { type: 'message', kind: v.kind as MessageKind, from: v.from, data: v.data ?? null };
      if (v.topic !== undefined) m.topic = v.topic;
      if (isNum(v.seq)) m.seq = v.seq;
      if (isStr(v.job)) m.job = v.job;
      if (isNum(v.attempt)) m.attempt = v.attempt;
      return m;
    }
    case 'join': {
      if (!isStr(v.cid)) return undefined;
      const j: JoinMessage = { type: 'join', cid: v.cid };
      if (isStr(v.user)) j.user = v.user;
      if (v.info !== undefined) j.info = v.info;
      return j;
    }
    case 'leave':
      if (!isStr(v.cid) || !isOptStr(v.owner)) return undefined;
      return v.owner === undefined ? { type: 'leave', cid: v.cid } : { type: 'leave', cid: v.cid, owner: v.owner };
    case 'request':
      if (!isId(v.id) || !isStr(v.from)) return undefined;
      return { type: 'request', id: v.id, from: v.from, data: v.data ?? null };
    case 'reply': {
      if (!isId(v.id) || !isOptStr(v.from)) return undefined;
      const from = v.from === undefined ? {} : { from: v.from };
      if (v.error !== undefined && v.error !== null) {
        const error = errorInfo(v.error);
        return error ? { type: 'reply', id: v.id, ...from, error } : undefined;
      }
      return { type: 'reply', id: v.id, ...from, data: v.data ?? null };
    }
    case 'presence': {
      if (!isStrArray(v.members) || !isStr(v.owner)) return undefined;
      const p: PresenceMessage = { type: 'presence', members: v.members, owner: v.owner };
      const users = usersOf(v.users);
      if (users) p.users = users;
      const infos = infosOf(v.infos);
      if (infos) p.infos = infos;
      if (isId(v.ref)) p.ref = v.ref;
      return p;
    }
    case 'gap': {
      if (!isNum(v.from) || !isNum(v.to)) return undefined;
      const g: GapMessage = { type: 'gap', from: v.from, to: v.to };
      if (v.reset === true) g.reset = true;
      if (isStr(v.epoch)) g.epoch = v.epoch;
      if (v.outage === true) g.outage = true;
      return g;
    }
    case 'error': {
      if (!isStr(v.code)) return undefined;
      const e: ErrorMessage = { type: 'error', code: v.code, message: isStr(v.message) ? v.message : v.code };
      if (isId(v.ref)) e.ref = v.ref;
      return e;
    }
    case 'closed': {
      const c: ClosedMessage = { type: 'closed', reason: isStr(v.reason) ? v.reason : 'closed' };
      if (isNum(v.retryMs) && v.retryMs >= 0) c.retryMs = v.retryMs;
      return c;
    }
    case 'auth': {
      const a: AuthMessage = { type: 'auth', perms: isStrArray(v.perms) ? v.perms : [] };
      if (isStr(v.user)) a.user = v.user;
      if (isNum(v.exp)) a.exp = v.exp;
      if (isId(v.ref)) a.ref = v.ref;
      return a;
    }
    case 'ack': {
      if (!isId(v.ref)) return undefined;
      const a: AckMessage = { type: 'ack', ref: v.ref };
      if (isNum(v.seq)) a.seq = v.seq;
      if (isStr(v.job)) a.job = v.job;
      return a;
    }
    case 'job': {
      if (!isId(v.ref) || !isStr(v.job)) return undefined;
      const attempts = isNum(v.attempts) ? v.attempts : 1;
      if (v.status === 'done') {
        return { type: 'job', ref: v.ref, job: v.job, attempts, status: 'done', from: isStr(v.from) ? v.from : '', data: v.data ?? null } satisfies JobMessage;
      }
      if (v.status === 'failed') {
        const error = errorInfo(v.error) ?? { code: 'job_failed' };
        return { type: 'job', ref: v.ref, job: v.job, attempts, status: 'failed', error } satisfies JobMessage;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

/**
 * One WebSocket text frame (or SSE `data:`) → its messages, in order: an object is one message, an
 * array a batch. Malformed JSON and unknown messages yield nothing.
 */
export function parseServerFrame(text: string): ParsedServerMessage[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [];
  }
  const items = Array.isArray(value) ? value : [value];
  const out: ParsedServerMessage[] = [];
  for (const item of items) {
    const msg = parseServerMessage(item);
    if (msg) out.push(msg);
  }
  return out;
}
