// NodeRegistry in Redis (ioredis 5):
//   <prefix>:node:<id>     the node's sealed record {id, startedAt, at, rooms?, connections?},
//                          SET ... PX ttlMs at every beat: it exists while the node beats
//   <prefix>:nodes         a set of the ids that beat (for list(); a dead id leaves it when claimed)
//   <prefix>:claim:<id>    SET NX PX claimTtlMs: who cleans up after dead node <id>
//   <prefix>:node-gone     a channel: a node that stops cleanly says so here (sealed)
// Every beat also reads the set and the records (SMEMBERS, then one MGET): a node this one knew
// whose record is gone, or an id in the set without a record, is reported gone. So the engine is
// the one judge of liveness (its key expiry), and a node cut off from Redis reports nobody gone
// (its reads fail). A node that finds its own record gone when it beats (it stalled past the TTL)
// was expired by the others: it beats at once with a higher `lapse` and tells onLapsed. Two connections: commands, and a subscriber for the goodbyes.
import { Redis, type RedisOptions } from 'ioredis';
import type { ClusterKey } from './cluster-key.js';
import { checkNodeId } from './cluster-bus.js';
import {
  decodeBeat, encodeBeat, LapseWatch, LivenessTracker, newRegistryCounters, registryTimes,
  type LiveNode, type NodeGone, type NodeInfo, type NodeRegistry, type NodeRegistryOptions, type RegistryCounters,
} from './node-registry.js';

export interface RedisNodeRegistryOptions extends NodeRegistryOptions {
  /** key prefix (default 'ms') */
  prefix?: string;
  redis?: RedisOptions;
}

export class RedisNodeRegistry implements NodeRegistry {
  readonly counters: RegistryCounters = newRegistryCounters();
  readonly redis: Redis;
  readonly sub: Redis;
  readonly #tracker = new LivenessTracker(this.counters);
  readonly #lapse: LapseWatch;
  #beaten = false;
  readonly #times: ReturnType<typeof registryTimes>;
  readonly #prefix: string;
  // ids reported gone (any incarnation): an id left in the set is not reported again without a startedAt
  readonly #reported = new Set<string>();
  #info?: NodeInfo;
  #timer?: NodeJS.Timeout;
  #running = false;
  #graceUntil = 0;

  constructor(url: string, private readonly key: ClusterKey | null, private readonly options: RedisNodeRegistryOptions = {}) {
    this.#times = registryTimes(options);
    this.#lapse = new LapseWatch(this.#times);
    this.#prefix = options.prefix ?? 'ms';
    const common: RedisOptions = { lazyConnect: true, connectTimeout: 5000, ...options.redis };
    this.redis = new Redis(url, { ...common, maxRetriesPerRequest: 1, commandTimeout: this.#times.beatMs * 2 });
    this.sub = new Redis(url, { ...common, maxRetriesPerRequest: null });
    for (const client of [this.redis, this.sub]) client.on('error', () => { /* reconnects by itself */ });
    // Back from a disconnect: the engine may have lost every record (a restart without
    // persistence), and the other nodes rewrite theirs only at their next beat. Until a full TTL
    // has passed, nobody is reported expired (as on NATS after a reconnect).
    this.redis.on('ready', () => { if (this.#running) this.#graceUntil = Date.now() + this.#times.ttlMs; });
    this.#tracker.onGone((gone) => {
      if (this.#reported.size >= 10_000) this.#reported.clear();
      this.#reported.add(gone.id);
    });
    this.sub.on('messageBuffer', (_channel: Buffer, frame: Buffer) => {
      const got = decodeBeat(this.key, frame, this.counters, this.options.onRejected);
      if (got?.kind === 'gone' && got.node.id !== this.#info?.id) this.#tracker.gone(got.node.id, 'stopped', got.node.startedAt);
    });
  }

  #nodeKey(id: string): string { return `${this.#prefix}:node:${id}`; }
  get #setKey(): string { return `${this.#prefix}:nodes`; }

  async start(info: NodeInfo): Promise<void> {
    checkNodeId(info.id);
    this.#info = info;
    await Promise.all([this.redis.connect(), this.sub.connect()]);
    await this.sub.subscribe(`${this.#prefix}:node-gone`);
    this.#running = true;
    await this.#beat();
    await this.#poll();
    this.#schedule();
  }

  async list(): Promise<LiveNode[]> {
    await this.#poll();
    return [...this.#tracker.live.values()];
  }

  onNodeGone(handler: (gone: NodeGone) => void): void {
    this.#tracker.onGone(handler);
  }

  onLapsed(handler: () => void): void {
    this.#lapse.onLapsed(handler);
  }

  async claimCleanup(deadId: string): Promise<boolean> {
    checkNodeId(deadId);
    const won = await this.redis.set(`${this.#prefix}:claim:${deadId}`, this.#info?.id ?? '', 'PX', this.#times.claimTtlMs, 'NX');
    if (won !== 'OK') return false;
    await this.redis.srem(this.#setKey, deadId);
    return true;
  }

  async stop(): Promise<void> {
    const info = this.#info;
    this.#halt();
    if (info) {
      await this.redis.multi()
        .del(this.#nodeKey(info.id))
        .srem(this.#setKey, info.id)
        .publish(`${this.#prefix}:node-gone`, encodeBeat(this.key, 'gone', { ...info, at: Date.now() }))
        .exec().catch(() => { /* the others see the record expire */ });
    }
    this.redis.disconnect();
    this.sub.disconnect();
  }

  async halt(): Promise<void> {
    this.#halt();
    this.redis.disconnect();
    this.sub.disconnect();
  }

  #halt(): void {
    this.#running = false;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#timer = setTimeout(() => {
      void this.#beat().then(() => this.#poll()).catch(() => { /* engine away: try again next beat */ }).finally(() => this.#schedule());
    }, this.#times.beatMs);
    this.#timer.unref();
  }

  async #beat(): Promise<void> {
    const info = this.#info!;
    const record = encodeBeat(this.key, 'record', { ...info, ...this.options.counts?.(), at: Date.now(), lapse: this.#lapse.lapses });
    const replies = await this.redis.multi().exists(this.#nodeKey(info.id)).set(this.#nodeKey(info.id), record, 'PX', this.#times.ttlMs).sadd(this.#setKey, info.id).exec();
    this.counters.beats++;
    // Its record had expired (not the first beat, nor an engine that lost every record): the
    // others reported it gone. Beat again with the higher lapse so that they take it back.
    const existed = replies?.[0]?.[1];
    const wasFirst = !this.#beaten;
    this.#beaten = true;
    if (existed === 0 && !wasFirst && Date.now() >= this.#graceUntil && this.#lapse.lapsed()) await this.#beat();
  }

  /** Reads every record; reports the known nodes whose record is gone, and ids in the set without one. */
  async #poll(): Promise<void> {
    const ids = await this.redis.smembers(this.#setKey);
    const records = ids.length ? await this.redis.mgetBuffer(...ids.map((id) => this.#nodeKey(id))) : [];
    if (!this.#running) return;
    const inGrace = Date.now() < this.#graceUntil;
    const present = new Set<string>();
    ids.forEach((id, i) => {
      const frame = records[i];
      if (!frame) return;
      const got = decodeBeat(this.key, frame, this.counters, this.options.onRejected, id);
      if (!got || got.node.id !== id) return;
      present.add(id);
      this.#tracker.seen(got.node, got.node.at);
    });
    if (inGrace) return;
    for (const node of [...this.#tracker.live.values()]) {
      if (!present.has(node.id) && node.id !== this.#info!.id) this.#tracker.gone(node.id, 'expired', node.startedAt);
    }
    // An id in the set without a record that this node never saw alive (it died before this node
    // started, and nobody has claimed it yet): reported once, with no startedAt.
    ids.forEach((id, i) => {
      if (!records[i] && !this.#reported.has(id) && !this.#tracker.live.has(id) && id !== this.#info!.id) {
        this.#tracker.gone(id, 'expired');
      }
    });
  }

}
