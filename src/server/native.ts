// Native-protocol members over WebSocket and SSE: admission to the room's hub, decoding of
// incoming frames, and cleanup when the transport goes away.
import type http from 'node:http';
import type { WebSocketConnection } from '../transports/websocket.js';
import type { Connection } from '../transports/connection.js';
import type { Room } from '../rooms/room.js';
import type { RoomRegistry } from '../rooms/registry.js';
import type { Member } from '../channels/hub.js';
import { parseClientMessage } from '../channels/messages.js';
import { queryParams } from './query-params.js';
import { nestsTooDeep, TOO_DEEP } from '../json-depth.js';

export const NATIVE_SUBPROTOCOL = 'multisocket.v1';

export interface JoinOptions { since?: number; epoch?: string; topics?: string[] }

/** Replay and subscription options from the URL (`since`, `topics`) and SSE's Last-Event-ID. */
export function joinOptions(req: http.IncomingMessage): JoinOptions {
  const params = queryParams(req.url ?? '/');
  const out: JoinOptions = {};
  const epoch = params.get('epoch');
  if (epoch && epoch.length <= 64) out.epoch = epoch;
  const raw = params.get('since') ?? (req.headers['last-event-id'] as string | undefined);
  if (raw !== undefined && raw !== null && /^\d{1,15}$/.test(raw.trim())) out.since = Number(raw.trim());
  const topics = params.get('topics');
  if (topics) out.topics = topics.split(',').map((t) => t.trim()).filter((t) => t.length > 0 && t.length <= 256).slice(0, 100);
  return out;
}

/** Add a connection to the room's hub. When the transport goes, call leaveHub with the member. */
export function joinHub(rooms: RoomRegistry, room: Room, conn: Connection, options: JoinOptions): Member {
  const hub = room.channels();
  rooms.joined(room);
  return hub.join(conn, options);
}

/**
 * Remove a member that joined with joinHub; a no-op when it is already gone (left before, or its
 * room was closed). A function rather than a closure per member: idle members are kept small.
 */
export function leaveHub(rooms: RoomRegistry, room: Room, member: Member): void {
  if (room.channels().leave(member)) rooms.left(room);
}

/** Handle one WebSocket text frame from a native member: one message object or a batch. */
export function receiveNativeFrame(room: Room, member: Member, conn: WebSocketConnection, text: string): void {
  const hub = room.channels();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return hub.sendError(member, 'bad_message', 'frame is not JSON');
  }
  if (nestsTooDeep(value, text.length)) return hub.sendError(member, 'bad_message', TOO_DEEP);
  const batch = Array.isArray(value) ? value : [value];
  const now = Date.now();
  for (const item of batch) {
    if (!conn.withinBudget(now)) {
      hub.sendError(member, 'rate_limited', 'over --max-messages-per-second; message dropped', refOf(item));
      continue;
    }
    const parsed = parseClientMessage(item);
    if (!parsed.ok) { hub.sendError(member, 'bad_message', parsed.message, parsed.ref); continue; }
    try {
      hub.receive(member, parsed.msg);
    } catch (err) {
      // A bug must cost one message, not the process and every room in it.
      room.log.error('native message failed', { room: room.name, type: parsed.msg.type, err: (err as Error).stack });
      hub.sendError(member, 'internal', 'the server failed to handle this message', parsed.msg.ref);
    }
  }
}

function refOf(v: unknown): string | number | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = (v as Record<string, unknown>).ref ?? (v as Record<string, unknown>).type;
  return typeof r === 'string' || typeof r === 'number' ? r : undefined;
}
