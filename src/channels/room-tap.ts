// What the server's own code may watch of a room's hub (server.room(name).on(...), src/embed/room-api.ts).
// The hub asks for its room's tap on every event; with no listener anywhere that is one size
// check of an empty map, so a server nobody taps pays nothing more.
import type { Json } from './messages.js';

export interface RoomTap {
  /** A member joined: on this node (`local`) or, in a cluster, on another one. */
  joined(member: { cid: string; user?: string; info?: Json }, local: boolean): void;
  /** A member left for good (after its resume grace), here or on another node. */
  left(cid: string, local: boolean): void;
  /** A publication delivered in this room on this node (`seq` absent while a cluster's engine is away). */
  published(from: string, topic: string | undefined, seq: number | undefined, data: () => Json): void;
  /** A member's `send` to "server". False when nobody listens: the sender then gets `unknown_target`. */
  direct(from: string, data: Json): boolean;
}

/** room name → its tap; the server keeps one for all its rooms (HubOptions.taps). */
export type RoomTaps = ReadonlyMap<string, RoomTap>;
