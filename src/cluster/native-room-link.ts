// The native protocol of one room across nodes (docs/cluster.md, "Native across nodes"): two
// halves, each with its own file so that each can be read (and replaced) alone —
//   RoomPublications: publish → the room's stream in the engine (one seq per room), delivery to this
//                     node's members from the stream itself, replay (`since`) from it;
//   RoomRoster:       the members on other nodes (connect's members, join/leave, presence) and the
//                     calls that reach them (send, request/reply) through ClusterBus.toNode.
// The hub (channels/hub.ts) keeps its one-process code and asks the link only where a room spans nodes.
import type { ClusterNode } from './cluster-node.js';
import type { RoomLink } from './room-link.js';
import type { Room } from '../rooms/room.js';
import { RoomPublications } from './room-publications.js';
import { RoomRoster } from './room-roster.js';

export class NativeRoomLink implements RoomLink {
  readonly publications: RoomPublications;
  readonly roster: RoomRoster;
  private readiness: Promise<void> | undefined;
  /** keeps the room's work queue in the engine while the room exists here (job-queue.ts touch) */
  private readonly touchTimer: NodeJS.Timeout;
  /** the first touch: on NATS this node is a holder of the room before any client here can push */
  private readonly touched: Promise<void>;

  constructor(readonly cluster: ClusterNode, readonly room: Room) {
    this.publications = new RoomPublications(cluster, room);
    this.roster = new RoomRoster(cluster, room);
    // Every quarter of the queue TTL, whether or not push/pull was used here: another node's jobs
    // must outlive that node's copy of the room as long as this one holds the room.
    const every = Math.max(250, Math.floor(cluster.jobTtlMs / 4));
    const touch = () => cluster.jobs.touch(room.name).catch((err: unknown) => room.log.debug('job queue touch failed', { room: room.name, err: (err as Error)?.message }));
    this.touched = touch().then(() => {});
    this.touchTimer = setInterval(touch, every);
    this.touchTimer.unref();
  }

  ready(): Promise<void> {
    this.readiness ??= Promise.all([this.publications.ready(), this.roster.ready(), this.touched]).then(() => {}, (err: unknown) => {
      this.readiness = undefined; // the next client tries again
      throw err;
    });
    return this.readiness;
  }

  /** The roster alone (a room with GUN peers here: they are counted cluster-wide through it). */
  rosterReady(): Promise<void> {
    return this.roster.ready();
  }

  dispose(): void {
    clearInterval(this.touchTimer);
    // The room is freed here: on NATS the last node to free it drops its queue (Redis: the TTL).
    // Not when the node stops (the server disposes every room, then stops the cluster, in one
    // turn): its jobs wait for the nodes that take the room up, as on Redis until the TTL.
    const cluster = this.cluster;
    const name = this.room.name;
    void this.touched.then(() => cluster.stopping ? false : cluster.jobs.release?.(name)).then((dropped) => {
      if (dropped) this.room.log.debug('job queue dropped: the room is freed on every node', { room: name });
    }, (err: unknown) => this.room.log.warn('job queue release failed', { room: name, err: (err as Error)?.message }));
    this.publications.dispose();
    this.roster.dispose();
  }
}
