// NodeRegistry on NATS (servers 2.9+): heartbeats on core subjects, each node tracking when it last
// heard every other one, and one JetStream stream for clean-up claims.
//   <prefix>.node.beat    every node's sealed heartbeat {id, startedAt, at, rooms?, connections?}
//   <prefix>.node.hello   a starting node asks; every node answers with a heartbeat at once
//   <prefix>.node.gone    a node that stops cleanly says so
//   <prefix>.claim.<id>   stream <PREFIX>_CLAIMS (memory storage, one message per subject, max_age
//                         claimTtlMs): a claim is a publish expecting the subject to be empty, so
//                         exactly one succeeds (JetStream checks it atomically); others get 10071.
// Why not a KV bucket with a TTL: on 2.9 a KV entry that ages out leaves no marker and a watcher is
// not told, so every node would have to list the bucket's keys each beat (an ordered consumer per
// listing); per-key TTLs arrived in 2.11. Heartbeats on a subject cost one small message per node
// per beat and detect a death by a local timer. A node cut off from NATS reports nobody gone, and
// after it reconnects it counts everyone as just seen (they get a full TTL to be heard again). A node
// whose own beat timer ran late by about the TTL (it stalled: the others expired it; they send
// nobody a notice for that) does the same, beats with a higher `lapse` and tells onLapsed.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DiscardPolicy, jetstream, jetstreamManager, JetStreamApiError, RetentionPolicy, StorageType, type StreamConfig } from '@nats-io/jetstream';
import type { ClusterKey } from './cluster-key.js';
import { checkNodeId } from './cluster-bus.js';
import {
  decodeBeat, encodeBeat, LapseWatch, LivenessTracker, newRegistryCounters, registryTimes,
  type LiveNode, type NodeGone, type NodeInfo, type NodeRegistry, type NodeRegistryOptions, type RegistryCounters,
} from './node-registry.js';

export interface NatsNodeRegistryOptions extends NodeRegistryOptions {
  /** subjects `<prefix>.node.*`, `<prefix>.claim.*`, stream `<PREFIX>_CLAIMS` (default 'ms') */
  prefix?: string;
  reconnectWaitMs?: number;
  /** client PING interval (default 5000 ms; see NatsClusterBusOptions) */
  pingIntervalMs?: number;
}

const WRONG_LAST_SEQUENCE = 10071;

export class NatsNodeRegistry implements NodeRegistry {
  readonly counters: RegistryCounters = newRegistryCounters();
  readonly #tracker = new LivenessTracker(this.counters);
  readonly #lapse: LapseWatch;
  readonly #times: ReturnType<typeof registryTimes>;
  readonly #prefix: string;
  readonly #url: string;
  #nc?: NatsConnection;
  #info?: NodeInfo;
  #timer?: NodeJS.Timeout;
  #connected = false;
  #claimsReady?: Promise<void>;

  constructor(url: string, private readonly key: ClusterKey | null, private readonly options: NatsNodeRegistryOptions = {}) {
    this.#times = registryTimes(options);
    this.#lapse = new LapseWatch(this.#times);
    const prefix = options.prefix ?? 'ms';
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(prefix)) throw new RangeError('the NATS prefix must be 1 to 32 characters from A-Z a-z 0-9 _ -');
    this.#prefix = prefix;
    this.#url = url;
  }

  get claimStream(): string { return `${this.#prefix.toUpperCase()}_CLAIMS`; }

  async start(info: NodeInfo): Promise<void> {
    checkNodeId(info.id);
    this.#info = info;
    const nc = await connect({ servers: this.#url, timeout: 5000, name: `${info.id}-registry`, maxReconnectAttempts: -1, reconnectTimeWait: this.options.reconnectWaitMs ?? 1000, pingInterval: this.options.pingIntervalMs ?? 5000, maxPingOut: 2 });
    this.#nc = nc;
    this.#connected = true;
    void this.#watch(nc);
    const p = this.#prefix;
    nc.subscribe(`${p}.node.beat`, { callback: (err, m) => { if (!err) this.#receive(m.data); } });
    nc.subscribe(`${p}.node.gone`, { callback: (err, m) => { if (!err) this.#receive(m.data); } });
    nc.subscribe(`${p}.node.hello`, { callback: (err) => { if (!err) this.#beat(); } });
    await nc.flush();
    this.#beat();
    nc.publish(`${p}.node.hello`);
    await nc.flush();
    this.#timer = setInterval(() => this.#tick(), this.#times.beatMs);
    this.#timer.unref();
  }

  async list(): Promise<LiveNode[]> {
    this.#expire();
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
    const nc = this.#nc;
    if (!nc) throw new Error('the registry is not started');
    this.#claimsReady ??= this.#setUpClaims(nc).catch((err) => { this.#claimsReady = undefined; throw err; });
    await this.#claimsReady;
    try {
      await jetstream(nc).publish(`${this.#prefix}.claim.${deadId}`, this.#info!.id, { expect: { lastSubjectSequence: 0 } });
      return true;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE) return false;
      throw err;
    }
  }

  async stop(): Promise<void> {
    const nc = this.#nc;
    const info = this.#info;
    clearInterval(this.#timer);
    this.#nc = undefined;
    if (!nc || !info) return;
    nc.publish(`${this.#prefix}.node.gone`, encodeBeat(this.key, 'gone', { ...info, at: Date.now() }));
    await nc.flush().catch(() => {});
    await nc.close();
  }

  async halt(): Promise<void> {
    clearInterval(this.#timer);
    const nc = this.#nc;
    this.#nc = undefined;
    await nc?.close();
  }

  async #setUpClaims(nc: NatsConnection): Promise<void> {
    const jsm = await jetstreamManager(nc);
    const wanted: Partial<StreamConfig> = {
      subjects: [`${this.#prefix}.claim.>`], max_msgs_per_subject: 1, max_age: this.#times.claimTtlMs * 1e6,
      discard: DiscardPolicy.Old, retention: RetentionPolicy.Limits,
    };
    try {
      const info = await jsm.streams.info(this.claimStream);
      if (info.config.max_age !== wanted.max_age) await jsm.streams.update(this.claimStream, { ...info.config, ...wanted });
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.status !== 404) throw err;
      try {
        await jsm.streams.add({ name: this.claimStream, storage: StorageType.Memory, num_replicas: 1, ...wanted });
      } catch (e) {
        if (!(e instanceof JetStreamApiError)) throw e; // another node created it meanwhile: fine
      }
    }
  }

  #tick(): void {
    const now = Date.now();
    // Stalled: what this node heard of the others is as old as the stall, not a sign of their death.
    if (this.#lapse.tick(now)) this.#tracker.refreshAll(now);
    this.#beat();
    this.#expire();
  }

  #beat(): void {
    const nc = this.#nc;
    if (!nc || !this.#connected || !this.#info) return;
    nc.publish(`${this.#prefix}.node.beat`, encodeBeat(this.key, 'beat', { ...this.#info, ...this.options.counts?.(), at: Date.now(), lapse: this.#lapse.lapses }));
    this.counters.beats++;
  }

  #expire(): void {
    if (!this.#connected || !this.#info) return; // cut off: nobody is reported gone
    this.#tracker.expireOlderThan(Date.now() - this.#times.ttlMs, this.#info.id);
  }

  #receive(frame: Uint8Array): void {
    const got = decodeBeat(this.key, frame, this.counters, this.options.onRejected);
    if (!got || !this.#nc) return;
    if (got.kind === 'gone') { if (got.node.id !== this.#info?.id) this.#tracker.gone(got.node.id, 'stopped', got.node.startedAt); }
    else if (got.kind === 'beat') this.#tracker.seen(got.node, Date.now());
  }

  async #watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') this.#connected = false;
      else if (s.type === 'reconnect') {
        this.#connected = true;
        this.#tracker.refreshAll(Date.now());
        this.#beat();
        nc.publish(`${this.#prefix}.node.hello`);
      }
    }
  }
}
