// The listener: one HTTP(S) port. Requests under /_/ are the server's own endpoints; every other
// path is a room. WebSocket upgrades on a room path join that room as GUN peers.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { RoomRegistry } from '../rooms/registry.js';
import { roomFromUrl } from '../rooms/room-path.js';
import type { Room } from '../rooms/room.js';
import { CloseCode } from '../transports/connection.js';
import { FlushScheduler } from '../transports/flush-scheduler.js';
import { OutFrame } from '../transports/out-frame.js';
import { WebSocketConnection } from '../transports/websocket.js';
import { refuseUpgrade, sendJson } from './http-util.js';
import { handleRequest } from './routes.js';

export class MultisocketServer {
  readonly http: http.Server;
  readonly rooms: RoomRegistry;
  readonly startedAt = Date.now();
  private readonly wss: WebSocketServer;
  private readonly scheduler = new FlushScheduler();
  private readonly connections = new Set<WebSocketConnection>();
  private heartbeat: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;

  constructor(readonly config: Config, readonly log: Logger) {
    this.rooms = new RoomRegistry({
      roomTtlMs: config.roomTtlMs,
      maxRooms: config.maxRooms,
      maxPeersPerRoom: config.maxPeersPerRoom,
      maxRoomBytes: config.maxRoomBytes,
      log,
    });
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
      try {
        handleRequest(this, req, res);
      } catch (err) {
        log.error('request failed', { url: req.url, err: (err as Error).stack });
        if (!res.headersSent) sendJson(res, 500, { error: 'internal', message: 'internal error' });
        else res.destroy();
      }
    };
    this.http = config.tls
      ? https.createServer({ key: config.tls.key, cert: config.tls.cert }, onRequest)
      : http.createServer(onRequest);
    this.http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.http.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    // `ws` enforces maxPayload itself and closes with 1009; deflate costs far more than it saves here.
    this.wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: config.maxMessageBytes, clientTracking: false });
  }

  get connectionCount(): number { return this.connections.size; }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.config.port, this.config.host, () => {
        this.http.off('error', reject);
        this.startHeartbeat();
        resolve(this.http.address() as AddressInfo);
      });
    });
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (this.closing) return refuseUpgrade(socket, 503, 'shutting_down', 'the server is shutting down');
    const path = roomFromUrl(req.url ?? '/');
    if (!path.ok) return refuseUpgrade(socket, path.status, 'bad_path', path.error);
    if (path.reserved) return refuseUpgrade(socket, 404, 'not_found', 'paths under /_/ are the server\'s own endpoints, not rooms');
    const admission = this.rooms.admit(path.room);
    if (!admission.ok) {
      const message = admission.reason === 'room_full'
        ? `room ${path.room} has reached --max-peers-per-room (${this.config.maxPeersPerRoom})`
        : `the server has reached --max-rooms (${this.config.maxRooms})`;
      this.log.warn('upgrade refused', { room: path.room, reason: admission.reason });
      return refuseUpgrade(socket, 503, admission.reason, message);
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws, admission.room, req));
  }

  private attach(ws: WebSocket, room: Room, req: http.IncomingMessage): void {
    const conn = new WebSocketConnection(ws, this.scheduler, {
      maxQueuedBytes: this.config.maxQueuedBytes,
      maxMessagesPerSecond: this.config.maxMessagesPerSecond,
    }, req.socket.remoteAddress ?? '');
    // The room may have expired between admission and the finished handshake; re-admit.
    if (this.rooms.get(room.name) !== room) {
      const again = this.rooms.admit(room.name);
      if (!again.ok) { ws.close(1013, again.reason); return; }
      room = again.room;
    }
    this.connections.add(conn);
    this.rooms.join(room, conn);
    this.log.debug('peer joined', { room: room.name, peer: conn.id });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      conn.countIncoming(Date.now());
      if (isBinary) {
        room.messagesIn++;
        room.send(conn, errorFrame('binary frames are not supported; send JSON text'));
        return;
      }
      room.messagesIn += room.gun.receive(conn, data.toString('utf8'));
    });
    ws.on('error', (err) => this.log.debug('peer socket error', { room: room.name, peer: conn.id, err: err.message }));
    ws.on('close', () => {
      this.connections.delete(conn);
      room.gun.leave(conn);
      this.rooms.leave(room, conn);
      this.log.debug('peer left', { room: room.name, peer: conn.id });
    });
    room.gun.greet(conn);
  }

  private startHeartbeat(): void {
    if (this.config.heartbeatMs <= 0) return;
    this.heartbeat = setInterval(() => {
      for (const conn of this.connections) {
        if (!conn.alive) { conn.terminate(); continue; }
        conn.alive = false;
        try { conn.ws.ping(); } catch { conn.terminate(); }
      }
    }, this.config.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Stop accepting, close every peer with 1001, and resolve once all are gone (≤ ~3 s). */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      if (this.heartbeat) clearInterval(this.heartbeat);
      const listening = new Promise<void>((resolve) => this.http.close(() => resolve()));
      this.http.closeIdleConnections?.();
      for (const conn of this.connections) conn.close(CloseCode.GOING_AWAY, 'server shutting down');
      const deadline = Date.now() + 2500;
      while (this.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const conn of this.connections) conn.terminate();
      this.http.closeAllConnections?.();
      await listening;
      this.rooms.clear();
    })());
  }
}

function errorFrame(err: string): OutFrame {
  return new OutFrame(JSON.stringify({ dam: '!', err }));
}
