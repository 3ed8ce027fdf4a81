// The admin API's operations (docs/operations.md, "Admin API"), transport-neutral: the HTTP
// routes (admin/admin-routes.ts) and the dashboard's stream call these. With a broker each
// operation covers the whole cluster: the nodes are asked (admin/cluster-calls.ts), each answers
// for its own rooms, and the answers are merged here; a node that does not answer is named in
// `missing` instead of failing the call.
import type { MultisocketServer } from '../server/server.js';
import type { Room } from '../rooms/room.js';
import type { Json } from '../channels/messages.js';
import { parseClientMessage } from '../channels/messages.js';
import { CLOSE_CODES } from '../protocol/errors.js';
import { RoomRates } from './room-rates.js';
import { detail, summarize, type RoomDetail, type RoomSummary } from './room-view.js';
import { ClusterCalls, type Gathered } from './cluster-calls.js';
import { NodeTotalsMeter } from './node-totals.js';

export const ROOM_SORTS = ['name', 'members', 'rate', 'bytes'] as const;
export type RoomSort = typeof ROOM_SORTS[number];
export const DEFAULT_ROOMS_LIMIT = 50;
export const MAX_ROOMS_LIMIT = 1000;

export interface RoomsQuery {
  sort: RoomSort;
  /** rooms whose name starts with this */
  prefix: string;
  limit: number;
  /** where the page starts (from the previous page's `cursor`) */
  offset: number;
}

export interface RoomsPage {
  rooms: RoomSummary[];
  /** rooms that match (cluster: as many as the nodes reported) */
  total: number;
  /** the next page's cursor; absent on the last page */
  cursor?: string;
  missing?: Gathered<unknown>['missing'];
}

/** An operation's answer: the HTTP status and body (admin-routes sends it; the dashboard reads it). */
export interface AdminAnswer { status: number; body: unknown }

/** Why an operation was refused (a code of src/protocol/errors.ts). */
export class AdminError extends Error {
  constructor(readonly code: 'bad_request' | 'not_found' | 'too_large' | 'broker_unavailable', message: string) {
    super(message);
  }
}

export class AdminApi {
  readonly rates: RoomRates;
  /** This node's live totals for the dashboard (connections, rates, event-loop lag, memory). */
  readonly totals: NodeTotalsMeter;
  private readonly calls: ClusterCalls | undefined;
  /** Extra per-node operations (the dashboard's totals), by name. */
  private readonly extraOps = new Map<string, (args: Record<string, unknown>) => Promise<unknown>>();

  constructor(private readonly server: MultisocketServer) {
    this.rates = new RoomRates(server.rooms);
    this.rates.start();
    if (server.cluster) this.calls = new ClusterCalls(server.cluster, (op, args) => this.local(op, args));
    // The dashboard's live totals (admin/admin-events.ts): every node answers for itself.
    this.totals = new NodeTotalsMeter(server);
    this.addOp('totals', async () => this.totals.read());
  }

  stop(): void {
    this.rates.stop();
    this.totals.stop();
  }

  /** Add a per-node operation that every node answers for itself (gathered with `gather`). */
  addOp(name: string, op: (args: Record<string, unknown>) => Promise<unknown>): void {
    this.extraOps.set(name, op);
  }

  /** Ask every node (just this one without a broker) an operation added with addOp. */
  async gather<T>(op: string, args: Record<string, unknown> = {}): Promise<Gathered<T>> {
    if (!this.calls) return { answers: [{ node: this.server.config.nodeId, result: (await this.local(op, args)) as T }], missing: [] };
    return this.calls.all<T>(op, args);
  }

  /** GET /_/rooms */
  async rooms(query: RoomsQuery): Promise<RoomsPage> {
    const wanted = Math.min(query.offset + query.limit, MAX_ROOMS_LIMIT * 10);
    const g = await this.gather<{ rooms: RoomSummary[]; matched: number }>('rooms', { prefix: query.prefix, sort: query.sort, k: wanted });
    const merged = new Map<string, RoomSummary>();
    let total = 0;
    for (const { node, result } of g.answers) {
      total += result.matched;
      for (const r of result.rooms) {
        const here = this.calls ? { ...r, nodes: [node] } : r;
        const seen = merged.get(r.room);
        if (seen) total--; // the same room on two nodes counts once
        merged.set(r.room, seen ? mergeSummaries(seen, here) : here);
      }
    }
    const sorted = [...merged.values()].sort(comparer(query.sort));
    const rooms = sorted.slice(query.offset, query.offset + query.limit);
    const page: RoomsPage = { rooms, total: Math.max(total, sorted.length) };
    const next = query.offset + rooms.length;
    if (rooms.length === query.limit && next < page.total) page.cursor = String(next);
    if (g.missing.length) page.missing = g.missing;
    return page;
  }

  /** GET /_/rooms/<room>: null when no node holds it. */
  async room(name: string): Promise<(RoomDetail & { missing?: Gathered<unknown>['missing'] }) | null> {
    const g = await this.gather<RoomDetail | null>('room', { room: name });
    let merged: RoomDetail | null = null;
    for (const { node, result } of g.answers) {
      if (!result) continue;
      const here: RoomDetail = this.calls
        ? { ...result, nodes: [node], memberList: result.memberList.map((m) => ({ ...m, node })), peerList: result.peerList.map((p) => ({ ...p, node })) }
        : result;
      merged = merged ? mergeDetails(merged, here) : here;
    }
    if (merged && g.missing.length) return { ...merged, missing: g.missing };
    return merged;
  }

  /** POST /_/rooms/<room>/publish: `from` is "server"; every subscriber (cluster-wide) gets it. */
  async publish(name: string, data: Json, topic: string | undefined): Promise<{ seq?: number; node?: string }> {
    const check = parseClientMessage(topic === undefined ? { type: 'publish', data } : { type: 'publish', data, topic });
    if (!check.ok) throw new AdminError('bad_request', check.message);
    const bytes = Buffer.byteLength(JSON.stringify(data));
    if (bytes > this.server.config.maxMessageBytes) throw new AdminError('too_large', `data of ${bytes} bytes is over --max-message-bytes (${this.server.config.maxMessageBytes})`);
    if (this.server.rooms.get(name) || !this.calls) {
      const r = (await this.local('publish', { room: name, data, topic })) as { seq?: number } | null;
      if (!r) throw new AdminError('not_found', `no room ${name}`);
      return r;
    }
    // Another node holds it: that node publishes (through the room's stream, to every node).
    const holders = await this.calls.all<boolean>('has', { room: name });
    const holder = holders.answers.find((a) => a.result)?.node;
    if (holder === undefined) throw new AdminError('not_found', `no room ${name} on any node${holders.missing.length ? ` that answered (${holders.missing.map((m) => m.node).join(', ')} did not)` : ''}`);
    const done = await this.calls.some<{ seq?: number } | null>([holder], 'publish', { room: name, data, topic });
    const r = done.answers[0]?.result;
    if (r === undefined) throw new AdminError('broker_unavailable', `node ${holder} did not publish: ${done.missing[0]?.error ?? 'no answer'}`);
    if (r === null) throw new AdminError('not_found', `no room ${name}`);
    return { ...r, node: holder };
  }

  /** POST /_/rooms/<room>/kick: a member by cid, or a GUN peer by its connection id. */
  async kick(name: string, target: { cid?: string; peer?: string }, reason: string | undefined): Promise<{ kicked: boolean; node?: string }> {
    const g = await this.gather<boolean>('kick', { room: name, ...target, ...(reason !== undefined ? { reason } : {}) });
    const by = g.answers.find((a) => a.result);
    if (by) return this.calls ? { kicked: true, node: by.node } : { kicked: true };
    if (g.missing.length) throw new AdminError('broker_unavailable', `not found on the nodes that answered; ${g.missing.map((m) => m.node).join(', ')} did not`);
    return { kicked: false };
  }

  /** DELETE /_/rooms/<room>: closed on every node; a cluster's engine forgets the room too. */
  async close(name: string): Promise<{ closed: boolean; members: number; gunPeers: number; missing?: Gathered<unknown>['missing'] }> {
    const g = await this.gather<{ members: number; gunPeers: number } | null>('close', { room: name });
    let members = 0;
    let gunPeers = 0;
    let closed = false;
    for (const { result } of g.answers) {
      if (!result) continue;
      closed = true;
      members += result.members;
      gunPeers += result.gunPeers;
    }
    const cluster = this.server.cluster;
    if (cluster) {
      // The graph's log, the publications' stream and the work queue go with the room (a node
      // that made the room anew meanwhile is left as it is: it is a new room).
      await Promise.allSettled([cluster.graphLog.drop(name), Promise.resolve(cluster.streams.drop(name)), cluster.jobs.drop(name)]);
    }
    const answer: { closed: boolean; members: number; gunPeers: number; missing?: Gathered<unknown>['missing'] } = { closed, members, gunPeers };
    if (g.missing.length) answer.missing = g.missing;
    return answer;
  }

  /** What this node answers for itself. */
  private async local(op: string, args: Record<string, unknown>): Promise<unknown> {
    const name = typeof args.room === 'string' ? args.room : '';
    switch (op) {
      case 'rooms': return this.localRooms(String(args.prefix ?? ''), (ROOM_SORTS as readonly string[]).includes(String(args.sort)) ? args.sort as RoomSort : 'name', Number(args.k) || DEFAULT_ROOMS_LIMIT);
      case 'room': {
        const room = this.server.rooms.get(name);
        return room ? detail(room, this.rates) : null;
      }
      case 'has': return this.server.rooms.get(name) !== undefined;
      case 'publish': {
        const room = this.server.rooms.get(name);
        if (!room) return null;
        await room.prepare('native');
        return room.channels().serverPublish(args.data as Json, typeof args.topic === 'string' ? args.topic : undefined);
      }
      case 'kick': return this.localKick(name, args);
      case 'close': {
        const room = this.server.rooms.get(name);
        if (!room) return null;
        const counts = { members: room.members, gunPeers: room.peers.size };
        this.server.rooms.close(room, 'closed_by_admin');
        return counts;
      }
      default: {
        const extra = this.extraOps.get(op);
        if (extra) return extra(args);
        throw new Error(`no admin operation ${op}`);
      }
    }
  }

  private localRooms(prefix: string, sort: RoomSort, k: number): { rooms: RoomSummary[]; matched: number } {
    const matching: Room[] = [];
    for (const [name, room] of this.server.rooms) if (name.startsWith(prefix)) matching.push(room);
    if (sort === 'rate') {
      // The dashboard asks for this every 2 s: rank by the sampled rate (rounded as the summary
      // rounds it, so the order is the same) and summarize only the k kept.
      const ranked = matching.map((room) => ({ room, rate: Math.round(this.rates.of(room) * 10) / 10 }))
        .sort((a, b) => b.rate - a.rate || (a.room.name < b.room.name ? -1 : a.room.name > b.room.name ? 1 : 0))
        .slice(0, k);
      return { rooms: ranked.map((r) => summarize(r.room, this.rates)), matched: matching.length };
    }
    const rooms = matching.map((r) => summarize(r, this.rates)).sort(comparer(sort)).slice(0, k);
    return { rooms, matched: matching.length };
  }

  private localKick(name: string, args: Record<string, unknown>): boolean {
    const room = this.server.rooms.get(name);
    if (!room) return false;
    const reason = typeof args.reason === 'string' ? args.reason : undefined;
    if (typeof args.cid === 'string') {
      if (room.members === 0) return false;
      const hub = room.channels();
      const member = hub.members.get(args.cid);
      if (!member) return false;
      hub.kick(member, reason);
      return true;
    }
    if (typeof args.peer === 'string') {
      for (const p of room.peers) {
        if (p.id !== args.peer) continue;
        p.close(CLOSE_CODES.KICKED, 'kicked');
        return true;
      }
    }
    return false;
  }
}

function comparer(sort: RoomSort): (a: RoomSummary, b: RoomSummary) => number {
  const byName = (a: RoomSummary, b: RoomSummary) => (a.room < b.room ? -1 : a.room > b.room ? 1 : 0);
  switch (sort) {
    case 'name': return byName;
    case 'members': return (a, b) => (b.members + b.gunPeers) - (a.members + a.gunPeers) || byName(a, b);
    case 'rate': return (a, b) => b.rate - a.rate || byName(a, b);
    case 'bytes': return (a, b) => b.bytes - a.bytes || byName(a, b);
  }
}

/** One room as two nodes see it: people and traffic add up; the graph is a copy on each node. */
function mergeSummaries(a: RoomSummary, b: RoomSummary): RoomSummary {
  const graphBytes = Math.max(a.graphBytes, b.graphBytes);
  const historyBytes = Math.max(a.historyBytes, b.historyBytes);
  return {
    room: a.room,
    members: a.members + b.members,
    gunPeers: a.gunPeers + b.gunPeers,
    graphNodes: Math.max(a.graphNodes, b.graphNodes),
    graphBytes,
    historyBytes,
    bytes: graphBytes + historyBytes,
    messagesIn: a.messagesIn + b.messagesIn,
    messagesOut: a.messagesOut + b.messagesOut,
    rate: Math.round((a.rate + b.rate) * 10) / 10,
    owned: a.owned || b.owned,
    createdAt: a.createdAt < b.createdAt ? a.createdAt : b.createdAt,
    emptySince: a.emptySince === null || b.emptySince === null ? null : (a.emptySince > b.emptySince ? a.emptySince : b.emptySince),
    nodes: [...(a.nodes ?? []), ...(b.nodes ?? [])],
  };
}

function mergeDetails(a: RoomDetail, b: RoomDetail): RoomDetail {
  const topics = { ...a.topics };
  for (const [t, n] of Object.entries(b.topics)) topics[t] = (topics[t] ?? 0) + n;
  return {
    ...mergeSummaries(a, b),
    memberList: [...a.memberList, ...b.memberList],
    peerList: [...a.peerList, ...b.peerList],
    topics,
    lastSeq: Math.max(a.lastSeq, b.lastSeq),
    owner: a.owner ?? b.owner,
  };
}
