// What every RoomStreams implementation shares: the replay rules of the single-process History
// (src/channels/history.ts) as one pure function over the entries an engine returns, the encoding
// of a publish record, and the errors and counters the engine implementations expose.
//
// History keeps one unbroken run of seqs ending at the last seq: after each add it drops the
// oldest while over the count or byte bound, drops everything when a message is bigger than the
// whole byte bound (that message included), and drops expired entries from the head. Because each
// rule only ever removes a prefix, the run it keeps is the longest suffix of what was appended that
// (a) starts after the last entry that was too big, (b) starts after the last expired entry,
// (c) has at most maxEntries entries and (d) at most maxBytes bytes. So an engine that stores more
// than that (NATS cannot bound bytes per subject; Redis cannot expire single stream entries) gets
// the same answer by applying the rules on read, to the entries after `since` only (a suffix of a
// suffix). An entry the reader cannot open (another cluster key, altered) is lost to that reader
// and is treated like a too-big one: the run starts after it, and the gap reports it.
import type { PublishRecord, StreamLimits, StreamPosition, StreamReplay } from './room-stream.js';

/** One stored entry after `since`, as an engine read it. */
export interface Candidate {
  seq: number;
  /** UTF-8 bytes of the record's `data` (kept in clear next to the sealed record) */
  bytes: number;
  /** the opened record; absent when the entry is lost to this reader (see `lost`) */
  record?: PublishRecord;
  /** why the entry cannot be replayed: too big for the byte bound, or it did not open */
  lost?: string;
}

/**
 * The replay for a member that saw up to `seq` of `epoch`, given the stream's position and the
 * stored entries after `from` (see replayStart), oldest first. `reset` when `epoch` is another
 * incarnation or `seq` is ahead of the stream: then everything kept is replayed with the gap of
 * the lost range from 1.
 */
export function buildReplay(position: StreamPosition, from: number, reset: boolean, candidates: readonly Candidate[], limits: StreamLimits, now: number): StreamReplay {
  const replay: StreamReplay = { position, reset, entries: [] };
  if (from >= position.seq) return replay;
  const oldest = now - limits.maxAgeMs;
  // Walk newest to oldest, taking entries while every rule allows; the first refusal ends the run.
  let start = candidates.length;
  let bytes = 0;
  let expected = position.seq; // the run must be unbroken and end at the last seq
  for (let i = candidates.length - 1; i >= 0; i--) {
    const c = candidates[i];
    if (c.seq > position.seq) continue; // appended after the position was read: delivered live
    if (c.seq !== expected || c.seq <= from) break;
    if (c.lost !== undefined || c.record === undefined) break;
    if (c.bytes > limits.maxBytes || bytes + c.bytes > limits.maxBytes) break;
    if (position.seq - c.seq + 1 > limits.maxEntries) break;
    if (c.record.at < oldest) break;
    bytes += c.bytes;
    start = i;
    expected--;
  }
  const firstKept = expected + 1; // position.seq + 1 when nothing is kept
  if (firstKept > from + 1) replay.gap = { from: from + 1, to: firstKept - 1 };
  for (let i = start; i < candidates.length; i++) {
    const c = candidates[i];
    if (c.seq > position.seq) break;
    replay.entries.push({ seq: c.seq, ...c.record! });
  }
  return replay;
}

/** reset and the seq to read after, for a member that saw `seq` of `epoch` (the hub's rule). */
export function replayStart(position: StreamPosition, seq: number, epoch: string | undefined): { reset: boolean; from: number } {
  checkSince(seq);
  const reset = (epoch !== undefined && epoch !== position.epoch) || seq > position.seq;
  return { reset, from: reset ? 0 : seq };
}

export function checkSince(seq: number): void {
  if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`since must be a non-negative integer, got ${seq}`);
}

export function checkLimits(limits: StreamLimits): void {
  for (const k of ['maxEntries', 'maxBytes', 'maxAgeMs'] as const) {
    if (typeof limits[k] !== 'number' || Number.isNaN(limits[k]) || limits[k] < 0) throw new RangeError(`StreamLimits.${k} must be a number >= 0`);
  }
}

/** UTF-8 bytes of a record's data: what the byte bound counts. */
export function dataBytes(record: PublishRecord): number {
  return Buffer.byteLength(record.data);
}

// The record as stored (then sealed): short keys, JSON. `d` is the data's JSON text as a string.
export function encodeRecord(record: PublishRecord): Buffer {
  const o: Record<string, unknown> = { f: record.from, e: record.echo ? 1 : 0, d: record.data, a: record.at };
  if (record.topic !== undefined) o.t = record.topic;
  return Buffer.from(JSON.stringify(o));
}

/** The record, or undefined when the bytes are not one (a frame that opened but is not ours). */
export function decodeRecord(bytes: Uint8Array): PublishRecord | undefined {
  let o: unknown;
  try { o = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8')); } catch { return undefined; }
  if (typeof o !== 'object' || o === null) return undefined;
  const { f, t, e, d, a } = o as Record<string, unknown>;
  if (typeof f !== 'string' || typeof d !== 'string' || typeof a !== 'number' || (e !== 0 && e !== 1)) return undefined;
  if (t !== undefined && typeof t !== 'string') return undefined;
  const record: PublishRecord = { from: f, echo: e === 1, data: d, at: a };
  if (t !== undefined) record.topic = t;
  return record;
}

/** The seal context of a history entry: bound to its room, so an entry cannot be moved to another. */
export const HIST_KIND = 'hist';

export class RoomStreamError extends Error {
  constructor(readonly code: 'ERR_ROOM_STREAM_TIMEOUT' | 'ERR_ROOM_STREAM_TOO_BIG', message: string) {
    super(message);
  }
}

/**
 * Rejects with ERR_ROOM_STREAM_TIMEOUT after `ms` (the engine hangs or is away). The operation may
 * still complete in the engine later: a timed-out append may have taken its seq (readers then see
 * the entry; it is never numbered twice).
 */
export async function withDeadline<T>(what: string, ms: number, run: (deadline: number) => Promise<T>): Promise<T> {
  const deadline = Date.now() + ms;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RoomStreamError('ERR_ROOM_STREAM_TIMEOUT', `${what}: no answer from the engine within ${ms} ms`)), ms);
  });
  const work = run(deadline);
  work.catch(() => { /* reported by the race, or after the timeout nobody listens */ });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Counters of an engine implementation, for /_/stats and tests. */
export interface RoomStreamCounters {
  appends: number;
  /** entries returned by since() */
  replayed: number;
  /** entries read that did not open or decode, by reason (OpenFailure or 'malformed') */
  notOpened: Record<string, number>;
}

export function newCounters(): RoomStreamCounters {
  return { appends: 0, replayed: 0, notOpened: {} };
}
