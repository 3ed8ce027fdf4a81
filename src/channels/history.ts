// A room's bounded history of published messages, for replay after a reconnect. Bounded by
// count, by bytes and by age; the frames are the same encoded objects that were sent live.
// Without the bytes bound twenty 9 MiB publishes kept 311 MB resident after everyone left.
import type { OutFrame } from '../transports/out-frame.js';

export interface HistoryEntry {
  seq: number;
  at: number;
  frame: OutFrame;
  from: string;
  topic?: string;
  echo: boolean;
  /** UTF-8 bytes of the message's JSON (set by History.add) */
  bytes?: number;
}

export interface Replay {
  /** set when the history no longer reaches back to since+1: messages from..to are lost */
  gap?: { from: number; to: number };
  entries: HistoryEntry[];
}

export class History {
  private entries: HistoryEntry[] = [];
  private head = 0; // index of the oldest live entry
  lastSeq = 0;
  /** UTF-8 bytes of the kept messages' JSON */
  bytes = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxAgeMs: number,
    private readonly maxBytes = Infinity,
    private readonly now = Date.now,
  ) {}

  /** Assign the next sequence number; the caller builds the frame with it and then calls add. */
  nextSeq(): number {
    return ++this.lastSeq;
  }

  add(entry: HistoryEntry): void {
    if (this.maxEntries <= 0) return;
    const bytes = Buffer.byteLength(entry.frame.text);
    if (bytes > this.maxBytes) {
      // Not kept. Everything older goes too: the history stays one unbroken run of seqs, so a
      // replay reports this message within its leading gap instead of skipping it silently.
      while (this.head < this.entries.length) this.dropOldest();
      return this.compact();
    }
    entry.bytes = bytes;
    this.entries.push(entry);
    this.bytes += bytes;
    while (this.entries.length - this.head > this.maxEntries || this.bytes > this.maxBytes) this.dropOldest();
    this.prune();
  }

  private dropOldest(): void {
    const e = this.entries[this.head];
    this.entries[this.head++] = undefined as unknown as HistoryEntry; // let the frame go now
    this.bytes -= e.bytes ?? 0;
  }

  private prune(): void {
    const oldest = this.now() - this.maxAgeMs;
    while (this.head < this.entries.length && this.entries[this.head].at < oldest) this.dropOldest();
    this.compact();
  }

  /** Kept bytes, after dropping what has expired. */
  keptBytes(): number {
    this.prune();
    return this.bytes;
  }

  private compact(): void {
    // drop the dead prefix in one go once it is large, so add() stays O(1) amortized
    if (this.head > 1024 && this.head * 2 > this.entries.length) { this.entries = this.entries.slice(this.head); this.head = 0; }
  }

  since(seq: number): Replay {
    this.prune();
    if (seq >= this.lastSeq) return { entries: [] };
    const firstKept = this.head < this.entries.length ? this.entries[this.head].seq : this.lastSeq + 1;
    const replay: Replay = { entries: [] };
    if (firstKept > seq + 1) replay.gap = { from: seq + 1, to: firstKept - 1 };
    for (let i = this.head; i < this.entries.length; i++) if (this.entries[i].seq > seq) replay.entries.push(this.entries[i]);
    return replay;
  }

  get size(): number { return this.entries.length - this.head; }
}
