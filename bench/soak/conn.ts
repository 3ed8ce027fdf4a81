// Connections the soak's workloads open: native members (WebSocket with multisocket.v1, or SSE),
// GUN peers, and the barrier that tells when the server has handled what a member sent so far.
import { RawWs } from '../rawws.js';
import { RawSse } from '../rawsse.js';

export interface Target { host: string; port: number }

/** One accounting line of the final report: a check that holds or not, with what was counted. */
export interface Check { check: string; ok: boolean; detail: string }

export type OnFrame = (ws: RawWs, data: Buffer, start: number, end: number) => void;

export function nativeWs(t: Target, path: string, onFrame: OnFrame, onClose?: (reason: string) => void): Promise<RawWs> {
  return RawWs.connect({ host: t.host, port: t.port, path, protocol: 'multisocket.v1', onMessage: onFrame, onClose });
}

export function gunWs(t: Target, path: string, onFrame: OnFrame, onClose?: (reason: string) => void): Promise<RawWs> {
  return RawWs.connect({ host: t.host, port: t.port, path, onMessage: onFrame, onClose });
}

export function sse(t: Target, path: string, onEvents: (d: Buffer, s: number, e: number) => void, onClose?: () => void): Promise<RawSse> {
  return RawSse.connect({ host: t.host, port: t.port, path, onEvents, onClose });
}

/** Does data[s, e) contain pat? (Only this frame's bytes: data may hold many frames.) */
export const has = (d: Buffer, pat: Buffer, s: number, e: number): boolean => d.subarray(s, e).indexOf(pat) >= 0;

/** Parses one frame's JSON, or null. */
export function parse(d: Buffer, s: number, e: number): Record<string, unknown> | null {
  try {
    const v = JSON.parse(d.toString('utf8', s, e)) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch { return null; }
}

const PRESENCE = Buffer.from('"type":"presence"');

/**
 * A round trip on a native member: its messages are handled in order, so once the answer to a
 * `presence` arrives, everything it sent before (serve, pull, subscribe) has taken effect.
 * The member's own onFrame must pass presence frames to `barrier.seen`.
 */
export class Barrier {
  private waiters: (() => void)[] = [];
  seen(d: Buffer, s: number, e: number): boolean {
    if (!has(d, PRESENCE, s, e)) return false;
    this.waiters.shift()?.();
    return true;
  }
  wait(ws: RawWs, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no presence answer: the member is stuck')), timeoutMs);
      this.waiters.push(() => { clearTimeout(t); resolve(); });
      ws.send('{"type":"presence"}');
    });
  }
}

/** Connects n things, 50 at a time (the server's accept backlog never overflows). */
export async function inBatches<T>(n: number, fn: (k: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += 50) out.push(...await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, j) => fn(i + j))));
  return out;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits (bounded) until done() holds; true if it did. */
export async function until(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > end) return false;
    await sleep(20);
  }
  return true;
}
