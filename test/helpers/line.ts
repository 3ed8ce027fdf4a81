// A raw client of the line transports (TCP, TLS, unix socket; docs/protocol.md "TCP and IPC"):
// newline-delimited JSON, no SDK involved. It keeps every server line in arrival order (as parsed
// messages, the `close` line included), and how the stream ended.
import net from 'node:net';
import tls from 'node:tls';
import { MessageLog, short, type Msg } from './message-log.ts';
import type { RunningServer } from './server.ts';

export type LineTarget = { tcp: number; host?: string; tls?: { ca: Buffer } } | { ipc: string };

/** The TCP port and IPC path of a server started with --tcp-port / --ipc (from its "listening" line). */
export function lineAddress(srv: RunningServer): { tcpPort?: number; ipc?: string } {
  for (const line of srv.logs) {
    try {
      const rec = JSON.parse(line);
      if (rec.msg === 'listening') return { tcpPort: rec.tcpPort, ipc: rec.ipc };
    } catch { /* not JSON */ }
  }
  throw new Error('no listening line');
}

export class LineMember extends MessageLog {
  label: string;
  /** Raw lines as received. */
  readonly lines: string[] = [];
  /** Lines that were not JSON objects. */
  readonly odd: string[] = [];
  /** The `close` line, when the server sent one. */
  closeLine: Msg | undefined;
  ended = false;
  readonly done: Promise<void>;
  private partial = '';

  constructor(readonly socket: net.Socket, label: string) {
    super();
    this.label = label;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      const text = this.partial + chunk;
      const parts = text.split('\n');
      this.partial = parts.pop()!;
      for (const line of parts) this.receive(line);
    });
    socket.on('error', () => { /* surfaced as the end */ });
    this.done = new Promise((resolve) => socket.once('close', () => { this.ended = true; this.notify(); resolve(); }));
  }

  private receive(line: string): void {
    this.lines.push(line);
    let parsed: unknown;
    try { parsed = JSON.parse(line); } catch { this.odd.push(line); this.notify(); return; }
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      if ((parsed as Msg).type === 'close') this.closeLine = parsed as Msg;
      this.messages.push(parsed as Msg);
    } else this.odd.push(line);
    this.notify();
  }

  /** Open a stream (no hello yet). */
  static open(target: LineTarget, label = 'line'): Promise<LineMember> {
    return new Promise((resolve, reject) => {
      let socket: net.Socket;
      if ('ipc' in target) socket = net.connect(target.ipc);
      else if (target.tls) socket = tls.connect({ host: target.host ?? '127.0.0.1', port: target.tcp, ca: target.tls.ca, servername: 'localhost' });
      else socket = net.connect(target.tcp, target.host ?? '127.0.0.1');
      const m = new LineMember(socket, label);
      socket.once(target.hasOwnProperty('tls') && (target as { tls?: unknown }).tls ? 'secureConnect' : 'connect', () => { socket.off('error', reject); resolve(m); });
      socket.once('error', reject);
    });
  }

  /** Open, say hello (extra fields merged in) and wait for `connect`. */
  static async join(target: LineTarget, room: string, hello: Msg = {}): Promise<LineMember> {
    const m = await LineMember.open(target, `line ${room}`);
    m.send({ type: 'hello', room, ...hello });
    const c = await m.waitFor((x) => x.type === 'connect' || x.type === 'error', 3000, 'connect');
    if (c.type !== 'connect') throw new Error(`hello refused: ${short(c)}`);
    m.label = `line ${room} ${c.cid}`;
    return m;
  }

  get hello(): Msg { return this.messages.find((x) => x.type === 'connect')!; }
  get cid(): string { return this.hello.cid; }

  send(msg: unknown): void { this.socket.write(JSON.stringify(msg) + '\n'); }
  write(raw: string | Buffer): void { this.socket.write(raw); }

  /** Resolves when the stream has ended. */
  waitEnd(timeoutMs = 3000): Promise<void> {
    return this.waitUntil(() => this.ended, timeoutMs, 'the end of the stream');
  }

  describe(n = 6): string {
    const recent = this.messages.slice(-n).map((m) => short(m, 200));
    return `stream ${this.ended ? 'ended' : 'open'}; ${this.messages.length} messages, last: [${recent.join(', ')}]` + (this.odd.length ? `; odd: ${this.odd.slice(-3).map((s) => short(s, 120)).join(' | ')}` : '');
  }

  async close(): Promise<void> {
    if (this.ended) return;
    this.socket.end();
    const t = setTimeout(() => this.socket.destroy(), 1000);
    await this.done;
    clearTimeout(t);
  }
}
