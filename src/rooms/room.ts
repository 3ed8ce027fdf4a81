// A room: everything that shares one URL path. GUN peers and the GUN relay over the room's
// graph; native members and their channel hub (created on first use); counters.
import type { Connection } from '../transports/connection.js';
import type { OutFrame } from '../transports/out-frame.js';
import type { Logger } from '../log.js';
import { GunRelay, type RelayHost } from '../gun/relay.js';
import { MemoryGraphStore } from '../gun/graph-store.js';
import type { IdGenerator } from '../gun/ids.js';
import { ChannelHub, type HubOptions } from '../channels/hub.js';
import { Perm } from '../access/permissions.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import type { RoomLink, RoomProtocol } from '../cluster/room-link.js';
import type { NativeRoomLink } from '../cluster/native-room-link.js';
import type { Tally } from '../metrics/tally.js';

export interface RoomOptions {
  maxRoomBytes: number;
  pid: string;
  newId: IdGenerator;
  log: Logger;
  /** created by /_/new: closes when its owner leaves */
  owned: boolean;
  hub: HubOptions;
  /** This process's node of the cluster; undefined with the memory broker (one process). */
  cluster?: ClusterNode;
  onOwnerLeft: (room: Room) => void;
  /** A native member left for good (the room may now be empty). */
  onMemberLeft: (room: Room) => void;
  /** The server's counts: the room's messages are added to them when it is freed. */
  tally?: Tally;
}

export interface RoomStats {
  peers: number;
  members: number;
  nodes: number;
  bytes: number;
  messagesIn: number;
  messagesOut: number;
  lastSeq: number;
  /** UTF-8 bytes of the native messages kept for replay */
  historyBytes: number;
  owned: boolean;
  createdAt: string;
  emptySince: string | null;
}

export class Room implements RelayHost {
  /** GUN peers */
  readonly peers = new Set<Connection>();
  readonly gun: GunRelay;
  readonly log: Logger;
  /** Made by /_/new; in a cluster also learnt from the node that made it (the native roster), before the hub exists. */
  owned: boolean;
  private hub: ChannelHub | undefined;
  /** This room on the other nodes, per protocol (cluster only; made on first use). */
  private links: Partial<Record<RoomProtocol, RoomLink>> | undefined;
  messagesIn = 0;
  messagesOut = 0;
  readonly createdAt = Date.now();
  /** When the last peer or member left (ms), or null while anyone is present. */
  emptySince: number | null = Date.now();
  /** The TTL timer that frees the room once it has been empty long enough. */
  expiry: NodeJS.Timeout | undefined;

  constructor(readonly name: string, private readonly opts: RoomOptions) {
    this.log = opts.log;
    this.owned = opts.owned;
    this.gun = new GunRelay(this, new MemoryGraphStore(opts.maxRoomBytes), { pid: opts.pid, newId: opts.newId, tally: opts.tally });
  }

  /** The server's counts (src/metrics/tally.ts), shared by its rooms. */
  get tally(): Tally | undefined { return this.opts.tally; }

  /** This process's node of the cluster, or undefined (memory broker: one process). */
  get cluster(): ClusterNode | undefined { return this.opts.cluster; }

  /**
   * Resolves once the room is joined with the rest of the cluster for `protocol` (its put log
   * loaded, its subscriptions routed here); null when there is nothing to wait for (no cluster).
   * The doors await it before letting a client in.
   */
  prepare(protocol: RoomProtocol): Promise<void> | null {
    const cluster = this.opts.cluster;
    if (!cluster) return null;
    const links = (this.links ??= {});
    const link = (links[protocol] ??= cluster.link(this, protocol));
    // GUN peers are counted cluster-wide through the native roster (--max-peers-per-room): a
    // room with GUN peers here joins it too, so that the others hear of them and this node of theirs.
    if (protocol === 'gun') {
      const native = (links.native ??= cluster.link(this, 'native')) as NativeRoomLink | undefined;
      return Promise.all([link?.ready(), native?.rosterReady()]).then(() => {});
    }
    return link ? link.ready() : null;
  }

  /** The link made by prepare(protocol), if any. */
  link(protocol: RoomProtocol): RoomLink | undefined {
    return this.links?.[protocol];
  }

  /** The native channel hub, created when the first native member arrives. */
  channels(): ChannelHub {
    return (this.hub ??= new ChannelHub(this.name, this.opts.hub, this.owned, {
      ownerLeft: () => this.opts.onOwnerLeft(this),
      memberLeft: () => this.opts.onMemberLeft(this),
    }, this.links?.native as NativeRoomLink | undefined));
  }

  get members(): number { return this.hub?.size ?? 0; }

  /** The native hub's message counts (zero before the first member). */
  nativeMessages(): { in: number; out: number } {
    return { in: this.hub?.messagesIn ?? 0, out: this.hub?.messagesOut ?? 0 };
  }

  /** GUN peers plus native members: a room with none is empty. */
  get population(): number { return this.peers.size + this.members; }

  /**
   * What --max-peers-per-room counts: the population here plus (cluster) the native members on the
   * other nodes as this node last heard of them (docs/cluster.md: it lags by a bus round trip).
   */
  get headcount(): number {
    const native = this.links?.native as NativeRoomLink | undefined;
    return this.population + (native ? native.roster.remote.size + native.roster.remoteGunPeers : 0);
  }

  /** A GUN peer came or went here (cluster: the other nodes count it too, through the roster). */
  peersChanged(): void {
    (this.links?.native as NativeRoomLink | undefined)?.roster.gunPeersChanged();
  }

  send(peer: Connection, frame: OutFrame, direct = false): void {
    this.messagesOut++;
    peer.send(frame, direct);
  }

  /** To every peer but `except` whose token lets it read (every peer when tokens are off). */
  broadcast(frame: OutFrame, except?: Connection): void {
    for (const peer of this.peers) {
      if (peer === except || !(peer.principal.perms & Perm.GUN_READ)) continue;
      this.messagesOut++;
      peer.send(frame);
    }
  }

  stats(): RoomStats {
    // Cluster: the history is in the engine, not here: lastSeq is the last seq this node has seen
    // of the room, and no bytes are kept for replay on this node.
    const publications = (this.links?.native as NativeRoomLink | undefined)?.publications;
    return {
      peers: this.peers.size,
      members: this.members,
      nodes: this.gun.store.nodeCount,
      bytes: this.gun.store.approxBytes,
      messagesIn: this.messagesIn + (this.hub?.messagesIn ?? 0),
      messagesOut: this.messagesOut + (this.hub?.messagesOut ?? 0),
      lastSeq: publications ? publications.seq : this.hub?.history.lastSeq ?? 0,
      historyBytes: publications ? 0 : this.hub?.history.keptBytes() ?? 0,
      owned: this.owned,
      createdAt: new Date(this.createdAt).toISOString(),
      emptySince: this.emptySince === null ? null : new Date(this.emptySince).toISOString(),
    };
  }

  /** Hand this room's message counts to the server's (once: dispose may run twice). */
  private retire(): void {
    const retired = this.opts.tally?.retired;
    if (!retired) return;
    retired.gunIn += this.messagesIn;
    retired.gunOut += this.messagesOut;
    retired.nativeIn += this.hub?.messagesIn ?? 0;
    retired.nativeOut += this.hub?.messagesOut ?? 0;
    this.messagesIn = this.messagesOut = 0;
    if (this.hub) this.hub.messagesIn = this.hub.messagesOut = 0;
  }

  dispose(): void {
    if (this.links) for (const link of Object.values(this.links)) link?.dispose();
    this.links = undefined;
    if (this.expiry) clearTimeout(this.expiry);
    this.expiry = undefined;
    this.gun.dispose();
    this.hub?.dispose();
    this.retire();
    this.peers.clear();
  }
}
