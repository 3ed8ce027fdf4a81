// GUN-wire load generator: N subscribers + 1 open-loop publisher on raw sockets.
// Runs as its own process (pinned by bench/run.ts). Protocol with the orchestrator:
//   stdout: one JSON object per line ({"type":"ready"}, {"type":"step",...}, {"type":"error",...})
//   stdin:  one command per line ({"cmd":"step","rate":..,"warmup":..,"measure":..,"drain":..,"label":..}
//           or {"cmd":"quit"}); EOF on stdin also quits, so an orphaned generator never lingers.
// With --c-bin <path> the subscribers are bench/c/gun-recv.c (one epoll process, spawned here and
// so pinned to the same core); only the publisher stays in Node. It is driven over its own
// stdin/stdout lines: step <base> <size> -> ok, count -> count <n>, report -> JSON, quit.
import { parseArgs } from 'node:util';
import { RawWs } from './rawws.js';
import { CReceiver } from './c-receiver.js';
import { out, rid, serveSteps } from './loadgen-steps.js';
import { Samples, machineBusySeconds, procCpuSeconds, procRssMB, type StepResult } from './stats.js';

const { values: argv } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    path: { type: 'string', default: '/bench' },
    subs: { type: 'string', default: '100' },
    sample: { type: 'string', default: '10' },
    'server-pid': { type: 'string' },
    soul: { type: 'string', default: 'bench' },
    'full-parse': { type: 'boolean', default: false },
    'c-bin': { type: 'string' }, // C receiver (bench/c/gun-recv.c) instead of Node subscribers
  },
});
const HOST = argv.host!;
const PORT = Number(argv.port);
const PATH = argv.path!;
const SUBS = Number(argv.subs);
const SAMPLE = Math.min(SUBS, Number(argv.sample));
const SERVER_PID = argv['server-pid'] ? Number(argv['server-pid']) : null;
const SOUL = argv.soul!;
const FULL_PARSE = argv['full-parse']!;
const C_BIN = argv['c-bin'] ?? null;


type Msg = Record<string, unknown>;
interface Sub { ws: RawWs; sampled: boolean; got: Uint8Array }

/** Per-step counters. Keys k<n> with base <= n < base+size are the measured window. */
class Step {
  base = 0;
  size = 0;
  delivered = 0;
  dups = 0;
  echoes = 0;
  damErrors = 0;
  badFrames = 0;
  acks = 0;
  ackErrors = 0; // replies to our puts that carry "err" (e.g. a full room)
  firstAckError = '';
  lastDelivery = 0; // performance.now() of the last measured delivery
  lat = new Samples();
  ackLat = new Samples();
  ackPending = new Map<string, bigint>(); // put id -> scheduled send time
}
let cur = new Step();
let closedSubs = 0;
const subs: Sub[] = [];
let pub: RawWs;

let crecv: CReceiver | null = null;

/** Parses one WebSocket message: a JSON object or a JSON array batch; anything else is ignored like GUN does. */
function parse(data: Buffer, start: number, end: number): Msg[] | null {
  const c = data[start];
  if (c !== 0x7b && c !== 0x5b) { cur.badFrames++; return null; } // '{' or '['
  try {
    const v: unknown = JSON.parse(data.toString('utf8', start, end));
    return Array.isArray(v) ? (v as Msg[]) : [v as Msg];
  } catch {
    cur.badFrames++;
    return null;
  }
}

/** Handles mesh control messages; returns true if the message was one. */
function dam(ws: RawWs, m: Msg): boolean {
  if (m.dam === undefined) return false;
  // Answer the relay's greeting like a real GUN peer does (with our own random pid).
  if (m.dam === '?' && m['@'] === undefined) ws.send(JSON.stringify({ dam: '?', pid: rid(), '@': m['#'], '#': rid() }));
  if (m.dam === '!') cur.damErrors++;
  return true;
}

function onSubMessage(sub: Sub, ws: RawWs, data: Buffer, start: number, end: number): void {
  const msgs = parse(data, start, end);
  if (!msgs) return;
  const now = sub.sampled ? process.hrtime.bigint() : 0n; // one clock read per frame, only where needed
  const before = cur.delivered;
  for (const m of msgs) {
    if (!m || typeof m !== 'object' || dam(ws, m)) continue;
    const node = (m.put as Record<string, Msg> | undefined)?.[SOUL];
    if (!node || typeof node !== 'object') continue;
    for (const k in node) {
      if (k.charCodeAt(0) !== 107 /* 'k' */) continue; // skips "_" (metadata)
      const i = Number(k.slice(1)) - cur.base;
      if (!(i >= 0 && i < cur.size)) continue; // warm-up or an earlier step
      if (sub.got[i]) { cur.dups++; continue; }
      sub.got[i] = 1;
      cur.delivered++;
      if (sub.sampled) cur.lat.push(Number(now - BigInt(node[k] as string)) / 1e6);
    }
  }
  if (cur.delivered !== before) cur.lastDelivery = performance.now();
}

// Cheap path for the non-sampled subscribers: JSON.parse of every frame was over half of the
// generator's CPU and made it the bottleneck. The value of key k<n> is always a string, so
// `"k<digits>":"` finds exactly the delivered values; frames with "dam" still get a full parse
// (the greeting needs an answer). Sampled sockets always parse fully, which also checks the JSON.
function scanSubMessage(sub: Sub, ws: RawWs, data: Buffer, start: number, end: number): void {
  const base = cur.base, size = cur.size, got = sub.got, before = cur.delivered;
  // A plain byte loop: Buffer#indexOf costs a native call each time, which dominated for small frames.
  for (let p = start; p < end - 3; p++) {
    if (data[p] !== 0x22) continue; // '"'
    const c = data[p + 1];
    if (c === 0x64 && data[p + 2] === 0x61 && data[p + 3] === 0x6d) return onSubMessage(sub, ws, data, start, end); // "dam
    if (c !== 0x6b) continue; // 'k'
    let i = p + 2, n = 0;
    for (let d = data[i]; d >= 0x30 && d <= 0x39; d = data[++i]) n = n * 10 + (d - 0x30);
    if (i > p + 2 && data[i] === 0x22 && data[i + 1] === 0x3a && data[i + 2] === 0x22) { // ":"
      const j = n - base;
      if (j >= 0 && j < size) {
        if (got[j]) cur.dups++;
        else { got[j] = 1; cur.delivered++; }
      }
    }
    p = i;
  }
  if (cur.delivered !== before) cur.lastDelivery = performance.now();
}

function onPubMessage(ws: RawWs, data: Buffer, start: number, end: number): void {
  const msgs = parse(data, start, end);
  if (!msgs) return;
  const now = process.hrtime.bigint();
  for (const m of msgs) {
    if (!m || typeof m !== 'object' || dam(ws, m)) continue;
    const at = m['@'];
    if (typeof at === 'string' && (m.ok || m.err)) {
      const t = cur.ackPending.get(at);
      if (t !== undefined) {
        cur.ackPending.delete(at);
        if (m.err) { cur.ackErrors++; cur.firstAckError ||= String(m.err); continue; }
        cur.acks++;
        cur.ackLat.push(Number(now - t) / 1e6);
      }
    }
    const node = (m.put as Record<string, Msg> | undefined)?.[SOUL];
    if (node && typeof node === 'object') {
      for (const k in node) {
        const i = Number(k.slice(1)) - cur.base;
        if (k.charCodeAt(0) === 107 && i >= 0 && i < cur.size) cur.echoes++;
      }
    }
  }
}

async function connectAll(): Promise<void> {
  const common = { host: HOST, port: PORT, path: PATH };
  const onClose = () => { closedSubs++; };
  if (C_BIN) {
    // The C receiver connects (in batches of 50), sends every get and answers the greetings itself.
    crecv = new CReceiver(C_BIN, [HOST, String(PORT), PATH, String(SUBS), SOUL], (err) => { out({ type: 'error', message: err.message }); quit(1); });
    await crecv.ready();
  }
  // Connect in batches so the server's accept backlog never overflows.
  for (let i = 0; C_BIN === null && i < SUBS; i += 50) {
    const batch: Promise<void>[] = [];
    for (let j = i; j < Math.min(SUBS, i + 50); j++) {
      const sub = { sampled: j < SAMPLE, got: new Uint8Array(0) } as Sub;
      subs.push(sub);
      batch.push(RawWs.connect({ ...common, onClose, onMessage: sub.sampled || FULL_PARSE
        ? (ws, d, s, e) => onSubMessage(sub, ws, d, s, e)
        : (ws, d, s, e) => scanSubMessage(sub, ws, d, s, e) })
        .then((ws) => { sub.ws = ws; ws.send(JSON.stringify({ '#': rid(), get: { '#': SOUL } })); }));
    }
    await Promise.all(batch);
  }
  pub = await RawWs.connect({ ...common, onMessage: onPubMessage, onClose: () => out({ type: 'error', message: 'publisher socket closed' }) });
  await new Promise((r) => setTimeout(r, 300)); // let the server register every subscription
}

let nextKey = 0; // keys are unique across the whole run

/** A step's result; receivers etc. are only in gun-fanout's (this generator's) steps. */
type GunStepResult = StepResult & {
  receivers: 'c' | 'node';
  receiverCpuPct: number | null; // the C receiver process alone (null with Node receivers)
  publisherCpuPct: number | null; // this Node process alone, i.e. the publisher (null with Node receivers)
  latencyMeanMs?: number;
};

async function runStep(label: string, rate: number, warmupS: number, measureS: number, drainS: number): Promise<GunStepResult> {
  const warmN = Math.round(rate * warmupS);
  const measN = Math.max(1, Math.round(rate * measureS));
  const total = warmN + measN;
  const first = nextKey;
  nextKey += total;
  cur = new Step();
  cur.base = first + warmN;
  cur.size = measN;
  for (const s of subs) s.got = new Uint8Array(measN);
  if (crecv) await crecv.step(cur.base, cur.size);
  const rcvPid = crecv?.pid ?? null;

  const interval = 1e9 / rate; // ns between scheduled puts
  const t0 = process.hrtime.bigint() + 5_000_000n;
  let sent = 0;
  let lagMax = 0;
  let w0 = { t: 0n, p: 0, cpu: process.cpuUsage(), srv: 0 as number | null, rcv: 0 as number | null, all: 0 as number | null };
  let w1 = w0;
  const mark = () => ({ t: process.hrtime.bigint(), p: performance.now(), cpu: process.cpuUsage(), srv: SERVER_PID ? procCpuSeconds(SERVER_PID) : null,
    rcv: rcvPid ? procCpuSeconds(rcvPid) : null, all: machineBusySeconds() });

  // Open loop: each timer tick sends every put whose scheduled time has passed, stamped with
  // that scheduled time, so a stalled server (or generator) shows up as latency, not as fewer sends.
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = process.hrtime.bigint();
      const due = Math.min(total, Math.floor(Number(now - t0) / interval) + 1);
      const frames: string[] = [];
      while (sent < due) {
        if (sent === warmN) w0 = mark();
        const sched = t0 + BigInt(Math.round(sent * interval));
        const key = `k${first + sent}`;
        const id = rid();
        if (sent >= warmN) cur.ackPending.set(id, sched);
        lagMax = Math.max(lagMax, Number(now - sched) / 1e6);
        frames.push(`{"#":"${id}","put":{"${SOUL}":{"_":{"#":"${SOUL}",">":{"${key}":${Date.now()}}},"${key}":"${sched}"}}}`);
        sent++;
      }
      if (frames.length) pub.send(frames);
      if (sent >= total) { w1 = mark(); resolve(); } else setTimeout(tick, 1);
    };
    setTimeout(tick, 5);
  });

  // Drain: wait (bounded) for stragglers; done early once everything (and every ack, if acks come) arrived.
  const expected = measN * SUBS;
  const drainStart = Date.now();
  while (Date.now() - drainStart < drainS * 1000) {
    const delivered = crecv ? await crecv.count() : cur.delivered;
    if (delivered >= expected && (cur.acks === 0 || cur.acks + cur.ackErrors >= measN)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const drainMs = Date.now() - drainStart;
  let latency = cur.lat.summary();
  let lastDeliveryNs: bigint | null = null; // C receiver: CLOCK_MONOTONIC, same base as w0.t
  let latencyMean: number | undefined;
  if (crecv) {
    const r = await crecv.report();
    cur.delivered = r.delivered; cur.dups = r.dups; cur.damErrors = r.damErrors; cur.badFrames = r.badFrames;
    closedSubs = r.closed;
    if (r.latency) { const { mean, ...l } = r.latency; latency = l; latencyMean = mean; } else latency = null;
    lastDeliveryNs = BigInt(r.lastDeliveryNs);
  }

  const wallS = Number(w1.t - w0.t) / 1e9 || measureS;
  // Throughput over the span from the first measured send to the last delivery, so stragglers
  // that arrive during the drain do not inflate it.
  const spanS = Math.max(wallS, lastDeliveryNs !== null ? Number(lastDeliveryNs - w0.t) / 1e9 : (cur.lastDelivery - w0.p) / 1000);
  const pubCpu = (w1.cpu.user - w0.cpu.user + w1.cpu.system - w0.cpu.system) / 1e6;
  const rcvCpu = w0.rcv !== null && w1.rcv !== null ? w1.rcv - w0.rcv : null;
  const lgCpu = pubCpu + (rcvCpu ?? 0); // both on the load generator's core
  const srvCpu = w0.srv !== null && w1.srv !== null ? w1.srv - w0.srv : null;
  const allCpu = w0.all !== null && w1.all !== null ? w1.all - w0.all : null;
  return {
    type: 'step', label, rate, subs: SUBS, puts: measN, expected,
    delivered: cur.delivered,
    deliveryPct: (100 * cur.delivered) / expected,
    deliveredPerSec: cur.delivered / spanS,
    latency,
    ...(latencyMean !== undefined ? { latencyMeanMs: latencyMean } : {}),
    ack: { received: cur.acks, pct: (100 * cur.acks) / measN, latency: cur.ackLat.summary(), errors: cur.ackErrors, firstError: cur.firstAckError || null },
    windowS: wallS,
    drainMs,
    sendLagMaxMs: lagMax,
    serverCpuPct: srvCpu === null ? null : (100 * srvCpu) / wallS,
    serverRssMB: SERVER_PID ? procRssMB(SERVER_PID) : null,
    loadgenCpuPct: (100 * lgCpu) / wallS,
    otherCpuPct: allCpu === null ? null : Math.max(0, (100 * (allCpu - lgCpu - (srvCpu ?? 0))) / wallS),
    dups: cur.dups, echoes: cur.echoes, damErrors: cur.damErrors, badFrames: cur.badFrames, closedSubs,
    receivers: crecv ? 'c' : 'node',
    receiverCpuPct: crecv ? (rcvCpu === null ? null : (100 * rcvCpu) / wallS) : null,
    publisherCpuPct: crecv ? (100 * pubCpu) / wallS : null,
  };
}

function quit(code: number): void {
  crecv?.quit();
  for (const s of subs) s.ws?.close();
  pub?.close();
  setTimeout(() => process.exit(code), 100);
}

// The C receiver never outlives this process: killed on every exit path (SIGTERM from the
// orchestrator's stop() included; with Node's default SIGTERM action no exit handler would run).
process.on('exit', () => crecv?.kill());
if (C_BIN) for (const [sig, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) process.on(sig, () => process.exit(code));

async function main(): Promise<void> {
  if (!PORT || !(SUBS > 0)) throw new Error('usage: loadgen.ts --port P [--path /bench] [--subs 100] [--sample 10] [--server-pid PID] [--c-bin gun-recv]');
  await connectAll();
  out({ type: 'ready', subs: SUBS, sample: C_BIN ? SUBS : SAMPLE, receivers: C_BIN ? 'c' : 'node' });
  serveSteps(runStep, quit);
}

main().catch((err: Error) => { out({ type: 'error', message: err.message }); quit(1); });
