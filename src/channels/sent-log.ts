// The messages a server sent to one member alone (direct messages, requests, replies, acks, job
// outcomes, errors), numbered `n` 1, 2, 3… per member and kept for a while, so that a resume can
// resend what its old connection may have lost: frames written into a socket that was already
// dead, and everything sent while the member was dropped. The client says which `n` it saw last
// (`?seen=`); what is no longer kept makes the resume fail (the member starts afresh), never a
// silent hole. Publishes are not here: the room's history replays them by `seq`.
import type { OutFrame } from '../transports/out-frame.js';

/** While connected, the last this many frames / bytes are kept (the window a dying socket can swallow). */
const LIVE_FRAMES = 64;
const LIVE_BYTES = 64 * 1024;

export class SentLog {
  /** `n` of the last frame sent. */
  last = 0;
  /** Kept frames from `head`, oldest first; frames[head + i] has n = first + i. */
  private frames: (OutFrame | undefined)[] = [];
  private head = 0;
  private first = 1;
  private bytes = 0;
  /** More than the detached bound was sent while dropped: part of it is gone. */
  overflowed = false;

  /** The `n` the next frame gets; put it into the frame, then add() it. */
  next(): number {
    return this.last + 1;
  }

  private get size(): number { return this.frames.length - this.head; }

  add(frame: OutFrame, detached: boolean, maxDetachedBytes: number): void {
    this.last++;
    if (this.size === 0) this.first = this.last;
    this.frames.push(frame);
    this.bytes += frame.text.length;
    if (!detached) return this.trim(LIVE_FRAMES, LIVE_BYTES);
    if (this.bytes > maxDetachedBytes) {
      this.overflowed = true;
      this.clear();
    }
  }

  /**
   * Frames after `seen`, or undefined when some of them are no longer kept (or `seen` is ahead
   * of what was sent: a client of another member).
   */
  since(seen: number): OutFrame[] | undefined {
    if (this.overflowed || seen > this.last) return undefined;
    if (seen === this.last) return [];
    if (this.size === 0 || this.first > seen + 1) return undefined;
    return this.frames.slice(this.head + seen + 1 - this.first) as OutFrame[];
  }

  /**
   * Cluster: a log made on the node that takes a member over (member-handover.ts) from what its old
   * node sent it after `seen`: the frames numbered seen+1, seen+2… Undefined when they do not fit
   * the bound of a dropped member's log (the resume then starts afresh, as it would have there).
   */
  static handedOver(seen: number, frames: OutFrame[], maxDetachedBytes: number): SentLog | undefined {
    const log = new SentLog();
    log.last = seen;
    log.first = seen + 1;
    for (const f of frames) log.add(f, true, maxDetachedBytes);
    return log;
  }

  /** Connected again: keep only the live window. */
  resumed(): void {
    this.overflowed = false;
    this.trim(LIVE_FRAMES, LIVE_BYTES);
  }

  private trim(maxFrames: number, maxBytes: number): void {
    while (this.size > maxFrames || (this.bytes > maxBytes && this.size > 1)) {
      this.bytes -= this.frames[this.head]!.text.length;
      this.frames[this.head++] = undefined;
      this.first++;
    }
    // drop the dead prefix in one go once it is as long as the live part: O(1) amortized
    if (this.head > 0 && this.head >= this.size) { this.frames = this.frames.slice(this.head); this.head = 0; }
  }

  private clear(): void {
    this.frames = [];
    this.head = 0;
    this.bytes = 0;
    this.first = this.last + 1;
  }
}
