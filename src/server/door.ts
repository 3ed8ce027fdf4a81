// GET /_/door?room=<path>: would a WebSocket or event stream to that room be admitted now?
// A browser cannot read the status of a refused WebSocket upgrade, so after a failed handshake
// the SDK asks here and learns the door's code (401 token_required, 410 room_closed, 503 …).
// The checks are the doors' own, in their order, but only looked at: no room is created, no
// connection or budget is counted.
import type http from 'node:http';
import type { MultisocketServer } from './server.js';
import { roomFromUrl } from '../rooms/room-path.js';
import { isRefusal } from '../access/principal.js';
import { admissionMessage, sendError } from './http-util.js';
import { clientAddress } from './client-address.js';
import { queryParams } from './query-params.js';
import { requestToken } from './request-token.js';

export function handleDoor(server: MultisocketServer, req: http.IncomingMessage, res: http.ServerResponse, cors: Record<string, string>): void {
  const admitted = () => {
    res.writeHead(204, { ...cors, 'Cache-Control': 'no-store' });
    res.end();
  };
  if (server.isClosing) return sendError(res, 'shutting_down', 'the server is shutting down', cors);
  const asked = queryParams(req.url ?? '/').get('room');
  if (asked === null || asked === '') return sendError(res, 'bad_request', '/_/door?room=<path> names the room to check, e.g. /_/door?room=/chat', cors);
  const path = roomFromUrl(asked);
  if (!path.ok) return sendError(res, 'bad_path', path.error, cors, path.status);
  if (path.reserved && path.room !== '/_/new') return sendError(res, 'not_found', 'paths under /_/ are the server\'s own endpoints, not rooms', cors);
  const room = path.room;
  const address = clientAddress(req, server.config.trustProxy);
  const limited = server.limits.check(address);
  if (limited) return sendError(res, limited.code, limited.message, cors);
  const rooms = () => {
    const refused = server.rooms.wouldRefuse(room, address);
    if (refused) return sendError(res, refused, admissionMessage(refused, room, server.config), cors);
    admitted();
  };
  if (!server.access.enabled) return rooms();
  server.access.admit(room, requestToken(req)).then((principal) => {
    if (isRefusal(principal)) return sendError(res, principal.code, principal.message, cors);
    rooms();
  }).catch((err: unknown) => {
    server.log.error('door check failed', { room, err: (err as Error).stack });
    if (!res.headersSent) sendError(res, 'internal', 'the server failed to check this room', cors);
  });
}
