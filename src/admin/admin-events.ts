// GET /_/admin/events: the admin stream the dashboard lives on (docs/operations.md, "Dashboard").
// Server-Sent Events; one `tick` event every TICK_MS with the totals of every node (the `totals`
// admin operation, admin/node-totals.ts), the busiest rooms, and the nodes that did not answer.
// The first event, `hello`, carries the last minutes already seen so a new page draws its chart
// at once. The ticker runs only while a stream is open; at most MAX_ADMIN_STREAMS are; the drain
// ends them (the tick after it began) and refuses new ones.
import type http from 'node:http';
import type { MultisocketServer } from '../server/server.js';
import { adminGuard, checkAdmin } from '../server/admin-access.js';
import { sendError } from '../server/http-util.js';
import { redactToken } from '../server/request-token.js';
import { VERSION } from '../version.js';
import { CONNECTION_KINDS, type ConnectionTotals, type NodeTotals } from './node-totals.js';
import type { RoomSummary } from './room-view.js';
import { RATE_INTERVAL_MS } from './room-rates.js';
import type { Gathered } from './cluster-calls.js';

export const ADMIN_EVENTS_PATH = '/_/admin/events';
export const TICK_MS = 1000;
/** The chart's span: this many ticks are kept for a page that opens later. */
export const HISTORY_TICKS = 300;
export const MAX_ADMIN_STREAMS = 20;
export const TOP_ROOMS = 10;
const HEARTBEAT_MS = 15_000;
/** A page that reads slower than this much queued is cut off (it reconnects and starts afresh). */
const MAX_QUEUED_BYTES = 1 << 20;

/** One point of the chart. */
export interface HistoryPoint {
  t: number;
  connections: number;
  messagesInPerSec: number;
  deliveriesPerSec: number;
  loopLagMs: number;
}

export interface Tick {
  t: number;
  /** The nodes' totals summed; `loopLagMs`: the worst node's p99. */
  totals: Omit<NodeTotals, 'node' | 'startedAt' | 'loopLagMs' | 'heapUsedBytes'> & { loopLagMs: number };
  nodes: NodeTotals[];
  missing: Gathered<unknown>['missing'];
  topRooms: RoomSummary[];
}

export class AdminEvents {
  private static readonly byServer = new WeakMap<MultisocketServer, AdminEvents>();
  private readonly streams = new Set<http.ServerResponse>();
  private readonly history: HistoryPoint[] = [];
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private inFlight = false;
  private topRooms: { at: number; rooms: RoomSummary[]; total: number } = { at: 0, rooms: [], total: 0 };

  static of(server: MultisocketServer): AdminEvents {
    let e = AdminEvents.byServer.get(server);
    if (!e) AdminEvents.byServer.set(server, (e = new AdminEvents(server)));
    return e;
  }

  private constructor(private readonly server: MultisocketServer) {}

  get open(): number { return this.streams.size; }

  /** GET /_/admin/events (already routed here, whatever its Accept). */
  handle(req: http.IncomingMessage, res: http.ServerResponse, cors: Record<string, string>): void {
    if (req.method !== 'GET') return sendError(res, 'method_not_allowed', `${ADMIN_EVENTS_PATH} takes GET`, { ...cors, Allow: 'GET' });
    checkAdmin(adminGuard(this.server), req).then((refusal) => {
      if (refusal) return sendError(res, refusal.code, refusal.message, cors, refusal.status);
      if (this.server.isClosing) return sendError(res, 'shutting_down', 'the server is shutting down', cors);
      if (this.streams.size >= MAX_ADMIN_STREAMS) return sendError(res, 'too_many_connections', `at most ${MAX_ADMIN_STREAMS} admin streams are open at once`, { ...cors, 'Retry-After': '5' }, 503);
      this.add(res, cors);
    }).catch((err: unknown) => {
      this.server.log.error('admin stream failed', { url: redactToken(req.url ?? ''), err: (err as Error)?.stack ?? String(err) });
      if (!res.headersSent) sendError(res, 'internal', 'the server failed to handle this request', cors);
      else res.destroy();
    });
  }

  /** End every stream and the ticker (the drain; the server's close). */
  stop(): void {
    for (const res of this.streams) res.end();
    this.streams.clear();
    this.idle();
  }

  private add(res: http.ServerResponse, cors: Record<string, string>): void {
    res.writeHead(200, {
      ...cors,
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    res.socket?.setTimeout(0);
    this.streams.add(res);
    res.on('close', () => {
      this.streams.delete(res);
      if (this.streams.size === 0) this.idle();
    });
    const hello = {
      node: this.server.config.nodeId,
      version: VERSION,
      clustered: this.server.cluster !== undefined,
      tickMs: TICK_MS,
      history: this.history,
    };
    res.write(`retry: 2000\n\nevent: hello\ndata: ${JSON.stringify(hello)}\n\n`);
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), TICK_MS);
      this.heartbeat = setInterval(() => this.send(': ping\n\n'), HEARTBEAT_MS);
      this.tick();
    }
  }

  private idle(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.timer = this.heartbeat = undefined;
  }

  private tick(): void {
    if (this.server.isClosing) return this.stop();
    // A slow node (cluster) must not pile up asks: the next tick waits for this one.
    if (this.inFlight) return;
    this.inFlight = true;
    this.build().then((tick) => {
      this.remember(tick);
      this.send(`event: tick\ndata: ${JSON.stringify(tick)}\n\n`);
    }, (err: unknown) => {
      this.server.log.warn('admin stream tick failed', { err: (err as Error)?.message ?? String(err) });
    }).finally(() => { this.inFlight = false; });
  }

  private async build(): Promise<Tick> {
    const api = this.server.admin;
    const now = Date.now();
    // Room rates change every RATE_INTERVAL_MS: the busiest rooms are asked for as often.
    const wantRooms = now - this.topRooms.at >= RATE_INTERVAL_MS - TICK_MS / 2;
    const [g, page] = await Promise.all([
      api.gather<NodeTotals>('totals'),
      wantRooms ? api.rooms({ sort: 'rate', prefix: '', limit: TOP_ROOMS, offset: 0 }) : undefined,
    ]);
    // A room held by two nodes is one room: the cluster-wide count is the rooms query's.
    if (page) this.topRooms = { at: now, rooms: page.rooms, total: page.total };
    const nodes = g.answers.map((a) => a.result).sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    const totals: Tick['totals'] = {
      connections: Object.fromEntries(CONNECTION_KINDS.map((k) => [k, 0])) as ConnectionTotals,
      rooms: 0, members: 0, gunPeers: 0, messagesInPerSec: 0, messagesOutPerSec: 0, deliveriesPerSec: 0, loopLagMs: 0, rssBytes: 0,
    };
    for (const n of nodes) {
      for (const k of CONNECTION_KINDS) totals.connections[k] += n.connections[k] ?? 0;
      totals.members += n.members;
      totals.gunPeers += n.gunPeers;
      totals.messagesInPerSec += n.messagesInPerSec;
      totals.messagesOutPerSec += n.messagesOutPerSec;
      totals.deliveriesPerSec += n.deliveriesPerSec;
      totals.loopLagMs = Math.max(totals.loopLagMs, n.loopLagMs.p99);
      totals.rssBytes += n.rssBytes;
    }
    totals.rooms = this.topRooms.total;
    for (const k of ['messagesInPerSec', 'messagesOutPerSec', 'deliveriesPerSec'] as const) totals[k] = Math.round(totals[k] * 10) / 10;
    return { t: now, totals, nodes, missing: g.missing, topRooms: this.topRooms.rooms };
  }

  private remember(tick: Tick): void {
    this.history.push({
      t: tick.t,
      connections: tick.totals.connections.total,
      messagesInPerSec: tick.totals.messagesInPerSec,
      deliveriesPerSec: tick.totals.deliveriesPerSec,
      loopLagMs: tick.totals.loopLagMs,
    });
    // At most HISTORY_TICKS points, none older than their span (the ticker may have been idle).
    let drop = Math.max(0, this.history.length - HISTORY_TICKS);
    while (drop < this.history.length && this.history[drop].t < tick.t - HISTORY_TICKS * TICK_MS) drop++;
    if (drop > 0) this.history.splice(0, drop);
  }

  private send(text: string): void {
    for (const res of this.streams) {
      if (res.writableLength > MAX_QUEUED_BYTES) { res.destroy(); continue; }
      res.write(text);
    }
  }
}
