// RoomStreams in this process: the default `memory` broker, and the reference the engine
// implementations are tested against (test/room-stream-contract.test.ts). Synchronous answers.
//
// Each room keeps a small ring trimmed exactly like History (src/channels/history.ts): by count,
// by bytes of `data`, by age, and a message bigger than the whole byte bound is not kept and
// takes everything older with it. History itself is not reused: it keeps framed OutFrames and
// counts the frame's bytes, where a stream keeps records and counts `data` (StreamLimits).
import { randomBytes } from 'node:crypto';
import type { PublishRecord, RoomStreams, StreamLimits, StreamPosition, StreamReplay, WatchHandler } from './room-stream.js';
import { buildReplay, checkLimits, dataBytes, replayStart, type Candidate } from './stream-replay.js';

interface Ring {
  epoch: string;
  lastSeq: number;
  entries: (Candidate & { record: PublishRecord })[];
  head: number; // index of the oldest live entry
  bytes: number;
}

export function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

export class MemoryRoomStreams implements RoomStreams {
  readonly #rooms = new Map<string, Ring>();
  readonly #watchers = new Map<string, WatchHandler>();

  constructor(private readonly limits: StreamLimits, private readonly now: () => number = Date.now) {
    checkLimits(limits);
  }

  append(room: string, record: PublishRecord): StreamPosition {
    const ring = this.#ring(room);
    const seq = ++ring.lastSeq;
    const bytes = dataBytes(record);
    if (this.limits.maxEntries > 0) {
      if (bytes > this.limits.maxBytes) {
        // Not kept, and everything older goes too: one unbroken run, so a replay reports this
        // message within its leading gap instead of skipping it silently.
        ring.entries = [];
        ring.head = 0;
        ring.bytes = 0;
      } else {
        ring.entries.push({ seq, bytes, record });
        ring.bytes += bytes;
        while (ring.entries.length - ring.head > this.limits.maxEntries || ring.bytes > this.limits.maxBytes) this.#dropOldest(ring);
        this.#prune(ring);
      }
    }
    // Live delivery is part of the append (synchronous here, before it returns), kept or not.
    this.#watchers.get(room)?.({ seq, ...record }, ring.epoch);
    return { seq, epoch: ring.epoch };
  }

  position(room: string): StreamPosition {
    const ring = this.#ring(room);
    return { seq: ring.lastSeq, epoch: ring.epoch };
  }

  since(room: string, seq: number, epoch?: string): StreamReplay {
    const ring = this.#ring(room);
    this.#prune(ring);
    const position = { seq: ring.lastSeq, epoch: ring.epoch };
    const { reset, from } = replayStart(position, seq, epoch);
    // The ring is an unbroken run of seqs: the entries after `from` start at a known index.
    const firstSeq = ring.head < ring.entries.length ? ring.entries[ring.head].seq : ring.lastSeq + 1;
    const startAt = ring.head + Math.max(0, from + 1 - firstSeq);
    const replay = buildReplay(position, from, reset, ring.entries.slice(startAt), this.limits, this.now());
    return replay;
  }

  drop(room: string): void {
    this.#rooms.delete(room);
  }

  watch(room: string, handler: WatchHandler): void {
    this.#watchers.set(room, handler);
  }

  unwatch(room: string): void {
    this.#watchers.delete(room);
  }

  /** Rooms with a stream in this process. */
  get size(): number { return this.#rooms.size; }

  #ring(room: string): Ring {
    let ring = this.#rooms.get(room);
    if (!ring) {
      ring = { epoch: newEpoch(), lastSeq: 0, entries: [], head: 0, bytes: 0 };
      this.#rooms.set(room, ring);
    }
    return ring;
  }

  #dropOldest(ring: Ring): void {
    const e = ring.entries[ring.head];
    ring.entries[ring.head++] = undefined as unknown as Ring['entries'][number]; // let the record go now
    ring.bytes -= e.bytes;
  }

  #prune(ring: Ring): void {
    const oldest = this.now() - this.limits.maxAgeMs;
    while (ring.head < ring.entries.length && ring.entries[ring.head].record.at < oldest) this.#dropOldest(ring);
    // drop the dead prefix in one go once it is large, so append stays O(1) amortized
    if (ring.head > 1024 && ring.head * 2 > ring.entries.length) { ring.entries = ring.entries.slice(ring.head); ring.head = 0; }
  }
}
