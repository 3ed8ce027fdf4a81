// What every raw test client shares: the messages it received, in order, and ways to wait on
// them (`waitUntil`, `waitFor`, `waitForCount`) or check that something never arrives
// (`expectNone`). Used by the GUN-wire peer and the native-protocol members.
import { AssertionError } from 'node:assert';
import WebSocket from 'ws';

export interface CloseInfo { code: number; reason: string }

// Wire messages are untyped JSON; `any` keeps assertions on them short.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Msg = Record<string, any>;
export type Pred = (m: Msg) => boolean;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const short = (m: unknown, max = 300): string => {
  let s: string;
  try { s = JSON.stringify(m); } catch { s = String(m); }
  if (s === undefined) s = String(m);
  return s.length > max ? s.slice(0, max) + `…(${s.length} chars)` : s;
};

export abstract class MessageLog {
  readonly messages: Msg[] = [];
  protected listeners = new Set<() => void>();

  /** Names this client in failure messages. */
  abstract readonly label: string;
  abstract describe(n?: number): string;

  watch(fn: () => void): void { this.listeners.add(fn); }
  unwatch(fn: () => void): void { this.listeners.delete(fn); }
  protected notify(): void { for (const l of [...this.listeners]) l(); }

  /** Resolve when `cond()` holds; re-checked on every message and connection event. */
  waitUntil(cond: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
    return new Promise((resolve, reject) => {
      if (cond()) { resolve(); return; }
      const check = () => { if (cond()) { cleanup(); resolve(); } };
      const timer = setTimeout(() => {
        cleanup();
        reject(new AssertionError({ message: `${this.label}: timed out after ${timeoutMs} ms waiting for ${what}; ${this.describe()}` }));
      }, timeoutMs);
      const cleanup = () => { clearTimeout(timer); this.listeners.delete(check); };
      this.listeners.add(check);
    });
  }

  /** The first message (already here or arriving within `timeoutMs`) matching `pred`. */
  async waitFor(pred: Pred, timeoutMs = 2000, what = 'a matching message'): Promise<Msg> {
    let found: Msg | undefined;
    let i = 0;
    await this.waitUntil(() => {
      for (; i < this.messages.length; i++) if (pred(this.messages[i])) { found = this.messages[i]; return true; }
      return false;
    }, timeoutMs, what);
    return found!;
  }

  /** Wait until `n` messages match `pred`; returns them. */
  async waitForCount(pred: Pred, n: number, timeoutMs = 2000, what = 'messages'): Promise<Msg[]> {
    await this.waitUntil(() => this.count(pred) >= n, timeoutMs, `${n} ${what} (have ${this.count(pred)})`);
    return this.all(pred);
  }

  /** Wait `ms`, then fail if any message (also earlier ones) matches `pred`. */
  async expectNone(pred: Pred, ms = 250, what = 'message'): Promise<void> {
    await sleep(ms);
    const bad = this.messages.find(pred);
    if (bad) throw new AssertionError({ message: `${this.label}: unexpected ${what}: ${short(bad, 600)}` });
  }

  /** Record how `ws` closes (into `closeInfo`, waking waiters); resolves with it. */
  protected trackClose(ws: WebSocket): Promise<CloseInfo> {
    ws.on('error', () => { /* surfaced through close */ });
    return new Promise((resolve) => {
      ws.once('close', (code: number, reason: Buffer) => {
        this.closeInfo = { code, reason: reason.toString() };
        this.notify();
        resolve(this.closeInfo);
      });
    });
  }

  closeInfo?: CloseInfo;

  all(pred: Pred): Msg[] { return this.messages.filter(pred); }
  count(pred: Pred): number { let n = 0; for (const m of this.messages) if (pred(m)) n++; return n; }
}

// The two WebSocket clients (GUN peer, native member) extend different bases, so what they share
// about their socket lives here as functions.

/** A WebSocket client's `describe()`: socket state, its last `n` messages and odd frames. */
export function describeSocket(log: MessageLog, ws: WebSocket, odd: string[], n: number): string {
  const recent = log.messages.slice(-n).map((m) => short(m, 200));
  const state = log.closeInfo ? `closed ${log.closeInfo.code} ${log.closeInfo.reason}` : ['connecting', 'open', 'closing', 'closed'][ws.readyState];
  return `socket ${state}; ${log.messages.length} messages, last: [${recent.join(', ')}]` + (odd.length ? `; odd frames: ${odd.slice(-3).map((s) => short(s, 120)).join(' | ')}` : '');
}

/** Close politely; terminate if the server does not answer the close within 1 s. */
export async function closeSocket(ws: WebSocket, closed: Promise<CloseInfo>): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return;
  if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
  else ws.close(1000);
  const timer = setTimeout(() => ws.terminate(), 1000);
  await closed;
  clearTimeout(timer);
}
