// GET /_/metrics: the Prometheus text format through prom-client. One registry per server (not
// prom-client's global one: tests and embedders run several servers in one process). Every value
// of ours is read on scrape from counts that already exist (rooms' message counters, the tally,
// the connection sets), so serving metrics adds nothing to the paths a message takes.
// Labels stay bounded: protocol, transport, outcome, code, reason, kind; never a room or connection.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { MultisocketServer } from '../server/server.js';
import { REQUEST_OUTCOMES, type Tally } from './tally.js';

export class ServerMetrics {
  readonly registry = new Registry();

  constructor(server: MultisocketServer, tally: Tally) {
    const registers = [this.registry];
    // Process CPU, memory, handles, GC, and event-loop lag (perf_hooks' monitorEventLoopDelay).
    collectDefaultMetrics({ register: this.registry });

    new Gauge({
      name: 'multisocket_connections', help: 'Open connections by protocol (gun, native) and transport (websocket, sse, tcp, ipc).',
      labelNames: ['protocol', 'transport'], registers,
      collect() {
        const c = server.connectionCounts();
        this.set({ protocol: 'gun', transport: 'websocket' }, c.gunWebsocket);
        this.set({ protocol: 'native', transport: 'websocket' }, c.nativeWebsocket);
        this.set({ protocol: 'native', transport: 'sse' }, c.nativeSse);
        this.set({ protocol: 'native', transport: 'tcp' }, c.nativeTcp);
        this.set({ protocol: 'native', transport: 'ipc' }, c.nativeIpc);
      },
    });
    new Gauge({
      name: 'multisocket_rooms', help: 'Rooms held by this node (including empty ones waiting out --room-ttl).', registers,
      collect() { this.set(server.rooms.size); },
    });
    new Counter({
      name: 'multisocket_rooms_evicted_total', help: 'Empty rooms freed early to make room under --max-rooms.', registers,
      collect() { this.reset(); this.inc(server.rooms.evicted); },
    });

    const messages = (direction: 'in' | 'out') => {
      const counts = () => {
        const r = tally.retired;
        let gun = direction === 'in' ? r.gunIn : r.gunOut;
        let native = direction === 'in' ? r.nativeIn : r.nativeOut;
        for (const [, room] of server.rooms) {
          const own = direction === 'in' ? room.messagesIn : room.messagesOut;
          const hub = room.nativeMessages();
          gun += own;
          native += direction === 'in' ? hub.in : hub.out;
        }
        return { gun, native };
      };
      new Counter({
        name: `multisocket_messages_${direction}_total`,
        help: direction === 'in' ? 'Messages received from clients, by protocol (a GUN frame counts each message it holds).' : 'Messages sent to clients, by protocol (one per recipient).',
        labelNames: ['protocol'], registers,
        collect() {
          const c = counts();
          this.reset();
          this.inc({ protocol: 'gun' }, c.gun);
          this.inc({ protocol: 'native' }, c.native);
        },
      });
    };
    messages('in');
    messages('out');

    const plain = (name: string, help: string, read: () => number) => new Counter({
      name, help, registers, collect() { this.reset(); this.inc(read()); },
    });
    plain('multisocket_gun_puts_total', 'GUN put messages received.', () => tally.gunPuts);
    plain('multisocket_gun_gets_total', 'GUN get messages received.', () => tally.gunGets);
    plain('multisocket_gun_acks_total', 'GUN puts acknowledged with ok.', () => tally.gunAcks);
    plain('multisocket_rate_limited_total', 'Native messages dropped (answered rate_limited) for --max-messages-per-second.', () => tally.rateLimited);
    plain('multisocket_gun_err_acks_total', 'GUN acks carrying err (invalid, refused by SEA or a full room, forbidden, the engine down).', () => tally.gunErrAcks);

    new Counter({
      name: 'multisocket_native_requests_total', help: 'Native requests by how they ended.',
      labelNames: ['outcome'], registers,
      collect() {
        this.reset();
        for (const outcome of REQUEST_OUTCOMES) this.inc({ outcome }, tally.requests[outcome]);
      },
    });
    const byLabel = (name: string, help: string, label: string, map: Map<string, number>) => new Counter({
      name, help, labelNames: [label], registers,
      collect() {
        this.reset();
        for (const [value, n] of map) this.inc({ [label]: value }, n);
      },
    });
    byLabel('multisocket_closes_total', 'WebSocket connections closed, by close code (codes outside the known set count as "other").', 'code', tally.closes);
    byLabel('multisocket_upgrades_refused_total', 'WebSocket upgrades refused before the handshake, by reason (an error code).', 'reason', tally.refusedUpgrades);

    if (server.cluster) {
      const cluster = server.cluster;
      const kind = server.config.broker.kind;
      new Gauge({
        name: 'multisocket_broker_up', help: 'The cluster\'s broker as this node sees it: 1 up, 0 down.',
        labelNames: ['kind'], registers,
        collect() { this.set({ kind }, cluster.state === 'up' ? 1 : 0); },
      });
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
