// server.room(name): the server's own handle on a room (docs/embedding.md, "Server-side rooms and
// in-process members"). Publish and send as "server", list the members (cluster-wide), watch
// joins, leaves and messages, run workers that serve requests or pull jobs (each an in-process
// member, so round-robin, exactly-once and resume work as for any member), and read and write the
// room's GUN graph through the door every peer's put goes through (validation, SEA, HAM; in a
// cluster the room's put log), relayed to the room's peers.
import type { MultisocketServer } from '../server/server.js';
import type { Room } from '../rooms/room.js';
import type { Room as RoomHandle } from '../client/room.js';
import type { RequestHandler } from '../client/options.js';
import type { PullHandler, PullOptions } from '../client/puller.js';
import { Emitter, type Listener } from '../client/emitter.js';
import { MultisocketError } from '../client/errors.js';
import type { Json } from '../channels/messages.js';
import type { RoomTap } from '../channels/room-tap.js';
import { MAX_TOPIC_LENGTH } from '../channels/messages.js';
import { roomFromUrl } from '../rooms/room-path.js';
import { asGraph } from '../gun/legacy-envelope.js';
import { validateGraph } from '../gun/validate.js';
import { checkSeaWrite, EMPTY_GRAPH } from '../gun/sea/check.js';
import { connectInProcess, type InProcessOptions } from './in-process.js';

/** A member as server.room(name).members() lists it. */
export interface RoomMember {
  cid: string;
  /** The room token's `sub`, when tokens are on. */
  user?: string;
  info?: unknown;
  serving: boolean;
  /** On this node; false: on another node of the cluster (`node` names it). */
  local: boolean;
  node?: string;
}

export interface ServerRoomEvents {
  join: { cid: string; user?: string; info?: unknown; local: boolean };
  leave: { cid: string; local: boolean };
  /**
   * `publish`: every publication in the room delivered on this node (the server's own too, `from:
   * "server"`); `direct`: a member's send to "server" (`room.send('server', data)`).
   */
  message: { kind: 'publish'; from: string; data: unknown; topic?: string; seq?: number } | { kind: 'direct'; from: string; data: unknown };
}

/** A GUN node as the graph holds it: its fields, and `_` with its soul and each field's state. */
export type GunNode = Record<string, unknown> & { _: { '#': string; '>': Record<string, number> } };

/**
 * The listeners of one room, as the hub's tap. Events are given to listeners in a microtask, after
 * the hub has finished: a listener that publishes or sends never runs inside the hub's own loop.
 */
class RoomListeners extends Emitter<ServerRoomEvents> implements RoomTap {
  joined(m: { cid: string; user?: string; info?: Json }, local: boolean): void {
    if (this.listenerCount('join') === 0) return;
    const event: ServerRoomEvents['join'] = { cid: m.cid, local };
    if (m.user !== undefined) event.user = m.user;
    if (m.info !== undefined) event.info = m.info;
    queueMicrotask(() => this.emit('join', event));
  }

  left(cid: string, local: boolean): void {
    if (this.listenerCount('leave') > 0) queueMicrotask(() => this.emit('leave', { cid, local }));
  }

  published(from: string, topic: string | undefined, seq: number | undefined, data: () => Json): void {
    if (this.listenerCount('message') === 0) return;
    const event: ServerRoomEvents['message'] = { kind: 'publish', from, data: data() };
    if (topic !== undefined) event.topic = topic;
    if (seq !== undefined) event.seq = seq;
    queueMicrotask(() => this.emit('message', event));
  }

  direct(from: string, data: Json): boolean {
    if (this.listenerCount('message') === 0) return false;
    queueMicrotask(() => this.emit('message', { kind: 'direct', from, data }));
    return true;
  }

  get empty(): boolean {
    return this.listenerCount('join') + this.listenerCount('leave') + this.listenerCount('message') === 0;
  }
}

export class ServerRoom {
  /** The room's GUN graph: get a node, put a graph update (as a peer's put). */
  readonly graph: { get(soul: string): Promise<GunNode | null>; put(update: object): Promise<void> };

  /** A handle on `name` (the room need not exist yet: writes create it, like a client's would). */
  static of(server: MultisocketServer, name: string): ServerRoom {
    const path = roomFromUrl(name.startsWith('/') ? name : '/' + name);
    if (!path.ok) throw new TypeError(`room(${JSON.stringify(name)}): ${path.error}`);
    if (path.reserved) throw new TypeError(`room(${JSON.stringify(name)}): paths under /_/ are the server's own endpoints, not rooms`);
    return new ServerRoom(server, path.room);
  }

  private constructor(private readonly server: MultisocketServer, readonly name: string) {
    this.graph = { get: (soul) => this.graphGet(soul), put: (update) => this.graphPut(update) };
  }

  /**
   * To every member (subscribers of `topic`), `from: "server"`, kept in the room's history like a
   * member's publish. Resolves with its `seq` (absent while a cluster's engine is away).
   */
  async publish(data: unknown, opts: { topic?: string } = {}): Promise<{ seq?: number }> {
    const topic = opts.topic;
    if (topic !== undefined && (typeof topic !== 'string' || topic.length === 0 || topic.length > MAX_TOPIC_LENGTH || topic.endsWith('*'))) {
      throw new TypeError(`invalid topic ${JSON.stringify(topic)} (1–${MAX_TOPIC_LENGTH} characters, not ending in "*")`);
    }
    const copy = this.jsonCopy(data);
    const room = await this.prepared('native');
    try {
      return await room.channels().serverPublish(copy, topic);
    } catch (err) {
      throw new MultisocketError((err as { code?: string }).code ?? 'internal', (err as Error).message);
    }
  }

  /** A direct message to the member `cid` (here or, in a cluster, on any node), `from: "server"`. */
  async send(cid: string, data: unknown): Promise<void> {
    const copy = this.jsonCopy(data);
    const room = this.server.cluster ? await this.prepared('native') : this.server.rooms.get(this.name);
    if (!room || (room.members === 0 && !this.server.cluster)) throw new MultisocketError('unknown_target', `no member "${cid}" in this room`);
    try {
      await room.channels().serverSend(cid, copy);
    } catch (err) {
      throw new MultisocketError((err as { code?: string }).code ?? 'internal', (err as Error).message);
    }
  }

  /**
   * The members present: this node's from its hub and, in a cluster, the other nodes' from the
   * room's roster (already held in memory by every node where the room is open; a node where it is
   * not opens it first, which costs one roster fetch and leaves an empty room that expires).
   */
  async members(): Promise<RoomMember[]> {
    let room = this.server.rooms.get(this.name);
    if (this.server.cluster) room = await this.prepared('native');
    if (!room || (room.members === 0 && !this.server.cluster)) return [];
    const hub = room.channels();
    const out: RoomMember[] = [];
    for (const m of hub.members.values()) {
      const v: RoomMember = { cid: m.cid, serving: m.serving, local: true };
      if (m.user !== undefined) v.user = m.user;
      if (m.info !== undefined) v.info = m.info;
      out.push(v);
    }
    if (hub.link) {
      for (const r of hub.link.roster.remote.values()) {
        const v: RoomMember = { cid: r.cid, serving: r.serving, local: false, node: r.node };
        if (r.user !== undefined) v.user = r.user;
        if (r.info !== undefined) v.info = r.info;
        out.push(v);
      }
    }
    return out;
  }

  /** Watch the room (on this node; remote joins and leaves too in a cluster). Listeners cost the room nothing until added. */
  on<K extends keyof ServerRoomEvents>(event: K, listener: Listener<ServerRoomEvents[K]>): this {
    const taps = this.server.roomTaps;
    let tap = taps.get(this.name) as RoomListeners | undefined;
    if (!tap) taps.set(this.name, (tap = new RoomListeners()));
    tap.on(event, listener);
    return this;
  }

  off<K extends keyof ServerRoomEvents>(event: K, listener: Listener<ServerRoomEvents[K]>): this {
    const taps = this.server.roomTaps;
    const tap = taps.get(this.name) as RoomListeners | undefined;
    if (!tap) return this;
    tap.off(event, listener);
    if (tap.empty) taps.delete(this.name);
    return this;
  }

  /**
   * A worker answering requests sent without `to` (round-robin among every member that serves),
   * as an in-process member admitted as the server (no token needed). Returns its room handle:
   * `close()` stops it. Call again for more workers.
   */
  serve<In = any, Out = unknown>(handler: RequestHandler<In, Out>, options: InProcessOptions = {}): RoomHandle { // eslint-disable-line @typescript-eslint/no-explicit-any
    const worker = connectInProcess(this.server, this.name, options, true);
    worker.serve(handler);
    return worker;
  }

  /** A worker taking pushed jobs, each exactly once (see serve()); `prefetch` as the SDK's pull(). */
  pull<T = any>(handler: PullHandler<T>, options: InProcessOptions & PullOptions = {}): RoomHandle { // eslint-disable-line @typescript-eslint/no-explicit-any
    const { prefetch, ...connectOptions } = options;
    const worker = connectInProcess(this.server, this.name, connectOptions, true);
    worker.pull(handler, prefetch !== undefined ? { prefetch } : {});
    return worker;
  }

  /** The node `soul` as the room's graph holds it (with its states), or null. */
  private async graphGet(soul: string): Promise<GunNode | null> {
    if (typeof soul !== 'string' || soul === '') throw new TypeError('graph.get(soul): soul must be a non-empty string');
    // One node: no room, no graph. A cluster's graph is in its engine: opening the room loads it.
    const room = this.server.cluster ? await this.prepared('gun') : this.server.rooms.get(this.name);
    const text = room?.gun.readNode(soul);
    return text ? JSON.parse(text) as GunNode : null;
  }

  /**
   * Put a graph update (`{soul: node, …}`, or one node with its `_["#"]`), as a peer's put: the same
   * validation, SEA's rules, HAM, and (cluster) the room's put log; relayed to the room's GUN peers.
   * Rejects with `bad_message`, `sea_rejected`, `refused` (e.g. the room's byte cap) or `broker_unavailable`.
   */
  private async graphPut(update: object): Promise<void> {
    const graph = asGraph(this.jsonCopy(update));
    const valid = validateGraph(graph);
    if (!valid.ok) throw new MultisocketError('bad_message', valid.err);
    if (!this.server.rooms.get(this.name)) {
      // As the HTTP door: SEA's rules against an empty graph first, so a refused write creates no room.
      const sea = checkSeaWrite(valid.graph, EMPTY_GRAPH, Date.now());
      if (!sea.ok) throw new MultisocketError('sea_rejected', sea.err);
    }
    const room = await this.prepared('gun');
    room.messagesIn++;
    const refused = await room.gun.applyPut(graph, undefined, valid.graph);
    if (refused) throw new MultisocketError(refused.code === 'invalid' ? 'bad_message' : refused.code, refused.err);
  }

  /** The room (created if need be), joined with the cluster for `protocol`. */
  private async prepared(protocol: 'native' | 'gun'): Promise<Room> {
    if (this.server.isClosing) throw new MultisocketError('shutting_down', 'the server is shutting down');
    const admission = this.server.rooms.ensure(this.name, '');
    if (!admission.ok) throw new MultisocketError(admission.reason, `room ${this.name}: ${admission.reason}`);
    const ready = admission.room.prepare(protocol);
    if (ready) {
      try {
        await ready;
      } catch {
        throw new MultisocketError('broker_unavailable', 'the cluster\'s engine did not answer; try again');
      }
    }
    return admission.room;
  }

  /** What a member's message would carry: JSON values only (a copy; a Date becomes its string), within --max-message-bytes. */
  private jsonCopy(data: unknown): Json {
    const json = JSON.stringify(data ?? null);
    if (Buffer.byteLength(json) > this.server.config.maxMessageBytes) {
      throw new MultisocketError('too_large', `the message is over --max-message-bytes (${this.server.config.maxMessageBytes})`);
    }
    return JSON.parse(json) as Json;
  }
}
