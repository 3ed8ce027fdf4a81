// Request/reply rooms: serving members answer (the request id cut out of the frame, no JSON
// round trip, as the bench's reqrep scenario does); requesters send open-loop requests that the
// server hands round-robin to the servers. Every request must get its reply, not an error.
import type { RawWs } from '../rawws.js';
import { Barrier, type Check, type Target, has, inBatches, nativeWs, parse } from './conn.js';
import { Flow } from './flow.js';
import type { Pacer } from './pacer.js';
import { int, type Workload } from './workload.js';

const REQUEST = Buffer.from('"type":"request"'), REPLY = Buffer.from('"type":"reply"'), ERROR = Buffer.from('"type":"error"');

export class RequestRooms implements Workload {
  readonly requests = new Flow('request->reply');
  readonly flows = [this.requests];
  private servers: RawWs[] = [];
  private requesters: RawWs[] = [];
  private pending = new Map<number, number>(); // request id -> scheduled send time (ns)

  constructor(private t: Target, private n: { rooms: number; servers: number; requesters: number; perSec: number }) {}

  async connect(): Promise<void> {
    const rooms = Array.from({ length: this.n.rooms }, (_, r) => `/soak-rr-${r}`);
    this.servers = await inBatches(this.n.rooms * this.n.servers, async (k) => {
      const path = rooms[k % this.n.rooms];
      const barrier = new Barrier();
      const ws = await nativeWs(this.t, path, (w, d, s, e) => {
        if (barrier.seen(d, s, e)) return;
        if (!has(d, REQUEST, s, e)) return;
        const f = d.subarray(s, e);
        const i = f.indexOf('"id":"') + 6;
        w.send(`{"type":"reply","id":"${f.toString('latin1', i, f.indexOf(0x22, i))}","data":"pong"}`);
      }, (why) => this.requests.onError('server closed', `${path}: ${why}`));
      ws.send('{"type":"serve"}');
      await barrier.wait(ws); // serving before the first request
      return ws;
    });
    this.requesters = await inBatches(this.n.rooms * this.n.requesters, (k) => nativeWs(this.t, rooms[k % this.n.rooms], (_w, d, s, e) => {
      if (!has(d, REPLY, s, e) && !has(d, ERROR, s, e)) return;
      const m = parse(d, s, e);
      const id = Number(m?.type === 'reply' ? m.id : m?.ref);
      const sched = this.pending.get(id);
      if (sched === undefined) return;
      this.pending.delete(id);
      const err = (m?.type === 'error' ? m : m?.error) as { code?: string; message?: string } | undefined;
      if (err) this.requests.onError(String(err.code), String(err.message));
      else this.requests.onDone(sched);
    }, (why) => this.requests.onError('requester closed', why)));
  }

  start(pacer: Pacer): void {
    pacer.add(this.n.perSec, (sched, k) => {
      this.pending.set(k, Number(sched));
      this.requests.onSent();
      this.requesters[k % this.requesters.length].send(`{"type":"request","id":${k},"ref":${k},"data":"~${k}~${sched}~","timeout":10000}`);
    });
  }

  stop(): void {}
  settled(): boolean { return this.pending.size === 0; }

  checks(): Check[] {
    return [{
      check: 'every request answered', ok: this.pending.size === 0 && this.requests.errors === 0 && this.requests.done === this.requests.sent,
      detail: `${int(this.requests.done)} of ${int(this.requests.sent)} replied, ${int(this.requests.errors)} errors, ${int(this.pending.size)} unanswered`,
    }];
  }

  close(): void { for (const ws of [...this.servers, ...this.requesters]) ws.close(); }
}
