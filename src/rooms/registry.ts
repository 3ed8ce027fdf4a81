// Which rooms exist. A path maps to at most one Room at a time: a room is only removed from the
// map when it has had no peers for the whole TTL, and it is created synchronously on first use, so
// two peers of one path always meet in the same room (gundb-multisocket's LRU split cannot happen).
import type { Connection } from '../transports/connection.js';
import type { Logger } from '../log.js';
import { createIdGenerator, createPeerId } from '../gun/ids.js';
import { Room } from './room.js';

export interface RegistryOptions {
  roomTtlMs: number;
  maxRooms: number;
  maxPeersPerRoom: number;
  maxRoomBytes: number;
  log: Logger;
}

export type Admission = { ok: true; room: Room } | { ok: false; reason: 'too_many_rooms' | 'room_full' };

export class RoomRegistry {
  private readonly rooms = new Map<string, Room>();
  readonly pid = createPeerId();
  private readonly newId = createIdGenerator();

  constructor(private readonly opts: RegistryOptions) {}

  get size(): number { return this.rooms.size; }
  get(name: string): Room | undefined { return this.rooms.get(name); }
  [Symbol.iterator](): IterableIterator<[string, Room]> { return this.rooms.entries(); }

  /** Check limits and return the room a new peer of `name` will join, creating it if needed. */
  admit(name: string): Admission {
    const room = this.rooms.get(name);
    if (room) {
      if (room.peers.size >= this.opts.maxPeersPerRoom) return { ok: false, reason: 'room_full' };
      return { ok: true, room };
    }
    return this.ensure(name);
  }

  /** The room of `name`, created if needed (HTTP writes create rooms too; they are not peers). */
  ensure(name: string): Admission {
    let room = this.rooms.get(name);
    if (room) return { ok: true, room };
    if (this.rooms.size >= this.opts.maxRooms) return { ok: false, reason: 'too_many_rooms' };
    room = new Room(name, { maxRoomBytes: this.opts.maxRoomBytes, pid: this.pid, newId: this.newId, log: this.opts.log });
    this.rooms.set(name, room);
    this.opts.log.debug('room created', { room: name });
    // Armed at once: if the handshake never completes, the room still goes away.
    this.armExpiry(room);
    return { ok: true, room };
  }

  join(room: Room, peer: Connection): void {
    if (room.expiry) { clearTimeout(room.expiry); room.expiry = undefined; }
    room.emptySince = null;
    room.peers.add(peer);
  }

  leave(room: Room, peer: Connection): void {
    if (!room.peers.delete(peer) || room.peers.size > 0) return;
    room.emptySince = Date.now();
    this.armExpiry(room);
  }

  private armExpiry(room: Room): void {
    if (room.expiry) clearTimeout(room.expiry);
    room.expiry = setTimeout(() => {
      if (room.peers.size > 0 || this.rooms.get(room.name) !== room) return;
      this.rooms.delete(room.name);
      room.dispose();
      this.opts.log.debug('room freed', { room: room.name });
    }, this.opts.roomTtlMs);
    room.expiry.unref();
  }

  /** Free everything (shutdown). */
  clear(): void {
    for (const room of this.rooms.values()) room.dispose();
    this.rooms.clear();
  }
}
