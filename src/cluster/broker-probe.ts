// The engine's round trip as /_/metrics shows it (multisocket_broker_rtt_seconds): a ping on the
// node's data connection every few seconds (Redis PING, NATS PING/PONG through nc.rtt()), off
// every message's path. One probe at a time; an engine that stops answering shows as a round trip
// that keeps growing (the age of the unanswered probe), before the bus even reports it down.

const PROBE_INTERVAL_MS = 5000;

export class BrokerProbe {
  private lastMs: number | undefined;
  private sentAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ping: () => Promise<unknown>, private readonly intervalMs = PROBE_INTERVAL_MS) {}

  start(): void {
    this.run();
    this.timer = setInterval(() => this.run(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Seconds: the last answered probe's round trip, or the wait of the one in flight when longer; undefined before the first answer. */
  rttSeconds(now = performance.now()): number | undefined {
    const waiting = this.sentAt === undefined ? 0 : now - this.sentAt;
    if (this.lastMs === undefined && waiting === 0) return undefined;
    return Math.max(this.lastMs ?? 0, waiting) / 1000;
  }

  private run(): void {
    if (this.sentAt !== undefined) return;
    const sentAt = (this.sentAt = performance.now());
    let ping: Promise<unknown>;
    try { ping = this.ping(); } catch (err) { ping = Promise.reject(err); }
    // A failed ping measures nothing: multisocket_broker_up says the engine is down.
    ping.then(() => { this.lastMs = performance.now() - sentAt; }, () => {}).finally(() => { this.sentAt = undefined; });
  }
}
