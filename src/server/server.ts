// The listener: one HTTP(S) port. Requests under /_/ are the server's own endpoints; every other
// path is a room. A WebSocket upgrade on a room path joins it as a GUN peer, or as a native member
// when it asks for the multisocket.v1 subprotocol; an event-stream GET joins as an SSE member.
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
import { SseConnection } from '../transports/sse.js';
import type { LineConnection } from '../transports/line.js';
import { LineListeners, type LineAddresses } from './line-listeners.js';
import { joinHub, joinOptions, leaveHub, receiveNativeFrame, tellTokenExpired, type JoinOptions } from './native.js';
import { admissionMessage, refuseUpgrade, sendError } from './http-util.js';
import { SUBPROTOCOL, SUBPROTOCOL_PREFIX } from '../protocol/subprotocol.js';
import type { KnownErrorCode } from '../protocol/errors.js';
import { handleRequest as routeRequest } from './routes.js';
import { LiveConnections } from './live-connections.js';
import { RoomAccess } from '../access/room-access.js';
import { isRefusal, OPEN, type Principal } from '../access/principal.js';
import { OriginPolicy } from './origin-policy.js';
import { ConnectionLimits } from './connection-limits.js';
import { clientAddress } from './client-address.js';
import { redactToken, requestToken } from './request-token.js';
import { forgetPrincipal, setPrincipal } from './token-expiry.js';
import { ClusterNode } from '../cluster/cluster-node.js';
import { engineAckWaitMs } from '../cluster/room-jobs.js';
import { jobQueueTtlMs } from '../cluster/job-queue.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, MAX_REQUEST_TIMEOUT_MS } from './request-timeouts.js';
import { serveForwardedPosts } from './native-post.js';
import { admitNative, handOverFirst, joinAdmitted } from './admission.js';
import { MemberHandover } from '../cluster/member-handover.js';
import { awaitHandovers, closeGunPeers, drainMembers } from './drain.js';
import { Tally } from '../metrics/tally.js';
import { ConnectionLog, type ConnectionFields } from './connection-log.js';
import { statusOf } from '../protocol/errors.js';
import { ServerMetrics } from '../metrics/metrics.js';
import { AdminApi } from '../admin/admin-api.js';
import { Mount, normalizePrefix, type AttachOptions } from './mount.js';
import { connectInProcess, inProcessCount, type InProcessOptions } from '../embed/in-process.js';
import { ServerRoom } from '../embed/room-api.js';
import type { Room as RoomHandle } from '../client/room.js';
import type { RoomTap } from '../channels/room-tap.js';

export class MultisocketServer {
  readonly http: http.Server;
  readonly rooms: RoomRegistry;
  readonly startedAt = Date.now();
  /** Who may into which room (tokens); every door asks it. */
  readonly access: RoomAccess;
  readonly origins: OriginPolicy;
  readonly limits: ConnectionLimits;
  private readonly wss: WebSocketServer;
  private readonly scheduler: FlushScheduler;
  private readonly connections: LiveConnections<WebSocketConnection>;
  private readonly sseConnections: LiveConnections<SseConnection>;
  /** TCP and IPC members (newline-delimited JSON; line-door.ts). */
  private readonly lineConnections: LiveConnections<LineConnection>;
  private readonly lineListeners: LineListeners;
  /** Where the TCP and IPC listeners listen (set by listen()). */
  lineAddresses: LineAddresses = {};
  private closing: Promise<void> | undefined;
  /**
   * Set by the CLI: a drain asked for over HTTP (POST /_/drain) ends the process as SIGTERM does.
   * Unset (the server embedded in another program): the server just closes.
   */
  onDrainRequested: ((by: string) => void) | undefined;
  /** This process as a node of a cluster; undefined with the memory broker (one process). */
  readonly cluster: ClusterNode | undefined;
  /** Counts no room keeps (GUN acks, requests by outcome, closes, refusals), shared by every room. */
  readonly tally = new Tally();
  /** One throttled line per refused upgrade and per close for a protocol reason. */
  /** One line per refused upgrade and per close for a protocol reason (rate-limited). */
  readonly connectionLog: ConnectionLog;
  /** GET /_/metrics; made on the first scrape (a server nobody scrapes runs no collectors). */
  private metricsRegistry: ServerMetrics | undefined;
  /** The admin API's operations (/_/rooms…, the dashboard); a cluster's nodes answer each other's. */
  readonly admin: AdminApi;
  /** What server.room(name).on(...) listens to, by room (src/embed/room-api.ts); empty costs the hubs nothing. */
  readonly roomTaps = new Map<string, RoomTap>();

  constructor(readonly config: Config, readonly log: Logger) {
    this.connectionLog = new ConnectionLog(log);
    if (config.broker.kind !== 'memory') {
      this.cluster = new ClusterNode({
        broker: config.broker,
        nodeId: config.nodeId,
        key: config.clusterKey,
        streamLimits: { maxEntries: config.historySize, maxBytes: config.historyBytes, maxAgeMs: config.historyTtlMs },
        graphTtlMs: config.roomTtlMs + 60_000,
        jobTtlMs: jobQueueTtlMs(config.roomTtlMs),
        jobLimits: { maxJobs: config.maxQueuedJobs, maxBytes: config.maxQueuedJobBytes, engineAckWaitMs: engineAckWaitMs(config.jobAckWaitMs) },
        log,
        counts: () => ({ rooms: this.rooms.size, connections: this.connectionCount }),
      });
      serveForwardedPosts(this, this.cluster);
      MemberHandover.of(this.cluster);
    }
    this.scheduler = new FlushScheduler(config.coalesceMs);
    this.connections = new LiveConnections(config.heartbeatMs);
    this.sseConnections = new LiveConnections(config.heartbeatMs);
    this.lineConnections = new LiveConnections(config.heartbeatMs);
    // The line door's view of the server: what admission needs, plus where line members are kept.
    const server = this; // eslint-disable-line @typescript-eslint/no-this-alias
    this.lineListeners = new LineListeners({
      get isClosing() { return server.isClosing; },
      config, log, scheduler: this.scheduler, tally: this.tally, lineConnections: this.lineConnections,
      get rooms() { return server.rooms; },
      get access() { return server.access; },
      get limits() { return server.limits; },
      get cluster() { return server.cluster; },
      get connectionLog() { return server.connectionLog; },
    });
    this.access = new RoomAccess({ keys: config.auth && { secret: config.auth.secret, publicKey: config.auth.publicKey, issuer: config.auth.issuer, audience: config.auth.audience }, publicRooms: config.publicRooms });
    this.origins = new OriginPolicy(config.allowedOrigins);
    this.limits = new ConnectionLimits(config);
    this.rooms = new RoomRegistry({
      tally: this.tally,
      roomTtlMs: config.roomTtlMs,
      maxRooms: config.maxRooms,
      maxPeersPerRoom: config.maxPeersPerRoom,
      maxRoomBytes: config.maxRoomBytes,
      hub: {
        historySize: config.historySize,
        historyTtlMs: config.historyTtlMs,
        historyBytes: config.historyBytes,
        maxPendingRequests: config.maxPendingRequests,
        defaultRequestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
        maxRequestTimeoutMs: MAX_REQUEST_TIMEOUT_MS,
        resumeGraceMs: config.resumeGraceMs,
        maxHeldBytes: config.maxQueuedBytes,
        queue: { maxJobs: config.maxQueuedJobs, maxBytes: config.maxQueuedJobBytes, ackWaitMs: config.jobAckWaitMs, maxAttempts: config.jobMaxAttempts },
        limits: Object.freeze({
          maxMessageBytes: config.maxMessageBytes,
          maxMessagesPerSecond: config.maxMessagesPerSecond,
          maxPendingRequests: config.maxPendingRequests,
          maxInfoBytes: config.maxInfoBytes,
          resumeGraceMs: config.resumeGraceMs,
          maxRequestTimeoutMs: MAX_REQUEST_TIMEOUT_MS,
        }),
        tally: this.tally,
        taps: this.roomTaps,
      },
      log,
      cluster: this.cluster,
      mayCreate: config.newRoomsPerIp > 0 ? (creator) => this.limits.mayCreateRoom(creator) : undefined,
      couldCreate: config.newRoomsPerIp > 0 ? (creator) => this.limits.couldCreateRoom(creator) : undefined,
    });
    this.admin = new AdminApi(this);
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => this.handleRequest(req, res);
    this.http = config.tls
      ? https.createServer({ key: config.tls.key, cert: config.tls.cert }, onRequest)
      : http.createServer(onRequest);
    this.http.on('upgrade', (req, socket, head) => this.handleUpgrade(req, socket, head));
    this.http.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    // `ws` enforces maxPayload itself and closes with 1009; deflate costs far more than it saves here.
    this.wss = new WebSocketServer({
      noServer: true, perMessageDeflate: false, maxPayload: config.maxMessageBytes, clientTracking: false,
      // Only the native subprotocol is ever selected; GUN peers send none.
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
  }

  get connectionCount(): number { return this.connections.size + this.sseConnections.size + this.lineConnections.size; }

  /** Open connections by protocol and transport, counted on demand (a scrape): GUN peers are the rooms' peers. */
  connectionCounts(): { gunWebsocket: number; nativeWebsocket: number; nativeSse: number; nativeTcp: number; nativeIpc: number; nativeInproc: number } {
    let gun = 0;
    for (const [, room] of this.rooms) gun += room.peers.size;
    let tcp = 0;
    for (const conn of this.lineConnections) if (conn.transport === 'tcp') tcp++;
    return {
      gunWebsocket: gun, nativeWebsocket: Math.max(0, this.connections.size - gun), nativeSse: this.sseConnections.size,
      nativeTcp: tcp, nativeIpc: this.lineConnections.size - tcp, nativeInproc: inProcessCount(this),
    };
  }

  /**
   * A member of `room` in this process: the SDK's room handle (the API of `multisocket/client`'s
   * connect()) over an in-process pipe (docs/embedding.md, "Server-side rooms and in-process members").
   */
  connect(room: string, options?: InProcessOptions): RoomHandle {
    return connectInProcess(this, room, options);
  }

  /** The server's own handle on `room`: publish, send, members, events, serve/pull workers, the GUN graph. */
  room(name: string): ServerRoom {
    return ServerRoom.of(this, name);
  }

  get metrics(): ServerMetrics {
    return (this.metricsRegistry ??= new ServerMetrics(this, this.tally));
  }

  /** close() (the drain) has begun: every door refuses with shutting_down, /_/ready answers 503. */
  get isClosing(): boolean { return this.closing !== undefined; }

  /** POST /_/drain by an admin: the CLI's shutdown when it set one, else close(). */
  requestDrain(by: string): void {
    if (this.closing) return;
    if (this.onDrainRequested) this.onDrainRequested(by);
    else void this.close();
  }

  /** Join the cluster (when a broker is configured), then listen. Rejects with one line when the engine is unreachable. */
  async start(): Promise<AddressInfo> {
    await this.cluster?.start();
    return this.listen();
  }

  /**
   * Join the cluster (when a broker is configured; once), listen on `port` and `host` (default:
   * the config's), then on --tcp-port and --ipc when set (see lineAddresses). Rejects with one
   * line when the engine is unreachable or a port is taken.
   */
  async listen(port = this.config.port, host = this.config.host): Promise<AddressInfo> {
    await this.cluster?.start();
    const address = await new Promise<AddressInfo>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => {
        this.http.off('error', reject);
        resolve(this.http.address() as AddressInfo);
      });
    });
    try {
      await this.listenLines();
    } catch (err) {
      await new Promise<void>((resolve) => this.http.close(() => resolve()));
      throw err;
    }
    this.startHeartbeat();
    return address;
  }

  private linesListening: Promise<void> | undefined;

  /** The --tcp-port and --ipc listeners, once, whether the server listens or is attached. */
  private listenLines(): Promise<void> {
    return (this.linesListening ??= this.lineListeners.listen(this.config).then((addresses) => { this.lineAddresses = addresses; }, async (err: unknown) => {
      await this.lineListeners.stopAccepting();
      this.linesListening = undefined;
      throw err;
    }));
  }

  // ---- Embedding (docs/embedding.md): another program's server carries the rooms. ----
  private readonly mounts: Mount[] = [];

  /**
   * Serve the rooms under `prefix` of an existing http/https server (src/server/mount.ts); its
   * other paths and upgrades stay the host's. Joins the cluster first when a broker is configured,
   * and opens the --tcp-port / --ipc listeners when set (they are the relay's own, host or not).
   * close() gives the prefix back and never closes the host server.
   */
  async attach(host: http.Server | https.Server, options: AttachOptions = {}): Promise<this> {
    const prefix = normalizePrefix(options.prefix);
    if (this.closing) throw new Error('attach(): the server is closing');
    if (this.mounts.some((m) => m.host === host && m.prefix === prefix)) throw new Error(`attach(): already attached at "${prefix || '/'}" of this server`);
    await this.cluster?.start();
    await this.listenLines();
    this.mounts.push(new Mount(host, prefix, this));
    this.startHeartbeat();
    return this;
  }

  /** One HTTP request, as the listener or a mount hands it over (path relative to the rooms). */
  handleRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    try {
      routeRequest(this, req, res);
    } catch (err) {
      this.log.error('request failed', { url: redactToken(req.url ?? ''), err: (err as Error).stack });
      if (!res.headersSent) sendError(res, 'internal', 'the server failed to handle this request', this.origins.corsHeaders(OriginPolicy.originOf(req)));
      else res.destroy();
    }
  }

  /** One upgrade, as the listener or a mount hands it over. */
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    try {
      this.onUpgrade(req, socket, head);
    } catch (err) {
      // A bug must cost this one upgrade, not the process (an uncaught throw here ends it).
      this.log.error('upgrade failed', { url: redactToken(req.url ?? ''), err: (err as Error).stack });
      this.refuseUpgrade(socket, 'internal', 'the server failed to handle this upgrade', { address: req.socket.remoteAddress });
    }
  }
  // ---- end of embedding ----

  // The WebSocket door: path, origin, limits, token, room, then the handshake. Every refusal is a
  // plain HTTP answer before any WebSocket exists; nothing here may throw past the socket.
  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', destroyOnError);
    const address = clientAddress(req, this.config.trustProxy);
    if (this.closing) return this.refuseUpgrade(socket, 'shutting_down', 'the server is shutting down', { address });
    const path = roomFromUrl(req.url ?? '/');
    if (!path.ok) return this.refuseUpgrade(socket, 'bad_path', path.error, { path: redactToken(req.url ?? '').slice(0, 200), address }, path.status);
    const room = path.room;
    const origin = OriginPolicy.originOf(req);
    if (!this.origins.allows(origin)) {
      return this.refuseUpgrade(socket, 'origin_forbidden', `origin ${origin} is not in --allowed-origins`, { room, address, origin });
    }
    const offer = subprotocolOffer(req);
    if (offer === 'unsupported') {
      return this.refuseUpgrade(socket, 'unsupported_subprotocol', `this server speaks the ${SUBPROTOCOL} subprotocol (offered: ${String(req.headers['sec-websocket-protocol']).slice(0, 200)}); without a subprotocol a room speaks GUN`, { room, address });
    }
    const native = offer === 'native';
    if (path.reserved) {
      if (path.room !== '/_/new') return this.refuseUpgrade(socket, 'not_found', 'paths under /_/ are the server\'s own endpoints, not rooms', { room, address });
      if (!native) return this.refuseUpgrade(socket, 'bad_request', `/_/new creates an owned room for the ${SUBPROTOCOL} subprotocol`, { room, address });
    }
    // Only what the connection needs is taken from the request: a closure that kept `req` alive
    // would hold its headers and buffers for the connection's whole life (kilobytes per peer).
    const options = native ? joinOptions(req, this.config.maxInfoBytes) : undefined;
    if (options && 'refused' in options) return this.refuseUpgrade(socket, options.refused, options.message, { room, address });
    const limited = this.limits.open(address);
    if (limited) return this.refuseUpgrade(socket, limited.code, limited.message, { room, address });
    if (!this.access.enabled) return this.upgrade(req, socket, head, path.room, options, address, OPEN);
    void this.upgradeWithToken(req, socket, head, path.room, options, address);
  }

  private async upgradeWithToken(req: http.IncomingMessage, socket: Duplex, head: Buffer, roomName: string, options: JoinOptions | undefined, address: string): Promise<void> {
    try {
      const principal = await this.access.admit(roomName, requestToken(req));
      if (socket.destroyed) return this.limits.close(address);
      if (isRefusal(principal)) {
        this.limits.close(address);
        return this.refuseUpgrade(socket, principal.code, principal.message, { room: roomName, address });
      }
      this.upgrade(req, socket, head, roomName, options, address, principal);
    } catch (err) {
      this.limits.close(address);
      this.log.error('upgrade failed', { room: roomName, err: (err as Error).stack });
      this.refuseUpgrade(socket, 'internal', 'the server failed to admit this connection', { room: roomName, address });
    }
  }

  /** Admitted so far: join (or create) the room and complete the handshake. */
  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, roomName: string, options: JoinOptions | undefined, address: string, principal: Principal): void {
    // The drain may have begun while the token was checked.
    if (this.closing) {
      this.limits.close(address);
      return this.refuseUpgrade(socket, 'shutting_down', 'the server is shutting down', { room: roomName, address });
    }
    const admission = roomName === '/_/new' ? this.rooms.createOwned(address) : this.rooms.admit(roomName, address, options?.resume);
    if (!admission.ok) {
      this.limits.close(address);
      return this.refuseUpgrade(socket, admission.reason, admissionMessage(admission.reason, roomName, this.config), { room: roomName, address });
    }
    const handshake = () => {
      let accepted = false;
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        accepted = true;
        this.accept(ws, admission.room, address, options, principal);
      });
      // ws completes (or aborts) a handshake synchronously when there is no verifyClient and no
      // deflate: not accepted by now means it refused the handshake (400 for a bad
      // Sec-WebSocket-Key or -Version), so the reserved slot is free.
      if (!accepted) {
        this.limits.close(address);
        this.connectionLog.upgradeRefused('bad_request', 400, { room: roomName, address, by: 'ws' });
      }
    };
    const ready = admission.room.prepare(options ? 'native' : 'gun');
    if (!ready) return handshake();
    // Cluster: the room is joined with the other nodes (its log loaded, its subscriptions routed
    // here) before the client is let in, so it never sees a half-joined room; a member it resumes
    // is taken over from its node first.
    ready.then(() => this.handOverFirst(admission.room, options, principal)).then(() => {
      if (socket.destroyed) return this.limits.close(address);
      if (this.closing) {
        this.limits.close(address);
        return this.refuseUpgrade(socket, 'shutting_down', 'the server is shutting down', { room: roomName, address });
      }
      if (this.rooms.isFullFor(admission.room, options?.resume)) {
        this.limits.close(address);
        return this.refuseUpgrade(socket, 'room_full', admissionMessage('room_full', roomName, this.config), { room: roomName, address });
      }
      handshake();
    }, (err: unknown) => {
      this.limits.close(address);
      this.refuseUpgrade(socket, 'broker_unavailable', 'the cluster\'s engine did not answer; try again', { room: roomName, address, err: (err as Error)?.message });
    });
  }

  /**
   * Cluster: a connection resuming a member held by another node takes it over from there first
   * (member-handover.ts); then the hub's resume finds it here. Never rejects.
   */
  private handOverFirst(room: Room, options: JoinOptions | undefined, principal: Principal): Promise<void> | void {
    return handOverFirst(this.cluster, room, options, principal);
  }

  private accept(ws: WebSocket, room: Room, remote: string, options: JoinOptions | undefined, principal: Principal): void {
    // The room may have closed or expired during the handshake: re-admit by name.
    if (this.rooms.get(room.name) !== room) {
      const again = this.rooms.admit(room.name, remote, options?.resume);
      if (!again.ok) {
        this.limits.close(remote);
        this.connectionLog.upgradeRefused(again.reason, statusOf(again.reason), { room: room.name, address: remote, after: 'handshake' });
        ws.close(CloseCode.TRY_AGAIN_LATER, again.reason);
        return;
      }
      room = again.room;
    }
    const conn = new WebSocketConnection(ws, this.scheduler, {
      maxQueuedBytes: this.config.maxQueuedBytes,
      maxMessagesPerSecond: this.config.maxMessagesPerSecond,
    }, remote);
    this.connections.add(conn);
    const isNative = ws.protocol === SUBPROTOCOL;
    conn.traffic = isNative ? this.tally.native : this.tally.gun;
    if (principal !== OPEN) setPrincipal(conn, principal, isNative ? tellTokenExpired : undefined);
    if (isNative) this.attachNative(conn, room, options ?? {});
    else this.attachGun(conn, room);
  }

  /**
   * Every refused upgrade goes through here: answered, counted by reason for /_/metrics, and
   * logged (one line, throttled per reason: connection-log.ts).
   */
  private refuseUpgrade(socket: Duplex, code: KnownErrorCode, message: string, fields: ConnectionFields, status = statusOf(code)): void {
    this.tally.upgradeRefused(code);
    this.connectionLog.upgradeRefused(code, status, fields);
    refuseUpgrade(socket, code, message, status);
  }

  // Memory: each listener below shares its method's one closure context, so the socket-error
  // logger lives here rather than in accept(), which would make a second context per connection.
  private attachGun(conn: WebSocketConnection, room: Room): void {
    conn.ws.on('error', (err) => this.log.debug('socket error', { room: room.name, conn: conn.id, err: err.message }));
    room.peers.add(conn);
    room.peersChanged();
    this.rooms.joined(room);
    this.log.debug('peer joined', { room: room.name, peer: conn.id });
    conn.onThrottledMessage((data, isBinary) => {
      this.tally.gun.bytesIn += data.length;
      if (isBinary) {
        room.messagesIn++;
        room.send(conn, errorFrame('binary frames are not supported; send JSON text'));
        return;
      }
      room.messagesIn += room.gun.receive(conn, data.toString('utf8'));
    });
    conn.ws.on('close', (code: number) => {
      this.tally.closed(conn.closedWith?.code ?? code); // ours when the server closed: ws reports 1006 after its own 1009
      this.connections.delete(conn);
      this.limits.close(conn.remoteAddress);
      forgetPrincipal(conn);
      room.gun.leave(conn);
      room.peers.delete(conn);
      room.peersChanged();
      this.rooms.left(room);
      this.connectionLog.closed(conn.closedWith, { room: room.name, peer: conn.id, address: conn.remoteAddress });
      this.log.debug('peer left', { room: room.name, peer: conn.id });
    });
    room.gun.greet(conn);
  }

  private attachNative(conn: WebSocketConnection, room: Room, options: JoinOptions): void {
    conn.ws.on('error', (err) => this.log.debug('socket error', { room: room.name, conn: conn.id, err: err.message }));
    const member = joinHub(this.rooms, room, conn, options);
    conn.ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.tally.native.bytesIn += data.length;
      if (isBinary) return room.channels().sendError(member, 'bad_message', 'binary frames are not supported; send JSON text');
      receiveNativeFrame(this.access, room, member, conn, data.toString('utf8'));
    });
    conn.ws.on('close', (code: number) => {
      this.tally.closed(conn.closedWith?.code ?? code); // ours when the server closed: ws reports 1006 after its own 1009
      this.connections.delete(conn);
      this.limits.close(conn.remoteAddress);
      forgetPrincipal(conn);
      this.connectionLog.closed(conn.closedWith, { room: room.name, cid: member.cid, address: conn.remoteAddress });
      leaveHub(room, member, conn);
    });
  }

  /** The SSE door (GET with Accept: text/event-stream): limits, token, room (admission.ts), then the stream. */
  openEventStream(req: http.IncomingMessage, res: http.ServerResponse, roomName: string, reserved: boolean, headers: Record<string, string>): void {
    const fail = (code: KnownErrorCode, message: string) => sendError(res, code, message, headers);
    if (this.closing) return fail('shutting_down', 'the server is shutting down');
    if (reserved && roomName !== '/_/new') return fail('not_found', `no endpoint ${roomName}`);
    const options = joinOptions(req, this.config.maxInfoBytes);
    if ('refused' in options) return fail(options.refused, options.message);
    const address = clientAddress(req, this.config.trustProxy);
    admitNative(this, { room: roomName, options, address, token: this.access.enabled ? requestToken(req) : undefined, door: 'event stream' }, {
      gone: () => res.destroyed || res.headersSent,
      refuse: (code, message) => { if (!res.headersSent && !res.destroyed) fail(code, message); },
      open: (room, principal) => {
        const conn = new SseConnection(res, this.scheduler, this.config.maxQueuedBytes, this.config.maxMessagesPerSecond, address, headers);
        conn.traffic = this.tally.native;
        joinAdmitted(this, conn, room, principal, options, address, this.sseConnections, (member) => {
          this.connectionLog.closed(conn.closedWith, { room: room.name, cid: member.cid, address, transport: 'sse' });
        });
      },
    });
  }

  private startHeartbeat(): void {
    this.connections.start();
    this.sseConnections.start();
    this.lineConnections.start();
  }

  /**
   * Drain, then stop (SIGTERM, SIGINT, POST /_/drain; docs/cluster.md "Drain"): doors refuse and
   * /_/ready answers 503 from now on; GUN peers close with 1001 at once; each native member is told
   * `closed` `restart` (with its `retryMs`) and closed with 1012 as soon as no request is in flight
   * for it, at the latest after --drain-timeout; then the listener and the cluster node stop.
   * Resolves when all is done (the drain timeout plus at most ~3 s).
   */
  close(): Promise<void> {
    // Set before any connection is touched: whatever runs during the first pass sees isClosing.
    return (this.closing ??= Promise.resolve().then(() => this.drain()));
  }

  private async drain(): Promise<void> {
    const started = Date.now();
    const rooms = () => this.roomList();
    this.log.info('draining', { drainTimeoutMs: this.config.drainTimeoutMs, connections: this.connectionCount, rooms: this.rooms.size });
    const peers = closeGunPeers(rooms());
    const members = await drainMembers(rooms, started + this.config.drainTimeoutMs);
    // A connection admitted just as the drain began (its handshake was under way) is told too.
    const late = await drainMembers(rooms, 0);
    // Cluster: the members told may resume on other nodes, which take them over from this one.
    const notHandedOver = this.cluster ? await awaitHandovers(rooms, Math.min(Date.now() + this.config.resumeGraceMs, started + this.config.drainTimeoutMs)) : 0;
    this.log.info('drained', { ms: Date.now() - started, peers, members: members.told + late.told, keptForRequests: members.waited, cutWithRequests: members.cut, ...(this.cluster ? { notHandedOver } : {}) });
    this.connections.stop();
    this.sseConnections.stop();
    this.lineConnections.stop();
    this.limits.stop();
    const listening = new Promise<void>((resolve) => this.http.close(() => resolve()));
    const lineListening = this.lineListeners.stopAccepting();
    this.http.closeIdleConnections?.();
    for (const conn of this.connections) conn.close(CloseCode.GOING_AWAY, 'shutting_down');
    for (const sse of this.sseConnections) sse.close(CloseCode.GOING_AWAY, 'shutting_down');
    for (const line of this.lineConnections) line.close(CloseCode.GOING_AWAY, 'shutting_down');
    const deadline = Date.now() + 2500;
    while (this.connectionCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const conn of this.connections) conn.terminate();
    for (const line of this.lineConnections) line.terminate();
    this.lineListeners.destroyAll();
    await lineListening;
    this.http.closeAllConnections?.();
    await listening;
    for (const mount of this.mounts.splice(0)) mount.detach();
    this.rooms.clear();
    this.admin.stop();
    await this.cluster?.stop();
  }

  private *roomList(): IterableIterator<Room> {
    for (const [, room] of this.rooms) yield room;
  }
}

/** A socket's 'error' listener during the upgrade: a function, not a closure, so nothing of the
 *  upgrade (request, admission, options) stays reachable from the socket for its whole life. */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

/**
 * What an upgrade asks for: the native protocol (it offers multisocket.v1), GUN (no multisocket.*
 * subprotocol), or a multisocket.* version this server does not speak (refused with 400, so a
 * newer client is not answered by a GUN greeting it cannot read).
 */
function subprotocolOffer(req: http.IncomingMessage): 'native' | 'gun' | 'unsupported' {
  const header = req.headers['sec-websocket-protocol'];
  if (typeof header !== 'string') return 'gun';
  const offered = header.split(',').map((p) => p.trim());
  if (offered.includes(SUBPROTOCOL)) return 'native';
  return offered.some((p) => p.startsWith(SUBPROTOCOL_PREFIX)) ? 'unsupported' : 'gun';
}

function errorFrame(err: string): OutFrame {
  return new OutFrame(JSON.stringify({ dam: '!', err }));
}
