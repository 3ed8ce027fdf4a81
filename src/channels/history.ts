// A room's bounded history of published messages, for replay after a reconnect. Bounded by
// count and by age; the frames are the same encoded objects that were sent live.
import type { OutFrame } from '../transports/out-frame.js';

export interface HistoryEntry {
  seq: number;
  at: number;
  frame: OutFrame;
  from: string;
  topic?: string;
  echo: boolean;
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

  constructor(private readonly maxEntries: number, private readonly maxAgeMs: number, private readonly now = Date.now) {}

  /** Assign the next sequence number; the caller builds the frame with it and then calls add. */
  nextSeq(): number {
    return ++this.lastSeq;
  }

  add(entry: HistoryEntry): void {
    if (this.maxEntries <= 0) return;
    this.entries.push(entry);
    if (this.entries.length - this.head > this.maxEntries) this.head++;
    this.compact();
  }

  private prune(): void {
    const oldest = this.now() - this.maxAgeMs;
    while (this.head < this.entries.length && this.entries[this.head].at < oldest) this.head++;
    this.compact();
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
