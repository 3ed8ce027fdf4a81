// Plain HTTP: the server's own endpoints under /_/, and a clear answer on room paths.
import type http from 'node:http';
import { roomFromUrl } from '../rooms/room-path.js';
import { errorBody, sendJson } from './http-util.js';
import { handleGunHttp } from './gun-http.js';
import type { MultisocketServer } from './server.js';
import { OriginPolicy } from './origin-policy.js';
import { requestToken } from './request-token.js';
import { isRefusal } from '../access/principal.js';

export function handleRequest(server: MultisocketServer, req: http.IncomingMessage, res: http.ServerResponse): void {
  const path = roomFromUrl(req.url ?? '/');
  if (!path.ok) return sendJson(res, path.status, { error: 'bad_path', message: path.error });
  // A page of a site not in --allowed-origins may not read or write anything here (the browser
  // would hide a CORS-less answer from it, but a write would still have happened).
  const origin = OriginPolicy.originOf(req);
  if (!server.origins.allows(origin)) {
    return sendJson(res, 403, errorBody('origin_forbidden', `origin ${origin} is not in --allowed-origins`), { Vary: 'Origin' });
  }
  const cors = server.origins.corsHeaders(origin);
  if (req.method === 'GET' && (req.headers.accept ?? '').includes('text/event-stream')) {
    return server.openEventStream(req, res, path.room, path.reserved, cors);
  }
  if (path.reserved) {
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method_not_allowed', message: 'use GET' }, { Allow: 'GET, HEAD' });
    switch (path.room) {
      case '/_/health':
        return sendJson(res, 200, {
          status: 'ok',
          uptime: Math.round((Date.now() - server.startedAt) / 1000),
          rooms: server.rooms.size,
          connections: server.connectionCount,
        });
      case '/_/stats':
        // It names every room: with tokens on, only an admin token may see it.
        if (!server.access.enabled) return sendJson(res, 200, stats(server));
        server.access.admin(requestToken(req)).then((p) => {
          if (isRefusal(p)) return sendJson(res, p.status, { error: p.code, message: p.message });
          sendJson(res, 200, stats(server));
        }).catch((err: unknown) => {
          server.log.error('stats failed', { err: (err as Error).stack });
          if (!res.headersSent) sendJson(res, 500, { error: 'internal', message: 'internal error' });
        });
        return;
      default:
        return sendJson(res, 404, { error: 'not_found', message: `no endpoint ${path.room}; try /_/health or /_/stats` });
    }
  }
  handleGunHttp(server, req, res, path.room, cors);
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
