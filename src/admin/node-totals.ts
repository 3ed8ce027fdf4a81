// One node's live totals for the dashboard (admin/admin-events.ts): connections by protocol and
// transport, rooms, messages in/out and deliveries per second, event-loop lag and memory. Every
// node answers them for itself (the `totals` admin operation, gathered cluster-wide); rates are
// the difference of the running counts since the previous reading, so nothing runs per message
// and nothing runs at all while nobody is watching.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { MultisocketServer } from '../server/server.js';

export const CONNECTION_KINDS = ['gunWebsocket', 'nativeWebsocket', 'nativeSse', 'nativeTcp', 'nativeIpc', 'nativeInproc', 'total'] as const;
export type ConnectionTotals = Record<typeof CONNECTION_KINDS[number], number>;

export interface NodeTotals {
  node: string;
  startedAt: number;
  /** as server.connectionCounts(), plus the total */
  connections: ConnectionTotals;
  rooms: number;
  /** native members and GUN peers in this node's rooms */
  members: number;
  gunPeers: number;
  messagesInPerSec: number;
  messagesOutPerSec: number;
  /** messages handed to a recipient per second (one per recipient) */
  deliveriesPerSec: number;
  /** event-loop delay since the previous reading, ms (perf_hooks' histogram) */
  loopLagMs: { mean: number; p99: number; max: number };
  rssBytes: number;
  heapUsedBytes: number;
}

/** Readings closer together than this return the previous one (two dashboards on two nodes both ask). */
const MIN_READING_GAP_MS = 500;
/** The loop-delay histogram stops this long after the last reading (nobody watches any more). */
const IDLE_STOP_MS = 30_000;
const LOOP_RESOLUTION_MS = 10;

interface Counts { in: number; out: number; deliveries: number }

export class NodeTotalsMeter {
  private last: { at: number; counts: Counts; totals: NodeTotals } | undefined;
  private histogram: IntervalHistogram | undefined;
  private idle: NodeJS.Timeout | undefined;

  constructor(private readonly server: MultisocketServer) {}

  read(): NodeTotals {
    const now = Date.now();
    if (this.last && now - this.last.at < MIN_READING_GAP_MS) return this.last.totals;
    const counts = this.counts();
    const seconds = this.last ? (now - this.last.at) / 1000 : 0;
    const rate = (key: keyof Counts) => (this.last && seconds > 0 ? round(Math.max(0, counts[key] - this.last.counts[key]) / seconds) : 0);
    const c = this.server.connectionCounts();
    const memory = process.memoryUsage();
    const totals: NodeTotals = {
      node: this.server.config.nodeId,
      startedAt: this.server.startedAt,
      connections: { ...c, total: c.gunWebsocket + c.nativeWebsocket + c.nativeSse + c.nativeTcp + c.nativeIpc + c.nativeInproc },
      rooms: this.server.rooms.size,
      members: 0,
      gunPeers: 0,
      messagesInPerSec: rate('in'),
      messagesOutPerSec: rate('out'),
      deliveriesPerSec: rate('deliveries'),
      loopLagMs: this.loopLag(),
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
    };
    for (const [, room] of this.server.rooms) {
      totals.members += room.members;
      totals.gunPeers += room.peers.size;
    }
    this.last = { at: now, counts, totals };
    return totals;
  }

  stop(): void {
    this.histogram?.disable();
    this.histogram = undefined;
    if (this.idle) clearTimeout(this.idle);
  }

  /** Messages in and out so far: the live rooms' counters plus those of rooms already freed. */
  private counts(): Counts {
    const tally = this.server.tally;
    const r = tally.retired;
    let inCount = r.gunIn + r.nativeIn;
    let outCount = r.gunOut + r.nativeOut;
    for (const [, room] of this.server.rooms) {
      const hub = room.nativeMessages();
      inCount += room.messagesIn + hub.in;
      outCount += room.messagesOut + hub.out;
    }
    // Deliveries: messages written to a client connection, one per recipient (the transports count
    // them: src/metrics/tally.ts Traffic), the same figure as multisocket_deliveries_total.
    return { in: inCount, out: outCount, deliveries: tally.gun.deliveries + tally.native.deliveries };
  }

  /** The loop delay since the last reading (0 on the first: the histogram starts now). */
  private loopLag(): NodeTotals['loopLagMs'] {
    if (this.idle) clearTimeout(this.idle);
    this.idle = setTimeout(() => this.stop(), IDLE_STOP_MS);
    this.idle.unref();
    const h = this.histogram;
    if (!h) {
      this.histogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
      this.histogram.enable();
      return { mean: 0, p99: 0, max: 0 };
    }
    // The histogram includes its own sampling interval; subtract it to get the lag.
    const ms = (ns: number) => round(Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS));
    const lag = h.count > 0 ? { mean: ms(h.mean), p99: ms(h.percentile(99)), max: ms(h.max) } : { mean: 0, p99: 0, max: 0 };
    h.reset();
    return lag;
  }
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
