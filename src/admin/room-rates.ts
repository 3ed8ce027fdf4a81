// Message rates per room (and of the whole node) for the admin API and the dashboard. Rooms count
// their messages anyway (Room.messagesIn/Out, the hub's); this samples those counts every
// RATE_INTERVAL_MS and keeps the difference per second, so reading a rate costs nothing and the
// message paths gain nothing. One timer per server, started with the admin API (unref'd).
import type { Room } from '../rooms/room.js';
import type { RoomRegistry } from '../rooms/registry.js';

export const RATE_INTERVAL_MS = 2000;

interface Sample { count: number; rate: number }

/** Messages in and out of a room so far (GUN frames and native messages). */
export function roomMessages(room: Room): number {
  const native = room.nativeMessages();
  return room.messagesIn + room.messagesOut + native.in + native.out;
}

export class RoomRates {
  private readonly samples = new WeakMap<Room, Sample>();
  private timer: NodeJS.Timeout | undefined;
  private lastAt = Date.now();

  constructor(private readonly rooms: RoomRegistry) {}

  start(): void {
    if (this.timer) return;
    this.lastAt = Date.now();
    for (const [, room] of this.rooms) this.samples.set(room, { count: roomMessages(room), rate: 0 });
    this.timer = setInterval(() => this.sample(), RATE_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Messages per second (in + out) over the last interval; a room younger than one counts from its creation. */
  of(room: Room): number {
    return this.samples.get(room)?.rate ?? 0;
  }

  private sample(): void {
    const now = Date.now();
    const seconds = Math.max(0.001, (now - this.lastAt) / 1000);
    this.lastAt = now;
    for (const [, room] of this.rooms) {
      const count = roomMessages(room);
      const s = this.samples.get(room);
      if (s) {
        s.rate = Math.max(0, (count - s.count) / seconds);
        s.count = count;
      } else {
        this.samples.set(room, { count, rate: count / Math.max(seconds, (now - room.createdAt) / 1000) });
      }
    }
  }
}
