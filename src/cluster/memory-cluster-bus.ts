// ClusterBus in one process: the default `memory` broker, and the reference the engine
// implementations are tested against. "Nodes" are instances sharing a MemoryBusNetwork (one per
// process by default). Frames are sealed and opened exactly as on an engine, so a node with
// another key is refused the same way; delivery is synchronous, inside publishRoom / toNode.
import type { ClusterKey } from './cluster-key.js';
import {
  BusError, checkKind, checkNodeId, encodeBusFrame, newBusCounters, nodeContext, receiveFrame, roomContext,
  type BusCounters, type BusState, type ClusterBus, type ClusterBusOptions, type RoomHandler,
} from './cluster-bus.js';

/** The in-process "engine": who is subscribed to which room, and each node's inbox. */
export class MemoryBusNetwork {
  readonly rooms = new Map<string, Set<MemoryClusterBus>>();
  readonly nodes = new Map<string, MemoryClusterBus>();
  // Frames handed over while a delivery is running wait here, so that a handler that publishes
  // does not overtake the frames before it (per-publisher order holds for every receiver).
  readonly #queue: (() => void)[] = [];
  #delivering = false;

  run(delivery: () => void): void {
    this.#queue.push(delivery);
    if (this.#delivering) return;
    this.#delivering = true;
    try {
      for (let i = 0; i < this.#queue.length; i++) this.#queue[i]();
    } finally {
      this.#queue.length = 0;
      this.#delivering = false;
    }
  }
}

export const defaultMemoryBusNetwork = new MemoryBusNetwork();

export class MemoryClusterBus implements ClusterBus {
  readonly nodeId: string;
  readonly counters: BusCounters = newBusCounters();
  readonly #rooms = new Map<string, RoomHandler>();
  #started = false;

  constructor(private readonly key: ClusterKey | null, private readonly options: ClusterBusOptions, private readonly network = defaultMemoryBusNetwork) {
    checkNodeId(options.nodeId);
    this.nodeId = options.nodeId;
  }

  get state(): BusState {
    return this.#started ? 'up' : 'down';
  }

  async start(): Promise<void> {
    const other = this.network.nodes.get(this.nodeId);
    if (other && other !== this) throw new Error(`node id ${this.nodeId} is already on this memory bus`);
    this.network.nodes.set(this.nodeId, this);
    this.#started = true;
  }

  subscribeRoom(room: string, handler: RoomHandler): void {
    this.#rooms.set(room, handler);
    let subscribers = this.network.rooms.get(room);
    if (!subscribers) { subscribers = new Set(); this.network.rooms.set(room, subscribers); }
    subscribers.add(this);
  }

  unsubscribeRoom(room: string): void {
    this.#rooms.delete(room);
    const subscribers = this.network.rooms.get(room);
    if (!subscribers) return;
    subscribers.delete(this);
    if (subscribers.size === 0) this.network.rooms.delete(room);
  }

  publishRoom(room: string, kind: string, payload: Uint8Array): void {
    checkKind(kind);
    this.#checkUp();
    const frame = encodeBusFrame(this.key, (k) => roomContext(k, room), kind, this.nodeId, payload);
    this.counters.published++;
    this.network.run(() => {
      const subscribers = this.network.rooms.get(room);
      if (subscribers) for (const node of [...subscribers]) node.#receiveRoom(room, frame);
    });
  }

  toNode(nodeId: string, kind: string, payload: Uint8Array): void {
    checkKind(kind);
    checkNodeId(nodeId);
    this.#checkUp();
    const frame = encodeBusFrame(this.key, (k) => nodeContext(k, nodeId), kind, this.nodeId, payload);
    this.counters.sent++;
    this.network.run(() => {
      const target = this.network.nodes.get(nodeId);
      if (target) target.#receiveInbox(frame);
    });
  }

  async close(): Promise<void> {
    for (const room of [...this.#rooms.keys()]) this.unsubscribeRoom(room);
    if (this.network.nodes.get(this.nodeId) === this) this.network.nodes.delete(this.nodeId);
    this.#started = false;
  }

  #receiveRoom(room: string, frame: Uint8Array): void {
    const handler = this.#rooms.get(room);
    if (!handler) return;
    receiveFrame(this.key, this.nodeId, this.counters, this.options.onRejected, room, frame, (m) => handler(m, room));
  }

  #receiveInbox(frame: Uint8Array): void {
    const handler = this.options.onNodeMessage;
    receiveFrame(this.key, this.nodeId, this.counters, this.options.onRejected, undefined, frame, (m) => handler?.(m));
  }

  #checkUp(): void {
    if (!this.#started) throw new BusError('ERR_BUS_DOWN', 'the bus is not started');
  }
}
