// This process as a node of a cluster (docs/cluster.md): the engine seams (ClusterBus,
// NodeRegistry, RoomStreams, GraphLog) for the configured broker, started together, with one
// routing of bus traffic by kind so that each protocol (GUN, native) subscribes to what it needs
// of a room without knowing about the others.
//
// Only made for an engine broker (redis://, nats://). With `memory` the server has no ClusterNode
// at all: one process runs today's synchronous code path, so the default pays nothing for the cluster.
// The engine clients are imported lazily: a one-process server never loads ioredis or nats.
import type { Logger } from '../log.js';
import type { BrokerConfig } from './broker-url.js';
import { BusError, engineAddress, type BusMessage, type BusRejection, type BusState, type ClusterBus } from './cluster-bus.js';
import type { ClusterKey } from './cluster-key.js';
import type { GraphLog } from './graph-log.js';
import type { JobQueue, JobQueueLimits } from './job-queue.js';
import { OUTCOME_KIND, routeOutcome, type RoomJobs } from './room-jobs.js';
import type { LiveNode, NodeCounts, NodeGone, NodeRegistry } from './node-registry.js';
import type { RoomStreams, StreamLimits } from './room-stream.js';
import type { RoomLink, RoomProtocol } from './room-link.js';
import type { Room } from '../rooms/room.js';
import { NativeRoomLink } from './native-room-link.js';
import { useNodeCidPrefix } from '../channels/cid.js';
import { GunRoomLink } from './gun-room-link.js';
import { BrokerProbe } from './broker-probe.js';

export type EngineKind = 'redis' | 'nats';

export interface ClusterNodeOptions {
  broker: Exclude<BrokerConfig, { kind: 'memory' }>;
  nodeId: string;
  /** null: no --cluster-key (payloads travel in plain framing, unauthenticated) */
  key: ClusterKey | null;
  /** the history limits (--history-size, --history-bytes, --history-ttl) */
  streamLimits: StreamLimits;
  /** the work queues' bounds (--max-queued-jobs, --max-queued-job-bytes) and engine ack wait (room-jobs.ts engineAckWaitMs) */
  jobLimits: JobQueueLimits;
  /** how long a room's GUN log outlives its last touch (room TTL + margin) */
  graphTtlMs: number;
  /** how long a room's work queue outlives its last use or touch (job-queue.ts jobQueueTtlMs) */
  jobTtlMs: number;
  log: Logger;
  /** attached to this node's heartbeats (GET /_/nodes) */
  counts: () => NodeCounts;
  /** engine call bound (default 5000 ms) */
  timeoutMs?: number;
  /** heartbeat interval and TTL (defaults 2 s / 7 s; tests shorten them) */
  beatMs?: number;
  ttlMs?: number;
}

export type KindHandler = (message: BusMessage, room: string) => void;
export type NodeKindHandler = (message: BusMessage) => void;

/** Rejections are logged at most this often per reason (a node with the wrong key would flood the log). */
const REJECTION_LOG_INTERVAL_MS = 10_000;

export class ClusterNode {
  readonly kind: EngineKind;
  readonly nodeId: string;
  readonly startedAt = Date.now();
  bus!: ClusterBus;
  registry!: NodeRegistry;
  streams!: RoomStreams;
  graphLog!: GraphLog;
  jobs!: JobQueue;
  /** rooms with push/pull on this node (where job outcomes for pushers here go) */
  readonly jobRooms = new Map<string, RoomJobs>();
  /** room → kind → handler */
  private readonly roomKinds = new Map<string, Map<string, KindHandler>>();
  private readonly nodeKinds = new Map<string, NodeKindHandler>();
  private readonly goneHandlers: ((gone: NodeGone) => void)[] = [];
  private readonly lapsedHandlers: (() => void)[] = [];
  private readonly stateHandlers: ((state: BusState) => void)[] = [];
  private readonly closers: (() => Promise<void>)[] = [];
  private readonly rejectionLogged = new Map<string, number>();
  private started = false;
  private stopped = false;
  /** frames from other nodes dropped because they did not open (another key, altered...) */
  rejected = 0;
  /** stored entries (history, GUN puts) skipped because they did not open */
  lost = 0;
  /** The engine's round trip, probed every few seconds (/_/metrics). */
  probe: BrokerProbe | undefined;
  /** Calls sent to the engine and not answered yet, on every connection of this node (/_/metrics); NaN when the client hides them. */
  backlog: () => number = () => 0;

  constructor(private readonly opts: ClusterNodeOptions) {
    this.kind = opts.broker.kind;
    this.nodeId = opts.nodeId;
    // Before any member joins: cids must not collide with another node's.
    useNodeCidPrefix(opts.nodeId, this.startedAt);
  }

  /** Connect every seam to the engine. Rejects with one line when the engine is unreachable. */
  async start(): Promise<void> {
    const { broker, key, nodeId, log } = this.opts;
    const timeoutMs = this.opts.timeoutMs ?? 5000;
    const onRejected = (r: BusRejection) => this.onRejected(r);
    const busOptions = {
      nodeId, timeoutMs, onRejected,
      onNodeMessage: (m: BusMessage) => this.onNodeMessage(m),
      onState: (s: BusState) => {
        // The first `up` is the start itself (the listening line says so); changes after it are news.
        if (this.started || s === 'down') log.warn(s === 'up' ? 'broker up' : 'broker down', { broker: engineAddress(broker.url) });
        for (const h of this.stateHandlers) h(s);
      },
    };
    const registryOptions = { counts: this.opts.counts, onRejected, beatMs: this.opts.beatMs, ttlMs: this.opts.ttlMs };
    const onLost = (room: string, at: number, reason: string) => this.onLost(room, at, reason);
    try {
      if (broker.kind === 'redis') {
        const [{ Redis }, { RedisClusterBus }, { RedisNodeRegistry }, { RedisRoomStreams }, { RedisGraphLog }, { RedisJobQueue }] = await Promise.all([
          import('ioredis'), import('./redis-cluster-bus.js'), import('./redis-node-registry.js'), import('./redis-room-streams.js'), import('./redis-graph-log.js'),
          import('./redis-job-queue.js'),
        ]);
        const redis = new Redis(broker.url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 1, commandTimeout: timeoutMs });
        redis.on('error', () => { /* calls fail and say so; ioredis reconnects */ });
        this.closers.push(async () => { redis.disconnect(); });
        const bus = new RedisClusterBus(broker.url, key, busOptions);
        this.bus = bus;
        this.closers.push(() => bus.close());
        await bus.start();
        await redis.connect();
        const streams = new RedisRoomStreams(redis, key, this.opts.streamLimits, { timeoutMs, onLost });
        this.streams = streams;
        this.closers.push(() => streams.close()); // its watch subscriber connection
        const graphLog = new RedisGraphLog(redis, key, { timeoutMs, ttlMs: this.opts.graphTtlMs, onLost });
        this.graphLog = graphLog;
        this.closers.push(() => graphLog.close()); // its watch connection
        this.jobs = new RedisJobQueue(redis, key, nodeId, this.opts.jobLimits, { timeoutMs, ttlMs: this.opts.jobTtlMs });
        this.registry = new RedisNodeRegistry(broker.url, key, registryOptions);
        this.probe = new BrokerProbe(() => redis.ping());
        // ioredis: commands written and awaiting their reply, plus those held while (re)connecting.
        const waiting = (c: InstanceType<typeof Redis>) => c.commandQueue.length + ((c as unknown as { offlineQueue?: { length: number } }).offlineQueue?.length ?? 0);
        this.backlog = () => waiting(bus.pub) + waiting(bus.sub) + waiting(redis);
      } else {
        const [{ connect }, { NatsClusterBus }, { NatsNodeRegistry }, { NatsRoomStreams }, { NatsGraphLog }, { NatsJobQueue }] = await Promise.all([
          import('@nats-io/transport-node'), import('./nats-cluster-bus.js'), import('./nats-node-registry.js'), import('./nats-room-streams.js'), import('./nats-graph-log.js'),
          import('./nats-job-queue.js'),
        ]);
        const bus = new NatsClusterBus(broker.url, key, busOptions);
        this.bus = bus;
        this.closers.push(() => bus.close());
        await bus.start();
        const nc = await connect({ servers: broker.url, timeout: timeoutMs, name: `${nodeId}-data`, maxReconnectAttempts: -1, reconnectTimeWait: 1000 });
        this.closers.push(async () => { if (!nc.isClosed()) await nc.close(); });
        const streams = new NatsRoomStreams(nc, key, this.opts.streamLimits, { timeoutMs, onLost });
        const graphLog = new NatsGraphLog(nc, key, { timeoutMs, ttlMs: this.opts.graphTtlMs, onLost });
        // JetStream must be there (nats-server -js): found out now, not at the first publish.
        const jobs = new NatsJobQueue(nc, key, this.opts.jobLimits, { timeoutMs, nodeId, ttlMs: this.opts.jobTtlMs });
        await Promise.all([streams.ready(), graphLog.ready(), jobs.ready()]);
        this.streams = streams;
        this.graphLog = graphLog;
        this.jobs = jobs;
        this.registry = new NatsNodeRegistry(broker.url, key, registryOptions);
        this.probe = new BrokerProbe(() => nc.rtt());
        // NATS: requests awaiting their answer (JetStream publishes and API calls). Core publishes
        // have no answer; the client's private request table is the only count it keeps.
        const inFlight = (c: unknown) => (c as { protocol?: { muxSubscriptions?: { size(): number } } } | undefined)?.protocol?.muxSubscriptions?.size() ?? Number.NaN;
        this.backlog = () => inFlight(nc) + (bus.connection ? inFlight(bus.connection) : 0);
      }
      this.probe.start();
      this.closers.unshift(async () => this.probe?.stop());
      this.onNode(OUTCOME_KIND, (m) => routeOutcome(this, m));
      this.onNodeGone((gone) => { for (const jobs of this.jobRooms.values()) jobs.nodeGone(gone.id); });
      this.onState((state) => { if (state === 'up') for (const jobs of this.jobRooms.values()) jobs.wake(); });
      const registry = this.registry;
      registry.onNodeGone((gone) => { for (const h of this.goneHandlers) h(gone); });
      registry.onLapsed(() => {
        log.warn('this node stalled past the heartbeat TTL: the others may have reported it gone; re-announcing', { node: nodeId });
        for (const h of this.lapsedHandlers) h();
      });
      this.onLapsed(() => { for (const jobs of this.jobRooms.values()) jobs.wake(); });
      await registry.start({ id: nodeId, startedAt: this.startedAt });
      this.closers.unshift(() => registry.stop());
      this.started = true;
    } catch (err) {
      await this.stop().catch(() => {});
      const reason = err instanceof BusError || !(err instanceof Error) ? String((err as Error)?.message ?? err) : err.message;
      throw new Error(`cannot use the ${broker.kind} broker at ${engineAddress(broker.url)}: ${reason.split('\n')[0]}`);
    }
  }

  get log(): Logger { return this.opts.log; }

  get state(): BusState { return this.bus?.state ?? 'down'; }

  /**
   * The link of `room` for `protocol` (made once per room and protocol by Room.prepare), or
   * undefined while that protocol does not span nodes yet.
   */
  link(room: Room, protocol: RoomProtocol): RoomLink | undefined {
    if (protocol === 'native') return new NativeRoomLink(this, room);
    return new GunRoomLink(this, room);
  }

  /** How long a room's GUN log outlives its last touch (room TTL + margin): links touch every quarter of it. */
  get graphTtlMs(): number { return this.opts.graphTtlMs; }

  /** How long a room's work queue outlives its last use or touch: native links touch every quarter of it. */
  get jobTtlMs(): number { return this.opts.jobTtlMs; }

  nodes(): Promise<LiveNode[]> { return this.registry.list(); }

  /** Handle `kind` publications of `room` (one handler per kind and room). Resolves once routed here. */
  async subscribe(room: string, kind: string, handler: KindHandler): Promise<void> {
    let kinds = this.roomKinds.get(room);
    const first = kinds === undefined;
    if (!kinds) this.roomKinds.set(room, (kinds = new Map()));
    kinds.set(kind, handler);
    if (first) {
      await this.bus.subscribeRoom(room, (message, r) => {
        const h = this.roomKinds.get(r)?.get(message.kind);
        if (h) h(message, r);
      });
    }
  }

  async unsubscribe(room: string, kind: string): Promise<void> {
    const kinds = this.roomKinds.get(room);
    if (!kinds?.delete(kind) || kinds.size > 0) return;
    this.roomKinds.delete(room);
    await this.bus.unsubscribeRoom(room);
  }

  /** Handle node messages of `kind` arriving in this node's inbox. */
  onNode(kind: string, handler: NodeKindHandler): void {
    this.nodeKinds.set(kind, handler);
  }

  onNodeGone(handler: (gone: NodeGone) => void): void {
    this.goneHandlers.push(handler);
  }

  /** This node stalled past the heartbeat TTL (NodeRegistry.onLapsed): what the others dropped of it must be announced again. */
  onLapsed(handler: () => void): void {
    this.lapsedHandlers.push(handler);
  }

  /** Told when the bus goes down or comes back up; returns what stops it. */
  onState(handler: (state: BusState) => void): () => void {
    this.stateHandlers.push(handler);
    return () => {
      const i = this.stateHandlers.indexOf(handler);
      if (i >= 0) this.stateHandlers.splice(i, 1);
    };
  }

  private onNodeMessage(message: BusMessage): void {
    const h = this.nodeKinds.get(message.kind);
    if (h) h(message);
    else this.opts.log.debug('cluster message of no handler', { kind: message.kind, from: message.from });
  }

  private onLost(room: string, at: number, reason: string): void {
    this.lost++;
    const now = Date.now();
    const key = 'lost:' + reason;
    if (now - (this.rejectionLogged.get(key) ?? 0) < REJECTION_LOG_INTERVAL_MS) return;
    this.rejectionLogged.set(key, now);
    this.opts.log.warn('cluster entry not opened', { room, at, reason, skipped: this.lost });
  }

  private onRejected(r: BusRejection): void {
    this.rejected++;
    const now = Date.now();
    const last = this.rejectionLogged.get(r.reason) ?? 0;
    if (now - last < REJECTION_LOG_INTERVAL_MS) return;
    this.rejectionLogged.set(r.reason, now);
    this.opts.log.warn('cluster frame dropped', { reason: r.reason, kind: r.kind, room: r.room, dropped: this.rejected });
  }

  /** Clean stop: the others are told at once; every engine connection closes. */
  /** stop() has begun: rooms disposed now are not freed by their members leaving (native-room-link.ts). */
  get stopping(): boolean { return this.stopped; }

  async stop(): Promise<void> {
    this.stopped = true;
    const closers = this.closers.splice(0);
    for (const close of closers) await close().catch(() => {});
  }
}
