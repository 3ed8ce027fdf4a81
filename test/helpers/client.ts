// Shared by the SDK's test files (test/client-*.test.ts): handles that are closed when the file
// ends, waiting for events and conditions on round trips, and a TCP proxy whose connections a
// test can cut (a dropped connection without a server restart).
import assert from 'node:assert/strict';
import net from 'node:net';
import { connect, MultisocketError, type ConnectOptions, type DataMessage, type Room, type RoomEvents, type TransportName } from '../../src/client/index.ts';

export const TRANSPORTS: TransportName[] = ['websocket', 'sse'];
/** Fast reconnects so the tests do not wait on the default 250 ms…10 s backoff. */
export const FAST: ConnectOptions = { backoff: { initial: 40, max: 250 } };

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let counter = 0;
export const uid = (prefix: string) => `/${prefix}-${process.pid.toString(36)}-${(++counter).toString(36)}`;

/** Handles a file opened; close them all in its `after`. */
export class Handles {
  private readonly open = new Set<Room>();

  join(base: string, path: string, transport: TransportName, opts: ConnectOptions = {}): Room {
    const r = connect(base + path, { transport, ...opts });
    this.open.add(r);
    r.on('closed', () => this.open.delete(r));
    return r;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.open].map((r) => r.close()));
  }
}

/** The next `event` of `room` that satisfies `pred`. */
export function next<K extends keyof RoomEvents>(
  room: Room,
  event: K,
  pred: (v: RoomEvents[K]) => boolean = () => true,
  timeoutMs = 4000,
): Promise<RoomEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      room.off(event, on);
      reject(new Error(`no ${String(event)} event in ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (v: RoomEvents[K]) => {
      if (!pred(v)) return;
      clearTimeout(timer);
      room.off(event, on);
      resolve(v);
    };
    room.on(event, on);
  });
}

export async function opened(...rooms: Room[]): Promise<void> {
  await Promise.all(rooms.map((r) => (r.state === 'open' ? undefined : next(r, 'connect'))));
}

/** Every `message` event of `room` from now on. */
export function record(room: Room): DataMessage[] {
  const log: DataMessage[] = [];
  room.on('message', (m) => log.push(m));
  return log;
}

export async function until(cond: () => boolean, label: string, timeoutMs = 4000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${label}`);
    await sleep(10);
  }
}

export async function rejection(p: Promise<unknown>): Promise<MultisocketError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof MultisocketError, `expected a MultisocketError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the promise to reject');
}

/**
 * How long a call takes to reject, and its rejection. Give the call as a function: the clock
 * starts before it is made (a busy machine can pause this process between the two otherwise).
 */
export async function timedRejection(p: Promise<unknown> | (() => Promise<unknown>)): Promise<{ err: MultisocketError; ms: number }> {
  const t0 = Date.now();
  const err = await rejection(typeof p === 'function' ? p() : p);
  return { err, ms: Date.now() - t0 };
}

/**
 * A TCP proxy to the server whose connections the test can cut, and which can refuse new ones
 * for a while.
 */
export class CutProxy {
  private readonly sockets = new Set<net.Socket>();
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  refusing = false;
  /** Where new connections go (a test may move it: a load balancer picking another node). */
  target = 0;
  private constructor(private readonly listener: net.Server, readonly port: number) {}

  static async start(targetPort: number): Promise<CutProxy> {
    let proxy: CutProxy | undefined;
    const listener = net.createServer((client) => {
      if (!proxy || proxy.refusing) { client.destroy(); return; }
      const upstream = net.connect(proxy.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        proxy.sockets.add(s);
        s.on('close', () => proxy?.sockets.delete(s));
        s.on('error', () => { client.destroy(); upstream.destroy(); });
      }
      const pair = { client, upstream };
      proxy.pairs.add(pair);
      upstream.on('close', () => proxy?.pairs.delete(pair));
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    proxy = new CutProxy(listener, (listener.address() as net.AddressInfo).port);
    proxy.target = targetPort;
    return proxy;
  }

  get http(): string { return `http://127.0.0.1:${this.port}`; }

  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  /**
   * From now on, what the server writes on the open connections is taken and thrown away: as a
   * connection that died without either end noticing yet (the server's writes still succeed).
   */
  swallow(): void {
    for (const { client, upstream } of this.pairs) {
      upstream.unpipe(client);
      upstream.on('data', () => {});
    }
  }

  async close(): Promise<void> {
    this.refusing = true;
    this.cut();
    await new Promise<void>((resolve) => this.listener.close(() => resolve()));
  }
}
