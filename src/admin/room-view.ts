// What the admin API shows of one room on this node: a summary (a line of GET /_/rooms) and the
// detail (GET /_/rooms/<room>). Built from what rooms keep anyway; nothing here is kept per message.
// A cluster sums these over its nodes (admin/room-merge.ts): each node reports only its own
// members and peers, so counts add up exactly.
import type { Room } from '../rooms/room.js';
import type { RoomRates } from './room-rates.js';

export interface RoomSummary {
  room: string;
  /** native members connected to (or waiting out their resume grace on) this node */
  members: number;
  gunPeers: number;
  /** GUN nodes (souls) in the room's graph, and its approximate bytes */
  graphNodes: number;
  graphBytes: number;
  /** bytes of published messages kept for replay here (0 in a cluster: they are in the engine) */
  historyBytes: number;
  /** graphBytes + historyBytes: what the room holds in memory (`sort=bytes`) */
  bytes: number;
  messagesIn: number;
  messagesOut: number;
  /** messages in + out per second over the last sampling interval (admin/room-rates.ts) */
  rate: number;
  owned: boolean;
  createdAt: string;
  emptySince: string | null;
  /** cluster: the nodes holding the room */
  nodes?: string[];
}

export interface MemberView {
  cid: string;
  user?: string;
  /** websocket | sse | inproc; `dropped` while it waits out its resume grace without a connection */
  transport: string;
  address?: string;
  connectedSince: string;
  serving: boolean;
  owner: boolean;
  topics?: string[];
  /** cluster: the node it is connected to */
  node?: string;
}

export interface PeerView {
  /** the connection's id on its node: POST /_/rooms/<room>/kick {"peer": id} */
  id: string;
  address: string;
  node?: string;
}

export interface RoomDetail extends RoomSummary {
  memberList: MemberView[];
  peerList: PeerView[];
  /** topic → members subscribed to it (prefix subscriptions end in "*") */
  topics: Record<string, number>;
  /** the last seq published in the room that this node has seen */
  lastSeq: number;
  owner: string | null;
}

export function summarize(room: Room, rates: RoomRates): RoomSummary {
  const s = room.stats();
  return {
    room: room.name,
    members: s.members,
    gunPeers: s.peers,
    graphNodes: s.nodes,
    graphBytes: s.bytes,
    historyBytes: s.historyBytes,
    bytes: s.bytes + s.historyBytes,
    messagesIn: s.messagesIn,
    messagesOut: s.messagesOut,
    rate: round(rates.of(room)),
    owned: s.owned,
    createdAt: s.createdAt,
    emptySince: s.emptySince,
  };
}

/** At most this many members and peers are listed per node (the counts stay exact). */
export const MAX_LISTED = 1000;

export function detail(room: Room, rates: RoomRates): RoomDetail {
  const hub = room.members > 0 ? room.channels() : undefined;
  const memberList: MemberView[] = [];
  const topics: Record<string, number> = {};
  if (hub) {
    for (const m of hub.members.values()) {
      const subscribed = m.topics?.list();
      if (subscribed) for (const t of subscribed) topics[t] = (topics[t] ?? 0) + 1;
      if (memberList.length >= MAX_LISTED) continue;
      const v: MemberView = {
        cid: m.cid,
        transport: m.conn ? m.conn.transport : 'dropped',
        connectedSince: new Date(m.joinedAt).toISOString(),
        serving: m.serving,
        owner: hub.owner === m.cid,
      };
      if (m.user !== undefined) v.user = m.user;
      if (m.conn) v.address = m.conn.remoteAddress;
      if (subscribed?.length) v.topics = subscribed;
      memberList.push(v);
    }
  }
  const peerList: PeerView[] = [];
  for (const p of room.peers) {
    if (peerList.length >= MAX_LISTED) break;
    peerList.push({ id: p.id, address: p.remoteAddress });
  }
  return {
    ...summarize(room, rates),
    memberList,
    peerList,
    topics,
    lastSeq: room.stats().lastSeq,
    owner: hub?.owner ?? null,
  };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
