// One request written byte for byte on a fresh TCP connection (no client library to normalize
// the path or the headers), and everything the server answered until it closed or `waitMs` passed.
import net from 'node:net';

export interface RawAnswer {
  /** the status of the first response line, 0 when there was none */
  status: number;
  text: string;
  /** true when the server closed the connection within `waitMs` */
  closed: boolean;
}

export function rawRequest(port: number, request: string | Buffer, waitMs = 1000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    const chunks: Buffer[] = [];
    let closed = false;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('utf8');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : 0, text, closed });
    };
    const timer = setTimeout(done, waitMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => { closed = true; done(); });
    socket.on('error', () => { /* close follows */ });
  });
}

/** A WebSocket upgrade request for `target`, optionally offering `protocol`. */
export function upgradeRequest(target: string, protocol?: string): string {
  return `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
    (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') + '\r\n';
}
