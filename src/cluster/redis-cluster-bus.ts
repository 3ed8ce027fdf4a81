// ClusterBus on Redis pub/sub (ioredis 5). Channels:
//   <prefix>:r:<base64url(SHA-256(room))>   a room's publications (the hash: room names are data,
//                                          and a channel name of fixed length is cheap to match)
//   <prefix>:n:<node id>                    a node's inbox
// Two connections per node: one for PUBLISH, and a dedicated subscriber (a connection in
// subscribe mode cannot publish). Redis delivers the messages of one publishing connection to
// each subscriber in order, and the frames a node publishes reach its own subscriber like anyone's.
//
// Reconnects: ioredis reconnects both connections by itself and, on the subscriber, re-issues
// SUBSCRIBE for every channel it had (autoResubscribe; test/cluster-bus-contract.test.ts checks it
// across a redis-server restart). The publisher has no offline queue: while it is disconnected a
// publish rejects at once with ERR_BUS_DOWN instead of going out late; while Redis hangs with the
// connection open, publishes wait (and go out in order when it answers) and reject with
// ERR_BUS_TIMEOUT after `timeoutMs` (they may still be delivered later); a health PING every
// `pingIntervalMs` that is not answered within `timeoutMs` turns the state down (and publishes
// reject with ERR_BUS_DOWN) until one is.
import { Redis, type RedisOptions } from 'ioredis';
import type { ClusterKey } from './cluster-key.js';
import {
  BusError, checkKind, engineAddress, checkNodeId, encodeBusFrame, newBusCounters, nodeContext, receiveFrame, roomContext,
  type BusCounters, type BusState, type ClusterBus, type ClusterBusOptions, type RoomHandler,
} from './cluster-bus.js';
import { roomToken } from './room-token.js';

export interface RedisClusterBusOptions extends ClusterBusOptions {
  /** channel prefix (default 'ms') */
  prefix?: string;
  /** a publish rejects with ERR_BUS_TIMEOUT after this; start() gives up after it (default 5000 ms) */
  timeoutMs?: number;
  /** a PING every this often (default 5000 ms): a Redis that hangs (no answer within timeoutMs) makes the state down */
  pingIntervalMs?: number;
  /** passed to both ioredis clients (e.g. TLS for rediss://, retryStrategy) */
  redis?: RedisOptions;
}

export class RedisClusterBus implements ClusterBus {
  readonly nodeId: string;
  readonly counters: BusCounters = newBusCounters();
  readonly pub: Redis;
  readonly sub: Redis;
  readonly #url: string;
  readonly #prefix: string;
  readonly #inbox: string;
  readonly #timeoutMs: number;
  readonly #rooms = new Map<string, { room: string; handler: RoomHandler }>(); // channel -> room
  #state: BusState = 'down';
  #answering = true; // the last health PING was answered
  #pinger?: NodeJS.Timeout;

  constructor(url: string, private readonly key: ClusterKey | null, private readonly options: RedisClusterBusOptions) {
    checkNodeId(options.nodeId);
    this.nodeId = options.nodeId;
    this.#url = url;
    this.#prefix = options.prefix ?? 'ms';
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#inbox = `${this.#prefix}:n:${this.nodeId}`;
    const common: RedisOptions = { lazyConnect: true, connectTimeout: this.#timeoutMs, ...options.redis };
    this.pub = new Redis(url, { ...common, enableOfflineQueue: false, commandTimeout: this.#timeoutMs, maxRetriesPerRequest: 1 });
    // The subscriber keeps its offline queue: a subscribe while disconnected goes out on reconnect.
    this.sub = new Redis(url, { ...common, autoResubscribe: true, maxRetriesPerRequest: null });
    for (const client of [this.pub, this.sub]) {
      client.on('error', () => { /* reconnects by itself; state says down meanwhile */ });
      client.on('ready', () => { this.#answering = true; this.#updateState(); });
      client.on('close', () => this.#updateState());
    }
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.#receive(channel.toString('latin1'), message));
  }

  get state(): BusState {
    return this.#state;
  }

  channel(room: string): string {
    return `${this.#prefix}:r:${roomToken(room)}`;
  }

  async start(): Promise<void> {
    try {
      await Promise.all([this.pub.connect(), this.sub.connect()]);
      await this.sub.subscribe(this.#inbox);
    } catch (err) {
      this.pub.disconnect();
      this.sub.disconnect();
      throw new BusError('ERR_BUS_DOWN', `cannot reach Redis at ${engineAddress(this.#url)}: ${(err as Error).message}`);
    }
    this.#updateState();
    // ioredis notices a broken connection, not a hung server: a PING that times out says so.
    let inFlight = false;
    this.#pinger = setInterval(() => {
      if (inFlight || this.pub.status !== 'ready') return;
      inFlight = true;
      this.pub.ping().then(() => true, () => false).then((ok) => { inFlight = false; this.#answering = ok; this.#updateState(); });
    }, this.options.pingIntervalMs ?? 5000);
    this.#pinger.unref();
  }

  async subscribeRoom(room: string, handler: RoomHandler): Promise<void> {
    const channel = this.channel(room);
    const had = this.#rooms.has(channel);
    this.#rooms.set(channel, { room, handler });
    if (!had) await this.sub.subscribe(channel);
  }

  async unsubscribeRoom(room: string): Promise<void> {
    const channel = this.channel(room);
    if (!this.#rooms.delete(channel)) return;
    await this.sub.unsubscribe(channel);
  }

  async publishRoom(room: string, kind: string, payload: Uint8Array): Promise<void> {
    checkKind(kind);
    const frame = encodeBusFrame(this.key, (k) => roomContext(k, room), kind, this.nodeId, payload);
    await this.#publish(this.channel(room), frame);
    this.counters.published++;
  }

  async toNode(nodeId: string, kind: string, payload: Uint8Array): Promise<void> {
    checkKind(kind);
    checkNodeId(nodeId);
    const frame = encodeBusFrame(this.key, (k) => nodeContext(k, nodeId), kind, this.nodeId, payload);
    await this.#publish(`${this.#prefix}:n:${nodeId}`, frame);
    this.counters.sent++;
  }

  async close(): Promise<void> {
    clearInterval(this.#pinger);
    this.#rooms.clear();
    this.pub.disconnect();
    this.sub.disconnect();
    this.#updateState();
  }

  async #publish(channel: string, frame: Buffer): Promise<void> {
    // Checked here, not left to ioredis: its "stream isn't writeable" comes a tick later and a
    // connection being set up again would take the command.
    if (this.pub.status !== 'ready') throw new BusError('ERR_BUS_DOWN', `Redis connection is ${this.pub.status}`);
    if (!this.#answering) throw new BusError('ERR_BUS_DOWN', 'Redis does not answer');
    try {
      await this.pub.publish(channel, frame);
    } catch (err) {
      const message = (err as Error).message;
      if (/timed out/i.test(message)) throw new BusError('ERR_BUS_TIMEOUT', `no answer from Redis within ${this.#timeoutMs} ms (the message may still be delivered)`);
      throw new BusError('ERR_BUS_DOWN', message);
    }
  }

  #receive(channel: string, frame: Buffer): void {
    if (channel === this.#inbox) {
      receiveFrame(this.key, this.nodeId, this.counters, this.options.onRejected, undefined, frame, (m) => this.options.onNodeMessage?.(m));
      return;
    }
    const entry = this.#rooms.get(channel);
    if (!entry) return; // unsubscribed while the frame was on its way
    receiveFrame(this.key, this.nodeId, this.counters, this.options.onRejected, entry.room, frame, (m) => entry.handler(m, entry.room));
  }

  #updateState(): void {
    const state: BusState = this.pub.status === 'ready' && this.sub.status === 'ready' && this.#answering ? 'up' : 'down';
    if (state === this.#state) return;
    this.#state = state;
    try { this.options.onState?.(state); } catch { /* a hook never breaks the bus */ }
  }
}
