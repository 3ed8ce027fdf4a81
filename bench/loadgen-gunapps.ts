// GUN workloads as apps write them (issue 14 §2), on raw GUN-wire sockets: every peer is a writer
// and a reader, as in a real app. Two shapes:
//   --shape chat   R rooms x P peers; a message is what `gun.get('chat-<r>').set({text,from,at})`
//                  sends (captured from gun 0.2020.1241): one frame with the link put into the
//                  room's list node (`{"#":…,"ok":{"/":0,"@":9},"put":{"chat-<r>":{…,"<soul>":{"#":"<soul>"}}}}`)
//                  and one batch frame `[{"#":…,"put":{"<soul>":{…text,from,at…}}}]` with the new node.
//                  Each peer first `get`s its room's list soul, as `.map().on()` does.
//   --shape souls  R rooms (default 1) x P peers writing profile-like updates
//                  (`gun.get('user-<n>').put({name,status,seen})`) spread over --souls souls.
// Writers take turns: message i is written by peer (i / R) mod P of room i mod R. Delivery = the
// message's marker value `"q<i>"` seen by another peer of that room; every delivery is timed
// against the message's scheduled time (open loop, as in loadgen.ts). GUN's relay has one path
// (--shared-path): all peers share it and it may send a room's messages to other rooms' peers;
// those are counted as `foreign` and not as deliveries.
// Same stdin/stdout protocol as loadgen.ts.
// With --c-bin <path> (shape souls, one room) the peers are bench/c/gun-recv.c in its mode q: one
// C epoll process holds the peers' sockets, reads and times every delivery, and sends the puts this
// process makes (`put` lines on its stdin), so the room's peers are still the writers. A Node
// process reads ~1.6M deliveries/s at most, which is below what our server relays in this shape.
import { parseArgs } from 'node:util';
import { RawWs } from './rawws.js';
import { CReceiver } from './c-receiver.js';
import { out, rid, serveSteps } from './loadgen-steps.js';
import { Samples, machineBusySeconds, parsePids, pidsCpuSeconds, pidsRssMB, type StepResult } from './stats.js';

const { values: argv } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    shape: { type: 'string', default: 'chat' },
    rooms: { type: 'string', default: '1000' },
    peers: { type: 'string', default: '5' }, // per room
    souls: { type: 'string', default: '10000' }, // shape souls: how many souls the writes spread over
    prefix: { type: 'string', default: '/gunapp-' }, // our server: room r is <prefix><r>
    'shared-path': { type: 'string' }, // GUN's relay: every peer on this one path (/gun)
    'server-pid': { type: 'string' },
    'c-bin': { type: 'string' }, // C peers (bench/c/gun-recv.c, mode q) instead of Node ones; shape souls, one room
  },
});
const HOST = argv.host!;
const PORT = Number(argv.port);
const SHAPE = argv.shape as 'chat' | 'souls';
const ROOMS = Number(argv.rooms);
const PEERS = Number(argv.peers);
const SOULS = Number(argv.souls);
const SHARED = argv['shared-path'] ?? null;
const SERVER_PIDS = parsePids(argv['server-pid']);
const C_BIN = argv['c-bin'] ?? null;
let cpeers: CReceiver | null = null;

interface Peer { ws: RawWs; room: number; slot: number } // ws: unset with --c-bin (the C process holds the socket)
const peers: Peer[] = [];
const byRoom: Peer[][] = [];
let closedPeers = 0;

/** Per-step state; messages first..first+total-1, measured = indexes warmN..total-1. */
class Step {
  first = 0; warmN = 0; total = 0;
  sched = new Float64Array(0); // performance.now() ms each message was due
  got = new Uint8Array(0); // (measured message, slot of the receiving peer in its room)
  delivered = 0; dups = 0; foreign = 0; damErrors = 0; badFrames = 0; lastDelivery = 0;
  lat = new Samples();
}
let cur = new Step();

function dam(ws: RawWs, text: string): void {
  let v: unknown;
  try { v = JSON.parse(text); } catch { cur.badFrames++; return; }
  for (const m of (Array.isArray(v) ? v : [v]) as Record<string, unknown>[]) {
    if (m?.dam === '?' && m['@'] === undefined) ws.send(JSON.stringify({ dam: '?', pid: rid(), '@': m['#'], '#': rid() }));
    if (m?.dam === '!') cur.damErrors++;
  }
}

// A delivery is `:"q<digits>"` (a value, never a key) in a frame; no JSON.parse per frame. The
// marker is found with Buffer#indexOf (memchr-fast over a ~170-byte put, where a byte loop in JS
// made this process the limit near 1.5M deliveries/s); a frame without one may be a greeting.
const MARK = Buffer.from(':"q');
const DAM = Buffer.from('"dam"');
function onFrame(peer: Peer, ws: RawWs, data: Buffer, start: number, end: number): void {
  const now = performance.now();
  const s = cur;
  const before = s.delivered;
  let p = data.indexOf(MARK, start);
  if (p === -1 || p >= end) {
    const d = data.indexOf(DAM, start);
    if (d !== -1 && d < end) dam(ws, data.toString('utf8', start, end));
    return;
  }
  while (p !== -1 && p < end) {
    let i = p + 3, n = 0;
    for (let c = data[i]; c >= 0x30 && c <= 0x39; c = data[++i]) n = n * 10 + (c - 0x30);
    if (i > p + 3 && data[i] === 0x22) {
      const idx = n - s.first;
      if (idx >= s.warmN && idx < s.total) {
        if (n % ROOMS !== peer.room) s.foreign++;
        else {
          const g = (idx - s.warmN) * PEERS + peer.slot;
          if (s.got[g]) s.dups++;
          else { s.got[g] = 1; s.delivered++; s.lat.push(now - s.sched[idx]); }
        }
      }
    }
    p = data.indexOf(MARK, i);
  }
  if (s.delivered !== before) s.lastDelivery = now;
}

let state = 0;
/** GUN's state: milliseconds, made unique with a fraction as Gun.state() does. */
function nextState(): number {
  const t = Date.now();
  state = t > state ? t : state + 0.001;
  return state;
}

const uuidChars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
/** A soul like GUN's opt.uuid: the state in base 36 plus 12 random characters. */
function uuid(): string {
  let s = Date.now().toString(36);
  for (let i = 0; i < 12; i++) s += uuidChars[(Math.random() * 62) | 0];
  return s;
}

/** The frames peer writes for message n (one or two WebSocket frames, as GUN sends them). */
function frames(n: number): string[] {
  const room = n % ROOMS;
  if (SHAPE === 'chat') {
    const list = `chat-${room}`, soul = uuid(), st = nextState();
    return [
      `{"#":"${rid()}","ok":{"/":0,"@":9},"put":{"${list}":{"_":{"#":"${list}",">":{"${soul}":${st}}},"${soul}":{"#":"${soul}"}}}}`,
      `[{"#":"${rid()}","put":{"${soul}":{"_":{"#":"${soul}",">":{"at":${st},"from":${st},"text":${st}}},"at":${Date.now()},"from":"peer-${(n / ROOMS | 0) % PEERS}","text":"q${n}"}}}]`,
    ];
  }
  const soul = `user-${Math.floor(n / ROOMS) % SOULS}`, st = nextState();
  return [`{"#":"${rid()}","put":{"${soul}":{"_":{"#":"${soul}",">":{"name":${st},"seen":${st},"status":${st}}},"name":"${soul}","seen":${Date.now()},"status":"q${n}"}}}`];
}

let nextMsg = 0;

/** `foreign`: messages that reached a peer of another room (GUN's one-path relay). */
type AppStepResult = StepResult & { foreign: number; shape: string; rooms: number; peers: number; receivers: 'c' | 'node'; receiverCpuPct: number | null; publisherCpuPct: number | null };

async function runStep(label: string, rate: number, warmupS: number, measureS: number, drainS: number): Promise<AppStepResult> {
  const warmN = Math.round(rate * warmupS);
  const measN = Math.max(1, Math.round(rate * measureS));
  const total = warmN + measN;
  // Start at a multiple of ROOMS so message i of every step goes to room i mod ROOMS.
  const first = Math.ceil(nextMsg / ROOMS) * ROOMS;
  nextMsg = first + total;
  const s = new Step();
  s.first = first; s.warmN = warmN; s.total = total;
  s.sched = new Float64Array(total);
  s.got = new Uint8Array(measN * PEERS);
  cur = s;

  const intervalMs = 1000 / rate;
  const t0 = performance.now() + 5;
  let sent = 0, lagMax = 0;
  // The C peers time deliveries on CLOCK_MONOTONIC (process.hrtime), this loop on performance.now().
  const toNs = process.hrtime.bigint() - BigInt(Math.round(performance.now() * 1e6));
  if (cpeers) await cpeers.step(first + warmN, measN);
  const cpid = cpeers ? [cpeers.pid] : [];
  const mark = () => ({ p: performance.now(), cpu: process.cpuUsage(), srv: pidsCpuSeconds(SERVER_PIDS), rcv: cpid.length ? pidsCpuSeconds(cpid) : null, all: machineBusySeconds() });
  let w0 = mark(), w1 = w0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const due = Math.min(total, Math.floor((now - t0) / intervalMs) + 1);
      // One write per writer per tick, as a GUN peer's socket would carry them.
      const batches = new Map<Peer, string[]>();
      while (sent < due) {
        if (sent === warmN) w0 = mark();
        const at = t0 + sent * intervalMs;
        s.sched[sent] = at;
        lagMax = Math.max(lagMax, now - at);
        const n = first + sent;
        const writer = byRoom[n % ROOMS][Math.floor(n / ROOMS) % PEERS];
        if (cpeers) {
          for (const f of frames(n)) cpeers.put(writer.slot, n, BigInt(Math.round(at * 1e6)) + toNs, f);
        } else {
          const b = batches.get(writer);
          if (b) b.push(...frames(n)); else batches.set(writer, frames(n));
        }
        sent++;
      }
      for (const [writer, b] of batches) writer.ws.send(b);
      cpeers?.sendPuts();
      if (sent >= total) { w1 = mark(); resolve(); } else setTimeout(tick, 1);
    };
    setTimeout(tick, 5);
  });

  const recipients = PEERS - 1; // every other peer of the writer's room
  const expected = measN * recipients;
  const drainStart = Date.now();
  while (Date.now() - drainStart < drainS * 1000) {
    if ((cpeers ? await cpeers.count() : s.delivered) >= expected) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  let latency = s.lat.summary();
  if (cpeers) {
    const r = await cpeers.report();
    s.delivered = r.delivered; s.dups = r.dups; s.damErrors = r.damErrors; s.badFrames = r.badFrames;
    closedPeers = r.closed;
    latency = r.latency ? { n: r.latency.n, p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, p999: r.latency.p999, max: r.latency.max } : null;
    if (r.delivered) s.lastDelivery = Number(BigInt(r.lastDeliveryNs) - toNs) / 1e6;
  }
  const wallS = (w1.p - w0.p) / 1000 || measureS;
  const spanS = Math.max(wallS, (s.lastDelivery - w0.p) / 1000);
  const pubCpu = (w1.cpu.user - w0.cpu.user + w1.cpu.system - w0.cpu.system) / 1e6;
  const rcvCpu = w0.rcv !== null && w1.rcv !== null ? w1.rcv - w0.rcv : null;
  const lgCpu = pubCpu + (rcvCpu ?? 0); // both on the load generator's core
  const srvCpu = w0.srv !== null && w1.srv !== null ? w1.srv - w0.srv : null;
  const allCpu = w0.all !== null && w1.all !== null ? w1.all - w0.all : null;
  return {
    type: 'step', label, rate, subs: recipients, puts: measN, expected,
    delivered: s.delivered, deliveryPct: (100 * s.delivered) / expected, deliveredPerSec: s.delivered / spanS,
    latency,
    ack: { received: 0, pct: 0, latency: null, errors: 0, firstError: null },
    windowS: wallS, drainMs: Date.now() - drainStart, sendLagMaxMs: lagMax,
    serverCpuPct: srvCpu === null ? null : (100 * srvCpu) / wallS,
    serverRssMB: pidsRssMB(SERVER_PIDS),
    loadgenCpuPct: (100 * lgCpu) / wallS,
    otherCpuPct: allCpu === null ? null : Math.max(0, (100 * (allCpu - lgCpu - (srvCpu ?? 0))) / wallS),
    dups: s.dups, echoes: 0, foreign: s.foreign, shape: SHAPE, rooms: ROOMS, peers: PEERS, damErrors: s.damErrors, badFrames: s.badFrames, closedSubs: closedPeers,
    receivers: cpeers ? 'c' : 'node',
    receiverCpuPct: cpeers ? (rcvCpu === null ? null : (100 * rcvCpu) / wallS) : null,
    publisherCpuPct: cpeers ? (100 * pubCpu) / wallS : null,
  };
}

function quit(code: number): void {
  cpeers?.quit();
  for (const p of peers) p.ws?.close();
  setTimeout(() => process.exit(code), 100);
}

async function main(): Promise<void> {
  if (!PORT || !(ROOMS > 0) || !(PEERS > 1) || (SHAPE !== 'chat' && SHAPE !== 'souls')) {
    throw new Error('usage: loadgen-gunapps.ts --port P [--shape chat|souls] [--rooms R] [--peers P>1] [--souls S] [--prefix /gunapp-] [--shared-path /gun] [--server-pid PID]');
  }
  for (let r = 0; r < ROOMS; r++) byRoom.push([]);
  if (C_BIN) {
    if (SHAPE !== 'souls' || ROOMS !== 1) throw new Error('--c-bin: shape souls with one room only');
    for (let slot = 0; slot < PEERS; slot++) { const peer = { room: 0, slot } as Peer; byRoom[0].push(peer); peers.push(peer); }
    cpeers = new CReceiver(C_BIN, [HOST, String(PORT), SHARED ?? `${argv.prefix}0`, String(PEERS), 'user-%u', 'q'], (err) => { out({ type: 'error', message: err.message }); quit(1); });
    await cpeers.ready();
    out({ type: 'ready', members: PEERS, rooms: ROOMS, peers: PEERS, shape: SHAPE, receivers: 'c' });
    serveSteps(runStep, quit);
    return;
  }
  const onClose = () => { closedPeers++; };
  // Connect in batches so the server's accept backlog never overflows.
  const all = ROOMS * PEERS;
  for (let i = 0; i < all; i += 50) {
    const batch: Promise<void>[] = [];
    for (let j = i; j < Math.min(all, i + 50); j++) {
      const peer = { room: j % ROOMS, slot: Math.floor(j / ROOMS) } as Peer;
      byRoom[peer.room].push(peer);
      peers.push(peer);
      const path = SHARED ?? `${argv.prefix}${peer.room}`;
      batch.push(RawWs.connect({ host: HOST, port: PORT, path, onClose, onMessage: (ws, d, st, e) => onFrame(peer, ws, d, st, e) }).then((ws) => {
        peer.ws = ws;
        // What the app reads: its room's message list (chat), or a profile it shows (souls).
        ws.send(JSON.stringify({ '#': rid(), get: { '#': SHAPE === 'chat' ? `chat-${peer.room}` : `user-${peer.slot}` } }));
      }));
    }
    await Promise.all(batch);
  }
  await new Promise((r) => setTimeout(r, 300));
  out({ type: 'ready', members: all, rooms: ROOMS, peers: PEERS, shape: SHAPE });
  serveSteps(runStep, quit);
}

// The C peers never outlive this process (as in loadgen.ts: SIGTERM from the orchestrator's stop() included).
process.on('exit', () => cpeers?.kill());
if (C_BIN) for (const [sig, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) process.on(sig, () => process.exit(code));

main().catch((err: Error) => { out({ type: 'error', message: err.message }); quit(1); });
