// Splits a byte stream into lines (newline-delimited JSON: `\n`, `\r\n` accepted), holding at most
// `maxLineBytes` of a line not yet ended: a longer one is reported as soon as it passes the bound,
// so a peer that never sends a newline cannot make the server buffer without limit.

export type NextLine = Buffer | 'need_more' | 'too_long';

const NEWLINE = 0x0a;
const CR = 0x0d;

export class LineReader {
  private chunk: Buffer | undefined;
  private offset = 0;
  /** Pieces of the line under way from earlier chunks. */
  private partial: Buffer[] = [];
  private partialBytes = 0;

  constructor(private readonly maxLineBytes: number) {}

  /** Add a chunk; call next() until it answers need_more before pushing the next one. */
  push(chunk: Buffer): void {
    this.chunk = chunk;
    this.offset = 0;
  }

  /**
   * The next complete line without its line ending (empty lines are skipped), `need_more` when
   * the data so far ends inside a line, or `too_long` once a line passes maxLineBytes.
   */
  next(): NextLine {
    for (;;) {
      const chunk = this.chunk;
      if (chunk === undefined) return 'need_more';
      const end = chunk.indexOf(NEWLINE, this.offset);
      if (end < 0) {
        const rest = chunk.length - this.offset;
        this.chunk = undefined;
        if (rest === 0) return 'need_more';
        this.partialBytes += rest;
        if (this.partialBytes > this.maxLineBytes + 1) return 'too_long'; // +1: a '\r' may still end it
        this.partial.push(this.offset === 0 ? chunk : chunk.subarray(this.offset));
        return 'need_more';
      }
      let line = chunk.subarray(this.offset, end);
      this.offset = end + 1;
      if (this.partial.length > 0) {
        this.partial.push(line);
        line = Buffer.concat(this.partial, this.partialBytes + line.length);
        this.partial = [];
        this.partialBytes = 0;
      }
      if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
      if (line.length > this.maxLineBytes) return 'too_long';
      if (line.length === 0) continue;
      return line;
    }
  }

  /** Bytes held of a line not yet ended. */
  get heldBytes(): number {
    return this.partialBytes;
  }
}
