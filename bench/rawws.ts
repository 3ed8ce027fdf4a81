// A minimal WebSocket client over node:net, for the load generator.
// Why not `ws`: the client must cost as little CPU as possible and we want full control
// (one write for many frames, no per-message events we don't need).
// Client frames are masked (RFC 6455 §5.3); server frames must be unmasked.
import net from 'node:net';
import crypto from 'node:crypto';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const EMPTY = Buffer.alloc(0);
const MAX_FRAME = 64 * 1024 * 1024; // anything bigger is treated as a protocol error

export interface RawWsOptions {
  host: string;
  port: number;
  path: string;
  /** Called once per complete text (or binary) message with the payload's bytes.
   *  It can run before connect() resolves (frames may share a packet with the 101), hence `ws`. */
  onMessage(ws: RawWs, data: Buffer, start: number, end: number): void;
  onClose?(reason: string): void;
  timeoutMs?: number;
  /** Sec-WebSocket-Protocol to ask for (e.g. multisocket.v1); the answer must match. */
  protocol?: string;
}

/** Builds one masked client frame. */
export function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const hdr = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(hdr + 4 + len);
  out[0] = 0x80 | opcode; // FIN + opcode
  if (hdr === 2) out[1] = 0x80 | len;
  else if (hdr === 4) { out[1] = 0x80 | 126; out.writeUInt16BE(len, 2); }
  else { out[1] = 0x80 | 127; out.writeBigUInt64BE(BigInt(len), 2); }
  // Masking keys only need to be unpredictable to browsers' attackers; Math.random is fine here.
  out.writeUInt32BE((Math.random() * 0x100000000) >>> 0, hdr);
  const m = hdr, p = hdr + 4;
  for (let i = 0; i < len; i++) out[p + i] = payload[i] ^ out[m + (i & 3)];
  return out;
}

export class RawWs {
  readonly socket: net.Socket;
  closed = false;
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private need = 2; // bytes needed before parsing can make progress
  private frag: Buffer[] | null = null; // continuation frames of a fragmented message

  private constructor(socket: net.Socket, private opts: RawWsOptions) {
    this.socket = socket;
  }

  /** Connects and completes the opening handshake (checks 101 and Sec-WebSocket-Accept). */
  static connect(opts: RawWsOptions): Promise<RawWs> {
    return new Promise((resolve, reject) => {
      const key = crypto.randomBytes(16).toString('base64');
      const expect = crypto.createHash('sha1').update(key + GUID).digest('base64');
      const socket = net.connect({ host: opts.host, port: opts.port, noDelay: true });
      const ws = new RawWs(socket, opts);
      let head: Buffer = EMPTY;
      let upgraded = false;
      const timer = setTimeout(() => fail(new Error('handshake timeout')), opts.timeoutMs ?? 10_000);
      const fail = (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        if (!upgraded) reject(err);
      };
      socket.on('connect', () => {
        socket.write(
          `GET ${opts.path} HTTP/1.1\r\nHost: ${opts.host}:${opts.port}\r\n` +
          `Upgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
          (opts.protocol ? `Sec-WebSocket-Protocol: ${opts.protocol}\r\n` : '') + '\r\n');
      });
      socket.on('data', (chunk: Buffer) => {
        if (upgraded) return ws.onData(chunk);
        head = head.length ? Buffer.concat([head, chunk]) : chunk;
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) { if (head.length > 16384) fail(new Error('handshake headers too long')); return; }
        const text = head.toString('latin1', 0, end);
        const status = text.slice(0, text.indexOf('\r\n'));
        if (!/^HTTP\/1\.1 101/.test(status)) return fail(new Error(`handshake failed: ${status}`));
        const accept = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(text)?.[1];
        if (accept !== expect) return fail(new Error('bad Sec-WebSocket-Accept'));
        if (opts.protocol && /\r\nsec-websocket-protocol:\s*(\S+)/i.exec(text)?.[1] !== opts.protocol) return fail(new Error(`server did not accept subprotocol ${opts.protocol}`));
        upgraded = true;
        clearTimeout(timer);
        resolve(ws);
        const rest = head.subarray(end + 4);
        if (rest.length) ws.onData(rest); // frames may arrive in the same packet as the 101
      });
      socket.on('error', (err) => { if (!upgraded) fail(err); else ws.onEnd(String(err.message)); });
      socket.on('close', () => { if (!upgraded) fail(new Error('closed during handshake')); else ws.onEnd('closed'); });
    });
  }

  /** Sends text messages, one frame each, in a single socket write. */
  send(texts: string | string[]): void {
    if (this.closed) return;
    const frames = (typeof texts === 'string' ? [texts] : texts).map((t) => maskedFrame(0x1, Buffer.from(t)));
    this.socket.write(frames.length === 1 ? frames[0] : Buffer.concat(frames));
  }

  close(): void {
    if (this.closed) return;
    this.socket.write(maskedFrame(0x8, Buffer.from([0x03, 0xe8]))); // 1000 normal closure
    this.socket.end();
    this.closed = true;
  }

  private onEnd(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.opts.onClose?.(reason);
  }

  // Collect chunks until a whole frame is available; concatenating only then avoids
  // quadratic copying when a big frame arrives in many small chunks.
  private onData(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingLen += chunk.length;
    if (this.pendingLen < this.need) return;
    const b = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingLen);
    let off = 0;
    this.need = 2;
    while (b.length - off >= 2) {
      const b0 = b[off], b1 = b[off + 1];
      if (b1 & 0x80) return this.protocolError('masked server frame');
      let len = b1 & 0x7f;
      let hdr = 2;
      if (len === 126) {
        if (b.length - off < 4) { this.need = 4; break; }
        len = b.readUInt16BE(off + 2); hdr = 4;
      } else if (len === 127) {
        if (b.length - off < 10) { this.need = 10; break; }
        const big = b.readBigUInt64BE(off + 2);
        if (big > BigInt(MAX_FRAME)) return this.protocolError('frame too big');
        len = Number(big); hdr = 10;
      }
      if (b.length - off < hdr + len) { this.need = hdr + len; break; }
      const start = off + hdr, end = start + len;
      off = end;
      this.onFrame((b0 & 0x80) !== 0, b0 & 0x0f, b, start, end);
      if (this.closed) return;
    }
    const rest = off === b.length ? EMPTY : b.subarray(off);
    this.pending = rest.length ? [rest] : [];
    this.pendingLen = rest.length;
  }

  private onFrame(fin: boolean, op: number, b: Buffer, start: number, end: number): void {
    switch (op) {
      case 0x0: // continuation
        if (!this.frag) return; // stray continuation: ignore rather than die
        this.frag.push(b.subarray(start, end));
        if (fin) { const all = Buffer.concat(this.frag); this.frag = null; this.opts.onMessage(this, all, 0, all.length); }
        return;
      case 0x1: case 0x2: // text / binary
        if (fin) this.opts.onMessage(this, b, start, end);
        else this.frag = [Buffer.from(b.subarray(start, end))];
        return;
      case 0x8: // close: echo it and end
        if (!this.closed) this.socket.write(maskedFrame(0x8, b.subarray(start, Math.min(end, start + 2))));
        this.socket.end();
        this.onEnd(`close frame ${end - start >= 2 ? b.readUInt16BE(start) : 1005}`);
        return;
      case 0x9: // ping -> pong with the same payload
        this.socket.write(maskedFrame(0xa, Buffer.from(b.subarray(start, end))));
        return;
      default: // pong or reserved opcodes: ignore
        return;
    }
  }

  private protocolError(why: string): void {
    this.socket.destroy();
    this.onEnd(`protocol error: ${why}`);
  }
}
