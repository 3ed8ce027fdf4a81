// The TCP (--tcp-port, optionally TLS with --tcp-tls) and unix-socket (--ipc) listeners of line
// members. The IPC socket file gets --ipc-mode after listen; a file left by a dead process (nobody
// accepts on it) is replaced, a live one is not; the file is removed when the listener closes.
import net from 'node:net';
import tls from 'node:tls';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config.js';
import { acceptLineStream, type LineDoorContext } from './line-door.js';

/** Where the line listeners listen, once they do. */
export interface LineAddresses {
  tcp?: AddressInfo;
  ipc?: string;
}

export class LineListeners {
  private tcp: net.Server | undefined;
  private ipc: net.Server | undefined;
  private ipcPath: string | undefined;
  private readonly removeOnExit = () => this.unlinkIpc();
  /** Every stream accepted and not yet closed, said hello or not (the drain ends the last ones). */
  private readonly streams = new Set<net.Socket>();

  constructor(private readonly ctx: LineDoorContext) {}

  /** Listen on what the config asks for (nothing when neither --tcp-port nor --ipc is set). Rejects with a one-line Error. */
  async listen(config: Config): Promise<LineAddresses> {
    const out: LineAddresses = {};
    if (config.tcpPort !== undefined) {
      const onStream = (socket: net.Socket) => this.accept(socket, 'tcp');
      const server = config.tcpTls && config.tls
        ? tls.createServer({ key: config.tls.key, cert: config.tls.cert }, onStream)
        : net.createServer(onStream);
      const host = config.tcpHost ?? config.host;
      try {
        await listenOn(server, (done) => server.listen(config.tcpPort, host, done));
      } catch (err) {
        throw new Error(`cannot listen for TCP on ${host}:${config.tcpPort}: ${(err as Error).message}`);
      }
      this.tcp = server;
      out.tcp = server.address() as AddressInfo;
    }
    if (config.ipcPath !== undefined) {
      const path = config.ipcPath;
      await clearStaleSocket(path);
      const server = net.createServer((socket) => this.accept(socket, 'ipc'));
      try {
        await listenOn(server, (done) => server.listen(path, done));
      } catch (err) {
        throw new Error(`cannot listen on the unix socket ${path}: ${(err as Error).message}`);
      }
      this.ipc = server;
      this.ipcPath = path;
      process.once('exit', this.removeOnExit);
      try {
        chmodSync(path, config.ipcMode);
      } catch (err) {
        throw new Error(`cannot set mode ${config.ipcMode.toString(8)} on ${path}: ${(err as Error).message}`);
      }
      out.ipc = path;
    }
    return out;
  }

  private accept(socket: net.Socket, transport: 'tcp' | 'ipc'): void {
    this.streams.add(socket);
    socket.once('close', () => this.streams.delete(socket));
    acceptLineStream(this.ctx, socket, transport);
  }

  /** The end of the drain: streams still open (one still waiting to say hello, one that would not end) go. */
  destroyAll(): void {
    for (const socket of this.streams) socket.destroy();
  }

  /** Stop accepting (the drain): streams already open are ended by the drain itself. */
  stopAccepting(): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const server of [this.tcp, this.ipc]) {
      if (server?.listening) closing.push(new Promise((resolve) => server.close(() => resolve())));
    }
    // The socket file goes at once: a client then gets ENOENT/ECONNREFUSED, not a hang.
    this.unlinkIpc();
    this.tcp = this.ipc = undefined;
    return Promise.all(closing).then(() => undefined);
  }

  private unlinkIpc(): void {
    const path = this.ipcPath;
    if (path === undefined) return;
    this.ipcPath = undefined;
    process.off('exit', this.removeOnExit);
    try { unlinkSync(path); } catch { /* already gone */ }
  }
}

function listenOn(server: net.Server, listen: (done: () => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    listen(() => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * A socket file at `path` that nobody accepts on (its process died) is removed; a live one, or a
 * file that is not a socket, is left alone and listening fails with a clear message.
 */
export async function clearStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new Error(`--ipc ${path} exists and is not a socket; not replacing it`);
  const live = await new Promise<boolean>((resolve, reject) => {
    const probe = net.connect(path);
    probe.once('connect', () => { probe.destroy(); resolve(true); });
    probe.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') resolve(false);
      else reject(new Error(`--ipc ${path}: cannot tell whether the socket is in use: ${err.code ?? err.message}`));
    });
  });
  if (live) throw new Error(`--ipc ${path} is in use by another process (a server is accepting on it); stop it or choose another path`);
  unlinkSync(path);
}
