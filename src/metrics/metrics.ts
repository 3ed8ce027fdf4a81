// GET /_/metrics: the Prometheus text format through prom-client. One registry per server (not
// prom-client's global one: tests and embedders run several servers in one process). Every value
// of ours is read on scrape from plain counts kept where the work happens (rooms' message
// counters, the tally and its per-protocol Traffic, the latency arrays, the connection sets): the
// path a message takes bumps numbers and never calls prom-client.
// Labels stay bounded: protocol, transport, outcome, code, reason, kind, le; never a room or connection.
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { MultisocketServer } from '../server/server.js';
import { REQUEST_OUTCOMES, type Tally, type Traffic } from './tally.js';
import { HistogramView } from './histogram-view.js';

export class ServerMetrics {
  readonly registry = new Registry();

  constructor(server: MultisocketServer, tally: Tally) {
    const registers = [this.registry];
    // Process CPU, memory, handles, GC, and event-loop lag (perf_hooks' monitorEventLoopDelay).
    collectDefaultMetrics({ register: this.registry });

    new Gauge({
      name: 'multisocket_connections', help: 'Open connections by protocol (gun, native) and transport (websocket, sse, tcp, ipc, inproc).',
      labelNames: ['protocol', 'transport'], registers,
      collect() {
        const c = server.connectionCounts();
        this.set({ protocol: 'gun', transport: 'websocket' }, c.gunWebsocket);
        this.set({ protocol: 'native', transport: 'websocket' }, c.nativeWebsocket);
        this.set({ protocol: 'native', transport: 'sse' }, c.nativeSse);
        this.set({ protocol: 'native', transport: 'inproc' }, c.nativeInproc);
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

    // Messages in: the rooms' own counters (those /_/stats shows) plus what freed rooms handed over.
    new Counter({
      name: 'multisocket_messages_in_total',
      help: 'Messages received from clients, by protocol (a GUN frame counts each message it holds; POSTs and GUN HTTP requests count).',
      labelNames: ['protocol'], registers,
      collect() {
        const r = tally.retired;
        let gun = r.gunIn;
        let native = r.nativeIn;
        for (const [, room] of server.rooms) {
          gun += room.messagesIn;
          native += room.nativeMessages().in;
        }
        this.reset();
        this.inc({ protocol: 'gun' }, gun);
        this.inc({ protocol: 'native' }, native);
      },
    });
    // Out, bytes and deliveries: counted by the transports into one Traffic per protocol.
    const traffic = (name: string, help: string, read: (t: Traffic) => number) => new Counter({
      name, help, labelNames: ['protocol'], registers,
      collect() {
        this.reset();
        this.inc({ protocol: 'gun' }, read(tally.gun));
        this.inc({ protocol: 'native' }, read(tally.native));
      },
    });
    traffic('multisocket_messages_out_total', 'Distinct messages sent to clients, by protocol: a message written to 100 connections counts once (see multisocket_deliveries_total).', (t) => t.messagesOut);
    traffic('multisocket_deliveries_total', 'Messages written to client connections, by protocol: one per recipient.', (t) => t.deliveries);
    traffic('multisocket_bytes_in_total', 'Bytes received from clients, by protocol: WebSocket message payloads and POST bodies.', (t) => t.bytesIn);
    traffic('multisocket_bytes_out_total', 'Bytes written to clients, by protocol: WebSocket frames (with their headers and pings), SSE events, HTTP answer bodies on room paths.', (t) => t.bytesOut);

    // The registry only reads name, help, type and get() of a metric; its Metric type asks for the whole Histogram API.
    const histogram = (name: string, help: string, h: Tally['putAck']) => this.registry.registerMetric(new HistogramView(name, help, h) as unknown as Metric);
    histogram('multisocket_gun_put_ack_seconds',
      'GUN: from handling a put to writing its ok ack, in seconds (in a cluster this includes the engine taking the put).', tally.putAck);
    histogram('multisocket_native_request_reply_seconds',
      'Native: from a request arriving to its reply (ok or handler_error) going to the requester, in seconds (timeouts and other ends are not observed).', tally.requestReply);

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
      new Gauge({
        name: 'multisocket_broker_rtt_seconds', help: 'Round trip of a ping to the broker every 5 s on this node\'s data connection (the last answer, or the wait of an unanswered one when longer).',
        labelNames: ['kind'], registers,
        collect() {
          const rtt = cluster.probe?.rttSeconds();
          if (rtt === undefined) this.reset();
          else this.set({ kind }, rtt);
        },
      });
      new Gauge({
        name: 'multisocket_broker_backlog', help: 'Calls this node sent to the broker and not yet answered (Redis: commands queued or awaiting replies; NATS: requests such as JetStream publishes awaiting their answer).',
        labelNames: ['kind'], registers,
        collect() { this.set({ kind }, cluster.backlog()); },
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
