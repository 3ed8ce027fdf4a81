// Connection churn: members that join one of the publish rooms, wait for their `connect`, and
// go (a WebSocket member says `leave`; an SSE member just drops its stream, as a closed tab does,
// and lingers for the resume grace). Every one must be admitted and greeted.
import type { RawWs } from '../rawws.js';
import type { RawSse } from '../rawsse.js';
import { type Check, type Target, nativeWs, sse } from './conn.js';
import { Flow } from './flow.js';
import type { Pacer } from './pacer.js';
import { int, type Workload } from './workload.js';

const CONNECT_WS = Buffer.from('"type":"connect"'), CONNECT_SSE = Buffer.from('event: connect');

export class Churn implements Workload {
  readonly joins = new Flow('churn connect');
  readonly flows = [this.joins];
  private open = new Set<RawWs | RawSse>();
  private inFlight = 0;

  constructor(private t: Target, private paths: () => string[], private perSec: number) {}

  async connect(): Promise<void> {}

  start(pacer: Pacer): void {
    pacer.add(this.perSec, (sched, k) => { void this.one(this.paths()[k % this.paths().length], k % 2 === 0, Number(sched)); });
  }

  private async one(path: string, overWs: boolean, sched: number): Promise<void> {
    this.joins.onSent();
    this.inFlight++;
    let conn: RawWs | RawSse | null = null;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no connect message within 10 s')), 10_000);
        const greeted = () => { clearTimeout(timer); resolve(); };
        const opened = overWs
          ? nativeWs(this.t, path, (_w, d, s, e) => { if (d.subarray(s, e).indexOf(CONNECT_WS) >= 0) greeted(); })
          : sse(this.t, path, (d, s, e) => { if (d.subarray(s, e).indexOf(CONNECT_SSE) >= 0) greeted(); });
        opened.then((c) => { conn = c; this.open.add(c); }, (err: Error) => { clearTimeout(timer); reject(err); });
      });
      this.joins.onDone(sched);
    } catch (err) {
      this.joins.onError(overWs ? 'websocket' : 'sse', `${path}: ${(err as Error).message}`);
    } finally {
      this.inFlight--;
      const c = conn as RawWs | RawSse | null;
      if (c) {
        if ('send' in c) c.send('{"type":"leave"}');
        c.close();
        this.open.delete(c);
      }
    }
  }

  stop(): void {}
  settled(): boolean { return this.inFlight === 0; }

  checks(): Check[] {
    return [{
      check: 'churning members admitted and greeted', ok: this.joins.errors === 0 && this.joins.done === this.joins.sent,
      detail: `${int(this.joins.done)} of ${int(this.joins.sent)} connections got their connect (half WebSocket, half SSE), ${int(this.joins.errors)} failed`,
    }];
  }

  close(): void { for (const c of this.open) c.close(); }
}
