// The door of TCP and IPC members (newline-delimited JSON): the stream's first line is a `hello`
// naming the room, with the room token and the join parameters a WebSocket gives in its URL
// (docs/protocol.md "TCP and IPC"). Admission is the other native doors' (admission.ts); a
// refusal is one `error` line, then the stream ends. Admitted, the member's lines are the native
// protocol's messages, handled exactly as WebSocket frames are.
import type { Socket } from 'node:net';
import type { Room } from '../rooms/room.js';
import { errorMessage } from '../channels/hub.js';
import { roomFromUrl } from '../rooms/room-path.js';
import type { Principal } from '../access/principal.js';
import { CloseCode } from '../transports/connection.js';
import type { FlushScheduler } from '../transports/flush-scheduler.js';
import { LineConnection } from '../transports/line.js';
import type { Tally } from '../metrics/tally.js';
import { nestsTooDeep, TOO_DEEP } from '../json-depth.js';
import type { KnownErrorCode } from '../protocol/errors.js';
import type { ConnectionLog } from './connection-log.js';
import { statusOf } from '../protocol/errors.js';
import { admitNative, joinAdmitted, type AdmissionContext } from './admission.js';
import { joinOptionsFrom, parseNativeText, receiveNativeValue, type JoinOptions, type JoinRefusal } from './native.js';
import type { LiveConnections } from './live-connections.js';

/** A stream that has not said hello by then is closed: an idle socket must not hold a slot for ever. */
export const HELLO_TIMEOUT_MS = 10_000;

export interface LineDoorContext extends AdmissionContext {
  readonly scheduler: FlushScheduler;
  readonly tally: Tally;
  readonly connectionLog: ConnectionLog;
  /** Admitted line members (heartbeat, drain, counts). */
  readonly lineConnections: LiveConnections<LineConnection>;
}

export interface Hello {
  room: string;
  token: string | undefined;
  options: JoinOptions;
}

const HELLO_SHAPE = 'the first line must be {"type":"hello","room":"/<room>"} (with "token", "resume", "seen", "since", "epoch", "topics", "info" as needed)';

/**
 * Read a hello line into the room, token and join options, checked as a WebSocket's URL is: its
 * fields are turned into the URL query's texts and go through the same joinOptionsFrom.
 */
export function parseHello(text: string, maxInfoBytes: number): Hello | JoinRefusal {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { refused: 'bad_message', message: `the first line is not JSON; ${HELLO_SHAPE}` };
  }
  if (nestsTooDeep(value, text.length)) return { refused: 'bad_message', message: TOO_DEEP };
  if (typeof value !== 'object' || value === null || Array.isArray(value) || (value as { type?: unknown }).type !== 'hello') {
    return { refused: 'bad_message', message: HELLO_SHAPE };
  }
  const hello = value as Record<string, unknown>;
  if (typeof hello.room !== 'string' || /[?#]/.test(hello.room)) return { refused: 'bad_path', message: '"room" must be a room path such as "/chat" (no query)' };
  const path = roomFromUrl(hello.room);
  if (!path.ok) return { refused: 'bad_path', message: path.error };
  if (path.reserved && path.room !== '/_/new') return { refused: 'not_found', message: 'paths under /_/ are the server\'s own endpoints, not rooms' };
  if (hello.token !== undefined && typeof hello.token !== 'string') return { refused: 'bad_request', message: '"token" must be a string (a room token)' };
  const params = new Map<string, string>();
  for (const name of ['resume', 'epoch'] as const) {
    const v = hello[name];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') return { refused: 'bad_request', message: `"${name}" must be a string` };
    params.set(name, v);
  }
  for (const name of ['seen', 'since'] as const) {
    const v = hello[name];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' && typeof v !== 'string') return { refused: 'bad_request', message: `"${name}" must be a number` };
    params.set(name, String(v));
  }
  const topics = hello.topics;
  if (topics !== undefined && topics !== null) {
    if (typeof topics === 'string') params.set('topics', topics);
    else if (Array.isArray(topics) && topics.every((t) => typeof t === 'string' && !t.includes(','))) params.set('topics', topics.join(','));
    else return { refused: 'bad_request', message: '"topics" must be a list of topics without commas (subscribe to others after the connect)' };
  }
  if (hello.info !== undefined) params.set('info', JSON.stringify(hello.info));
  const options = joinOptionsFrom({ get: (name) => params.get(name) ?? null }, maxInfoBytes);
  if ('refused' in options) return options;
  return { room: path.room, token: hello.token as string | undefined, options };
}

/** A new TCP or IPC stream: wait for its hello, admit it, then it is a member. */
export function acceptLineStream(ctx: LineDoorContext, socket: Socket, transport: 'tcp' | 'ipc'): void {
  const address = transport === 'tcp' ? socket.remoteAddress ?? '' : 'unix';
  const conn = new LineConnection(socket, transport, ctx.scheduler, {
    maxQueuedBytes: ctx.config.maxQueuedBytes,
    maxMessagesPerSecond: ctx.config.maxMessagesPerSecond,
    maxLineBytes: ctx.config.maxMessageBytes,
  }, address);
  const refuse = (code: KnownErrorCode, message: string) => {
    clearTimeout(helloTimer);
    if (!conn.isOpen) return;
    ctx.tally.upgradeRefused(code);
    ctx.connectionLog.upgradeRefused(code, statusOf(code), { address, by: transport });
    socket.end(JSON.stringify(errorMessage(code, message)) + '\n');
    const t = setTimeout(() => socket.destroy(), 1000);
    t.unref();
    socket.once('close', () => clearTimeout(t));
  };
  const helloTimer = setTimeout(() => refuse('bad_message', `no hello within ${HELLO_TIMEOUT_MS / 1000} s; ${HELLO_SHAPE}`), HELLO_TIMEOUT_MS);
  helloTimer.unref();
  conn.onClose(() => clearTimeout(helloTimer));
  let said = false;
  conn.onLines({
    line: (text) => {
      if (said) return;
      said = true;
      clearTimeout(helloTimer);
      // Lines that follow the hello wait for the admission's answer (then they are the member's).
      conn.hold();
      const hello = parseHello(text, ctx.config.maxInfoBytes);
      if ('refused' in hello) return refuse(hello.refused, hello.message);
      admitNative(ctx, { room: hello.room, options: hello.options, address, token: hello.token, door: transport }, {
        gone: () => !conn.isOpen,
        refuse,
        open: (room, principal) => openMember(ctx, conn, room, principal, hello.options, address),
      });
    },
    tooLong: () => refuse('too_large', `the hello line is over --max-message-bytes (${ctx.config.maxMessageBytes})`),
  });
}

function openMember(ctx: LineDoorContext, conn: LineConnection, room: Room, principal: Principal, options: JoinOptions, address: string): void {
  conn.traffic = ctx.tally.native;
  const member = joinAdmitted(ctx, conn, room, principal, options, address, ctx.lineConnections, (m) => {
    ctx.tally.closed(conn.closeCode);
    ctx.connectionLog.closed(conn.closedWith, { room: room.name, cid: m.cid, address, transport: conn.transport });
  });
  conn.onLines({
    line: (text) => {
      conn.traffic.bytesIn += Buffer.byteLength(text) + 1;
      const value = parseNativeText(room, member, text, 'line');
      if (value === undefined) return;
      const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
      if (type === 'ping') return conn.pong();
      if (type === 'pong') return; // the heartbeat's answer: any line marks the peer alive
      receiveNativeValue(ctx.access, room, member, conn, value);
    },
    tooLong: () => {
      room.channels().sendError(member, 'too_large', `a line over --max-message-bytes (${ctx.config.maxMessageBytes})`);
      conn.close(CloseCode.TOO_BIG, 'too_large');
    },
  });
  conn.release();
}
