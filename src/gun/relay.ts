// GUN's wire protocol for one room: dedup, DAM, puts (validate → HAM → ack → relay), gets
// (answer from the room's graph, forward to the other peers, route their replies back).
// It only sees the room through RelayHost, so isolation is structural: there is no path from
// here to another room's peers.
import type { Connection } from '../transports/connection.js';
import { OutFrame } from '../transports/out-frame.js';
import type { Logger } from '../log.js';
import { Dedup } from './dedup.js';
import { DeferredWrites } from './deferred-writes.js';
import type { DeferredWrite, GraphStore } from './graph-store.js';
import type { IdGenerator } from './ids.js';
import { parseKeyQuery, type KeyQuery } from './lex.js';
import { chunkNode, limitByBytes } from './node-json.js';
import type { GraphUpdate, GunMessage } from './types.js';
import { validateGraph } from './validate.js';
import { parseFrame } from './wire.js';

export interface RelayHost {
  readonly name: string;
  /** Send to one peer of this room. */
  send(peer: Connection, frame: OutFrame): void;
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

export class GunRelay {
  private readonly seen = new Dedup<Trail>();
  private readonly deferred: DeferredWrites;

  constructor(private readonly host: RelayHost, readonly store: GraphStore, private readonly opts: RelayOptions) {
    this.deferred = new DeferredWrites((due) => this.applyDue(due));
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

  dispose(): void {
    this.deferred.clear();
    this.seen.clear();
    this.store.clear();
  }

  get pendingDeferred(): number { return this.deferred.size; }

  private handle(peer: Connection, msg: GunMessage, raw: string | undefined): void {
    if (msg.dam !== undefined) return this.dam(peer, msg);
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
    if (msg.put !== undefined) return this.put(peer, msg, id as string, raw);
    if (msg.get !== undefined) return this.get(peer, msg, id as string, raw);
    // Unknown kinds pass through to the room, as a GUN relay would.
    this.seen.set(id as string, { peer, kind: 'other' });
    this.host.broadcast(new OutFrame(raw ?? q(msg)), peer);
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
    this.seen.set(id, { peer, kind: 'put' });
    const valid = validateGraph(msg.put);
    if (!valid.ok) return this.sendAck(peer, id, valid.err);
    const err = this.merge(valid.graph);
    if (err) return this.sendAck(peer, id, err);
    // Relayed even when HAM changed nothing here: peers run HAM too, and GUN relays every valid put.
    this.sendAck(peer, id);
    this.host.broadcast(new OutFrame(raw ?? q(msg)), peer);
  }

  /** Merge into the graph. Returns an error text, or '' on success. */
  private merge(graph: GraphUpdate): string {
    const outcome = this.store.merge(graph, Date.now());
    if (!outcome.ok) return outcome.err;
    if (outcome.deferred.length && !this.deferred.add(outcome.deferred)) {
      return `too many future-state writes waiting in this room (limit ${this.deferred.max})`;
    }
    return '';
  }

  private applyDue(due: DeferredWrite[]): void {
    const graph: GraphUpdate = due.map((w) => ({ soul: w.soul, fields: [{ key: w.key, value: w.value, state: w.state }] }));
    this.merge(graph);
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
        ));
        if (next) chunkId = next;
      }
      return;
    }
    // Explicit not-found so clients do not wait; GUN skips it when the ask carried a `##`.
    if (askHash === undefined) this.host.send(peer, new OutFrame('{"#":' + q(this.opts.newId()) + ',"@":' + q(id) + '}'));
  }

  private reply(peer: Connection, msg: GunMessage, id: string, ack: unknown, raw: string | undefined): void {
    this.seen.set(id, { peer, kind: 'other' });
    const trail = typeof ack === 'string' ? this.seen.get(ack) : undefined;
    // Only replies to a get we forwarded are routed, and only to the asker. Acks to puts are
    // dropped: the server already acked on behalf of the room.
    if (!trail || trail.kind !== 'get' || trail.peer === peer || !trail.peer.isOpen) return;
    if (msg.put !== undefined) {
      const valid = validateGraph(msg.put);
      if (!valid.ok) return;
      this.merge(valid.graph); // the server learns what the answering peer knew
    }
    this.host.send(trail.peer, new OutFrame(raw ?? q(msg)));
  }

  private sendAck(peer: Connection, id: string, err?: string): void {
    this.host.send(peer, new OutFrame(
      '{"#":' + q(this.opts.newId()) + ',"@":' + q(id) + (err ? ',"err":' + q(err) : ',"ok":1') + '}',
    ));
  }

  private sendDamError(peer: Connection, err: string): void {
    this.host.send(peer, new OutFrame('{"#":' + q(this.opts.newId()) + ',"dam":"!","err":' + q(err) + '}'));
  }
}
