// Limits on who may open connections and rooms, checked before a WebSocket upgrade or an SSE
// stream is accepted: connections at once (whole server, per client address), new connections
// per second per address (reconnect storms), and rooms created per minute per address (so one
// client cannot churn through --max-rooms and push everyone else's empty rooms out).
// Per-address state exists only while some per-address limit is configured, and only for
// addresses that are connected or still have a spent budget.
import { limitKey } from './client-address.js';

export interface LimitOptions {
  maxConnections: number;
  maxConnectionsPerIp: number;
  /** per second */
  connectRatePerIp: number;
  /** per minute */
  newRoomsPerIp: number;
}

/** Its HTTP status is the code's, from the table (protocol/errors.ts). */
export interface LimitRefusal {
  code: 'too_many_connections' | 'too_many_connections_from_address' | 'connect_rate_limited';
  message: string;
}

interface AddressState {
  open: number;
  connectTokens: number;
  connectAt: number;
  roomTokens: number;
  roomAt: number;
}

const SWEEP_MS = 30_000;

export class ConnectionLimits {
  /** Connections admitted and not yet closed (including handshakes in progress). */
  private total = 0;
  private readonly byAddress = new Map<string, AddressState>();
  private readonly perAddress: boolean;
  private sweeper: NodeJS.Timeout | undefined;
  /** Rooms refused because their creator was over --new-rooms-per-ip. */
  roomsRefused = 0;

  constructor(private readonly opts: LimitOptions) {
    this.perAddress = opts.maxConnectionsPerIp > 0 || opts.connectRatePerIp > 0 || opts.newRoomsPerIp > 0;
  }

  get connections(): number { return this.total; }

  /** Reserve a connection for `address`; null when admitted. Pair every admission with close(). */
  open(address: string, now = Date.now()): LimitRefusal | null {
    const { maxConnections, maxConnectionsPerIp, connectRatePerIp } = this.opts;
    if (maxConnections > 0 && this.total >= maxConnections) {
      return this.refusal('too_many_connections');
    }
    if (this.perAddress) {
      const s = this.state(address, now);
      if (maxConnectionsPerIp > 0 && s.open >= maxConnectionsPerIp) {
        return this.refusal('too_many_connections_from_address');
      }
      if (connectRatePerIp > 0) {
        s.connectTokens = Math.min(connectRatePerIp, s.connectTokens + ((now - s.connectAt) * connectRatePerIp) / 1000);
        s.connectAt = now;
        if (s.connectTokens < 1) {
          return this.refusal('connect_rate_limited');
        }
        s.connectTokens -= 1;
      }
      s.open++;
    }
    this.total++;
    return null;
  }

  /** What open() would answer now, without reserving anything or spending a budget (/_/door). */
  check(address: string, now = Date.now()): LimitRefusal | null {
    const { maxConnections, maxConnectionsPerIp, connectRatePerIp } = this.opts;
    if (maxConnections > 0 && this.total >= maxConnections) {
      return this.refusal('too_many_connections');
    }
    const s = this.perAddress ? this.byAddress.get(limitKey(address)) : undefined;
    if (!s) return null;
    if (maxConnectionsPerIp > 0 && s.open >= maxConnectionsPerIp) {
      return this.refusal('too_many_connections_from_address');
    }
    if (connectRatePerIp > 0 && Math.min(connectRatePerIp, s.connectTokens + ((now - s.connectAt) * connectRatePerIp) / 1000) < 1) {
      return this.refusal('connect_rate_limited');
    }
    return null;
  }

  /** Whether mayCreateRoom() would say yes now, without spending the budget (/_/door). */
  couldCreateRoom(address: string, now = Date.now()): boolean {
    const perMinute = this.opts.newRoomsPerIp;
    if (perMinute <= 0 || address === '') return true;
    const s = this.byAddress.get(limitKey(address));
    return !s || Math.min(perMinute, s.roomTokens + ((now - s.roomAt) * perMinute) / 60_000) >= 1;
  }

  close(address: string): void {
    this.total--;
    if (!this.perAddress) return;
    const s = this.byAddress.get(limitKey(address));
    if (s && s.open > 0) s.open--;
  }

  /** Count one room created by `address`; false when it is over --new-rooms-per-ip. */
  mayCreateRoom(address: string, now = Date.now()): boolean {
    const perMinute = this.opts.newRoomsPerIp;
    if (perMinute <= 0 || address === '') return true;
    const s = this.state(address, now);
    s.roomTokens = Math.min(perMinute, s.roomTokens + ((now - s.roomAt) * perMinute) / 60_000);
    s.roomAt = now;
    if (s.roomTokens < 1) { this.roomsRefused++; return false; }
    s.roomTokens -= 1;
    return true;
  }

  private refusal(code: LimitRefusal['code']): LimitRefusal {
    const { maxConnections, maxConnectionsPerIp, connectRatePerIp } = this.opts;
    switch (code) {
      case 'too_many_connections': return { code, message: `the server has reached --max-connections (${maxConnections})` };
      case 'too_many_connections_from_address': return { code, message: `at most ${maxConnectionsPerIp} connections per client address (--max-connections-per-ip)` };
      case 'connect_rate_limited': return { code, message: `at most ${connectRatePerIp} new connections per second per client address (--connect-rate-per-ip)` };
    }
  }

  private state(address: string, now: number): AddressState {
    const key = limitKey(address);
    let s = this.byAddress.get(key);
    if (!s) {
      s = { open: 0, connectTokens: this.opts.connectRatePerIp, connectAt: now, roomTokens: this.opts.newRoomsPerIp, roomAt: now };
      this.byAddress.set(key, s);
      this.sweeper ??= setInterval(() => this.sweep(Date.now()), SWEEP_MS).unref();
    }
    return s;
  }

  /** Forget addresses with nothing open whose budgets have refilled: they are back to new. */
  private sweep(now: number): void {
    const { connectRatePerIp: c, newRoomsPerIp: r } = this.opts;
    for (const [key, s] of this.byAddress) {
      if (s.open > 0) continue;
      const connectFull = c <= 0 || s.connectTokens + ((now - s.connectAt) * c) / 1000 >= c;
      const roomsFull = r <= 0 || s.roomTokens + ((now - s.roomAt) * r) / 60_000 >= r;
      if (connectFull && roomsFull) this.byAddress.delete(key);
    }
    if (this.byAddress.size === 0 && this.sweeper) { clearInterval(this.sweeper); this.sweeper = undefined; }
  }

  /** Addresses currently tracked (for stats and tests of the bound). */
  get trackedAddresses(): number { return this.byAddress.size; }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
