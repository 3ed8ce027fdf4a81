// A room's bounded history of published messages, for replay after a reconnect. Bounded by
// count, by bytes and by age. Without the bytes bound twenty 9 MiB publishes kept 311 MB resident
// after everyone left.
//
// Nothing per message stays on the JS heap: each message is kept as the WebSocket frame made for
// its live send, copied into the room's ByteRing, and its age, size and topic sit in parallel
// typed arrays. Kept messages as objects (an entry, its OutFrame, its JSON string, its frame
// Buffer) made many small rooms GC-bound (docs/performance.md, "Replay history off the heap").
//
// The kept messages are always one unbroken run of seqs ending at lastSeq (add() keeps the
// message nextSeq() just numbered; a message too big takes everything older with it), so a seq
// is a position in the run and is not stored.
import { OutFrame } from '../transports/out-frame.js';
import { headerLength, payloadStart } from '../transports/ws-frame.js';
import { ByteRing } from './byte-ring.js';

export interface ReplayEntry {
  seq: number;
  /** the message as first sent: a new OutFrame over a copy of the kept bytes */
  frame: OutFrame;
  topic?: string;
}

export interface Replay {
  /** set when the history no longer reaches back to since+1: messages from..to are lost */
  gap?: { from: number; to: number };
  entries: ReplayEntry[];
}

/** Every kept message is a publish: its event stream event is `message`, its id its seq. */
const EVENT = 'message';
/** Fewest entry slots allocated; they double from there and halve when a quarter is used. */
const MIN_SLOTS = 16;
/** Distinct topic names a room remembers to share one string among its messages; more start afresh. */
const MAX_TOPIC_NAMES = 64;
/** The slots of every empty history (never written: a first add allocates), so an idle room costs no arrays. */
const NO_AT = new Float64Array(0);
const NO_TEXT_BYTES = new Uint32Array(0);

export class History {
  lastSeq = 0;
  /** UTF-8 bytes of the kept messages' JSON */
  bytes = 0;
  /** Kept messages. */
  size = 0;
  private readonly frames = new ByteRing();
  // Per kept message, in circular slots: the oldest is at `first`, the next at first+1 mod slots.
  private first = 0;
  private at = NO_AT;
  private textBytes = NO_TEXT_BYTES;
  /** made for the first message with a topic */
  private topics: (string | undefined)[] | undefined;
  private topicNames: Map<string, string> | undefined;

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

  /** Keep `frame`, the message numbered lastSeq. */
  add(frame: OutFrame, topic?: string): void {
    if (this.maxEntries <= 0) return;
    const ws = frame.ws; // made here if no WebSocket member needed it yet; the live send reuses it
    const textBytes = ws.length - payloadStart(ws);
    if (textBytes > this.maxBytes) {
      // Not kept. Everything older goes too: the history stays one unbroken run of seqs, so a
      // replay reports this message within its leading gap instead of skipping it silently.
      while (this.size > 0) this.dropOldest();
      return this.fit();
    }
    if (this.size === this.at.length) this.resizeSlots(Math.max(MIN_SLOTS, this.at.length * 2));
    const i = (this.first + this.size) % this.at.length;
    this.at[i] = this.now();
    this.textBytes[i] = textBytes;
    if (topic !== undefined) (this.topics ??= new Array(this.at.length))[i] = this.topicName(topic);
    else if (this.topics) this.topics[i] = undefined;
    this.frames.push(ws);
    this.size++;
    this.bytes += textBytes;
    while (this.size > this.maxEntries || this.bytes > this.maxBytes) this.dropOldest();
    this.prune();
  }

  /** Kept bytes, after dropping what has expired. */
  keptBytes(): number {
    this.prune();
    return this.bytes;
  }

  since(seq: number): Replay {
    this.prune();
    if (seq >= this.lastSeq) return { entries: [] };
    const firstKept = this.lastSeq - this.size + 1;
    const replay: Replay = { entries: [] };
    if (firstKept > seq + 1) replay.gap = { from: seq + 1, to: firstKept - 1 };
    // The kept bytes are copied out once for the whole replay: the ring may be overwritten by the
    // next publish while these frames still wait in a connection's queue.
    const skip = Math.max(0, seq + 1 - firstKept);
    let offset = 0;
    for (let k = 0; k < skip; k++) offset += this.frameLength(k);
    const copy = Buffer.allocUnsafe(this.frames.length - offset);
    this.frames.read(offset, copy.length, copy, 0);
    let at = 0;
    for (let k = skip; k < this.size; k++) {
      const length = this.frameLength(k);
      const frame = OutFrame.fromWs(copy.subarray(at, at + length), EVENT, firstKept + k);
      // A replay sends a message again: multisocket_messages_out_total counted it when it was published.
      frame.counted = true;
      const topic = this.topics?.[(this.first + k) % this.at.length];
      replay.entries.push(topic === undefined ? { seq: firstKept + k, frame } : { seq: firstKept + k, frame, topic });
      at += length;
    }
    return replay;
  }

  /** Bytes of the k-th oldest kept frame (header and JSON). */
  private frameLength(k: number): number {
    const textBytes = this.textBytes[(this.first + k) % this.at.length];
    return headerLength(textBytes) + textBytes;
  }

  private dropOldest(): void {
    const textBytes = this.textBytes[this.first];
    this.frames.drop(headerLength(textBytes) + textBytes);
    this.bytes -= textBytes;
    if (this.topics) this.topics[this.first] = undefined;
    this.first = (this.first + 1) % this.at.length;
    this.size--;
  }

  private prune(): void {
    const oldest = this.now() - this.maxAgeMs;
    while (this.size > 0 && this.at[this.first] < oldest) this.dropOldest();
    this.fit();
  }

  /** Give the slots back when empty, halve them while a quarter is used (the ring does the same with its bytes). */
  private fit(): void {
    if (this.size === 0) {
      if (this.at.length > 0) this.resizeSlots(0);
    } else {
      let slots = this.at.length;
      while (slots > MIN_SLOTS && this.size * 4 <= slots) slots /= 2;
      if (slots < this.at.length) this.resizeSlots(slots);
    }
  }

  private resizeSlots(slots: number): void {
    const at = slots > 0 ? new Float64Array(slots) : NO_AT;
    const textBytes = slots > 0 ? new Uint32Array(slots) : NO_TEXT_BYTES;
    const topics = this.topics && slots > 0 ? new Array<string | undefined>(slots) : undefined;
    for (let k = 0; k < this.size; k++) {
      const i = (this.first + k) % this.at.length;
      at[k] = this.at[i];
      textBytes[k] = this.textBytes[i];
      if (topics) topics[k] = this.topics![i];
    }
    this.at = at;
    this.textBytes = textBytes;
    this.topics = topics;
    if (!topics) this.topicNames = undefined;
    this.first = 0;
  }

  /** One string per topic name for the room's kept messages, not one per message. */
  private topicName(topic: string): string {
    const names = (this.topicNames ??= new Map());
    const known = names.get(topic);
    if (known !== undefined) return known;
    if (names.size >= MAX_TOPIC_NAMES) names.clear();
    names.set(topic, topic);
    return topic;
  }
}
