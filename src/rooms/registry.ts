// Which rooms exist. A path maps to at most one Room at a time: a room is only removed from the
// map when it has had nobody in it for the whole TTL (or, for an owned room, when its owner
// left), and it is created synchronously on first use, so two peers of one path always meet in
// the same room (gundb-multisocket's LRU split cannot happen).
// Rooms waiting out their TTL empty do not lock new rooms out: at --max-rooms, the room that has
// been empty longest is freed to make space (only rooms with someone in them make a new one wait).
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import { createIdGenerator, createPeerId } from '../gun/ids.js';
import { CloseCode } from '../transports/connection.js';
import { Room, type RoomOptions } from './room.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import type { Tally } from '../metrics/tally.js';

export interface RegistryOptions {
  /** The server's counts (src/metrics/tally.ts). */
  tally?: Tally;
  roomTtlMs: number;
  maxRooms: number;
  maxPeersPerRoom: number;
  maxRoomBytes: number;
  hub: RoomOptions['hub'];
  log: Logger;
  /** This process's node of the cluster; undefined with the memory broker. */
  cluster?: ClusterNode;
  /** Asked before a room is created for a client address; false refuses (per-address budget). */
  mayCreate?: (creator: string) => boolean;
  /** The same question without spending the budget (for wouldRefuse). */
  couldCreate?: (creator: string) => boolean;
}

export type AdmissionRefusal = 'too_many_rooms' | 'room_full' | 'room_closed' | 'room_create_rate_limited';
export type Admission = { ok: true; room: Room } | { ok: false; reason: AdmissionRefusal };

/** Closed owned rooms remembered so their path answers 410 instead of silently reopening. */
const MAX_TOMBSTONES = 10_000;

export class RoomRegistry {
  private readonly rooms = new Map<string, Room>();
  private readonly tombstones = new Map<string, number>(); // name → until (ms)
  /** Rooms with nobody in them, longest empty first (Map keeps insertion order). */
  private readonly emptyRooms = new Map<string, Room>();
  /** Empty rooms freed before their TTL to make space for a new room. */
  evicted = 0;
  readonly pid = createPeerId();
  private readonly newId = createIdGenerator();

  constructor(private readonly opts: RegistryOptions) {}

  get size(): number { return this.rooms.size; }
  get(name: string): Room | undefined { return this.rooms.get(name); }
  [Symbol.iterator](): IterableIterator<[string, Room]> { return this.rooms.entries(); }

  /**
   * Check limits and return the room a new peer or member of `name` will join, creating it if
   * needed. `creator`: the client address a new room is counted against. `resume`: the token of a
   * member the connection comes to resume — it is counted already, so a full room takes it back.
   */
  admit(name: string, creator = '', resume?: string): Admission {
    const room = this.rooms.get(name);
    if (room) return this.isFullFor(room, resume) ? { ok: false, reason: 'room_full' } : { ok: true, room };
    return this.ensure(name, creator);
  }

  /**
   * No place for one more peer or member; a member coming back to resume is counted already.
   * Cluster: the doors ask again once the room is joined with the cluster (its other nodes'
   * members known), since a node's first client is admitted before that.
   */
  isFullFor(room: Room, resume: string | undefined): boolean {
    if (room.headcount < this.opts.maxPeersPerRoom) return false;
    return resume === undefined || room.members === 0 || room.channels().memberByToken(resume) === undefined;
  }

  /**
   * What admit (createOwned for `/_/new`) would refuse now, without creating the room or spending
   * the creator's budget: the check behind GET /_/door.
   */
  wouldRefuse(name: string, creator = '', resume?: string): AdmissionRefusal | null {
    if (name !== '/_/new') {
      const room = this.rooms.get(name);
      if (room) return this.isFullFor(room, resume) ? 'room_full' : null;
      if (this.isTombstoned(name)) return 'room_closed';
    }
    if (this.opts.couldCreate && !this.opts.couldCreate(creator)) return 'room_create_rate_limited';
    if (this.rooms.size >= this.opts.maxRooms) {
      for (const room of this.rooms.values()) if (room.population === 0) return null;
      return 'too_many_rooms';
    }
    return null;
  }

  /** The room of `name`, created if needed (HTTP writes create rooms too; they are not peers). */
  ensure(name: string, creator = ''): Admission {
    const room = this.rooms.get(name);
    if (room) return { ok: true, room };
    if (this.isTombstoned(name)) return { ok: false, reason: 'room_closed' };
    return this.create(name, false, creator);
  }

  /** A new owned room with a random, unguessable name (`/_/new`). */
  createOwned(creator = ''): Admission {
    return this.create('/r-' + randomBytes(16).toString('base64url').slice(0, 22), true, creator);
  }

  private create(name: string, owned: boolean, creator: string): Admission {
    // The creator's budget first, so a client over it cannot push anyone's empty room out.
    if (this.opts.mayCreate && !this.opts.mayCreate(creator)) return { ok: false, reason: 'room_create_rate_limited' };
    if (this.rooms.size >= this.opts.maxRooms && !this.evictLongestEmpty()) return { ok: false, reason: 'too_many_rooms' };
    const room = new Room(name, {
      maxRoomBytes: this.opts.maxRoomBytes, pid: this.pid, newId: this.newId, log: this.opts.log,
      owned, hub: this.opts.hub, cluster: this.opts.cluster, onOwnerLeft: (r) => this.close(r, 'owner_left'), onMemberLeft: (r) => this.left(r),
      tally: this.opts.tally,
    });
    this.rooms.set(name, room);
    this.emptyRooms.set(name, room);
    this.opts.log.debug('room created', { room: name, owned });
    // Armed at once: if the handshake never completes, the room still goes away.
    this.armExpiry(room);
    return { ok: true, room };
  }

  isTombstoned(name: string): boolean {
    const until = this.tombstones.get(name);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.tombstones.delete(name);
    return false;
  }

  /** Call after someone joined the room. */
  joined(room: Room): void {
    if (room.expiry) { clearTimeout(room.expiry); room.expiry = undefined; }
    room.emptySince = null;
    this.emptyRooms.delete(room.name);
  }

  /** Call after someone left the room. */
  left(room: Room): void {
    if (room.population > 0 || this.rooms.get(room.name) !== room) return;
    room.emptySince = Date.now();
    this.emptyRooms.delete(room.name);
    this.emptyRooms.set(room.name, room);
    this.armExpiry(room);
  }

  private armExpiry(room: Room): void {
    if (room.expiry) clearTimeout(room.expiry);
    room.expiry = setTimeout(() => {
      if (room.population > 0 || this.rooms.get(room.name) !== room) return;
      this.remove(room);
      this.opts.log.debug('room freed', { room: room.name });
    }, this.opts.roomTtlMs);
    room.expiry.unref();
  }

  /** Free the room that has been empty longest; false when every room has someone in it. */
  private evictLongestEmpty(): boolean {
    for (const room of this.emptyRooms.values()) {
      if (room.population > 0) { this.emptyRooms.delete(room.name); continue; } // defensive: joined() keeps this exact
      this.remove(room);
      this.evicted++;
      this.opts.log.debug('room evicted', { room: room.name, emptySince: room.emptySince });
      return true;
    }
    return false;
  }

  private remove(room: Room): void {
    this.rooms.delete(room.name);
    this.emptyRooms.delete(room.name);
    room.dispose();
  }

  /** Close a room now: members are told why, every connection is closed, the room is freed. */
  close(room: Room, reason: string): void {
    if (this.rooms.get(room.name) !== room) return;
    this.rooms.delete(room.name);
    this.emptyRooms.delete(room.name);
    if (room.owned) {
      if (this.tombstones.size >= MAX_TOMBSTONES) this.tombstones.delete(this.tombstones.keys().next().value!);
      this.tombstones.set(room.name, Date.now() + this.opts.roomTtlMs);
    }
    const hub = room.channels();
    hub.closeAll(reason);
    for (const m of [...hub.members.values()]) m.conn?.close(CloseCode.ROOM_CLOSED, reason);
    for (const p of [...room.peers]) p.close(CloseCode.ROOM_CLOSED, reason);
    room.dispose();
    this.opts.log.debug('room closed', { room: room.name, reason });
  }

  /** Free everything (shutdown). */
  clear(): void {
    for (const room of this.rooms.values()) room.dispose();
    this.rooms.clear();
    this.emptyRooms.clear();
  }
}
