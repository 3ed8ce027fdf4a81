// server.connect(room, options): a member of a room in the server's own process, through the
// SDK's room handle (the same API as `multisocket/client`) over an in-process pipe. Its door is
// the one every member passes: the room token (access), the room's limits (registry), the
// cluster's join and member hand-over, then the hub. What differs from a socket: no per-IP
// limits and no message rate limit (it is the server's own code), and nothing to drop: the pipe
// ends only when the room handle closes (the member leaves at once) or the server closes it.
import { Room as RoomHandle } from '../client/room.js';
import type { ConnectOptions } from '../client/options.js';
import { inProcessTransport, type InProcessClientEnd, type InProcessServerEnd } from '../client/transport-inproc.js';
import type { ClientMessage } from '../client/types.js';
import type { MultisocketServer } from '../server/server.js';
import type { Room } from '../rooms/room.js';
import type { Member } from '../channels/hub.js';
import { InProcessConnection } from '../transports/in-process.js';
import { joinHub, joinOptionsOf, leaveHub, receiveNativeMessage, tellTokenExpired } from '../server/native.js';
import { forgetPrincipal, setPrincipal } from '../server/token-expiry.js';
import { roomFromUrl } from '../rooms/room-path.js';
import { isRefusal, OPEN, type Principal } from '../access/principal.js';
import { MemberHandover } from '../cluster/member-handover.js';
import { nestsTooDeep, TOO_DEEP } from '../json-depth.js';
import { statusOf, type KnownErrorCode } from '../protocol/errors.js';

/**
 * connect()'s options without the transport (it is the pipe) and without `persist` (there is no
 * page to reload). `token` / `getToken` are checked as a socket's are when the server requires tokens.
 */
export type InProcessOptions = Omit<ConnectOptions, 'transport' | 'persist'>;

/** The in-process members of each server (the connection counts of /_/metrics). */
const liveByServer = new WeakMap<MultisocketServer, Set<InProcessConnection>>();

export function inProcessCount(server: MultisocketServer): number {
  return liveByServer.get(server)?.size ?? 0;
}

/** The URL the room handle keeps for a room: only its path and query are read (by the door below). */
export function inProcessUrl(room: string): URL {
  const path = roomFromUrl(room.startsWith('/') ? room : '/' + room);
  if (!path.ok) throw new TypeError(`connect(${JSON.stringify(room)}): ${path.error}`);
  return new URL('inproc://local' + path.room.split('/').map(encodeURIComponent).join('/'));
}

/** A room handle of `room` (e.g. '/chat') in this server's process. Returns at once, like connect(). */
/**
 * @param asServer the server's own worker (server.room(name).serve/pull): admitted with every
 *   permission, without a token
 */
export function connectInProcess(server: MultisocketServer, room: string, options: InProcessOptions = {}, asServer = false): RoomHandle {
  const factory = inProcessTransport((url, client) => new InProcessDoor(server, url, client, asServer));
  return new RoomHandle(inProcessUrl(room), { ...options, persist: false }, factory);
}

/** The server's end of one pipe: admits, then carries the room handle's messages to the hub. */
class InProcessDoor implements InProcessServerEnd {
  private conn: InProcessConnection | undefined;
  private room: Room | undefined;
  private member: Member | undefined;
  /** The room handle ended the pipe before it was admitted. */
  private ended = false;

  constructor(private readonly server: MultisocketServer, url: URL, private readonly client: InProcessClientEnd, private readonly asServer: boolean) {
    // Always later than now: the room handle installs this transport when the factory returns.
    void Promise.resolve().then(() => this.admit(url)).catch((err: unknown) => {
      server.log.error('in-process connect failed', { room: url.pathname, err: (err as Error).stack });
      this.refuse('internal', 'the server failed to admit this member');
    });
  }

  private refuse(code: KnownErrorCode, message: string, status: number = statusOf(code)): void {
    if (this.ended) return;
    this.ended = true;
    this.client.closed({ opened: false, status, errorCode: code, reason: message });
  }

  private async admit(url: URL): Promise<void> {
    const server = this.server;
    // A server that closes does not come back to its own process: a final refusal (410), not one to retry.
    if (server.isClosing) return this.refuse('shutting_down', 'the server is shutting down', 410);
    const path = roomFromUrl(url.pathname);
    if (!path.ok) return this.refuse('bad_path', path.error, path.status);
    if (path.reserved && path.room !== '/_/new') return this.refuse('not_found', 'paths under /_/ are the server\'s own endpoints, not rooms');
    const options = joinOptionsOf(url.pathname + url.search, server.config.maxInfoBytes);
    if ('refused' in options) return this.refuse(options.refused, options.message);
    let principal: Principal = OPEN;
    if (server.access.enabled && !this.asServer) {
      const admitted = await server.access.admit(path.room, url.searchParams.get('token') ?? undefined);
      if (isRefusal(admitted)) return this.refuse(admitted.code, admitted.message, admitted.status);
      principal = admitted;
    }
    if (this.ended) return;
    if (server.isClosing) return this.refuse('shutting_down', 'the server is shutting down', 410);
    // '' as the creator: the server's own code is not counted against a client address's room budget.
    let admission = path.room === '/_/new' ? server.rooms.createOwned('') : server.rooms.admit(path.room, '', options.resume);
    if (!admission.ok) return this.refuse(admission.reason, `room ${path.room}: ${admission.reason}`);
    const ready = admission.room.prepare('native');
    if (ready) {
      try {
        await ready;
        const cluster = server.cluster;
        const token = options.resume;
        if (cluster && token !== undefined && admission.room.channels().memberByToken(token) === undefined) {
          await MemberHandover.of(cluster).take(admission.room, token, principal.user, options.seen);
        }
      } catch (err) {
        server.log.warn('in-process connect refused', { room: path.room, reason: 'broker_unavailable', err: (err as Error)?.message });
        return this.refuse('broker_unavailable', 'the cluster\'s engine did not answer; try again');
      }
      if (this.ended) return;
      if (server.isClosing) return this.refuse('shutting_down', 'the server is shutting down', 410);
      // The room may have closed or expired meanwhile: admitted again by name.
      if (server.rooms.get(admission.room.name) !== admission.room) {
        admission = server.rooms.admit(admission.room.name, '', options.resume);
        if (!admission.ok) return this.refuse(admission.reason, `room ${path.room}: ${admission.reason}`);
      }
      if (server.rooms.isFullFor(admission.room, options.resume)) return this.refuse('room_full', `room ${path.room} is full`);
    }
    // The room handle may have closed while this was decided: no member for nobody.
    if (this.ended) return;
    this.join(admission.room, options, principal);
  }

  private join(room: Room, options: Parameters<typeof joinHub>[3], principal: Principal): void {
    const client = this.client;
    const conn = new InProcessConnection({
      deliver: (message) => client.deliver(message),
      closed: (code, reason) => client.closed({ opened: true, code, reason }),
    });
    if (principal !== OPEN) setPrincipal(conn, principal, tellTokenExpired);
    conn.traffic = this.server.tally.native;
    const member = joinHub(this.server.rooms, room, conn, options);
    this.conn = conn;
    this.room = room;
    this.member = member;
    let live = liveByServer.get(this.server);
    if (!live) liveByServer.set(this.server, (live = new Set()));
    live.add(conn);
    conn.onEnd = (byClient) => {
      live.delete(conn);
      forgetPrincipal(conn);
      // Ended by the room handle: it left on purpose (no resume grace); by the server: as a socket's drop.
      if (byClient && member.conn === conn) room.channels().leave(member);
      else leaveHub(room, member, conn);
    };
  }

  receive(msg: ClientMessage, json: string): void {
    const { conn, room, member } = this;
    if (!conn || !room || !member || !conn.isOpen) return;
    // The server takes a copy, made from the JSON the room handle already made of it (its size
    // check): what the caller does to its object after publish() reaches nobody, and data means
    // what it means over a socket (a Date arrives as its string, undefined fields are gone).
    // One parse costs ~1 µs of a request/reply's ~11 (docs/embedding.md, "Aliasing").
    const copy: unknown = JSON.parse(json);
    if (nestsTooDeep(copy, json.length)) return room.channels().sendError(member, 'bad_message', TOO_DEEP, msg.ref);
    receiveNativeMessage(this.server.access, room, member, conn, copy);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.conn?.endByClient();
  }
}
