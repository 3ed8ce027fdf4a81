// What ties one room on this node to the same room on the other nodes, per protocol: the GUN
// link (the room's put log and live puts) and the native link (publications, members, calls).
// A link is made when the room first needs it and must be ready (subscribed, loaded) before a
// client of that protocol is let in: the doors await `ready()`, so the protocols themselves never
// see a half-joined room.
export interface RoomLink {
  /** Resolves once the room is joined with the cluster for this protocol; rejects when the engine is unreachable. */
  ready(): Promise<void>;
  /** The room is freed on this node: unsubscribe, stop timers. */
  dispose(): void;
}

export type RoomProtocol = 'gun' | 'native';
