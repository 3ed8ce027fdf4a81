// Plain HTTP: the server's own endpoints under /_/, and a clear answer on room paths.
import type http from 'node:http';
import { roomFromUrl } from '../rooms/room-path.js';
import { answerPreflight, sendError, sendJson } from './http-util.js';
import { handleGunHttp } from './gun-http.js';
import type { MultisocketServer } from './server.js';
import { OriginPolicy } from './origin-policy.js';
import { redactToken } from './request-token.js';
import { handleDoor } from './door.js';
import { serveClientBundle } from './client-bundle.js';
import { adminGuard, checkAdmin } from './admin-access.js';
import { handleAdminRooms, ROOMS_PREFIX } from '../admin/admin-routes.js';
import { clientAddress } from './client-address.js';
import { logAdminAction } from '../log.js';
import { ADMIN_EVENTS_PATH, AdminEvents } from '../admin/admin-events.js';
import { DASHBOARD_PATH, handleDashboard } from '../admin/dashboard-routes.js';

const ENDPOINTS = '/_/health, /_/ready, /_/stats, /_/metrics, /_/nodes, /_/door?room=<path>, /_/client.js, POST /_/drain; admin API: /_/rooms, /_/rooms/<room>, /_/dashboard, /_/admin/events';

export function handleRequest(server: MultisocketServer, req: http.IncomingMessage, res: http.ServerResponse): void {
  // Every answer a page of an allowed origin may read carries CORS headers, refusals included
  // (a page must be able to tell 401 from 410). A page of a site not in --allowed-origins may
  // not read or write anything here (the browser would hide a CORS-less answer from it, but a
  // write would still have happened), so it gets a bare 403.
  const origin = OriginPolicy.originOf(req);
  const originAllowed = server.origins.allows(origin);
  const cors = originAllowed ? server.origins.corsHeaders(origin) : {};
  const path = roomFromUrl(req.url ?? '/');
  if (!path.ok) return sendError(res, 'bad_path', path.error, cors, path.status);
  if (!originAllowed) return sendError(res, 'origin_forbidden', `origin ${origin} is not in --allowed-origins`, { Vary: 'Origin' });
  // The admin stream is an event stream too, but no room's: before the SSE door.
  if (path.reserved && path.room === ADMIN_EVENTS_PATH) return AdminEvents.of(server).handle(req, res, cors);
  if (req.method === 'GET' && (req.headers.accept ?? '').includes('text/event-stream')) {
    return server.openEventStream(req, res, path.room, path.reserved, cors);
  }
  if (path.reserved) return endpoint(server, req, res, path.room, cors);
  handleGunHttp(server, req, res, path.room, cors);
}

/** The server's own endpoints under /_/. */
function endpoint(server: MultisocketServer, req: http.IncomingMessage, res: http.ServerResponse, name: string, cors: Record<string, string>): void {
  if (name === '/_/drain') return drainEndpoint(server, req, res, cors);
  if (name === ROOMS_PREFIX || name.startsWith(ROOMS_PREFIX + '/')) return handleAdminRooms(server, req, res, name, cors);
  if (name === DASHBOARD_PATH || name.startsWith(DASHBOARD_PATH + '/')) return handleDashboard(server, req, res, name, cors);
  // A page's fetch of /_/door with Authorization is preflighted.
  if (req.method === 'OPTIONS') return answerPreflight(req, res, cors, 'GET, HEAD, OPTIONS', 'Authorization');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return sendError(res, 'method_not_allowed', `${name} takes GET or HEAD`, { ...cors, Allow: 'GET, HEAD, OPTIONS' });
  }
  switch (name) {
    case '/_/health':
      return sendJson(res, 200, {
        status: 'ok',
        uptime: Math.round((Date.now() - server.startedAt) / 1000),
        rooms: server.rooms.size,
        connections: server.connectionCount,
        broker: { kind: server.config.broker.kind, state: server.cluster ? server.cluster.state : 'up' },
      }, cors);
    case '/_/ready':
      // Readiness for load balancers: 503 from the moment the drain begins (liveness is /_/health).
      if (server.isClosing) return sendJson(res, 503, { status: 'draining' }, cors);
      return sendJson(res, 200, { status: 'ready' }, cors);
    case '/_/nodes':
      return sendNodes(server, res, cors);
    case '/_/stats':
      // It names every room: once a credential is configured (room tokens or --admin-token), only
      // the admin credential may see it. It used to look at room tokens alone, so with just
      // --admin-token it was open to anyone, and with both the --admin-token secret was refused.
      return adminOrOpen(server, req, res, cors, async () => sendJson(res, 200, stats(server), cors));
    case '/_/metrics':
      return metricsEndpoint(server, req, res, cors);
    case '/_/door':
      return handleDoor(server, req, res, cors);
    case '/_/client.js':
    case '/_/client.js.map':
      serveClientBundle(req, res, name.endsWith('.map'), cors).catch((err: unknown) => failed(server, res, cors, err));
      return;
    default:
      return sendError(res, 'not_found', `no endpoint ${name}; the endpoints are ${ENDPOINTS}`, cors);
  }
}

/**
 * POST /_/drain (admin): start the drain SIGTERM starts (the process then exits 0). Answers 202 at
 * once; a second call while draining answers 202 too.
 */
function drainEndpoint(server: MultisocketServer, req: http.IncomingMessage, res: http.ServerResponse, cors: Record<string, string>): void {
  if (req.method === 'OPTIONS') return answerPreflight(req, res, cors, 'POST, OPTIONS', 'Authorization');
  if (req.method !== 'POST') return sendError(res, 'method_not_allowed', '/_/drain takes POST', { ...cors, Allow: 'POST, OPTIONS' });
  // The body (if any) means nothing; read it so the connection can be reused.
  req.resume();
  checkAdmin(adminGuard(server), req).then((refusal) => {
    if (refusal) {
      server.log.warn('drain refused', { reason: refusal.code, address: clientAddress(req, server.config.trustProxy) });
      return sendError(res, refusal.code, refusal.message, cors, refusal.status);
    }
    sendJson(res, 202, { status: 'draining', drainTimeoutMs: server.config.drainTimeoutMs }, cors);
    logAdminAction(server.log, 'drain', { address: clientAddress(req, server.config.trustProxy) });
    server.requestDrain('POST /_/drain');
  }).catch((err: unknown) => failed(server, res, cors, err));
}

/**
 * GET /_/metrics: the Prometheus text format. The rule of /_/stats: open while no credential is
 * configured (a scraper on the private network needs none); once room tokens or --admin-token
 * are, only the admin credential (checkAdmin: the --admin-token secret or a room token with
 * `admin`) may read it.
 */
function metricsEndpoint(server: MultisocketServer, req: http.IncomingMessage, res: http.ServerResponse, cors: Record<string, string>): void {
  adminOrOpen(server, req, res, cors, () => server.metrics.text().then((text) => {
    res.writeHead(200, { ...cors, 'Content-Type': server.metrics.contentType, 'Cache-Control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : text);
  }));
}

/** The rule of /_/stats and /_/metrics: `send` for anyone while no credential is configured, else only for the admin credential (checkAdmin). */
function adminOrOpen(server: MultisocketServer, req: http.IncomingMessage, res: http.ServerResponse, cors: Record<string, string>, send: () => Promise<void>): void {
  if (!server.access.enabled && server.config.adminToken === undefined) {
    send().catch((err: unknown) => failed(server, res, cors, err));
    return;
  }
  checkAdmin(adminGuard(server), req).then((refusal) => {
    if (refusal) return sendError(res, refusal.code, refusal.message, cors, refusal.status);
    return send();
  }).catch((err: unknown) => failed(server, res, cors, err));
}

/** The live nodes of the cluster (this one alone with the memory broker). */
function sendNodes(server: MultisocketServer, res: http.ServerResponse, cors: Record<string, string>): void {
  const cluster = server.cluster;
  if (!cluster) {
    const self = { id: server.config.nodeId, startedAt: server.startedAt, lastSeen: Date.now(), rooms: server.rooms.size, connections: server.connectionCount };
    return sendJson(res, 200, { self: self.id, nodes: [self] }, cors);
  }
  cluster.nodes().then((nodes) => {
    const list = nodes.map((n) => ({ id: n.id, startedAt: n.startedAt, lastSeen: n.lastSeen, rooms: n.rooms ?? 0, connections: n.connections ?? 0 }));
    sendJson(res, 200, { self: cluster.nodeId, nodes: list }, cors);
  }, (err: unknown) => {
    if (!res.headersSent) sendError(res, 'broker_unavailable', `the cluster's engine did not answer: ${(err as Error)?.message ?? err}`, cors);
  });
}

function failed(server: MultisocketServer, res: http.ServerResponse, cors: Record<string, string>, err: unknown): void {
  server.log.error('request failed', { url: redactToken(res.req.url ?? ''), err: (err as Error)?.stack ?? String(err) });
  if (!res.headersSent) sendError(res, 'internal', 'the server failed to handle this request', cors);
  else res.destroy();
}

function stats(server: MultisocketServer) {
  const rooms: Record<string, ReturnType<import('../rooms/room.js').Room['stats']>> = {};
  const totals = { rooms: 0, peers: 0, members: 0, nodes: 0, bytes: 0, historyBytes: 0, messagesIn: 0, messagesOut: 0 };
  for (const [name, room] of server.rooms) {
    const s = room.stats();
    rooms[name] = s;
    totals.rooms++;
    totals.peers += s.peers;
    totals.members += s.members;
    totals.nodes += s.nodes;
    totals.bytes += s.bytes;
    totals.historyBytes += s.historyBytes;
    totals.messagesIn += s.messagesIn;
    totals.messagesOut += s.messagesOut;
  }
  return {
    uptime: Math.round((Date.now() - server.startedAt) / 1000),
    connections: server.connectionCount,
    roomsEvicted: server.rooms.evicted,
    roomsRefusedByRate: server.limits.roomsRefused,
    memory: { rss: process.memoryUsage.rss() },
    totals,
    rooms,
  };
}
