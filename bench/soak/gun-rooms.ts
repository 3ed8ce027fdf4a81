// GUN rooms: in each, one writer puts to a fixed set of keys of one soul (an app updating its
// state, so the graph stays bounded however long the run), subscribers that `get` the soul must
// receive every put, every put must be acked ok, and late joiners that `get` the soul mid-run
// must find, for every key, the value of the latest put acked before they asked (or a newer one).
import type { RawWs } from '../rawws.js';
import { rid } from '../loadgen-steps.js';
import { scanStamp, stamp } from '../stamp.js';
import { type Check, type Target, gunWs, has, inBatches, parse, sleep } from './conn.js';
import { Flow } from './flow.js';
import type { Pacer } from './pacer.js';
import { int, type Workload } from './workload.js';

const SOUL = 'soak';
const AT = Buffer.from('"@"'), DAM = Buffer.from('"dam"');

interface Sub { ws: RawWs; last: number; got: number; dups: number; closed: string | null }
interface Room {
  path: string;
  writer: RawWs;
  subs: Sub[];
  sent: number;
  pending: Map<string, { idx: number; key: number; sched: number }>; // put id -> what it wrote
  acked: Float64Array; // per key: the highest put index acked ok (-1: none yet)
  lastState: Float64Array; // per key: the last HAM state written (kept strictly increasing)
}

export class GunRooms implements Workload {
  readonly puts = new Flow('gun put->ack');
  readonly deliveries = new Flow('gun delivery');
  readonly late = new Flow('gun late joiner');
  readonly flows = [this.puts, this.deliveries, this.late];
  private rooms: Room[] = [];
  private lateOpen = new Set<RawWs>();
  private latePending = 0;

  constructor(private t: Target, private n: { rooms: number; subs: number; keys: number; putsPerSec: number; lateJoinersPerSec: number }) {}

  /** A peer answers the relay's `{"dam":"?"}` greeting as GUN peers do. */
  private dam(ws: RawWs, d: Buffer, s: number, e: number): void {
    const m = parse(d, s, e);
    if (m?.dam === '?' && m['@'] === undefined) ws.send(JSON.stringify({ dam: '?', pid: rid(), '@': m['#'], '#': rid() }));
    else if (m?.dam === '!') this.deliveries.onError('dam !', JSON.stringify(m));
  }

  async connect(): Promise<void> {
    this.rooms = await inBatches(this.n.rooms, async (r) => {
      const path = `/soak-gun-${r}`;
      const room: Room = {
        path, writer: null as unknown as RawWs, subs: [], sent: 0, pending: new Map(),
        acked: new Float64Array(this.n.keys).fill(-1), lastState: new Float64Array(this.n.keys),
      };
      room.writer = await gunWs(this.t, path, (ws, d, s, e) => this.onWriter(room, ws, d, s, e),
        (why) => this.puts.onError('writer closed', `${path}: ${why}`));
      room.subs = await Promise.all(Array.from({ length: this.n.subs }, async () => {
        const sub: Sub = { ws: null as unknown as RawWs, last: -1, got: 0, dups: 0, closed: null };
        sub.ws = await gunWs(this.t, path, (ws, d, s, e) => this.onSub(sub, ws, d, s, e),
          (why) => { sub.closed = why; this.deliveries.onError('subscriber closed', `${path}: ${why}`); });
        sub.ws.send(JSON.stringify({ '#': rid(), get: { '#': SOUL } }));
        return sub;
      }));
      return room;
    });
    await sleep(300); // the gets are in before the first put (a put before them would not reach them)
  }

  private onWriter(room: Room, ws: RawWs, d: Buffer, s: number, e: number): void {
    if (has(d, DAM, s, e)) return this.dam(ws, d, s, e);
    if (!has(d, AT, s, e)) return;
    const m = parse(d, s, e);
    const p = typeof m?.['@'] === 'string' ? room.pending.get(m['@']) : undefined;
    if (!m || !p) return;
    room.pending.delete(m['@'] as string);
    if (m.err !== undefined) return this.puts.onError('ack err', String(m.err));
    if (p.idx > room.acked[p.key]) room.acked[p.key] = p.idx;
    this.puts.onDone(p.sched);
  }

  private onSub(sub: Sub, ws: RawWs, d: Buffer, s: number, e: number): void {
    if (has(d, DAM, s, e)) return this.dam(ws, d, s, e);
    // A frame may hold several puts (an array): count every stamp in it. A room's puts come from
    // one writer, in order, so a put at or below the last index seen is a duplicate.
    for (let p = scanStamp(d, s, e); p >= 0; p = scanStamp(d, p, e)) {
      if (stamp.idx <= sub.last) { sub.dups++; continue; }
      sub.last = stamp.idx;
      sub.got++;
      this.deliveries.onDone(stamp.sched);
    }
  }

  start(pacer: Pacer): void {
    const R = this.rooms.length;
    pacer.add(this.n.putsPerSec, (sched, k) => {
      const room = this.rooms[k % R];
      const local = Math.floor(k / R);
      const key = local % this.n.keys;
      // HAM keeps the write with the higher state: each write of a key must have a higher one.
      const state = Math.max(Date.now(), room.lastState[key] + 0.001);
      room.lastState[key] = state;
      const id = rid();
      room.pending.set(id, { idx: k, key, sched: Number(sched) });
      room.sent++;
      this.puts.onSent();
      this.deliveries.onSent(this.n.subs);
      room.writer.send(`{"#":"${id}","put":{"${SOUL}":{"_":{"#":"${SOUL}",">":{"k${key}":${state}}},"k${key}":"~${k}~${sched}~"}}}`);
    });
    pacer.add(this.n.lateJoinersPerSec, (sched, k) => { void this.lateJoiner(this.rooms[k % R], Number(sched)); });
  }

  /** A peer joins, asks for the soul, and must find every value acked before it asked. */
  private async lateJoiner(room: Room, sched: number): Promise<void> {
    this.late.onSent();
    this.latePending++;
    let ws: RawWs | null = null;
    try {
      const getId = rid();
      let need: Float64Array | null = null;
      const answer = new Promise<Record<string, unknown>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no answer to get within 10 s')), 10_000);
        void gunWs(this.t, room.path, (w, d, s, e) => {
          if (has(d, DAM, s, e)) return this.dam(w, d, s, e);
          const m = parse(d, s, e);
          if (m?.['@'] === getId) { clearTimeout(timer); resolve(m); }
        }).then((w) => {
          ws = w;
          this.lateOpen.add(w);
          need = Float64Array.from(room.acked); // what was acked before the get is sent
          w.send(JSON.stringify({ '#': getId, get: { '#': SOUL } }));
        }, (err: Error) => { clearTimeout(timer); reject(err); });
      });
      const m = await answer;
      const node = ((m.put as Record<string, unknown> | undefined)?.[SOUL] ?? {}) as Record<string, unknown>;
      const stale: string[] = [];
      need!.forEach((idx, key) => {
        if (idx < 0) return;
        const v = node[`k${key}`];
        const got = typeof v === 'string' ? Number(/^~(\d+)~/.exec(v)?.[1] ?? -1) : -1;
        if (got < idx) stale.push(`k${key}: ${got} < acked ${idx}`);
      });
      if (stale.length) this.late.onError('stale value', `${room.path}: ${stale.length} keys older than acked, e.g. ${stale.slice(0, 3).join('; ')}`);
      else this.late.onDone(sched);
    } catch (err) {
      this.late.onError('failed', `${room.path}: ${(err as Error).message}`);
    } finally {
      this.latePending--;
      if (ws) { (ws as RawWs).close(); this.lateOpen.delete(ws); }
    }
  }

  stop(): void {}

  settled(): boolean {
    return this.latePending === 0 && this.rooms.every((r) => r.pending.size === 0 && r.subs.every((s) => s.closed || s.got >= r.sent));
  }

  checks(): Check[] {
    const sent = this.rooms.reduce((a, r) => a + r.sent, 0);
    const unacked = this.rooms.reduce((a, r) => a + r.pending.size, 0);
    const expected = this.rooms.reduce((a, r) => a + r.sent * r.subs.length, 0);
    const got = this.rooms.reduce((a, r) => a + r.subs.reduce((b, s) => b + Math.min(s.got, r.sent), 0), 0);
    const dups = this.rooms.reduce((a, r) => a + r.subs.reduce((b, s) => b + s.dups, 0), 0);
    const closed = this.rooms.reduce((a, r) => a + r.subs.filter((s) => s.closed).length, 0);
    return [
      { check: 'GUN puts acked ok', ok: unacked === 0 && this.puts.errors === 0 && this.puts.done === sent,
        detail: `${int(this.puts.done)} of ${int(sent)} acked ok, ${int(unacked)} unanswered, ${int(this.puts.errors)} errors` },
      { check: 'GUN puts seen by every subscriber', ok: got === expected && closed === 0,
        detail: `${int(got)} of ${int(expected)} deliveries (${this.rooms.length} rooms x ${this.n.subs} subscribers), ${closed} subscribers closed, ${int(dups)} duplicates (not counted)` },
      { check: 'GUN late joiners find every acked value', ok: this.late.errors === 0 && this.late.done === this.late.sent,
        detail: `${int(this.late.done)} of ${int(this.late.sent)} late joiners found all, ${int(this.late.errors)} did not` },
    ];
  }

  close(): void {
    for (const r of this.rooms) { r.writer.close(); for (const s of r.subs) s.ws.close(); }
    for (const ws of this.lateOpen) ws.close();
  }
}
