// A room: the peers that share one URL path, the GUN relay over its graph, and its counters.
import type { Connection } from '../transports/connection.js';
import type { OutFrame } from '../transports/out-frame.js';
import type { Logger } from '../log.js';
import { GunRelay, type RelayHost } from '../gun/relay.js';
import { MemoryGraphStore } from '../gun/graph-store.js';
import type { IdGenerator } from '../gun/ids.js';

export interface RoomOptions {
  maxRoomBytes: number;
  pid: string;
  newId: IdGenerator;
  log: Logger;
}

export interface RoomStats {
  peers: number;
  nodes: number;
  bytes: number;
  messagesIn: number;
  messagesOut: number;
  createdAt: string;
  emptySince: string | null;
}

export class Room implements RelayHost {
  readonly peers = new Set<Connection>();
  readonly gun: GunRelay;
  readonly log: Logger;
  messagesIn = 0;
  messagesOut = 0;
  readonly createdAt = Date.now();
  /** When the last peer left (ms), or null while peers are present. */
  emptySince: number | null = Date.now();
  /** The TTL timer that frees the room once it has been empty long enough. */
  expiry: NodeJS.Timeout | undefined;

  constructor(readonly name: string, opts: RoomOptions) {
    this.log = opts.log;
    this.gun = new GunRelay(this, new MemoryGraphStore(opts.maxRoomBytes), { pid: opts.pid, newId: opts.newId });
  }

  send(peer: Connection, frame: OutFrame): void {
    this.messagesOut++;
    peer.send(frame);
  }

  broadcast(frame: OutFrame, except?: Connection): void {
    for (const peer of this.peers) {
      if (peer === except) continue;
      this.messagesOut++;
      peer.send(frame);
    }
  }

  stats(): RoomStats {
    return {
      peers: this.peers.size,
      nodes: this.gun.store.nodeCount,
      bytes: this.gun.store.approxBytes,
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
      createdAt: new Date(this.createdAt).toISOString(),
      emptySince: this.emptySince === null ? null : new Date(this.emptySince).toISOString(),
    };
  }

  dispose(): void {
    if (this.expiry) clearTimeout(this.expiry);
    this.expiry = undefined;
    this.gun.dispose();
    this.peers.clear();
  }
}
