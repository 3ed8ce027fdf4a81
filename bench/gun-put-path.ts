// The GUN put path alone, in-process: CPU µs per put through a real Room (its GunRelay: parse,
// validate, SEA's soul check, HAM, store, ack, relay) to real WebSocketConnections over fake
// sockets (framed and queued, one write per connection per turn as the flush scheduler does;
// nothing is sent anywhere). Frames are built before the clock starts, as the wire would bring
// them, and handed over as Buffers (the server decodes each one, so does this). Measures CPU time
// (process.cpuUsage), which a busy shared machine disturbs far less than the open-loop bench.
// Each build runs in a child process of its own, builds alternate (ABAB), several rounds, median.
//
//   node --import tsx bench/gun-put-path.ts --build .tmp/dist-before --build dist [--shape fanout|chat|souls|all] [--rounds 5] [--prefill 1000000]
// Shapes (the bench scenarios of the same names):
//   fanout  gun-fanout: one writer, a new key per put into one soul, 100 peers (99 readers)
//   chat    gun-chat: a `.set()` (link into the list node + batch frame with the new node), 5 peers per room, 1,000 rooms
//   souls   gun-souls: profile puts (3 fields) over 10,000 souls, 100 peers in one room writing in turn
import { parseArgs } from 'node:util';
import path from 'node:path';
import os from 'node:os';
import { pathToFileURL } from 'node:url';

const { values: opt } = parseArgs({
  options: {
    build: { type: 'string', multiple: true },
    shape: { type: 'string', default: 'all' },
    puts: { type: 'string', default: '40000' },
    rounds: { type: 'string', default: '5' },
    prefill: { type: 'string', default: '0' }, // fanout: keys already in the soul before the clock starts (gun-fanout's ramp writes ~4.8M)
    child: { type: 'string' }, // internal: run the passes of this build and print the median
  },
});
const builds = opt.build ?? ['dist'];
const SHAPES = opt.shape === 'all' ? ['fanout', 'chat', 'souls'] : [opt.shape!];
const PUTS = Number(opt.puts), ROUNDS = Number(opt.rounds), PREFILL = Number(opt.prefill);
const PER_TURN = 256; // FRAMES_PER_TURN of src/transports/websocket.ts: what one peer gets handled per turn

interface Conn { send(f: unknown, direct?: boolean): void; principal: unknown }
interface RoomLike { peers: Set<Conn>; gun: { receive(peer: Conn, text: string): number; store: { merge(update: unknown, now: number): unknown } } }
interface Build {
  Room: new (name: string, opts: Record<string, unknown>) => RoomLike;
  WebSocketConnection: new (ws: unknown, scheduler: unknown, opts: { maxQueuedBytes: number; maxMessagesPerSecond: number }) => Conn;
  FlushScheduler: new (coalesceMs?: number) => unknown;
  createIdGenerator: () => () => string;
  silentLogger: unknown;
}

async function load(dir: string): Promise<Build> {
  const url = (p: string) => pathToFileURL(path.resolve(dir, p)).href;
  const [{ Room }, { WebSocketConnection }, { FlushScheduler }, { createIdGenerator }, { silentLogger }] = await Promise.all([
    import(url('rooms/room.js')), import(url('transports/websocket.js')), import(url('transports/flush-scheduler.js')), import(url('gun/ids.js')), import(url('log.js')),
  ]);
  return { Room, WebSocketConnection, FlushScheduler, createIdGenerator, silentLogger };
}

/** A socket that takes every write at once (the kernel never pushes back). */
function fakeWs(): unknown {
  const socket = { writableLength: 0, destroyed: false, written: 0, write(b: Buffer) { this.written += b.length; return true; } };
  return { _socket: socket, readyState: 1, on() {}, once() {} };
}

const turn = () => new Promise<void>((r) => setImmediate(r));
const ALPHA = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXZabcdefghijklmnopqrstuvwxyz';
const rid = () => { let s = ''; for (let i = 0; i < 9; i++) s += ALPHA[(Math.random() * ALPHA.length) | 0]; return s; };

interface Shape { rooms: number; peers: number; oneWriter?: boolean; frames(n: number, state: number): string[] }
let keySeq = 0; // unique keys and souls across passes (a repeat would be dropped by HAM, not measured)
const SHAPE: Record<string, Shape> = {
  fanout: { rooms: 1, peers: 100, oneWriter: true, frames: (_n, st) => { const k = `k${keySeq++}`; return [`{"#":"${rid()}","put":{"bench":{"_":{"#":"bench",">":{"${k}":${st}}},"${k}":"${process.hrtime.bigint()}"}}}`]; } },
  chat: {
    rooms: 1000, peers: 5, frames: (n, st) => {
      const list = `chat-${n % 1000}`, soul = `m${(keySeq++).toString(36)}Xb7mh7TMTLuN9`;
      return [
        `{"#":"${rid()}","ok":{"/":0,"@":9},"put":{"${list}":{"_":{"#":"${list}",">":{"${soul}":${st}}},"${soul}":{"#":"${soul}"}}}}`,
        `[{"#":"${rid()}","put":{"${soul}":{"_":{"#":"${soul}",">":{"at":${st},"from":${st},"text":${st}}},"at":${st},"from":"peer-${n % 5}","text":"q${n}"}}}]`,
      ];
    },
  },
  souls: { rooms: 1, peers: 100, frames: (n, st) => { const soul = `user-${n % 10000}`; return [`{"#":"${rid()}","put":{"${soul}":{"_":{"#":"${soul}",">":{"name":${st},"seen":${st},"status":${st}}},"name":"${soul}","seen":${st},"status":"q${n}"}}}`]; } },
};

/** CPU µs per put (a chat message = its two frames) for one pass. */
async function pass(b: Build, shapeName: string): Promise<number> {
  const shape = SHAPE[shapeName];
  const scheduler = new b.FlushScheduler(0);
  const newId = b.createIdGenerator();
  const rooms = Array.from({ length: shape.rooms }, (_, r) => {
    const room = new b.Room(`/r${r}`, { maxRoomBytes: 1 << 30, pid: 'benchpid', newId, log: b.silentLogger, owned: false, hub: {}, onOwnerLeft() {}, onMemberLeft() {} });
    for (let i = 0; i < shape.peers; i++) room.peers.add(new b.WebSocketConnection(fakeWs(), scheduler, { maxQueuedBytes: 1 << 30, maxMessagesPerSecond: 1e9 }));
    return room;
  });
  const writers = rooms.map((r) => [...r.peers]);
  if (shapeName === 'fanout' && PREFILL > 0) {
    // A soul as big as the bench's by then: what a lookup of a new key meets.
    const now = Date.now();
    for (let i = 0; i < PREFILL; i++) rooms[0].gun.store.merge([{ soul: 'bench', fields: [{ key: `p${keySeq++}`, value: '1796428016360002123', state: now }] }], now);
  }
  // The wire's bytes, built before the clock starts; states grow like Gun.state().
  let st = Date.now();
  const work: Array<[RoomLike, Conn, Buffer]> = [];
  for (let n = 0; n < PUTS; n++) {
    st += 0.001;
    const r = n % shape.rooms;
    for (const f of shape.frames(n, st)) work.push([rooms[r], writers[r][shape.oneWriter ? 0 : Math.floor(n / shape.rooms) % shape.peers], Buffer.from(f)]);
  }
  const t0 = process.cpuUsage();
  for (let i = 0; i < work.length; i += PER_TURN) {
    for (let j = i; j < Math.min(work.length, i + PER_TURN); j++) {
      const [room, peer, data] = work[j];
      room.gun.receive(peer, data.toString('utf8'));
    }
    await turn(); // the scheduler's flush: one write per connection
  }
  const used = process.cpuUsage(t0);
  return (used.user + used.system) / PUTS;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

if (opt.child !== undefined) {
  const b = await load(opt.child);
  const res: Record<string, number> = {};
  for (const s of SHAPES) {
    for (let i = 0; i < 2; i++) await pass(b, s); // warm up (JIT)
    const xs: number[] = [];
    for (let i = 0; i < 3; i++) xs.push(await pass(b, s));
    res[s] = median(xs);
  }
  console.log(JSON.stringify(res));
} else {
  const { execFileSync } = await import('node:child_process');
  const results = new Map<string, Record<string, number[]>>(builds.map((b) => [b, Object.fromEntries(SHAPES.map((s) => [s, [] as number[]]))]));
  const load0 = os.loadavg();
  for (let r = 0; r < ROUNDS; r++) {
    for (const b of builds) {
      const out = execFileSync(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname, '--child', b, '--shape', opt.shape!, '--puts', String(PUTS), '--prefill', String(PREFILL)], { encoding: 'utf8' });
      const res = JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>;
      for (const s of SHAPES) results.get(b)![s].push(res[s]);
    }
  }
  console.log(`GUN put path: ${PUTS} puts per pass${PREFILL ? ` (fanout: ${PREFILL} keys in the soul first)` : ''}, ${PER_TURN} frames per turn, ${ROUNDS} alternating rounds of a child process per build; load average ${load0.map((x) => x.toFixed(2)).join(' ')} -> ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  for (const s of SHAPES) {
    const sh = SHAPE[s];
    for (const b of builds) {
      const xs = results.get(b)![s];
      console.log(`${s.padEnd(6)} (${sh.rooms > 1 ? `${sh.rooms} rooms x ` : ''}${sh.peers} peers) ${b}: median ${median(xs).toFixed(2)} µs CPU per put${s === 'chat' ? ' (2 frames)' : ''}; rounds ${xs.map((x) => x.toFixed(2)).join(' ')}`);
    }
  }
}
