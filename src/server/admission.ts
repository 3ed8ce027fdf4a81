// The admission of a native member, whatever its door (SSE stream, TCP or IPC line stream): the
// checks every door makes, in the same order: drain, connection limits, room token, the room's own
// admission (full, closed, too many rooms), and in a cluster the room's preparation and the
// handover of a resumed member. The door says how to refuse and how to open; nothing here knows
// HTTP or sockets. (The WebSocket door keeps its own copy of the sequence because GUN peers share
// it and the handshake sits in its middle.)
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { RoomRegistry } from '../rooms/registry.js';
import type { Room } from '../rooms/room.js';
import type { RoomAccess } from '../access/room-access.js';
import { isRefusal, OPEN, type Principal } from '../access/principal.js';
import type { ConnectionLimits } from './connection-limits.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import { MemberHandover } from '../cluster/member-handover.js';
import type { KnownErrorCode } from '../protocol/errors.js';
import { admissionMessage } from './http-util.js';
import { joinHub, leaveHub, tellTokenExpired, type JoinOptions } from './native.js';
import type { Member } from '../channels/hub.js';
import { CloseCode, type Connection } from '../transports/connection.js';
import { forgetPrincipal, setPrincipal } from './token-expiry.js';

/** What admission needs of the server (MultisocketServer has it all). */
export interface AdmissionContext {
  readonly isClosing: boolean;
  readonly config: Config;
  readonly log: Logger;
  readonly rooms: RoomRegistry;
  readonly access: RoomAccess;
  readonly limits: ConnectionLimits;
  readonly cluster: ClusterNode | undefined;
}

export interface NativeAsk {
  /** The room's path, or /_/new (an owned room made for this member). */
  room: string;
  options: JoinOptions;
  /** The client's address (connection limits, rooms created per address). */
  address: string;
  /** The room token, if one was given. */
  token: string | undefined;
  /** For the logs: 'event stream', 'tcp', 'ipc'. */
  door: string;
}

export interface NativeDoor {
  /** The client went away during an asynchronous step: nothing is to be answered. */
  gone(): boolean;
  /** Answer a refusal (the connection slot is already given back). */
  refuse(code: KnownErrorCode, message: string): void;
  /** Admitted: make the connection and join the hub. From here the door gives back the slot (limits.close) when it ends. */
  open(room: Room, principal: Principal): void;
}

/** Run the door's checks for one native member; ends in exactly one of door.refuse or door.open (or nothing, when gone). */
export function admitNative(server: AdmissionContext, ask: NativeAsk, door: NativeDoor): void {
  if (server.isClosing) return door.refuse('shutting_down', 'the server is shutting down');
  const limited = server.limits.open(ask.address);
  if (limited) {
    server.log.warn(`${ask.door} refused`, { address: ask.address, reason: limited.code });
    return door.refuse(limited.code, limited.message);
  }
  if (!server.access.enabled) return admitToRoom(server, ask, door, OPEN);
  server.access.admit(ask.room, ask.token).then((principal) => {
    if (door.gone()) return server.limits.close(ask.address);
    if (isRefusal(principal)) {
      server.limits.close(ask.address);
      server.log.info(`${ask.door} refused`, { room: ask.room, address: ask.address, reason: principal.code });
      return door.refuse(principal.code, principal.message);
    }
    admitToRoom(server, ask, door, principal);
  }).catch((err: unknown) => {
    server.limits.close(ask.address);
    server.log.error(`${ask.door} failed`, { room: ask.room, err: (err as Error).stack });
    if (!door.gone()) door.refuse('internal', 'the server failed to admit this connection');
  });
}

function admitToRoom(server: AdmissionContext, ask: NativeAsk, door: NativeDoor, principal: Principal): void {
  const refuse = (code: KnownErrorCode, message: string) => {
    server.limits.close(ask.address);
    door.refuse(code, message);
  };
  // The drain may have begun while the token was checked.
  if (server.isClosing) return refuse('shutting_down', 'the server is shutting down');
  const { options } = ask;
  const admission = ask.room === '/_/new' ? server.rooms.createOwned(ask.address) : server.rooms.admit(ask.room, ask.address, options.resume);
  if (!admission.ok) return refuse(admission.reason, admissionMessage(admission.reason, ask.room, server.config));
  const room = admission.room;
  const ready = room.prepare('native');
  if (!ready) return door.open(room, principal);
  // Cluster: the room is joined with the other nodes before the member is let in, and a member
  // it resumes is taken over from its node first.
  ready.then(() => handOverFirst(server.cluster, room, options, principal)).then(() => {
    if (door.gone()) return server.limits.close(ask.address);
    if (server.isClosing) return refuse('shutting_down', 'the server is shutting down');
    if (server.rooms.isFullFor(room, options.resume)) return refuse('room_full', admissionMessage('room_full', ask.room, server.config));
    door.open(room, principal);
  }, (err: unknown) => {
    server.log.warn(`${ask.door} refused`, { room: ask.room, reason: 'broker_unavailable', err: (err as Error)?.message });
    refuse('broker_unavailable', 'the cluster\'s engine did not answer; try again');
  });
}

/**
 * Cluster: a connection resuming a member held by another node takes it over from there first
 * (member-handover.ts); then the hub's resume finds it here. Never rejects.
 */
export function handOverFirst(cluster: ClusterNode | undefined, room: Room, options: JoinOptions | undefined, principal: Principal): Promise<void> | void {
  const token = options?.resume;
  if (!cluster || token === undefined || (room.members > 0 && room.channels().memberByToken(token) !== undefined)) return;
  return MemberHandover.of(cluster).take(room, token, principal.user, options!.seen);
}

/** A connection a door made for an admitted member: it tells when it is gone. */
export type MemberConnection = Connection & { onClose(fn: () => void): void };

/**
 * Make an admitted connection a member: its principal (and token expiry), the hub's join, and a
 * place in `live` (heartbeat, drain, counts). However the connection ends, it leaves `live`, its
 * slot (limits) and principal are given back and the member leaves the hub (after `ended`, the
 * door's own bookkeeping). A failed join closes the connection and rethrows.
 */
export function joinAdmitted<C extends MemberConnection>(server: AdmissionContext, conn: C, room: Room, principal: Principal, options: JoinOptions, address: string, live: { add(conn: C): void; delete(conn: C): void }, ended?: (member: Member) => void): Member {
  if (principal !== OPEN) setPrincipal(conn, principal, tellTokenExpired);
  let member: Member;
  try {
    member = joinHub(server.rooms, room, conn, options);
  } catch (err) {
    forgetPrincipal(conn);
    server.limits.close(address);
    conn.close(CloseCode.INTERNAL_ERROR, 'internal error');
    throw err;
  }
  // Counted only once fully set up, and uncounted however it ends (also if it already has).
  live.add(conn);
  conn.onClose(() => {
    ended?.(member);
    live.delete(conn);
    server.limits.close(address);
    forgetPrincipal(conn);
    leaveHub(room, member, conn);
  });
  return member;
}
