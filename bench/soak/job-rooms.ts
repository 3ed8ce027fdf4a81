// Push/pull rooms: a pusher pushes jobs (ack:true) to the room's work queue, pullers (prefetch N)
// ack each job as they get it. Every job must be done exactly once: its pusher hears `done`, and
// the pullers together saw it once, at its first attempt.
import type { RawWs } from '../rawws.js';
import { Barrier, type Check, type Target, has, inBatches, nativeWs, parse } from './conn.js';
import { Flow } from './flow.js';
import type { Pacer } from './pacer.js';
import { int, type Workload } from './workload.js';

const PUSH = Buffer.from('"kind":"push"'), JOB = Buffer.from('"type":"job"'), ERROR = Buffer.from('"type":"error"');

export class JobRooms implements Workload {
  readonly jobs = new Flow('push->done');
  readonly flows = [this.jobs];
  private pushers: RawWs[] = [];
  private pullers: RawWs[] = [];
  private pending = new Map<number, number>(); // job index -> scheduled push time (ns)
  private seen = new Uint8Array(1 << 16); // times the pullers got job k (grows)
  private twice = 0;
  private redelivered = 0;

  constructor(private t: Target, private n: { rooms: number; pullers: number; prefetch: number; perSec: number }) {}

  private onJob(w: RawWs, d: Buffer, s: number, e: number): void {
    if (!has(d, PUSH, s, e)) return;
    const m = parse(d, s, e);
    if (!m) return;
    const k = Number(/^~(\d+)~/.exec(String(m.data))?.[1] ?? -1);
    if (k >= this.seen.length) { const b = new Uint8Array(Math.max(k + 1, this.seen.length * 2)); b.set(this.seen); this.seen = b; }
    if (k >= 0 && ++this.seen[k] === 2) this.twice++;
    if (Number(m.attempt) > 1) this.redelivered++;
    w.send(`{"type":"ack","job":${JSON.stringify(m.job)},"data":"done"}`);
  }

  async connect(): Promise<void> {
    const rooms = Array.from({ length: this.n.rooms }, (_, r) => `/soak-jobs-${r}`);
    this.pullers = await inBatches(this.n.rooms * this.n.pullers, async (k) => {
      const barrier = new Barrier();
      const ws = await nativeWs(this.t, rooms[k % this.n.rooms], (w, d, s, e) => { if (!barrier.seen(d, s, e)) this.onJob(w, d, s, e); },
        (why) => this.jobs.onError('puller closed', why));
      ws.send(`{"type":"pull","prefetch":${this.n.prefetch}}`);
      await barrier.wait(ws);
      return ws;
    });
    this.pushers = await inBatches(this.n.rooms, (r) => nativeWs(this.t, rooms[r], (_w, d, s, e) => {
      if (!has(d, JOB, s, e) && !has(d, ERROR, s, e)) return;
      const m = parse(d, s, e);
      const k = Number(m?.ref);
      const sched = this.pending.get(k);
      if (sched === undefined) return;
      this.pending.delete(k);
      if (m?.type === 'job' && m.status === 'done') this.jobs.onDone(sched);
      else this.jobs.onError(String(m?.type === 'job' ? m.status : m?.code), JSON.stringify(m).slice(0, 300));
    }, (why) => this.jobs.onError('pusher closed', why)));
  }

  start(pacer: Pacer): void {
    pacer.add(this.n.perSec, (sched, k) => {
      this.pending.set(k, Number(sched));
      this.jobs.onSent();
      this.pushers[k % this.pushers.length].send(`{"type":"push","data":"~${k}~${sched}~","ack":true,"ref":${k}}`);
    });
  }

  stop(): void {}
  settled(): boolean { return this.pending.size === 0; }

  checks(): Check[] {
    let once = 0;
    for (let k = 0; k < Math.min(this.jobs.sent, this.seen.length); k++) if (this.seen[k] === 1) once++;
    return [{
      check: 'every job done exactly once',
      ok: this.pending.size === 0 && this.jobs.errors === 0 && this.jobs.done === this.jobs.sent && once === this.jobs.sent && this.twice === 0 && this.redelivered === 0,
      detail: `${int(this.jobs.done)} of ${int(this.jobs.sent)} done, pullers got ${int(once)} exactly once, ${int(this.twice)} more than once, ${int(this.redelivered)} redeliveries, ${int(this.jobs.errors)} errors, ${int(this.pending.size)} without outcome`,
    }];
  }

  close(): void { for (const ws of [...this.pushers, ...this.pullers]) ws.close(); }
}
