// One room's GUN graph across nodes (docs/cluster.md, "GUN across nodes"). Every node keeps its own
// copy of the room's graph (the relay's MemoryGraphStore); the engine keeps the room's put log
// (GraphLog). This link:
//   - joins the room (ready): watches the log first, then loads and merges it, so a get on this
//     node is answered with everything written through any node, also one that has exited;
//   - gives the relay the log (PutLog): an accepted put is appended before it is acked, merged and
//     relayed (gun/relay.ts); puts of other nodes come back from the watch, learned from the
//     append itself, and are merged and relayed to this node's peers once (dedup by the put's id);
//   - loads the room again when the watch was broken (engine restart, network), merging what it
//     missed (HAM makes it idempotent) and appending what the log lost that this node holds;
//   - keeps the log alive (touch every ttl/4) while the room exists here, loading again when the
//     log's last offset is not the last one merged here; the node whose put brings the log to
//     COMPACT_AFTER puts beyond the last snapshot compacts it (the others are told: snapshot notice).
import type { ClusterNode } from './cluster-node.js';
import type { RoomLink } from './room-link.js';
import type { Room } from '../rooms/room.js';
import { compactRoom, loadedGraphs, type LoggedPut } from './graph-log.js';
import { missingFromLog } from './graph-missing.js';
import { graphJson } from '../gun/node-json.js';

/** Puts beyond the last snapshot at which the node that appended the last one compacts. */
export const COMPACT_AFTER = 1000;
/** No snapshot came after that: the node that appends this many more puts tries. */
const COMPACT_RETRY = 250;
/** A reload that failed (engine still away) is tried again after this. */
const RELOAD_RETRY_MS = 1000;

export class GunRoomLink implements RoomLink {
  private readiness: Promise<void> | undefined;
  private joined = false;
  private disposed = false;
  /** while a load runs, the watch's puts wait here (merged after it, unless the load had them) */
  private held: LoggedPut[] | undefined;
  /** the greatest offset the last load covered */
  private loadedUpTo = 0;
  /** the greatest offset merged here (loaded or delivered): what the log's last should be */
  private lastMerged = 0;
  /** puts delivered since the last load or compaction (an estimate of the log beyond its snapshot) */
  private sinceSnapshot = 0;
  private compacting = false;
  private reloading = false;
  private reloadAgain = false;
  private touchTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly offState: () => void;

  constructor(readonly cluster: ClusterNode, readonly room: Room) {
    // The bus says the engine is back: load again (the watch says so too, once it is set up again;
    // whichever comes first, the second load is cheap and idempotent).
    this.offState = cluster.onState((state) => { if (state === 'up') this.reload(); });
  }

  ready(): Promise<void> {
    this.readiness ??= this.join().catch((err: unknown) => {
      this.readiness = undefined; // the next client tries again
      throw err;
    });
    return this.readiness;
  }

  private async join(): Promise<void> {
    const log = this.cluster.graphLog;
    const name = this.room.name;
    this.room.gun.attachLog({ append: (id, json) => log.append(name, { id, graph: json }).then(() => {}) });
    // Watch first, then load: a put appended after the load's read is delivered by the watch.
    await log.watch(name, { put: (p) => this.onPut(p), resumed: () => this.reload(), snapshot: () => this.onSnapshot() });
    await this.load(false);
    if (this.disposed) return;
    this.joined = true;
    const every = Math.max(250, Math.floor(this.cluster.graphTtlMs / 4));
    this.touchTimer = setInterval(() => {
      const merged = this.lastMerged;
      log.touch(name).then(({ last }) => {
        // The log's last offset is not the last this node merged (and none arrived meanwhile):
        // it missed a put, or the engine lost some. Load again (and re-seed).
        if (last !== merged && this.lastMerged === merged && !this.held) {
          this.room.log.warn('graph log and this node differ: reloading', { room: name, last, merged });
          this.reload();
        }
      }, (err: unknown) => this.room.log.debug('graph log touch failed', { room: name, err: (err as Error)?.message }));
    }, every);
    this.touchTimer.unref();
  }

  private onPut(put: LoggedPut): void {
    if (this.disposed) return;
    if (this.held) { this.held.push(put); return; }
    this.deliver(put);
  }

  private deliver(put: LoggedPut): void {
    const own = this.room.gun.logged(put);
    this.sinceSnapshot++;
    if (put.offset > this.lastMerged) this.lastMerged = put.offset;
    // Every node counts the same puts in the same order and starts again at the same snapshot
    // notice, so they agree on which put reaches the bound: the node that appended it compacts.
    // If no snapshot follows (it failed, or that node died), the put COMPACT_RETRY later does.
    const over = this.sinceSnapshot - COMPACT_AFTER;
    if (own && over >= 0 && over % COMPACT_RETRY === 0 && !this.compacting) this.compact();
  }

  /** Any node stored a snapshot: the count of puts beyond it starts again (in order with the puts). */
  private onSnapshot(): void {
    if (!this.held) this.sinceSnapshot = 0;
  }

  /** Load the room's log and merge it; with `reseed`, append what this node holds that the log lost. */
  private async load(reseed: boolean): Promise<void> {
    const log = this.cluster.graphLog;
    const name = this.room.name;
    this.held = [];
    try {
      const load = await log.load(name);
      if (this.disposed) return;
      const gun = this.room.gun;
      // Merged through the relay: what changes this node's copy reaches its peers (none yet at the first load).
      if (load.snapshot) for (const g of loadedGraphs({ ...load, puts: [] })) gun.loggedGraph(g);
      for (const p of load.puts) gun.logged(p);
      this.loadedUpTo = load.last;
      this.lastMerged = load.last;
      this.sinceSnapshot = load.puts.length;
      if (reseed) {
        const missing = missingFromLog(gun.store, gun.pendingDeferred(), load, Date.now());
        for (const graph of missing) await log.append(name, { id: gun.newPutId(), graph: graphJson(graph) });
        if (missing.length) this.room.log.warn('graph log lacked writes this node holds: appended them again', { room: name, puts: missing.length });
      }
    } finally {
      const held = this.held ?? [];
      this.held = undefined;
      if (!this.disposed) for (const p of held) if (p.offset > this.loadedUpTo) this.deliver(p);
    }
  }

  /** The engine is back (or the watch was set up again): load again, retrying while it fails. */
  private reload(): void {
    if (this.disposed || !this.joined) return; // the first load is still running (or failed: the next client joins again)
    if (this.reloading) { this.reloadAgain = true; return; }
    this.reloading = true;
    clearTimeout(this.retryTimer);
    this.load(true).then(() => {
      this.room.log.info('graph log reloaded', { room: this.room.name });
    }, (err: unknown) => {
      this.room.log.warn('graph log reload failed; retrying', { room: this.room.name, err: (err as Error)?.message });
      this.retryTimer = setTimeout(() => this.reload(), RELOAD_RETRY_MS);
      this.retryTimer.unref();
    }).finally(() => {
      this.reloading = false;
      if (this.reloadAgain) { this.reloadAgain = false; this.reload(); }
    });
  }

  private compact(): void {
    this.compacting = true;
    compactRoom(this.cluster.graphLog, this.room.name).then((upTo) => {
      this.room.log.info('graph log compacted', { room: this.room.name, upTo: upTo ?? 'refused' });
    }, (err: unknown) => {
      this.room.log.warn('graph log compaction failed', { room: this.room.name, err: (err as Error)?.message });
    }).finally(() => {
      this.compacting = false;
    });
  }

  dispose(): void {
    this.disposed = true;
    this.offState();
    clearInterval(this.touchTimer);
    clearTimeout(this.retryTimer);
    this.cluster.graphLog.unwatch(this.room.name).catch(() => { /* the connection is gone: nothing to undo */ });
  }
}
