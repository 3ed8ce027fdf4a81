// The GUN seam of the cluster (docs/cluster.md, "GUN across nodes"): a room's put log in the
// engine. HAM is a state-based CRDT, so nodes never ask the engine to merge: each node keeps its
// own MemoryGraphStore, APPENDS every put it accepts to the room's log before acking it, and a node
// new to the room loads the last snapshot plus the puts after it and merges them (mergePut, the
// relay's own path). The log is compacted into sealed snapshots (compactRoom).
//
// Offsets are numbers that increase with every append to a room (not necessarily by one: on NATS
// they are stream sequences). A snapshot covers every put up to its `upTo` offset; puts at or
// below it may be trimmed. Every stored value is sealed (seal.ts) under the contexts
// {kind:'gput', room} and {kind:'gsnap', room}; an entry a reader cannot open is skipped, counted
// (`counters.notOpened`) and reported (`onLost`), never thrown. Implementations pass
// test/graph-log-contract.test.ts: MemoryGraphLog, RedisGraphLog, NatsGraphLog.
import type { GraphUpdate } from '../gun/types.js';
import { ham } from '../gun/ham.js';
import { graphJson } from '../gun/node-json.js';
import { validateGraph } from '../gun/validate.js';

/** One put as a node accepted it: GUN's message id and the validated put graph as JSON text. */
export interface GraphPut {
  id: string;
  /** JSON text of the put graph (`{soul: {_: {'#', '>'}, key: value}}`), after validation and SEA */
  graph: string;
}

export interface LoggedPut extends GraphPut {
  offset: number;
}

export interface GraphSnapshot {
  /** JSON text of an array of put graphs whose merge is the room's graph up to `upTo` (see compactGraphs) */
  graph: string;
  /** the last offset the snapshot covers */
  upTo: number;
  /** ms since the epoch, when it was written */
  at: number;
}

/** What a node new to the room merges: the snapshot (if any), then the puts after it, oldest first. */
export interface GraphLoad {
  snapshot?: GraphSnapshot;
  puts: LoggedPut[];
  /** the greatest offset this load covers (0 for an empty room): what a snapshot of it may claim */
  last: number;
  /** entries (puts or a snapshot) skipped because they did not open or decode */
  lost: number;
}

export interface GraphLog {
  /**
   * Durable in the engine when it resolves (the relay may ack then). Rejects with
   * ERR_GRAPH_LOG_TIMEOUT, ERR_GRAPH_LOG_TOO_BIG, or at once with ERR_GRAPH_LOG_DOWN while the
   * engine connection is down (no offline queue: a put refused now never lands later).
   */
  append(room: string, put: GraphPut): Promise<{ offset: number }>;
  load(room: string): Promise<GraphLoad>;
  /**
   * Store `graph` (JSON text of an array of put graphs, see compactGraphs) as covering every put up
   * to `upTo`, and trim the log up to it. False (nothing written) when a snapshot covering `upTo`
   * or more is there already (another node compacted first).
   */
  snapshot(room: string, graph: string, upTo: number): Promise<boolean>;
  /**
   * The room is live on this node: keep its log from expiring (call at least every ttl/4).
   * Resolves with the room's last offset (0: no log), which a node compares with the last it
   * merged: a difference means it missed a put (or the engine lost some), and it loads again.
   */
  touch(room: string): Promise<{ last: number }>;
  /** The room is freed everywhere: its log and snapshot go. */
  drop(room: string): Promise<void>;
  /**
   * Be told of every put appended to `room` from now on, by any node (this one too), learned from
   * the append itself (no second publish a crash could skip); in offset order on Redis and in
   * memory, and per writing node on NATS (the republishes of two nodes may pass each other; HAM
   * does not need the order). Resolves once a
   * put appended after it is sure to be delivered: a node new to the room watches, then loads.
   * One watcher per room and instance (a second call replaces the first). Entries that do not open
   * are counted and reported (onLost), not delivered.
   */
  watch(room: string, watcher: PutWatcher): Promise<void>;
  unwatch(room: string): Promise<void>;
}

/** What a watch of a room is told. */
export interface PutWatcher {
  /** A put appended to the room, with its offset. */
  put(put: LoggedPut): void;
  /**
   * The engine connection broke and the watch is set up again: puts appended meanwhile were not
   * delivered, so the watcher loads the room again (HAM makes that idempotent).
   */
  resumed(): void;
  /** A snapshot covering every put up to `upTo` was stored (by any node): in order with the puts on Redis and in memory, per writer on NATS. */
  snapshot?(upTo: number): void;
}

export interface GraphLogOptions {
  /** every call rejects with ERR_GRAPH_LOG_TIMEOUT after this (default 5000 ms) */
  timeoutMs?: number;
  /** a room's log disappears this long after its last append/snapshot/touch (the room TTL; default 300 s + 60 s) */
  ttlMs?: number;
  /** the biggest sealed snapshot stored (default 64 MiB); snapshot() rejects ERR_GRAPH_LOG_TOO_BIG past it */
  maxSnapshotBytes?: number;
  /** told of each entry a reader could not open (for a rate-limited log line) */
  onLost?: (room: string, offset: number, reason: string) => void;
}

export const DEFAULT_GRAPH_LOG_TTL_MS = 360_000;
export const DEFAULT_MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024;
export const PUT_KIND = 'gput';
export const SNAP_KIND = 'gsnap';

/** TIMEOUT: no answer within the bound (it may still land); DOWN: not connected, refused at once (it will not go out late). */
export type GraphLogErrorCode = 'ERR_GRAPH_LOG_TIMEOUT' | 'ERR_GRAPH_LOG_TOO_BIG' | 'ERR_GRAPH_LOG_DOWN';

export class GraphLogError extends Error {
  constructor(readonly code: GraphLogErrorCode, message: string) {
    super(message);
  }
}

export interface GraphLogCounters {
  appends: number;
  snapshots: number;
  /** puts returned by load() */
  loaded: number;
  /** entries read that did not open or decode, by reason (OpenFailure or 'malformed') */
  notOpened: Record<string, number>;
}

export function newGraphLogCounters(): GraphLogCounters {
  return { appends: 0, snapshots: 0, loaded: 0, notOpened: {} };
}

/** Count and report one entry a reader skips. */
export function countLost(counters: GraphLogCounters, onLost: GraphLogOptions['onLost'], room: string, offset: number, reason: string): void {
  counters.notOpened[reason] = (counters.notOpened[reason] ?? 0) + 1;
  onLost?.(room, offset, reason);
}

/** Rejects with ERR_GRAPH_LOG_TIMEOUT after `ms`. The work may still complete in the engine later. */
export async function withGraphDeadline<T>(what: string, ms: number, run: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new GraphLogError('ERR_GRAPH_LOG_TIMEOUT', `graph log ${what}: no answer from the engine within ${ms} ms`)), ms);
  });
  const work = run();
  work.catch(() => { /* reported by the race, or after the timeout nobody listens */ });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---- stored forms (then sealed) ----

// A put: the id as a JSON string, a newline, the graph's JSON text as given (no re-serialising;
// JSON.stringify never writes a raw newline, so the first one ends the id).
export function encodePut(put: GraphPut): Buffer {
  return Buffer.from(JSON.stringify(put.id) + '\n' + put.graph, 'utf8');
}

export function decodePut(bytes: Uint8Array): GraphPut | undefined {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
  const nl = text.indexOf('\n');
  if (nl < 0) return undefined;
  let id: unknown;
  try { id = JSON.parse(text.slice(0, nl)); } catch { return undefined; }
  if (typeof id !== 'string') return undefined;
  return { id, graph: text.slice(nl + 1) };
}

// A snapshot: `<upTo> <at>\n<graph JSON>`. upTo is inside the seal as well as wherever an engine
// keeps it in clear, so an altered clear upTo (which would hide puts) is caught on read.
export function encodeSnapshot(s: GraphSnapshot): Buffer {
  return Buffer.from(`${s.upTo} ${s.at}\n${s.graph}`, 'utf8');
}

export function decodeSnapshot(bytes: Uint8Array): GraphSnapshot | undefined {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
  const m = /^(\d+) (\d+)\n/.exec(text);
  if (!m) return undefined;
  return { upTo: Number(m[1]), at: Number(m[2]), graph: text.slice(m[0].length) };
}

export function checkPut(put: GraphPut): void {
  if (typeof put.id !== 'string' || typeof put.graph !== 'string' || put.graph === '') throw new TypeError('a put needs a string id and its graph as JSON text');
}

export function checkOffset(upTo: number): void {
  if (!Number.isSafeInteger(upTo) || upTo < 0) throw new RangeError(`upTo must be a non-negative integer, got ${upTo}`);
}

// ---- compaction ----

/** The put graphs a load stands for, in the order to merge them (any order gives the same graph). */
export function loadedGraphs(load: GraphLoad): GraphUpdate[] {
  const out: GraphUpdate[] = [];
  if (load.snapshot) {
    let layers: unknown;
    try { layers = JSON.parse(load.snapshot.graph); } catch { layers = undefined; }
    if (Array.isArray(layers)) for (const layer of layers) { const v = validateGraph(layer); if (v.ok) out.push(v.graph); }
  }
  for (const p of load.puts) {
    let graph: unknown;
    try { graph = JSON.parse(p.graph); } catch { continue; }
    const v = validateGraph(graph);
    if (v.ok) out.push(v.graph);
  }
  return out;
}

/**
 * The smallest set of field writes that, merged with HAM at any time from `now` on, gives the same
 * graph as merging all of `graphs`: per field, the HAM winner among states <= now, plus, for each
 * distinct state in the future, the HAM winner at that state (each one takes over when it comes
 * due, exactly as the deferred writes of a node that merged everything would). The result is JSON
 * text of an array of put graphs ("layers"): layer 0 holds every node (also the empty ones: GUN
 * keeps a node once named) and each field's first write; layer i its (i+1)-th.
 * Why not a node's live graph: its deferred future writes are not in its store, and puts other
 * nodes logged may not have reached it yet (docs/cluster.md).
 */
export function compactGraphs(graphs: readonly GraphUpdate[], now: number): string {
  const souls = foldGraphs(graphs, now);
  const layers: GraphUpdate[] = [[]];
  for (const [soul, node] of souls) {
    layers[0].push({ soul, fields: [] });
    for (const [key, field] of node) {
      const writes = [...(field.past ? [field.past] : []), ...[...field.future.values()].sort((a, b) => a.state - b.state)];
      writes.forEach((w, i) => {
        const layer = (layers[i] ??= []);
        let update = layer.at(-1)?.soul === soul ? layer.at(-1) : undefined;
        if (!update) { update = { soul, fields: [] }; layer.push(update); }
        update.fields.push({ key, value: w.value, state: w.state });
      });
    }
  }
  return '[' + layers.map(graphJson).join(',') + ']';
}

interface FieldWrite { value: GraphUpdate[number]['fields'][number]['value']; state: number }
/** Per soul and field: the HAM winner among states <= now, and the winner of each distinct future state. */
export type FoldedGraph = Map<string, Map<string, { past?: FieldWrite; future: Map<number, FieldWrite> }>>;

/** True when `a` beats `b` by HAM (greater state, else the lexical rule), or there is no `b`. */
export const hamWins = (a: FieldWrite, b: FieldWrite | undefined): boolean => !b || ham(a.state, a.value, b.state, b.value, Infinity) === 'accept';

/** What merging all of `graphs` at any time from `now` on amounts to (see compactGraphs). */
export function foldGraphs(graphs: readonly GraphUpdate[], now: number): FoldedGraph {
  const souls: FoldedGraph = new Map();
  for (const graph of graphs) {
    for (const { soul, fields } of graph) {
      let node = souls.get(soul);
      if (!node) { node = new Map(); souls.set(soul, node); }
      for (const f of fields) {
        let field = node.get(f.key);
        if (!field) { field = { future: new Map() }; node.set(f.key, field); }
        const w = { value: f.value, state: f.state };
        if (f.state <= now) { if (hamWins(w, field.past)) field.past = w; }
        else if (hamWins(w, field.future.get(f.state))) field.future.set(f.state, w);
      }
    }
  }
  return souls;
}

/**
 * Compact a room's log: load it, fold it into a snapshot (compactGraphs) and store that, trimming
 * the log up to what was loaded. Built from the engine's content, never from a node's live graph.
 * Returns the snapshot's upTo, or undefined when there was nothing to do, an entry did not open, or
 * another node won.
 */
export async function compactRoom(log: GraphLog, room: string, now = Date.now()): Promise<number | undefined> {
  const load = await log.load(room);
  // A node that cannot open some entry (another cluster key, altered) must not replace what it
  // cannot read: it leaves the log to the nodes that can.
  if (load.puts.length === 0 || load.lost > 0) return undefined;
  const graph = compactGraphs(loadedGraphs(load), now);
  return await log.snapshot(room, graph, load.last) ? load.last : undefined;
}
