// A minimal Server-Sent Events reader over node:net, for the load generators (the SSE sibling of
// rawws.ts): a raw HTTP/1.1 GET with Accept: text/event-stream, the status line checked, then the
// body handed on in runs of complete events. Why raw: as for rawws.ts, a member must cost the
// generator as little CPU as possible (no parsing of events it does not need).
import net from 'node:net';

export interface RawSseOptions {
  host: string;
  port: number;
  path: string;
  /** Called with bytes holding one or more complete events (up to the last blank line seen). */
  onEvents(data: Buffer, start: number, end: number): void;
  /** The stream ended after it was open. */
  onClose?(): void;
  timeoutMs?: number;
}

export class RawSse {
  closed = false;
  private tail: Buffer | undefined;

  private constructor(readonly socket: net.Socket, private opts: RawSseOptions) {}

  /** Resolves once the server answered 200; rejects on another status, an error or the timeout. */
  static connect(opts: RawSseOptions): Promise<RawSse> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: opts.host, port: opts.port, noDelay: true });
      const sse = new RawSse(sock, opts);
      let head: Buffer | null = Buffer.alloc(0);
      const timer = setTimeout(() => { sock.destroy(); reject(new Error('SSE connect timeout')); }, opts.timeoutMs ?? 10_000);
      sock.on('connect', () => sock.write(`GET ${opts.path} HTTP/1.1\r\nHost: ${opts.host}:${opts.port}\r\nAccept: text/event-stream\r\n\r\n`));
      sock.on('data', (chunk: Buffer) => {
        if (head === null) return sse.onData(chunk);
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = head.toString('latin1', 0, head.indexOf('\r\n'));
        if (!/^HTTP\/1\.1 200/.test(status)) { clearTimeout(timer); sock.destroy(); return reject(new Error(`SSE: ${status}`)); }
        const rest = head.subarray(end + 4);
        head = null;
        clearTimeout(timer);
        resolve(sse);
        if (rest.length) sse.onData(rest);
      });
      sock.on('error', (err) => { if (head !== null) { clearTimeout(timer); reject(err); } });
      sock.on('close', () => {
        if (head !== null || sse.closed) return;
        sse.closed = true;
        opts.onClose?.();
      });
    });
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }

  /** Event stream bytes: hand on every complete event (up to the last blank line), keep the rest. */
  private onData(chunk: Buffer): void {
    const b = this.tail?.length ? Buffer.concat([this.tail, chunk]) : chunk;
    const last = b.lastIndexOf('\n\n');
    if (last < 0) { this.tail = b; return; }
    this.opts.onEvents(b, 0, last);
    this.tail = last + 2 < b.length ? Buffer.from(b.subarray(last + 2)) : undefined;
  }
}
