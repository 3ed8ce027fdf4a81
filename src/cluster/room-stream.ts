// The first seam of the cluster (docs/cluster.md): a room's stream of published messages — one
// `seq` per room whatever node publishes, an `epoch` naming the stream's incarnation, and the
// history that replay (`since`) reads. The single-process server keeps it in the hub (History);
// the Redis and NATS implementations keep it in the engine, and every implementation passes the
// same contract test (test/room-stream-contract.test.ts).
//
// Entries carry the publish's parts, not its framed bytes: each node frames what it delivers
// (the seq goes into the frame), and with a cluster key the engine holds only sealed bytes.

export interface StreamPosition {
  /** The last seq assigned in the room (0 before the first publish). */
  seq: number;
  /** Names this incarnation of the room's stream; a new one starts numbering at 1 again. */
  epoch: string;
}

/** What one publish is, as the stream keeps it. */
export interface PublishRecord {
  /** cid of the publisher */
  from: string;
  topic?: string;
  /** deliver to the publisher too */
  echo: boolean;
  /** the message's `data` as JSON text (framed as is) */
  data: string;
  /** ms since the epoch, when it was published */
  at: number;
}

export interface StreamEntry extends PublishRecord {
  seq: number;
}

export interface StreamReplay {
  position: StreamPosition;
  /** `since` belongs to another epoch (or is ahead of the stream): numbering restarted. */
  reset: boolean;
  /** Published messages after `since` that are no longer kept (from..to), if any. */
  gap?: { from: number; to: number };
  /** Kept entries after `since` (after 0 on a reset), oldest first. */
  entries: StreamEntry[];
}

export interface StreamLimits {
  /** entries kept per room (--history-size) */
  maxEntries: number;
  /** UTF-8 bytes of `data` kept per room (--history-bytes) */
  maxBytes: number;
  /** how long an entry is kept, ms (--history-ttl) */
  maxAgeMs: number;
}

/**
 * An entry as a watcher receives it live: the record, or only its seq when the record cannot be
 * delivered (it did not open with this node's key, or NATS could not carry it) — the caller then
 * reports that seq as a gap.
 */
export type LiveEntry = StreamEntry | { seq: number; lost: string };

/** Told of each entry appended to a watched room, by any node, in seq order, at most once. */
export type WatchHandler = (entry: LiveEntry, epoch: string) => void;

/**
 * Rooms' streams on one node. Implementations may answer synchronously (memory) or not (engines);
 * callers await either way. Live delivery comes from the append itself (`watch`): the engine
 * hands every appended entry to the watchers of its room as part of the append (Redis: the append
 * script PUBLISHes it; NATS: the stream republishes what it stored), so there is no second step a
 * node could crash between, and watchers see a room's entries in seq order. Like pub/sub, a watch
 * keeps nothing for a watcher that is cut off: the seq jump shows what it missed.
 */
export interface RoomStreams {
  /** Number and keep one publish. Concurrent publishes to one room from any node get distinct, increasing seqs. */
  append(room: string, record: PublishRecord): StreamPosition | Promise<StreamPosition>;
  /** The room's current position (creating its epoch if the room has none yet). */
  position(room: string): StreamPosition | Promise<StreamPosition>;
  /** What a member that saw up to `seq` of `epoch` missed. */
  since(room: string, seq: number, epoch?: string): StreamReplay | Promise<StreamReplay>;
  /** The room is freed everywhere: its stream goes (the next publish starts a new epoch). */
  drop(room: string): void | Promise<void>;
  /**
   * Hand every entry appended to `room` from now on (by any node, this one included) to `handler`,
   * replacing this node's previous handler for the room. Resolves once the engine routes them here.
   * Entries too big to be kept for replay are still delivered.
   */
  watch(room: string, handler: WatchHandler): void | Promise<void>;
  /** Stop: no handler call for the room after this returns. */
  unwatch(room: string): void | Promise<void>;
}
