// GUN's wire protocol for one room: dedup, DAM, puts (validate → HAM → ack → relay), gets
// (answer from the room's graph, forward to the other peers, route their replies back).
// It only sees the room through RelayHost, so isolation is structural: there is no path from
// here to another room's peers.
import type { Connection } from '../transports/connection.js';
import { OutFrame } from '../transports/out-frame.js';
import type { Logger } from '../log.js';
import { OPEN } from '../access/principal.js';
import { Perm } from '../access/permissions.js';
import { Dedup } from './dedup.js';
import { DeferredWrites } from './deferred-writes.js';
import type { DeferredWrite, GraphStore } from './graph-store.js';
import type { IdGenerator } from './ids.js';
import { mergeDue, mergePut } from './merge-put.js';
import { parseKeyQuery, type KeyQuery } from './lex.js';
import { chunkNode, graphJson, limitByBytes, nodeJson } from './node-json.js';
import { checkSeaWrite } from './sea/check.js';
import type { GraphUpdate, GunMessage } from './types.js';
import { validateGraph } from './validate.js';
import { parseFrame } from './wire.js';
import { handleEnvelope, isEnvelope } from './legacy-envelope.js';

export interface RelayHost {
  readonly name: string;
  readonly peers: ReadonlySet<Connection>;
  /** Send to one peer of this room; `direct` (an answer) may be written at once, see Connection.send. */
  send(peer: Connection, frame: OutFrame, direct?: boolean): void;
  /** Send to every peer of this room but `except`. */
  broadcast(frame: OutFrame, except?: Connection): void;
  readonly log: Logger;
}

export interface RelayOptions {
  pid: string;
  newId: IdGenerator;
}

/** Where a message id came from: routes replies to gets back to the asker only. */
interface Trail {
  peer: Connection;
  kind: 'get' | 'put' | 'other';
}

const q = JSON.stringify;

/** Stands for "no peer" (an HTTP request) in the dedup trail. */
const NO_PEER: Connection = { id: '-', transport: 'websocket', remoteAddress: '', isOpen: false, bufferedBytes: 0, principal: OPEN, send() {}, close() {} };

// Only the trails of gets route anything (replies go back to the asker); puts and other messages
// are remembered just to drop repeats, so they share one trail each instead of an object per
// message (at 50,000 puts/s those were 100,000 live objects for the GC to copy and mark).
const PUT_SEEN: Trail = Object.freeze({ peer: NO_PEER, kind: 'put' });
const OTHER_SEEN: Trail = Object.freeze({ peer: NO_PEER, kind: 'other' });

/** Why a put from another door was refused: `sea_rejected` when it broke SEA's rules. */
export interface PutRefusal {
  code: 'invalid' | 'sea_rejected' | 'refused';
  err: string;
}

/** Most key→soul associations one room keeps (legacy `POST /<room>/<key>` with `{"#":soul}`). */
export const MAX_KEYS_PER_ROOM = 100_000;

export class GunRelay {
  private readonly seen = new Dedup<Trail>();
  // Made on first use: most rooms never defer a write, meet an envelope peer or file a key.
  private deferredWrites: DeferredWrites | undefined;
  /** Peers that spoke the legacy envelope: relayed puts reach them as envelope pushes. */
  private legacyPeers: Set<Connection> | undefined;
  /** Legacy key → soul index of this room. */
  private keys: Map<string, string> | undefined;

  constructor(private readonly host: RelayHost, readonly store: GraphStore, private readonly opts: RelayOptions) {}

  private get deferred(): DeferredWrites {
    return (this.deferredWrites ??= new DeferredWrites((due) => this.applyDue(due)));
  }

  /** The accepting side of a GUN connection greets first with its peer id. */
  greet(peer: Connection): void {
    this.host.send(peer, new OutFrame('{"#":' + q(this.opts.newId()) + ',"dam":"?","pid":' + q(this.opts.pid) + '}'));
  }

  /** Handle one text frame from `peer`; returns how many messages it held. */
  receive(peer: Connection, text: string): number {
    const frame = parseFrame(text);
    if (!frame.ok) {
      this.host.send(peer, new OutFrame('{"#":' + q(this.opts.newId()) + ',"dam":"!","err":' + q(frame.err) + '}'));
      return 1;
    }
    const { messages } = frame;
    for (let i = 0; i < messages.length; i++) {
      try {
        this.handle(peer, messages[i], frame.single ? text : undefined);
      } catch (err) {
        // One bad message must not take the others (or the process) with it.
        this.host.log.warn('gun message failed', { room: this.host.name, err: (err as Error).message });
        this.sendDamError(peer, 'message could not be processed');
      }
    }
    return messages.length;
  }

  /** Forget per-peer state when a peer leaves the room. */
  leave(peer: Connection): void {
    this.legacyPeers?.delete(peer);
  }

  dispose(): void {
    this.deferredWrites?.clear();
    this.seen.clear();
    this.store.clear();
    this.keys = undefined;
    this.legacyPeers = undefined;
  }

  // ---- the room's graph as other doors (HTTP, the legacy envelope) see it ----

  /**
   * A put that did not arrive as a modern wire message: validate, check SEA's rules, HAM-merge and
   * relay it to the room's peers (except `origin`) exactly like a wire put. Returns why it was
   * refused, or undefined.
   */
  applyPut(put: unknown, origin?: Connection, validated?: GraphUpdate): PutRefusal | undefined {
    let graph = validated;
    if (!graph) {
      const valid = validateGraph(put);
      if (!valid.ok) return { code: 'invalid', err: valid.err };
      graph = valid.graph;
    }
    const taken = this.take(graph);
    if (!Array.isArray(taken)) return taken;
    if (taken.length === 0) return undefined;
    const id = this.opts.newId();
    this.seen.set(id, PUT_SEEN);
    const json = taken === graph ? q(put) : graphJson(taken);
    this.relayPut('{"#":' + q(id) + ',"put":' + json + '}', () => json, origin);
    return undefined;
  }

  /**
   * What every door's put goes through: SEA's rules, then HAM. Returns why it was refused, or what
   * was taken: `graph` itself, or (when SEA left out fields HAM ignores) the checked part of it,
   * which is then what may be passed on. No allocation when nothing is left out.
   */
  private take(graph: GraphUpdate): PutRefusal | GraphUpdate {
    const now = Date.now();
    const sea = checkSeaWrite(graph, this.store, now);
    if (!sea.ok) return { code: 'sea_rejected', err: sea.err };
    const taken = sea.graph ?? graph;
    const err = this.merge(taken, now);
    return err ? { code: 'refused', err } : taken;
  }

  /** The soul a legacy key names: its association if any, else the key itself. */
  resolveKey(key: string): string {
    return this.keys?.get(key) ?? key;
  }

  associate(key: string, soul: string): string {
    const keys = (this.keys ??= new Map());
    if (!keys.has(key) && keys.size >= MAX_KEYS_PER_ROOM) return `too many keys in this room (limit ${MAX_KEYS_PER_ROOM})`;
    keys.set(key, soul);
    return '';
  }

  /** A node as JSON text for HTTP and envelope readers, or null when there is nothing. */
  readNode(soul: string, query?: KeyQuery, limitBytes?: number): string | null {
    let fields = this.store.read(soul, query);
    if (!fields || (query && fields.length === 0)) return null;
    if (limitBytes && limitBytes > 0) fields = limitByBytes(fields, limitBytes);
    return nodeJson(soul, fields);
  }

  /** `{soul: node, ...}` for souls starting with `prefix`, at most `maxNodes`, about `limitBytes`. */
  readGraph(prefix: string, maxNodes: number, limitBytes?: number): string {
    let out = '';
    let n = 0;
    for (const soul of this.store.souls(prefix)) {
      if (n >= maxNodes || (limitBytes && out.length >= limitBytes)) break;
      const node = this.readNode(soul);
      if (node === null) continue;
      out += (n++ ? ',' : '') + q(soul) + ':' + node;
    }
    return '{' + out + '}';
  }

  markLegacy(peer: Connection): void {
    (this.legacyPeers ??= new Set()).add(peer);
  }

  /**
   * Send a put to every peer but `except`: modern peers get the wire message, legacy envelope
   * peers a push `{"headers":{},"body":graph}` (built once, only if such peers exist).
   */
  private relayPut(modernText: string, graphJson: () => string, except?: Connection): void {
    const legacyPeers = this.legacyPeers;
    if (!legacyPeers || legacyPeers.size === 0) return this.host.broadcast(new OutFrame(modernText), except);
    const modern = new OutFrame(modernText);
    const legacy = new OutFrame('{"headers":{},"body":' + graphJson() + '}');
    for (const peer of this.host.peers) {
      if (peer !== except && peer.principal.perms & Perm.GUN_READ) this.host.send(peer, legacyPeers.has(peer) ? legacy : modern);
    }
  }


  private handle(peer: Connection, msg: GunMessage, raw: string | undefined): void {
    if (msg.dam !== undefined) return this.dam(peer, msg);
    if (isEnvelope(msg)) return handleEnvelope(this, peer, msg, (frame) => this.host.send(peer, frame));
    let id = msg['#'];
    if (typeof id !== 'string' || id === '') {
      // GUN invents ids for messages without one; ours must exist before anything is relayed.
      id = this.opts.newId();
      msg['#'] = id;
      raw = undefined;
    } else if (this.seen.has(id)) {
      return;
    }
    const ack = msg['@'];
    if (ack !== undefined) return this.reply(peer, msg, id as string, ack, raw);
    const perms = peer.principal.perms;
    if (msg.put !== undefined) {
      if (!(perms & Perm.GUN_WRITE)) return this.refuse(peer, id as string, 'write');
      return this.put(peer, msg, id as string, raw);
    }
    if (msg.get !== undefined) {
      if (!(perms & Perm.GUN_READ)) return this.refuse(peer, id as string, 'read');
      return this.get(peer, msg, id as string, raw);
    }
    // Unknown kinds pass through to the room, as a GUN relay would (sending to others is a write).
    this.seen.set(id as string, OTHER_SEEN);
    if (perms & Perm.GUN_WRITE) this.host.broadcast(new OutFrame(raw ?? q(msg)), peer);
  }

  /** A message the peer's room token does not allow: an `err` ack, nothing stored or relayed. */
  private refuse(peer: Connection, id: string, perm: 'read' | 'write'): void {
    this.seen.set(id, OTHER_SEEN);
    this.sendAck(peer, id, `forbidden: the room token does not allow ${perm}`);
  }

  private dam(peer: Connection, msg: GunMessage): void {
    // DAM is between two peers: answered here, never relayed.
    if (msg.dam === '?' && msg['@'] === undefined && typeof msg['#'] === 'string') {
      this.host.send(peer, new OutFrame('{"#":' + q(this.opts.newId()) + ',"dam":"?","pid":' + q(this.opts.pid) + ',"@":' + q(msg['#']) + '}'));
    } else if (msg.dam === '!') {
      this.host.log.debug('peer reported an error', { room: this.host.name, peer: peer.id, err: String(msg.err) });
    }
  }

  private put(peer: Connection, msg: GunMessage, id: string, raw: string | undefined): void {
    this.seen.set(id, PUT_SEEN);
    const valid = validateGraph(msg.put);
    if (!valid.ok) return this.sendAck(peer, id, valid.err);
    const taken = this.take(valid.graph);
    if (!Array.isArray(taken)) {
      if (taken.code === 'sea_rejected') this.host.log.debug('put refused by SEA', { room: this.host.name, peer: peer.id, err: taken.err });
      return this.sendAck(peer, id, taken.err);
    }
    this.sendAck(peer, id);
    // Relayed even when HAM changed nothing here: peers run HAM too, and GUN relays every valid put.
    // Only SEA fields HAM ignored (not checked, so not passed on) make a new text.
    if (taken === valid.graph) return this.relayPut(raw ?? q(msg), () => q(msg.put), peer);
    if (taken.length === 0) return;
    const json = graphJson(taken);
    this.relayPut(withPut(msg, json), () => json, peer);
  }

  /** Merge into the graph. Returns an error text, or '' on success. */
  private merge(graph: GraphUpdate, now = Date.now()): string {
    return mergePut(this.store, () => this.deferred, graph, now);
  }

  private applyDue(due: DeferredWrite[]): void {
    mergeDue(this.store, () => this.deferred, due);
  }

  private get(peer: Connection, msg: GunMessage, id: string, raw: string | undefined): void {
    const get = msg.get as Record<string, unknown>;
    if (typeof get !== 'object' || get === null || typeof get['#'] !== 'string') {
      return this.sendAck(peer, id, 'invalid get: expected {"#":soul}');
    }
    let query: KeyQuery | undefined;
    try {
      query = parseKeyQuery(get['.']);
    } catch (e) {
      return this.sendAck(peer, id, 'invalid get: ' + (e as Error).message);
    }
    this.seen.set(id, { peer, kind: 'get' });
    this.answerGet(peer, id, get['#'] as string, query, get, msg['##']);
    // Other peers may hold data this server lacks (e.g. after a restart); their replies route back.
    this.host.broadcast(new OutFrame(raw ?? q(msg)), peer);
  }

  private answerGet(peer: Connection, id: string, soul: string, query: KeyQuery | undefined, get: Record<string, unknown>, askHash: unknown): void {
    let fields = this.store.read(soul, query);
    if (fields && (fields.length > 0 || !query)) {
      if (get['-'] || (typeof get['.'] === 'object' && get['.'] !== null && (get['.'] as Record<string, unknown>)['-'])) fields = fields.slice().reverse();
      if (typeof get['%'] === 'number' && get['%'] > 0) fields = limitByBytes(fields, get['%']);
      const chunks = chunkNode(soul, fields);
      // The asker already holds exactly this (GUN's `##` check): answering is optional.
      if (chunks.length === 1 && chunks[0].hash === askHash) return;
      let chunkId = this.opts.newId();
      for (let i = 0; i < chunks.length; i++) {
        const next = i + 1 < chunks.length ? this.opts.newId() : undefined;
        this.host.send(peer, new OutFrame(
          '{"#":' + q(chunkId) + ',"@":' + q(id) + ',"##":' + chunks[i].hash + ',"put":' + chunks[i].json + (next ? ',"%":' + q(next) : '') + '}',
        ), true);
        if (next) chunkId = next;
      }
      return;
    }
    // Explicit not-found so clients do not wait; GUN skips it when the ask carried a `##`.
    if (askHash === undefined) this.host.send(peer, new OutFrame('{"#":' + q(this.opts.newId()) + ',"@":' + q(id) + '}'), true);
  }

  private reply(peer: Connection, msg: GunMessage, id: string, ack: unknown, raw: string | undefined): void {
    this.seen.set(id, OTHER_SEEN);
    const trail = typeof ack === 'string' ? this.seen.get(ack) : undefined;
    // Only replies to a get we forwarded are routed, and only to the asker. Acks to puts are
    // dropped: the server already acked on behalf of the room.
    if (!trail || trail.kind !== 'get' || trail.peer === peer || !trail.peer.isOpen) return;
    if (msg.put !== undefined) {
      // An answer that carries data is a write into the room's graph.
      if (!(peer.principal.perms & Perm.GUN_WRITE)) return;
      const valid = validateGraph(msg.put);
      if (!valid.ok) return;
      // The server learns what the answering peer knew. A reply that breaks SEA's rules is
      // neither merged nor routed; one the room cannot hold (e.g. its byte cap) is still routed.
      const taken = this.take(valid.graph);
      if (!Array.isArray(taken)) {
        if (taken.code === 'sea_rejected') return this.host.log.debug('reply refused by SEA', { room: this.host.name, peer: peer.id, err: taken.err });
      } else if (taken !== valid.graph) {
        if (taken.length > 0) this.host.send(trail.peer, new OutFrame(withPut(msg, graphJson(taken))));
        return;
      }
    }
    this.host.send(trail.peer, new OutFrame(raw ?? q(msg)));
  }

  private sendAck(peer: Connection, id: string, err?: string): void {
    this.host.send(peer, new OutFrame(
      '{"#":' + q(this.opts.newId()) + ',"@":' + q(id) + (err ? ',"err":' + q(err) : ',"ok":1') + '}',
    ), true);
  }

  private sendDamError(peer: Connection, err: string): void {
    this.host.send(peer, new OutFrame('{"#":' + q(this.opts.newId()) + ',"dam":"!","err":' + q(err) + '}'));
  }
}

/** The JSON text of `msg` with `put` replaced by the graph text `putJson` (and no `##`: it hashed the old put). */
function withPut(msg: GunMessage, putJson: string): string {
  const rest: GunMessage = { ...msg };
  delete rest.put;
  delete rest['##'];
  const head = q(rest);
  return head === '{}' ? '{"put":' + putJson + '}' : head.slice(0, -1) + ',"put":' + putJson + '}';
}
