// Load generator for the native, bare-ws, Socket.IO, SSE, idle-memory and request/reply scenarios.
// Runs as its own process (pinned by bench/run.ts), on raw node:net sockets (bench/rawws.ts), so
// that it costs as little CPU as possible. Protocol with the orchestrator, as bench/loadgen.ts:
//   stdout: JSON lines ({"type":"ready"}, {"type":"step",...}, {"type":"idle",...}, {"type":"error",...})
//   stdin:  JSON commands, one per line; EOF quits.
//
// --proto selects what the members speak:
//   native  our native protocol over WebSocket (subprotocol multisocket.v1); publisher sends
//           {"type":"publish","data":"~<i>~<t>~<pad>"}
//   sse     members are raw HTTP event streams (GET /room, Accept: text/event-stream); the
//           publisher is a native WebSocket member
//   tcp     members are TCP line streams (--tcp-port: a hello line, then one JSON message per
//           line, docs/protocol.md "TCP and IPC"); the publisher is a native WebSocket member
//   ws      plain WebSocket to a bare broadcast server (bench/targets/ws-baseline.cjs), which relays
//           verbatim what the publisher sends: a frame shaped like our server's publish message
//   sio     engine.io v4 / Socket.IO over /socket.io/?EIO=4&transport=websocket&room=<room>:
//           read 0{..}, send 40, read 40{..}; publish 42["pub","~<i>~<t>~<pad>"], receive 42["msg",..]; answer 2 with 3
//   gun     plain WebSocket, GUN wire (idle connections only)
// Every message carries its global index i and its scheduled send time t (process.hrtime in ns,
// CLOCK_MONOTONIC, valid across processes).
// Cluster scenario: --port A,B spreads the members over several nodes of one cluster (member k on
// node k mod N, the sampled ones too), the publisher on the first; --server-pid a,b,c sums the CPU
// and RSS of every process serving the load (the nodes and the engine), and each step also reports
// what the members of each node got (byNode), so a node that misses the others' publishes shows. Members find `"~<digits>~<digits>` with a byte scan,
// count each index once (messages of one room arrive in order, so a per-member "last index seen"
// finds duplicates without per-message memory), and sampled members record latency.
import net from 'node:net';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { RawWs } from './rawws.js';
import { RawSse } from './rawsse.js';
import { scanStamp, stamp } from './stamp.js';
import { Samples, machineBusySeconds, parsePids, pidsCpuSeconds, pidsRssMB, procCpuSeconds, type NodeShare, type SlowInfo, type StepResult } from './stats.js';

const { values: argv } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' }, // one port, or several (comma-separated): the cluster's nodes
    proto: { type: 'string', default: 'native' },
    rooms: { type: 'string', default: '1' },
    members: { type: 'string', default: '0' }, // per room, besides the room's publisher
    sample: { type: 'string', default: '50' },
    prefix: { type: 'string', default: '/bench' },
    'gun-path': { type: 'string' }, // fixed WebSocket path for GUN's relay (/gun)
    pad: { type: 'string', default: '0' },
    reqrep: { type: 'boolean', default: false }, // a serving member and a requesting member
    'server-pid': { type: 'string' }, // one pid, or several (comma-separated): summed
    'tcp-port': { type: 'string' }, // --proto tcp: the server's --tcp-port
  },
});
// mixed: our native protocol with members over WebSocket, SSE and TCP in turn (member k: k mod 3).
type Proto = 'native' | 'sse' | 'tcp' | 'mixed' | 'ws' | 'sio' | 'gun';
const HOST = argv.host!;
const PORTS = (argv.port ?? '').split(',').filter(Boolean).map(Number);
const PORT = PORTS[0]; // the publisher's node (and the only one outside the cluster scenario)
const PROTO = argv.proto as Proto;
const ROOMS = Number(argv.rooms);
const MEMBERS = Number(argv.members);
const PREFIX = argv.prefix!;
const PAD = 'x'.repeat(Number(argv.pad));
const SERVER_PIDS = parsePids(argv['server-pid']);
const TOTAL = ROOMS * MEMBERS;
const SAMPLE = Math.min(TOTAL, Number(argv.sample));
if (!['native', 'sse', 'tcp', 'mixed', 'ws', 'sio', 'gun'].includes(PROTO)) throw new Error(`unknown --proto ${PROTO}`);
const TCP_PORT = Number(argv['tcp-port'] ?? 0);
if ((PROTO === 'tcp' || PROTO === 'mixed') && !TCP_PORT) throw new Error(`--proto ${PROTO} needs --tcp-port`);

const out = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const roomName = (r: number) => (ROOMS === 1 ? PREFIX : `${PREFIX}-${r}`);
function wsPath(proto: Proto, room: string): string {
  if (proto === 'sio') return `/socket.io/?EIO=4&transport=websocket&room=${encodeURIComponent(room.slice(1))}`;
  if (proto === 'gun' && argv['gun-path']) return argv['gun-path'];
  return room;
}

// ---- per-step counters ----
class Step {
  base = 0; // first measured index
  size = 0; // measured messages
  delivered = 0;
  dups = 0;
  badFrames = 0;
  lat = new Samples();
  deliveredBy = PORTS.map(() => 0); // per node (index in PORTS)
  latBy = PORTS.map(() => new Samples());
}
let cur = new Step();
let closedSubs = 0;

interface Member { room: number; node: number; sampled: boolean; last: number; ws?: RawWs; sock?: net.Socket; tail?: Buffer; closed: string | null }
const members: Member[] = [];
const pubs: RawWs[] = []; // one per room

function count(m: Member, idx: number, sched: number): void {
  if (idx <= m.last) { if (idx - cur.base >= 0 && idx - cur.base < cur.size) cur.dups++; return; }
  m.last = idx;
  const rel = idx - cur.base;
  if (rel < 0 || rel >= cur.size) return;
  cur.delivered++;
  cur.deliveredBy[m.node]++;
  if (m.sampled) {
    const l = (Number(process.hrtime.bigint()) - sched) / 1e6;
    cur.lat.push(l);
    cur.latBy[m.node].push(l);
  }
}

/** Finds `"~<i>~<t>` from p on; returns the index after it, or -1. Calls count() for a match. */
function scanOne(m: Member, data: Buffer, p: number, e: number): number {
  const j = scanStamp(data, p, e);
  if (j >= 0) count(m, stamp.idx, stamp.sched);
  return j;
}

// ---- connections ----

/** engine.io / Socket.IO control frames; returns true if the frame was one. */
function sioControl(ws: RawWs, data: Buffer, s: number, e: number, ready?: () => void): boolean {
  const c0 = data[s];
  if (c0 === 0x32 && e - s === 1) { ws.send('3'); return true; } // engine.io ping -> pong
  if (c0 === 0x30) { ws.send('40'); return true; } // engine.io open -> Socket.IO connect to namespace /
  if (c0 === 0x34 && data[s + 1] === 0x30) { ready?.(); return true; } // 40{"sid":..}: connected
  if (c0 === 0x34 && data[s + 1] === 0x34) { cur.badFrames++; return true; } // 44: connect error
  return false;
}

function onWsFrame(m: Member | null, data: Buffer, s: number, e: number): void {
  if (m) scanOne(m, data, s, e); // one message per frame: stop at the first match (skips the pad)
}

function connectWs(m: Member | null, room: string, proto: Proto, onMsg?: (ws: RawWs, d: Buffer, s: number, e: number) => void, port = PORT): Promise<RawWs> {
  return new Promise((resolve, reject) => {
    let ready: (() => void) | undefined;
    const sioReady = proto === 'sio' ? new Promise<void>((r) => { ready = r; }) : null;
    RawWs.connect({
      host: HOST, port, path: wsPath(proto, room), protocol: proto === 'native' ? 'multisocket.v1' : undefined,
      onMessage: (ws, d, s, e) => {
        if (proto === 'sio' && sioControl(ws, d, s, e, ready)) return;
        if (onMsg) onMsg(ws, d, s, e); else onWsFrame(m, d, s, e);
      },
      onClose: (reason) => { if (m) { m.closed = reason; closedSubs++; } },
    }).then((ws) => {
      if (!sioReady) return resolve(ws);
      const t = setTimeout(() => reject(new Error('Socket.IO connect timeout')), 10_000);
      void sioReady.then(() => { clearTimeout(t); resolve(ws); });
    }, reject);
  });
}

async function connectSse(m: Member, room: string, port = PORT): Promise<void> {
  const sse = await RawSse.connect({
    host: HOST, port, path: room,
    onEvents: (b, s, e) => { for (let p = s; p >= 0 && p < e;) p = scanOne(m, b, p, e); },
    onClose: () => { if (!m.closed) { m.closed = 'closed'; closedSubs++; } },
  });
  m.sock = sse.socket;
}

const PING_LINE = Buffer.from('{"type":"ping"}');

/** A TCP line member: hello, wait for `connect`, then scan every complete line (and answer the heartbeat). */
function connectTcp(m: Member, room: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: HOST, port: TCP_PORT, noDelay: true });
    m.sock = sock;
    let connected = false;
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('TCP hello timeout')); }, 10_000);
    sock.on('connect', () => sock.write(JSON.stringify({ type: 'hello', room }) + '\n'));
    sock.on('data', (chunk: Buffer) => {
      if (!connected) {
        const line = chunk.toString('utf8', 0, Math.max(0, chunk.indexOf(0x0a)));
        if (!line.startsWith('{"type":"connect"')) { clearTimeout(timer); sock.destroy(); return reject(new Error(`TCP hello: ${line.slice(0, 200)}`)); }
        connected = true;
        clearTimeout(timer);
        resolve();
        chunk = chunk.subarray(chunk.indexOf(0x0a) + 1);
        if (!chunk.length) return;
      }
      onLines(m, sock, chunk);
    });
    sock.on('error', (err) => { if (!connected) { clearTimeout(timer); reject(err); } });
    sock.on('close', () => { if (connected && !m.closed) { m.closed = 'closed'; closedSubs++; } });
  });
}

/** Line stream bytes: scan every complete line (up to the last newline), keep the rest. */
function onLines(m: Member, sock: net.Socket, chunk: Buffer): void {
  const b = m.tail?.length ? Buffer.concat([m.tail, chunk]) : chunk;
  const last = b.lastIndexOf(0x0a);
  if (last < 0) { m.tail = b; return; }
  for (let p = 0; p >= 0 && p < last;) p = scanOne(m, b, p, last);
  if (b.indexOf(PING_LINE) >= 0) sock.write('{"type":"pong"}\n');
  m.tail = last + 1 < b.length ? Buffer.from(b.subarray(last + 1)) : undefined;
}

async function batched<T>(n: number, fn: (k: number) => Promise<T>): Promise<{ ok: T[]; failed: number; firstError: string | null }> {
  // 200 connections at a time, 20 ms apart, so the server's accept backlog never overflows.
  const ok: T[] = [];
  let failed = 0, firstError: string | null = null;
  for (let i = 0; i < n; i += 200) {
    const rs = await Promise.allSettled(Array.from({ length: Math.min(200, n - i) }, (_, j) => fn(i + j)));
    for (const r of rs) {
      if (r.status === 'fulfilled') ok.push(r.value);
      else { failed++; firstError ??= String((r.reason as Error)?.message ?? r.reason); }
    }
    await sleep(20);
  }
  return { ok, failed, firstError };
}

let slowM: Member | null = null;
let reqSock: RawWs | null = null;
let onReply: ((d: Buffer, s: number, e: number) => void) | null = null;

async function connectAll(): Promise<void> {
  // Member k is on node k mod N; every node gets its share of the sampled members.
  const P = PORTS.length;
  const stride = SAMPLE ? Math.max(1, Math.floor(TOTAL / SAMPLE)) : Infinity;
  const sampled = (k: number) => { const j = Math.floor(k / P); return j % stride === 0 && j / stride < Math.ceil(SAMPLE / P); }; // j: k's place on its node
  for (let k = 0; k < TOTAL; k++) members.push({ room: k % ROOMS, node: k % P, sampled: sampled(k), last: -1, closed: null });
  const connect = async (m: Member, k: number) => {
    const proto = PROTO === 'mixed' ? (['native', 'sse', 'tcp'] as const)[k % 3] : PROTO;
    if (proto === 'sse') await connectSse(m, roomName(m.room), PORTS[m.node]);
    else if (proto === 'tcp') await connectTcp(m, roomName(m.room));
    else m.ws = await connectWs(m, roomName(m.room), proto, undefined, PORTS[m.node]);
  };
  // One retry per member: on a machine other processes keep busy, a handshake can miss its 10 s
  // bound, and one such member should not cost the whole target its run.
  const r = await batched(TOTAL, (k) => connect(members[k], k).catch(async () => { await sleep(200); await connect(members[k], k); }));
  if (r.failed) throw new Error(`${r.failed} of ${TOTAL} members failed to connect: ${r.firstError}`);
  if (TOTAL) {
    const pubProto: Proto = PROTO === 'sse' || PROTO === 'tcp' || PROTO === 'mixed' ? 'native' : PROTO;
    const p = await batched(ROOMS, (k) => connectWs(null, roomName(k), pubProto));
    if (p.failed) throw new Error(`${p.failed} publishers failed to connect: ${p.firstError}`);
    pubs.push(...p.ok);
  }
  if (argv.reqrep) {
    if (PROTO === 'native') {
      // The serving member answers with as little work as the echo target's client does: the
      // server's request ids are 'r' + base 36, so the id is cut out of the frame, not parsed.
      const server = await connectWs(null, PREFIX, 'native', (ws, d, s, e) => {
        const f = d.subarray(s, e);
        if (f.indexOf('"type":"request"') < 0) return;
        const i = f.indexOf('"id":"') + 6;
        ws.send(`{"type":"reply","id":"${f.toString('latin1', i, f.indexOf(0x22, i))}","data":"pong"}`);
      });
      server.send('{"type":"serve"}');
    }
    reqSock = await connectWs(null, PREFIX, PROTO, (_ws, d, s, e) => onReply?.(d, s, e));
  }
  await sleep(Math.min(3000, 300 + TOTAL / 10)); // joins and subscriptions settle
}
let slowFrames = 0;

// ---- one open-loop fan-out step ----

let nextIdx = 0;
function frameFor(i: number, sched: bigint): string {
  const data = `~${i}~${sched}~${PAD}`;
  // The bare ws server forwards what it gets verbatim: give it the shape and size of the frames our
  // server sends, so every target costs the load generator the same per delivered frame.
  if (PROTO === 'ws') return `{"type":"message","kind":"publish","from":"c1","data":"${data}","seq":${i + 1}}`;
  if (PROTO === 'sio') return `42["pub","${data}"]`;
  return `{"type":"publish","data":"${data}"}`;
}

async function runStep(label: string, rate: number, warmupS: number, measureS: number, drainS: number, slow: boolean): Promise<StepResult> {
  const warmN = Math.round(rate * warmupS);
  const measN = Math.max(1, Math.round(rate * measureS));
  const total = warmN + measN;
  const first = nextIdx;
  nextIdx += total;
  cur = new Step();
  cur.base = first + warmN;
  cur.size = measN;
  const closedBefore = closedSubs;
  if (slow) {
    // A fresh member that stops reading right after its handshake: a socket that never read keeps
    // the kernel's default receive buffer (one that did read may have auto-tuned up to tcp_rmem's max).
    slowFrames = 0;
    const m: Member = { room: 0, node: 0, sampled: false, last: -1, closed: null };
    slowM = m;
    m.ws = await RawWs.connect({ host: HOST, port: PORT, path: roomName(0), protocol: 'multisocket.v1', onMessage: () => { slowFrames++; }, onClose: (reason) => { m.closed ??= reason; } });
    m.ws.socket.pause();
  }

  let rssMax = pidsRssMB(SERVER_PIDS);
  const rssTimer = setInterval(() => { const v = pidsRssMB(SERVER_PIDS); if (v !== null && (rssMax === null || v > rssMax)) rssMax = v; }, 250);

  const interval = 1e9 / rate;
  const t0 = process.hrtime.bigint() + 5_000_000n;
  let sent = 0, lagMax = 0;
  const mark = () => ({ t: process.hrtime.bigint(), p: performance.now(), cpu: process.cpuUsage(), srv: pidsCpuSeconds(SERVER_PIDS), each: SERVER_PIDS.map(procCpuSeconds), all: machineBusySeconds() });
  let w0 = mark(), w1 = w0;
  const byRoom: string[][] = Array.from({ length: ROOMS }, () => []);
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = process.hrtime.bigint();
      const due = Math.min(total, Math.floor(Number(now - t0) / interval) + 1);
      const touched: number[] = [];
      while (sent < due) {
        if (sent === warmN) w0 = mark();
        const sched = t0 + BigInt(Math.round(sent * interval));
        const i = first + sent;
        const r = i % ROOMS;
        if (!byRoom[r].length) touched.push(r);
        byRoom[r].push(frameFor(i, sched));
        lagMax = Math.max(lagMax, Number(now - sched) / 1e6);
        sent++;
      }
      for (const r of touched) { pubs[r].send(byRoom[r]); byRoom[r] = []; }
      if (sent >= total) { w1 = mark(); resolve(); } else setTimeout(tick, 1);
    };
    setTimeout(tick, 5);
  });

  const expected = measN * MEMBERS;
  const drainStart = Date.now();
  let lastDelivery = performance.now(), seen = cur.delivered;
  while (Date.now() - drainStart < drainS * 1000 && cur.delivered < expected) {
    await sleep(20);
    if (cur.delivered !== seen) { seen = cur.delivered; lastDelivery = performance.now(); }
  }
  if (cur.delivered !== seen) lastDelivery = performance.now();
  const drainMs = Date.now() - drainStart;
  clearInterval(rssTimer);

  let slowInfo: SlowInfo | undefined;
  if (slow && slowM?.ws) {
    slowM.ws.socket.resume();
    for (let k = 0; k < 250 && !slowM.closed; k++) await sleep(20); // up to 5 s to read what is queued and the close
    slowInfo = { closed: slowM.closed !== null, reason: slowM.closed ?? 'still open', framesReadAfterResume: slowFrames };
  }

  const wallS = Number(w1.t - w0.t) / 1e9 || measureS;
  const spanS = Math.max(wallS, (lastDelivery - w0.p) / 1000);
  const lgCpu = (w1.cpu.user - w0.cpu.user + w1.cpu.system - w0.cpu.system) / 1e6;
  const srvCpu = w0.srv !== null && w1.srv !== null ? w1.srv - w0.srv : null;
  const allCpu = w0.all !== null && w1.all !== null ? w1.all - w0.all : null;
  return {
    type: 'step', label, rate, subs: MEMBERS, puts: measN, expected, // subs = recipients of each message
    delivered: cur.delivered,
    deliveryPct: (100 * cur.delivered) / expected,
    deliveredPerSec: cur.delivered / spanS,
    latency: cur.lat.summary(),
    ack: { received: 0, pct: 0, latency: null, errors: 0, firstError: null },
    windowS: wallS, drainMs, sendLagMaxMs: lagMax,
    serverCpuPct: srvCpu === null ? null : (100 * srvCpu) / wallS,
    serverRssMB: pidsRssMB(SERVER_PIDS),
    serverRssMaxMB: rssMax,
    loadgenCpuPct: (100 * lgCpu) / wallS,
    otherCpuPct: allCpu === null ? null : Math.max(0, (100 * (allCpu - lgCpu - (srvCpu ?? 0))) / wallS),
    dups: cur.dups, echoes: 0, damErrors: 0, badFrames: cur.badFrames, closedSubs: closedSubs - closedBefore,
    ...(slowInfo ? { slow: slowInfo } : {}),
    ...(SERVER_PIDS.length > 1 ? { serverCpuPctEach: SERVER_PIDS.map((_, k) => { const a = w0.each[k], b = w1.each[k]; return a === null || b === null ? null : (100 * (b - a)) / wallS; }) } : {}),
    ...(PORTS.length > 1 ? { byNode: byNode(measN) } : {}),
  };
}

/** What the members of each node got in this step (cluster scenario). */
function byNode(measN: number): NodeShare[] {
  return PORTS.map((port, k) => {
    const n = members.filter((m) => m.node === k).length;
    return { port, members: n, delivered: cur.deliveredBy[k], deliveryPct: n ? (100 * cur.deliveredBy[k]) / (measN * n) : 0, latency: cur.latBy[k].summary() };
  });
}

// ---- closed-loop request/reply (or ping-pong against an echo server) ----

async function runReqRep(warmupS: number, measureS: number): Promise<object> {
  if (!reqSock) throw new Error('start with --reqrep');
  const lat = new Samples();
  let n = 0, errors = 0, measuring = false, stop = false;
  let sentAt = 0n;
  let w0 = { cpu: process.cpuUsage(), srv: pidsCpuSeconds(SERVER_PIDS), t: process.hrtime.bigint() };
  const send = () => {
    n++;
    sentAt = process.hrtime.bigint();
    reqSock!.send(PROTO === 'native' ? `{"type":"request","id":${n},"data":"ping","timeout":5000}` : `{"n":${n}}`);
  };
  await new Promise<void>((resolve) => {
    onReply = (d, s, e) => {
      if (PROTO === 'native') {
        const f = d.subarray(s, e);
        if (f.indexOf('"type":"reply"') < 0) return; // connect, join, ... frames
        if (f.indexOf('"error"') >= 0) errors++;
      }
      const now = process.hrtime.bigint();
      if (measuring) lat.push(Number(now - sentAt) / 1e6);
      if (stop) return resolve();
      send();
    };
    send();
    setTimeout(() => { measuring = true; w0 = { cpu: process.cpuUsage(), srv: pidsCpuSeconds(SERVER_PIDS), t: process.hrtime.bigint() }; }, warmupS * 1000);
    setTimeout(() => { stop = true; }, (warmupS + measureS) * 1000);
    setTimeout(() => resolve(), (warmupS + measureS) * 1000 + 5000); // a lost reply must not hang the run
  });
  onReply = null;
  const wallS = Number(process.hrtime.bigint() - w0.t) / 1e9;
  const c = process.cpuUsage(w0.cpu);
  const srv = pidsCpuSeconds(SERVER_PIDS);
  return {
    type: 'reqrep', roundTrips: lat.n, perSec: lat.n / wallS, latency: lat.summary(), errors,
    loadgenCpuPct: (100 * (c.user + c.system)) / 1e6 / wallS,
    serverCpuPct: srv !== null && w0.srv !== null ? (100 * (srv - w0.srv)) / wallS : null,
    serverRssMB: pidsRssMB(SERVER_PIDS),
  };
}

// ---- idle connections and empty rooms ----

const idle: RawWs[] = [];
async function connectIdle(n: number, rooms: number): Promise<object> {
  const t = Date.now();
  const base = idle.length;
  const r = await batched(n, (k) => connectWs(null, `${PREFIX}-idle-${(base + k) % rooms}`, PROTO, () => {}));
  idle.push(...r.ok);
  return { type: 'idle', connected: r.ok.length, failed: r.failed, firstError: r.firstError, ms: Date.now() - t, total: idle.length };
}
async function closeIdle(): Promise<object> {
  for (const ws of idle) ws.close();
  const n = idle.length;
  idle.length = 0;
  await sleep(500);
  return { type: 'idle-closed', closed: n };
}
async function churnRooms(n: number, oneRoom: boolean): Promise<object> {
  // Connect to n distinct rooms and leave at once: each leaves an empty room behind (until its TTL).
  // oneRoom: the same n connect/leave cycles into a single room, the control that has the churn
  // but (almost) no rooms.
  const t = Date.now();
  const r = await batched(n, async (k) => { const ws = await connectWs(null, oneRoom ? `${PREFIX}-one` : `${PREFIX}-empty-${k}`, PROTO, () => {}); ws.close(); });
  await sleep(500);
  return { type: 'churn', rooms: r.ok.length, failed: r.failed, firstError: r.firstError, ms: Date.now() - t };
}

function quit(code: number): void {
  for (const m of members) { m.ws?.close(); m.sock?.destroy(); }
  for (const p of pubs) p.close();
  for (const ws of idle) ws.close();
  slowM?.ws?.socket.destroy();
  reqSock?.close();
  setTimeout(() => process.exit(code), 100);
}

async function main(): Promise<void> {
  if (!PORT) throw new Error('usage: loadgen-native.ts --port P --proto native|sse|ws|sio|gun [--rooms R --members M] [--slow] [--reqrep]');
  await connectAll();
  out({ type: 'ready', members: TOTAL, rooms: ROOMS });
  let chain = Promise.resolve();
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    chain = chain.then(async () => {
      const c = JSON.parse(line) as { cmd: string; label?: string; rate: number; warmup: number; measure: number; drain: number; slow?: boolean; n: number; rooms: number; oneRoom?: boolean };
      if (c.cmd === 'quit') return quit(0);
      if (c.cmd === 'step') out(await runStep(c.label ?? String(c.rate), c.rate, c.warmup, c.measure, c.drain, !!c.slow));
      else if (c.cmd === 'reqrep') out(await runReqRep(c.warmup, c.measure));
      else if (c.cmd === 'idle') out(await connectIdle(c.n, c.rooms));
      else if (c.cmd === 'close-idle') out(await closeIdle());
      else if (c.cmd === 'churn') out(await churnRooms(c.n, c.oneRoom === true));
      else throw new Error(`unknown command ${c.cmd}`);
    }).catch((err: Error) => { out({ type: 'error', message: err.message }); quit(1); });
  });
  rl.on('close', () => { chain = chain.then(() => quit(0)); });
}

main().catch((err: Error) => { out({ type: 'error', message: err.message }); quit(1); });
