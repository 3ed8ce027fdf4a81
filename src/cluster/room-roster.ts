// A room's members on other nodes and the calls that reach them (docs/cluster.md): TO BE BUILT (issue 11).
import type { ClusterNode } from './cluster-node.js';
import type { Room } from '../rooms/room.js';

export class RoomRoster {
  constructor(readonly cluster: ClusterNode, readonly room: Room) {}
  ready(): Promise<void> { return Promise.resolve(); }
  dispose(): void {}
}
