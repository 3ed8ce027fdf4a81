// A first-in first-out run of bytes in one circular Buffer, outside the V8 heap. A room's history
// keeps its frames here: a million kept messages as JS objects were a million things for the
// garbage collector to promote and mark on the server's one core (many-rooms p99 48–72 ms with
// history, 12.8 ms without); bytes in a Buffer are one object per room, whatever they hold.

/** Smallest buffer a ring allocates; it doubles from there, and halves when a quarter is used. */
const MIN_CAPACITY = 1024;
const EMPTY = Buffer.alloc(0);

export class ByteRing {
  private buf: Buffer = EMPTY;
  /** Offset in `buf` of the oldest byte. */
  private start = 0;
  /** Bytes held. */
  length = 0;

  /** Bytes allocated (what the ring costs in memory). */
  get capacity(): number { return this.buf.length; }

  /** Append `src` after the newest byte; the buffer grows when it does not fit. */
  push(src: Uint8Array): void {
    const need = this.length + src.length;
    if (need > this.buf.length) {
      let capacity = Math.max(MIN_CAPACITY, this.buf.length);
      while (capacity < need) capacity *= 2;
      this.resize(capacity);
    }
    const end = (this.start + this.length) % this.buf.length;
    const first = Math.min(src.length, this.buf.length - end);
    this.buf.set(first === src.length ? src : src.subarray(0, first), end);
    if (first < src.length) this.buf.set(src.subarray(first), 0);
    this.length = need;
  }

  /** Forget the `n` oldest bytes; an empty ring gives its buffer back, a mostly empty one shrinks. */
  drop(n: number): void {
    this.length -= n;
    if (this.length === 0) {
      this.buf = EMPTY;
      this.start = 0;
      return;
    }
    this.start = (this.start + n) % this.buf.length;
    let capacity = this.buf.length;
    while (capacity > MIN_CAPACITY && this.length * 4 <= capacity) capacity /= 2;
    if (capacity < this.buf.length) this.resize(capacity);
  }

  /** Copy `length` bytes from `offset` (counted from the oldest byte) into `target` at `at`. */
  read(offset: number, length: number, target: Uint8Array, at: number): void {
    if (length === 0) return;
    const from = (this.start + offset) % this.buf.length;
    const first = Math.min(length, this.buf.length - from);
    target.set(this.buf.subarray(from, from + first), at);
    if (first < length) target.set(this.buf.subarray(0, length - first), at + first);
  }

  private resize(capacity: number): void {
    // allocUnsafeSlow: a buffer of its own, not a slice of Node's shared pool (which would keep
    // an 8 KiB pool alive for a small ring); every byte below `length` is written before it is read.
    const next = Buffer.allocUnsafeSlow(capacity);
    if (this.length > 0) this.read(0, this.length, next, 0);
    this.buf = next;
    this.start = 0;
  }
}
