// NodeRegistry in one process: "nodes" are instances sharing a MemoryRegistryNetwork. Heartbeats
// are delivered synchronously to every other instance, sealed and opened as on an engine; each
// instance expires the ones it has not heard from within the TTL, like the NATS registry.
import type { ClusterKey } from './cluster-key.js';
import {
  decodeBeat, encodeBeat, LapseWatch, LivenessTracker, newRegistryCounters, registryTimes,
  type LiveNode, type NodeGone, type NodeInfo, type NodeRegistry, type NodeRegistryOptions, type RegistryCounters,
} from './node-registry.js';
import { checkNodeId } from './cluster-bus.js';

export class MemoryRegistryNetwork {
  readonly members = new Set<MemoryNodeRegistry>();
  readonly claims = new Map<string, number>(); // dead id -> claim expiry
}

export const defaultMemoryRegistryNetwork = new MemoryRegistryNetwork();

export class MemoryNodeRegistry implements NodeRegistry {
  readonly counters: RegistryCounters = newRegistryCounters();
  readonly #tracker = new LivenessTracker(this.counters);
  readonly #lapse: LapseWatch;
  readonly #times: ReturnType<typeof registryTimes>;
  #info?: NodeInfo;
  #timer?: NodeJS.Timeout;

  constructor(private readonly key: ClusterKey | null, private readonly options: NodeRegistryOptions = {}, private readonly network = defaultMemoryRegistryNetwork) {
    this.#times = registryTimes(options);
    this.#lapse = new LapseWatch(this.#times);
  }

  async start(info: NodeInfo): Promise<void> {
    checkNodeId(info.id);
    this.#info = info;
    this.network.members.add(this);
    this.#beat();
    for (const other of this.network.members) if (other !== this) other.#beat(); // a newcomer learns of everyone at once
    this.#timer = setInterval(() => {
      const now = Date.now();
      if (this.#lapse.tick(now)) this.#tracker.refreshAll(now);
      this.#beat();
    }, this.#times.beatMs);
    this.#timer.unref();
  }

  async list(): Promise<LiveNode[]> {
    this.#tracker.expireOlderThan(Date.now() - this.#times.ttlMs, this.#info?.id ?? '');
    return [...this.#tracker.live.values()];
  }

  onNodeGone(handler: (gone: NodeGone) => void): void {
    this.#tracker.onGone(handler);
  }

  onLapsed(handler: () => void): void {
    this.#lapse.onLapsed(handler);
  }

  async claimCleanup(deadId: string): Promise<boolean> {
    const now = Date.now();
    const until = this.network.claims.get(deadId);
    if (until !== undefined && until > now) return false;
    this.network.claims.set(deadId, now + this.#times.claimTtlMs);
    return true;
  }

  async stop(): Promise<void> {
    const info = this.#info;
    await this.halt();
    if (!info) return;
    const frame = encodeBeat(this.key, 'gone', { ...info, at: Date.now() });
    for (const other of this.network.members) other.#receive(frame);
  }

  async halt(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.network.members.delete(this);
  }

  #beat(): void {
    if (!this.#info) return;
    const frame = encodeBeat(this.key, 'beat', { ...this.#info, ...this.options.counts?.(), at: Date.now(), lapse: this.#lapse.lapses });
    this.counters.beats++;
    for (const member of this.network.members) member.#receive(frame);
    this.#tracker.expireOlderThan(Date.now() - this.#times.ttlMs, this.#info.id);
  }

  #receive(frame: Uint8Array): void {
    const got = decodeBeat(this.key, frame, this.counters, this.options.onRejected);
    if (!got) return;
    if (got.kind === 'gone') this.#tracker.gone(got.node.id, 'stopped', got.node.startedAt);
    else this.#tracker.seen(got.node, Date.now());
  }
}
