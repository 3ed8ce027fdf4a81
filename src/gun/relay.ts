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
import { scanPutFrame, type ScannedPut } from './put-scan.js';
import { handleEnvelope, isEnvelope } from './legacy-envelope.js';
import { Tally } from '../metrics/tally.js';
import { logFailure } from '../log-throttle.js';

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
  /** The server's counts (puts, gets, acks); a private one when none is given. */
  tally?: Tally;
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

/** Why a put from another door was refused: `sea_rejected` when it broke SEA's rules, `broker_unavailable` when the cluster's engine did not take it. */
export interface PutRefusal {
  code: 'invalid' | 'sea_rejected' | 'refused' | 'broker_unavailable';
  err: string;
}

/** The answer an err ack carries when the cluster's engine did not take a put (docs/cluster.md). */
export const ENGINE_UNAVAILABLE = 'cluster engine unavailable; retry';

/**
 * A cluster's put log as the relay sees it (cluster/gun-room-link.ts). With one, an accepted put is
 * appended before it is acked, merged and relayed; puts of other nodes come back through logged().
 */
export interface PutLog {
  /** Resolves once the put is durable in the cluster's engine; rejects when it is not (or may not be). */
  append(id: string, graphJson: string): Promise<void>;
}

/** A put this node logs: what to do with it once it is durable (whichever of its append or its watch echo comes first). */
interface OwnPut {
  state: 'pending' | 'merged' | 'failed';
  graph: GraphUpdate;
  /** the modern wire text relayed to this node's peers, and its graph text for legacy peers */
  text: string;
  json: string;
  origin: Connection | undefined;
  /** relayed to this node's peers (a put) or only merged (what a get's answer taught us) */
  relay: boolean;
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
  /** Cluster only: the room's put log, and the puts this node is logging or has logged lately. */
  private putLog: PutLog | undefined;
  private own: Dedup<OwnPut> | undefined;

  private readonly tally: Tally;

  constructor(private readonly host: RelayHost, readonly store: GraphStore, private readonly opts: RelayOptions) {
    this.tally = opts.tally ?? new Tally();
  }

  private get deferred(): DeferredWrites {
    return (this.deferredWrites ??= new DeferredWrites((due) => this.applyDue(due)));
  }

  /** The accepting side of a GUN connection greets first with its peer id. */
  greet(peer: Connection): void {
    this.host.send(peer, new OutFrame('{"#":' + q(this.opts.newId()) + ',"dam":"?","pid":' + q(this.opts.pid) + '}'));
  }

  /** Handle one text frame from `peer`; returns how many messages it held. */
  receive(peer: Connection, text: string): number {
    // Most frames are puts of one plain shape: read straight into the graph (gun/put-scan.ts).
    const puts = scanPutFrame(text);
    if (puts !== null) {
      for (let i = 0; i < puts.length; i++) {
        try {
          this.handleScanned(peer, puts[i]);
        } catch (err) {
          logFailure(this.host.log, 'warn', 'gun message failed', { room: this.host.name, err: (err as Error).message });
          this.sendDamError(peer, 'message could not be processed');
        }
      }
      return puts.length;
    }
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
        logFailure(this.host.log, 'warn', 'gun message failed', { room: this.host.name, err: (err as Error).message });
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

  // ---- cluster: the room's put log (docs/cluster.md, "GUN across nodes") ----

  /** From now on, accepted puts are logged before they are acked (cluster/gun-room-link.ts). */
  attachLog(log: PutLog): void {
    this.putLog = log;
    this.own ??= new Dedup<OwnPut>();
  }

  /**
   * A put of the room's log (learned from an append by any node, or from a load): merged (without
   * SEA's checks: the log is authenticated by the cluster key) and relayed to this node's peers
   * once, as far as it changes something here. Returns true when this node appended it.
   */
  logged(put: { id: string; graph: string }): boolean {
    const own = this.own?.get(put.id);
    if (own) {
      // Ours: durable now that the log has it. Pending: merge before the append's answer comes;
      // failed (a timed-out append that landed after all): merge and relay it now.
      if (own.state !== 'merged') this.applyOwn(own);
      return true;
    }
    if (this.seen.has(put.id)) return false;
    this.seen.set(put.id, PUT_SEEN);
    let parsed: unknown;
    try { parsed = JSON.parse(put.graph); } catch { parsed = undefined; }
    const valid = validateGraph(parsed);
    if (!valid.ok) {
      logFailure(this.host.log, 'warn', 'logged put not valid', { room: this.host.name, id: put.id, err: valid.ok === false ? valid.err : '' });
      return false;
    }
    this.mergeAndRelayChanged(put.id, valid.graph, put.graph);
    return false;
  }

  /** A put graph of a snapshot (no id): merged, and what it changes relayed under a new id. */
  loggedGraph(graph: GraphUpdate): void {
    const id = this.opts.newId();
    this.seen.set(id, PUT_SEEN);
    this.mergeAndRelayChanged(id, graph, undefined);
  }

  /** A new put id, marked as seen (a node re-seeding the log with what it holds). */
  newPutId(): string {
    const id = this.opts.newId();
    this.seen.set(id, PUT_SEEN);
    return id;
  }

  /** Deferred (future-state) writes waiting here. */
  pendingDeferred(): readonly DeferredWrite[] {
    return this.deferredWrites?.pending() ?? [];
  }

  /**
   * The cluster's put path: SEA's rules and the room's size against this node's copy, then append
   * to the log; once durable, merge and relay (applyOwn). Returns a refusal at once, or a promise
   * of the outcome. `wire`: the peer's message, as its text, its object, or both (a put the
   * scanner read has no object; it is parsed only when SEA took fields out of it).
   */
  private logPut(id: string, graph: GraphUpdate, wire: { msg: GunMessage; raw: string | undefined } | { msg: undefined; raw: string } | undefined, origin: Connection | undefined, relay: boolean): PutRefusal | undefined | Promise<PutRefusal | undefined> {
    const now = Date.now();
    const sea = checkSeaWrite(graph, this.store, now);
    if (!sea.ok) return { code: 'sea_rejected', err: sea.err };
    const taken = sea.graph ?? graph;
    if (taken.length === 0) return undefined;
    const full = this.store.wouldRefuse?.(taken, now);
    if (full) return { code: 'refused', err: full };
    const json = graphJson(taken);
    const text = wire && taken === graph ? (wire.raw ?? q(wire.msg)) : wire ? withPut(wire.msg ?? JSON.parse(wire.raw) as GunMessage, json) : '{"#":' + q(id) + ',"put":' + json + '}';
    const own: OwnPut = { state: 'pending', graph: taken, text, json, origin, relay };
    // Everything in this node's copy came from the log: a put that changes nothing here (GUN
    // peers put again what they hold, a get's answer repeats the graph) is durable already.
    if (changedPart(this.store, taken, now).length === 0) {
      this.applyOwn(own);
      return undefined;
    }
    this.own!.set(id, own);
    return this.putLog!.append(id, json).then(() => {
      if (own.state !== 'merged') this.applyOwn(own);
      return undefined;
    }, (err: unknown) => {
      if (own.state === 'pending') own.state = 'failed';
      this.host.log.debug('put not logged', { room: this.host.name, id, err: (err as Error)?.message });
      // Too big for the engine (NATS max_payload): a refusal, not an outage to retry.
      if ((err as { code?: string })?.code === 'ERR_GRAPH_LOG_TOO_BIG') return { code: 'refused' as const, err: (err as Error).message };
      return { code: 'broker_unavailable' as const, err: ENGINE_UNAVAILABLE };
    });
  }

  /** One of this node's puts is durable: merge it and relay it to this node's peers (but its origin). */
  private applyOwn(own: OwnPut): void {
    const failed = own.state === 'failed';
    own.state = 'merged';
    const err = this.merge(own.graph);
    if (err) logFailure(this.host.log, 'warn', 'logged put not merged here', { room: this.host.name, err });
    // Relayed even when HAM changed nothing here, as without a cluster. A put whose peer got an
    // err ack (and may retry) goes to that peer too: it landed after all.
    if (own.relay) this.relayPut(own.text, own.json, undefined, failed ? undefined : own.origin);
  }

  private mergeAndRelayChanged(id: string, graph: GraphUpdate, json: string | undefined): void {
    const now = Date.now();
    const changed = changedPart(this.store, graph, now);
    const err = this.merge(graph, now);
    if (err) logFailure(this.host.log, 'warn', 'logged put not merged here', { room: this.host.name, id, err });
    if (changed.length === 0) return;
    const changedJson = changed === graph && json !== undefined ? json : graphJson(changed);
    this.relayPut('{"#":' + q(id) + ',"put":' + changedJson + '}', changedJson, undefined);
  }

  // ---- the room's graph as other doors (HTTP, the legacy envelope) see it ----

  /**
   * A put that did not arrive as a modern wire message: validate, check SEA's rules, HAM-merge and
   * relay it to the room's peers (except `origin`) exactly like a wire put. Returns why it was
   * refused, or undefined.
   */
  applyPut(put: unknown, origin?: Connection, validated?: GraphUpdate): PutRefusal | undefined | Promise<PutRefusal | undefined> {
    let graph = validated;
    if (!graph) {
      const valid = validateGraph(put);
      if (!valid.ok) return { code: 'invalid', err: valid.err };
      graph = valid.graph;
    }
    if (this.putLog) {
      // Cluster: answered once the put is durable in the engine (or refused).
      const id = this.opts.newId();
      this.seen.set(id, PUT_SEEN);
      return this.logPut(id, graph, undefined, origin, true);
    }
    const taken = this.take(graph);
    if (!Array.isArray(taken)) return taken;
    if (taken.length === 0) return undefined;
    const id = this.opts.newId();
    this.seen.set(id, PUT_SEEN);
    const json = taken === graph ? q(put) : graphJson(taken);
    this.relayPut('{"#":' + q(id) + ',"put":' + json + '}', json, undefined, origin);
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
   * peers a push `{"headers":{},"body":graph}` (built once, only if such peers exist) whose graph
   * text is `putJson`, or else `msg.put` serialized.
   */
  private relayPut(modernText: string, putJson: string | undefined, msg: GunMessage | undefined, except?: Connection): void {
    const legacyPeers = this.legacyPeers;
    if (!legacyPeers || legacyPeers.size === 0) return this.host.broadcast(new OutFrame(modernText), except);
    const modern = new OutFrame(modernText);
    const legacy = new OutFrame('{"headers":{},"body":' + (putJson ?? q(msg!.put)) + '}');
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
    } else if (this.seen.has(id) && this.own?.get(id)?.state !== 'failed') {
      return; // a repeat (a put the cluster's engine did not take may come again: it is retried)
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

  /** handle() for a put the scanner read: the same steps, with the graph already validated. */
  private handleScanned(peer: Connection, put: ScannedPut): void {
    const id = put.id;
    if (this.seen.has(id) && this.own?.get(id)?.state !== 'failed') return;
    if (!(peer.principal.perms & Perm.GUN_WRITE)) return this.refuse(peer, id, 'write');
    this.tally.gunPuts++;
    const started = performance.now(); // multisocket_gun_put_ack_seconds
    this.seen.set(id, PUT_SEEN);
    this.putValid(peer, id, put.graph, put.raw, undefined, put.putJson, started);
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
    this.tally.gunPuts++;
    const started = performance.now(); // multisocket_gun_put_ack_seconds
    this.seen.set(id, PUT_SEEN);
    const valid = validateGraph(msg.put);
    if (!valid.ok) return this.sendAck(peer, id, valid.err);
    this.putValid(peer, id, valid.graph, raw, msg, undefined, started);
  }

  /**
   * A valid put: (cluster: logged first) SEA, HAM, ack, relay. `raw` is the message's own text
   * when there is one; `msg` its parsed object, or undefined when the scanner read it (then parsed
   * from `raw` only where an object is needed); `putJson` the text of its `put`, when known.
   */
  private putValid(peer: Connection, id: string, graph: GraphUpdate, raw: string | undefined, msg: GunMessage | undefined, putJson: string | undefined, started: number): void {
    if (this.putLog) {
      const outcome = this.logPut(id, graph, msg ? { msg, raw } : { msg, raw: raw! }, peer, true);
      if (!(outcome instanceof Promise)) return this.sendAck(peer, id, outcome?.err, started);
      outcome.then((refusal) => { if (peer.isOpen) this.sendAck(peer, id, refusal?.err, started); }, () => {});
      return;
    }
    const taken = this.take(graph);
    if (!Array.isArray(taken)) {
      if (taken.code === 'sea_rejected') this.host.log.debug('put refused by SEA', { room: this.host.name, peer: peer.id, err: taken.err });
      return this.sendAck(peer, id, taken.err);
    }
    this.sendAck(peer, id, undefined, started);
    // Relayed even when HAM changed nothing here: peers run HAM too, and GUN relays every valid put.
    // Only SEA fields HAM ignored (not checked, so not passed on) make a new text.
    if (taken === graph) return this.relayPut(raw ?? q(msg), putJson, msg, peer);
    if (taken.length === 0) return;
    const json = graphJson(taken);
    this.relayPut(withPut(msg ?? JSON.parse(raw!) as GunMessage, json), json, undefined, peer);
  }

  /** Merge into the graph. Returns an error text, or '' on success. */
  private merge(graph: GraphUpdate, now = Date.now()): string {
    return mergePut(this.store, () => this.deferred, graph, now);
  }

  private applyDue(due: DeferredWrite[]): void {
    mergeDue(this.store, () => this.deferred, due);
  }

  private get(peer: Connection, msg: GunMessage, id: string, raw: string | undefined): void {
    this.tally.gunGets++;
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
      if (this.putLog) {
        // Cluster: what the answer teaches goes through the log like any write (merged here once
        // durable, relayed by the other nodes to theirs); the answer itself is routed now.
        const id2 = this.opts.newId();
        this.seen.set(id2, PUT_SEEN);
        const outcome = this.logPut(id2, valid.graph, undefined, undefined, false);
        if (!(outcome instanceof Promise) && outcome?.code === 'sea_rejected') return this.host.log.debug('reply refused by SEA', { room: this.host.name, peer: peer.id, err: outcome.err });
        return this.host.send(trail.peer, new OutFrame(raw ?? q(msg)));
      }
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

  /** `started`: when the put was taken up (performance.now()); an ok ack records its latency. */
  private sendAck(peer: Connection, id: string, err?: string, started?: number): void {
    if (err) this.tally.gunErrAcks++;
    else this.tally.gunAcks++;
    this.host.send(peer, new OutFrame(
      '{"#":' + q(this.opts.newId()) + ',"@":' + q(id) + (err ? ',"err":' + q(err) : ',"ok":1') + '}',
    ), true);
    if (!err && started !== undefined) this.tally.putAck.since(started);
  }

  private sendDamError(peer: Connection, err: string): void {
    this.host.send(peer, new OutFrame('{"#":' + q(this.opts.newId()) + ',"dam":"!","err":' + q(err) + '}'));
  }
}

/**
 * The part of `graph` that changes `store` now: fields HAM takes or defers, and nodes it does not
 * have yet. `graph` itself when that is all of it (no allocation in the common case).
 */
export function changedPart(store: GraphStore, graph: GraphUpdate, now: number): GraphUpdate {
  let out: GraphUpdate | undefined;
  for (let n = 0; n < graph.length; n++) {
    const node = graph[n];
    const isNew = store.read(node.soul, { equals: '\u0000' }) === undefined;
    let kept: typeof node.fields | undefined;
    for (let i = 0; i < node.fields.length; i++) {
      const f = node.fields[i];
      const d = store.decide(node.soul, f.key, f.value, f.state, now);
      const takes = d === 'accept' || d === 'defer';
      if (takes && kept) kept.push(f);
      else if (!takes && !kept) kept = node.fields.slice(0, i);
    }
    const same = kept === undefined;
    if (same && !out) continue;
    if (!out) out = graph.slice(0, n);
    if (same) out.push(node);
    else if (kept!.length > 0 || isNew) out.push({ soul: node.soul, fields: kept! });
  }
  return out ?? graph;
}

/** The JSON text of `msg` with `put` replaced by the graph text `putJson` (and no `##`: it hashed the old put). */
function withPut(msg: GunMessage, putJson: string): string {
  const rest: GunMessage = { ...msg };
  delete rest.put;
  delete rest['##'];
  const head = q(rest);
  return head === '{}' ? '{"put":' + putJson + '}' : head.slice(0, -1) + ',"put":' + putJson + '}';
}
