// GraphLog in this process: the reference the engine implementations are tested against
// (test/graph-log-contract.test.ts). Entries are sealed like the engines' (so the same rules of
// opening apply); several "nodes" share one MemoryGraphLogStore.
import type { ClusterKey } from './cluster-key.js';
import {
  checkOffset, checkPut, countLost, decodePut, decodeSnapshot, DEFAULT_GRAPH_LOG_TTL_MS, DEFAULT_MAX_SNAPSHOT_BYTES, encodePut,
  encodeSnapshot, GraphLogError, newGraphLogCounters, PUT_KIND, SNAP_KIND,
  type GraphLoad, type GraphLog, type GraphLogCounters, type GraphLogOptions, type GraphPut, type LoggedPut, type PutWatcher,
} from './graph-log.js';
import { openOrWhy, seal } from './seal.js';

interface RoomLog {
  next: number;
  puts: { offset: number; frame: Buffer }[];
  snapshot?: { upTo: number; frame: Buffer };
  expiresAt: number;
}

/** What an engine would hold: shared by the MemoryGraphLog "nodes" of one process. */
export class MemoryGraphLogStore {
  readonly rooms = new Map<string, RoomLog>();
  /** room → the instances watching it (each opens the sealed entries with its own key) */
  readonly watchers = new Map<string, Set<MemoryGraphLog>>();
}

export class MemoryGraphLog implements GraphLog {
  readonly counters: GraphLogCounters = newGraphLogCounters();
  readonly #ttlMs: number;
  readonly #maxSnapshotBytes: number;

  constructor(readonly store: MemoryGraphLogStore, private readonly key: ClusterKey | null, private readonly options: GraphLogOptions = {}, private readonly now: () => number = Date.now) {
    this.#ttlMs = options.ttlMs ?? DEFAULT_GRAPH_LOG_TTL_MS;
    this.#maxSnapshotBytes = options.maxSnapshotBytes ?? DEFAULT_MAX_SNAPSHOT_BYTES;
  }

  async append(room: string, put: GraphPut): Promise<{ offset: number }> {
    checkPut(put);
    const log = this.#room(room, true)!;
    const offset = ++log.next;
    const frame = seal(this.key, { kind: PUT_KIND, room }, encodePut(put));
    log.puts.push({ offset, frame });
    this.#touch(log);
    this.counters.appends++;
    // Like the engines: every watcher (this instance's too) hears of the append, in offset order
    // (microtasks run in the order queued), as part of the append.
    for (const w of this.store.watchers.get(room) ?? []) queueMicrotask(() => w.#deliver(room, offset, frame));
    return { offset };
  }

  async load(room: string): Promise<GraphLoad> {
    const log = this.#room(room, false);
    const load: GraphLoad = { puts: [], last: 0, lost: 0 };
    if (!log) return load;
    const lost = (offset: number, reason: string) => { load.lost++; countLost(this.counters, this.options.onLost, room, offset, reason); };
    let upTo = 0;
    if (log.snapshot) {
      upTo = log.snapshot.upTo;
      const opened = openOrWhy(this.key, { kind: SNAP_KIND, room }, log.snapshot.frame);
      const snap = opened.ok ? decodeSnapshot(opened.plaintext) : undefined;
      if (!opened.ok) lost(upTo, opened.reason);
      else if (!snap || snap.upTo !== upTo) lost(upTo, 'malformed');
      else load.snapshot = snap;
    }
    load.last = upTo;
    for (const e of log.puts) {
      if (e.offset <= upTo) continue;
      load.last = e.offset;
      const opened = openOrWhy(this.key, { kind: PUT_KIND, room }, e.frame);
      const put = opened.ok ? decodePut(opened.plaintext) : undefined;
      if (!opened.ok) lost(e.offset, opened.reason);
      else if (!put) lost(e.offset, 'malformed');
      else load.puts.push({ offset: e.offset, ...put } satisfies LoggedPut);
    }
    this.counters.loaded += load.puts.length;
    return load;
  }

  async snapshot(room: string, graph: string, upTo: number): Promise<boolean> {
    checkOffset(upTo);
    const frame = seal(this.key, { kind: SNAP_KIND, room }, encodeSnapshot({ graph, upTo, at: Date.now() }));
    if (frame.length > this.#maxSnapshotBytes) throw new GraphLogError('ERR_GRAPH_LOG_TOO_BIG', `snapshot of ${frame.length} bytes is over the bound of ${this.#maxSnapshotBytes}`);
    const log = this.#room(room, true)!;
    if ((log.snapshot?.upTo ?? 0) >= upTo) return false;
    log.snapshot = { upTo, frame };
    log.puts = log.puts.filter((e) => e.offset > upTo);
    for (const w of this.store.watchers.get(room) ?? []) queueMicrotask(() => w.#watched.get(room)?.snapshot?.(upTo));
    this.#touch(log);
    this.counters.snapshots++;
    return true;
  }

  async touch(room: string): Promise<{ last: number }> {
    const log = this.#room(room, false);
    if (log) this.#touch(log);
    return { last: log ? Math.max(log.next, log.snapshot?.upTo ?? 0) : 0 };
  }

  async drop(room: string): Promise<void> {
    this.store.rooms.delete(room);
  }

  readonly #watched = new Map<string, PutWatcher>();

  async watch(room: string, watcher: PutWatcher): Promise<void> {
    this.#watched.set(room, watcher);
    let set = this.store.watchers.get(room);
    if (!set) this.store.watchers.set(room, (set = new Set()));
    set.add(this);
  }

  async unwatch(room: string): Promise<void> {
    this.#watched.delete(room);
    const set = this.store.watchers.get(room);
    set?.delete(this);
    if (set?.size === 0) this.store.watchers.delete(room);
  }

  #deliver(room: string, offset: number, frame: Buffer): void {
    const watcher = this.#watched.get(room);
    if (!watcher) return;
    const opened = openOrWhy(this.key, { kind: PUT_KIND, room }, frame);
    const put = opened.ok ? decodePut(opened.plaintext) : undefined;
    if (!opened.ok) return countLost(this.counters, this.options.onLost, room, offset, opened.reason);
    if (!put) return countLost(this.counters, this.options.onLost, room, offset, 'malformed');
    watcher.put({ offset, ...put });
  }

  #room(room: string, create: boolean): RoomLog | undefined {
    let log = this.store.rooms.get(room);
    if (log && log.expiresAt <= this.now()) { this.store.rooms.delete(room); log = undefined; }
    if (!log && create) {
      log = { next: 0, puts: [], expiresAt: 0 };
      this.store.rooms.set(room, log);
    }
    return log;
  }

  #touch(log: RoomLog): void {
    log.expiresAt = this.now() + this.#ttlMs;
  }
}
