// Native rooms with publish: in each, one publisher and members on WebSocket and SSE; every
// member must receive every publication of its room, once. Publications are stamped with a
// global index and their scheduled send time; a room's arrive in order, so a member needs only
// the last index it saw to count (and to spot a duplicate).
import type { RawWs } from '../rawws.js';
import type { RawSse } from '../rawsse.js';
import { scanStamp, stamp } from '../stamp.js';
import { type Check, type Target, has, inBatches, nativeWs, parse, sleep, sse } from './conn.js';
import { Flow } from './flow.js';
import type { Pacer } from './pacer.js';
import { int, type Workload } from './workload.js';

const ERROR = Buffer.from('"type":"error"');

interface Member { last: number; got: number; dups: number; closed: string | null; ws?: RawWs; sse?: RawSse }
interface Room { path: string; pub: RawWs; members: Member[]; sent: number }

export class PublishRooms implements Workload {
  readonly delivery: Flow;
  readonly flows: Flow[];
  private rooms: Room[] = [];

  private pad: string;
  constructor(private t: Target, private n: { rooms: number; ws: number; sse: number; perSec: number; padBytes?: number }, private prefix = '/soak-pub', name = 'publish delivery') {
    this.delivery = new Flow(name);
    this.flows = [this.delivery];
    this.pad = 'x'.repeat(n.padBytes ?? 0);
  }

  /** The room paths (churn joins them). */
  paths(): string[] { return this.rooms.map((r) => r.path); }

  private count(m: Member, d: Buffer, s: number, e: number): void {
    // SSE hands on runs of events; a WebSocket frame is one message (stop there: skip the padding).
    for (let p = scanStamp(d, s, e); p >= 0; p = m.sse ? scanStamp(d, p, e) : -1) {
      if (stamp.idx <= m.last) { m.dups++; continue; }
      m.last = stamp.idx;
      m.got++;
      this.delivery.onDone(stamp.sched);
    }
  }

  async connect(): Promise<void> {
    this.rooms = await inBatches(this.n.rooms, async (r) => {
      const path = `${this.prefix}-${r}`;
      const pub = await nativeWs(this.t, path, (_ws, d, s, e) => {
        if (has(d, ERROR, s, e)) this.delivery.onError(String(parse(d, s, e)?.code ?? 'error'), d.toString('utf8', s, Math.min(e, s + 300)));
      }, (why) => this.delivery.onError('publisher closed', `${path}: ${why}`));
      const members = await Promise.all(Array.from({ length: this.n.ws + this.n.sse }, async (_, k) => {
        const m: Member = { last: -1, got: 0, dups: 0, closed: null };
        const closed = (why: string) => { m.closed = why; this.delivery.onError('member closed', `${path}: ${why}`); };
        if (k < this.n.ws) m.ws = await nativeWs(this.t, path, (_ws, d, s, e) => this.count(m, d, s, e), closed);
        else m.sse = await sse(this.t, path, (d, s, e) => this.count(m, d, s, e), () => closed('SSE stream ended'));
        return m;
      }));
      return { path, pub, members, sent: 0 };
    });
    await sleep(200); // the members' joins are handled before the first publication
  }

  start(pacer: Pacer): void {
    const R = this.rooms.length;
    pacer.add(this.n.perSec, (sched, k) => {
      const room = this.rooms[k % R];
      room.sent++;
      this.delivery.onSent(room.members.length);
      room.pub.send(`{"type":"publish","data":"~${k}~${sched}~${this.pad}"}`);
    });
  }

  stop(): void {}

  settled(): boolean { return this.rooms.every((r) => r.members.every((m) => m.closed || m.got >= r.sent)); }

  checks(): Check[] {
    const expected = this.rooms.reduce((a, r) => a + r.sent * r.members.length, 0);
    const got = this.rooms.reduce((a, r) => a + r.members.reduce((b, m) => b + Math.min(m.got, r.sent), 0), 0);
    const dups = this.rooms.reduce((a, r) => a + r.members.reduce((b, m) => b + m.dups, 0), 0);
    const closed = this.rooms.reduce((a, r) => a + r.members.filter((m) => m.closed).length, 0);
    const sent = this.rooms.reduce((a, r) => a + r.sent, 0);
    return [{
      check: `every publication reached every member (${this.delivery.name})`, ok: got === expected && closed === 0 && dups === 0 && this.delivery.errors === 0,
      detail: `${int(got)} of ${int(expected)} deliveries of ${int(sent)} publications (${this.rooms.length} rooms x ${this.n.ws} WebSocket + ${this.n.sse} SSE members), ${closed} members closed, ${int(dups)} duplicates, ${int(this.delivery.errors)} errors`,
    }];
  }

  close(): void {
    for (const r of this.rooms) { r.pub.close(); for (const m of r.members) { m.ws?.close(); m.sse?.close(); } }
  }
}
