// ClusterBus on NATS core subjects (@nats-io/transport-node 3.3; no JetStream):
//   <prefix>.r.<base64url(SHA-256(room))>   a room's publications (room-token.ts: a room name may
//                                          contain ".", "*", ">" or spaces)
//   <prefix>.n.<node id>                    a node's inbox (node ids are [A-Za-z0-9_-])
// One connection per node for both directions: NATS delivers the messages of one connection to each
// subscription in order, the publisher's own subscription included (`noEcho` is off).
//
// Reconnects: the client reconnects forever (every `reconnectWaitMs`) and re-subscribes every
// subscription by itself. While it is disconnected, publishRoom/toNode reject with ERR_BUS_DOWN
// (the client would otherwise buffer them and send them late); while the server hangs with the
// connection open, publishes are written to the connection and go out in order when it answers.
// A publish resolves once it is written to the connection: core NATS has no acknowledgement.
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { ClusterKey } from './cluster-key.js';
import {
  BusError, checkKind, engineAddress, checkNodeId, encodeBusFrame, newBusCounters, nodeContext, receiveFrame, roomContext,
  type BusCounters, type BusState, type ClusterBus, type ClusterBusOptions, type RoomHandler,
} from './cluster-bus.js';
import { roomToken } from './room-token.js';

export interface NatsClusterBusOptions extends ClusterBusOptions {
  /** subject prefix (default 'ms'); [A-Za-z0-9_-] */
  prefix?: string;
  /** start() gives up after this (default 5000 ms) */
  timeoutMs?: number;
  /** wait between reconnect attempts (default 1000 ms) */
  reconnectWaitMs?: number;
  /** client PING interval (default 5000 ms): a server that hangs is taken for down after 2 unanswered (the client's default is 2 minutes) */
  pingIntervalMs?: number;
}

export class NatsClusterBus implements ClusterBus {
  readonly nodeId: string;
  readonly counters: BusCounters = newBusCounters();
  readonly #url: string;
  readonly #prefix: string;
  readonly #rooms = new Map<string, { sub: Subscription; handler: RoomHandler }>(); // room -> subscription
  #nc?: NatsConnection;
  #state: BusState = 'down';

  constructor(url: string, private readonly key: ClusterKey | null, private readonly options: NatsClusterBusOptions) {
    checkNodeId(options.nodeId);
    const prefix = options.prefix ?? 'ms';
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(prefix)) throw new RangeError('the NATS prefix must be 1 to 32 characters from A-Z a-z 0-9 _ -');
    this.nodeId = options.nodeId;
    this.#url = url;
    this.#prefix = prefix;
  }

  get state(): BusState {
    return this.#state;
  }

  get connection(): NatsConnection | undefined {
    return this.#nc;
  }

  subject(room: string): string {
    return `${this.#prefix}.r.${roomToken(room)}`;
  }

  async start(): Promise<void> {
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: this.#url, timeout: this.options.timeoutMs ?? 5000, name: this.nodeId,
        maxReconnectAttempts: -1, reconnectTimeWait: this.options.reconnectWaitMs ?? 1000,
        pingInterval: this.options.pingIntervalMs ?? 5000, maxPingOut: 2,
      });
    } catch (err) {
      throw new BusError('ERR_BUS_DOWN', `cannot reach NATS at ${engineAddress(this.#url)}: ${(err as Error).message}`);
    }
    this.#nc = nc;
    void this.#watch(nc);
    nc.subscribe(`${this.#prefix}.n.${this.nodeId}`, {
      callback: (err, msg) => {
        if (err) return;
        receiveFrame(this.key, this.nodeId, this.counters, this.options.onRejected, undefined, msg.data, (m) => this.options.onNodeMessage?.(m));
      },
    });
    await nc.flush(); // the server has the inbox subscription before start() resolves
    this.#setState('up');
  }

  async subscribeRoom(room: string, handler: RoomHandler): Promise<void> {
    const existing = this.#rooms.get(room);
    if (existing) { existing.handler = handler; return; }
    const nc = this.#connection();
    const entry = {
      handler,
      sub: nc.subscribe(this.subject(room), {
        callback: (err, msg) => {
          // a frame already on its way when the room was unsubscribed (or resubscribed) is dropped
          if (err || this.#rooms.get(room) !== entry) return;
          receiveFrame(this.key, this.nodeId, this.counters, this.options.onRejected, room, msg.data, (m) => entry.handler(m, room));
        },
      }),
    };
    this.#rooms.set(room, entry);
    if (this.#state === 'up') await nc.flush(); // routed here from now on
  }

  unsubscribeRoom(room: string): void {
    const entry = this.#rooms.get(room);
    if (!entry) return;
    this.#rooms.delete(room);
    entry.sub.unsubscribe();
  }

  publishRoom(room: string, kind: string, payload: Uint8Array): void {
    checkKind(kind);
    const frame = encodeBusFrame(this.key, (k) => roomContext(k, room), kind, this.nodeId, payload);
    this.#publish(this.subject(room), frame);
    this.counters.published++;
  }

  toNode(nodeId: string, kind: string, payload: Uint8Array): void {
    checkKind(kind);
    checkNodeId(nodeId);
    const frame = encodeBusFrame(this.key, (k) => nodeContext(k, nodeId), kind, this.nodeId, payload);
    this.#publish(`${this.#prefix}.n.${nodeId}`, frame);
    this.counters.sent++;
  }

  async close(): Promise<void> {
    const nc = this.#nc;
    this.#nc = undefined;
    this.#rooms.clear();
    this.#setState('down');
    if (nc && !nc.isClosed()) await nc.close();
  }

  #publish(subject: string, frame: Uint8Array): void {
    if (this.#state !== 'up') throw new BusError('ERR_BUS_DOWN', 'not connected to NATS');
    this.#connection().publish(subject, frame);
  }

  #connection(): NatsConnection {
    if (!this.#nc) throw new BusError('ERR_BUS_DOWN', 'the bus is not started');
    return this.#nc;
  }

  async #watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') this.#setState('down');
      else if (s.type === 'reconnect') this.#setState('up');
    }
  }

  #setState(state: BusState): void {
    if (state === this.#state) return;
    this.#state = state;
    try { this.options.onState?.(state); } catch { /* a hook never breaks the bus */ }
  }
}
