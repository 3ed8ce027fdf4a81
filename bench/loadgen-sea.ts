// Signed-put load generator (scenario gun-sea): one open-loop publisher of puts into a SEA user
// space `~<pub>` (--signed) or, with the same bytes, into an ordinary soul (--unsigned), and a few
// GUN-wire subscribers that time every delivery. Every frame of a step is built (and signed, with
// node:crypto) before the step starts, so signing costs the measured window nothing.
// Same stdin/stdout protocol as loadgen.ts: {"cmd":"step",rate,warmup,measure,drain,label} →
// one {"type":"step",…} line; {"cmd":"quit"}; EOF quits.
// Cluster scenario: --sub-port puts the subscribers on another node than the publisher (put on node
// A, delivery on node B), and --server-pid a,b,c sums the CPU and RSS of the nodes and the engine.
import { parseArgs } from 'node:util';
import { RawWs } from './rawws.js';
import { out, rid, serveSteps } from './loadgen-steps.js';
import { seaSignedValue, seaSigner } from './sea-sign.js';
import { Samples, machineBusySeconds, parsePids, pidsCpuSeconds, pidsRssMB, procCpuSeconds, type StepResult } from './stats.js';

const { values: argv } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    'sub-port': { type: 'string' }, // the subscribers' node (default: --port)
    path: { type: 'string', default: '/bench-sea' },
    subs: { type: 'string', default: '10' },
    signed: { type: 'boolean', default: false },
    'server-pid': { type: 'string' },
  },
});
const HOST = argv.host!;
const PORT = Number(argv.port);
const SUB_PORT = argv['sub-port'] ? Number(argv['sub-port']) : PORT;
const PATH = argv.path!;
const SUBS = Number(argv.subs);
const SIGNED = argv.signed!;
const SERVER_PIDS = parsePids(argv['server-pid']);
const signer = seaSigner();
// Signed: the user's own space. Unsigned: an ordinary soul of the same length ("u" for "~").
const SOUL = (SIGNED ? '~' : 'u') + signer.pub;


/** Per-step state; keys k<first+i>, measured window = indexes warmN..total-1. */
class Step {
  first = 0; warmN = 0; total = 0;
  sched = new Float64Array(0); // scheduled send time of put i (performance.now() ms)
  got: Uint8Array[] = []; // per subscriber, per put
  delivered = 0; dups = 0; damErrors = 0; badFrames = 0; lastDelivery = 0;
  lat = new Samples();
  ackPending = new Map<string, number>(); // put id -> its index
  acks = 0; ackErrors = 0; firstAckError = '';
  ackLat = new Samples();
}
let cur = new Step();
let closedSubs = 0;
const subs: RawWs[] = [];
let pub: RawWs;

/** Answers a GUN relay's greeting as a GUN peer does; counts DAM errors. */
function dam(ws: RawWs, text: string): void {
  let v: unknown;
  try { v = JSON.parse(text); } catch { cur.badFrames++; return; }
  for (const m of (Array.isArray(v) ? v : [v]) as Record<string, unknown>[]) {
    if (m?.dam === '?' && m['@'] === undefined) ws.send(JSON.stringify({ dam: '?', pid: rid(), '@': m['#'], '#': rid() }));
    if (m?.dam === '!') cur.damErrors++;
  }
}

// A delivery is `"k<digits>":"` in a frame (the value is a string either way); each is timed
// against its put's scheduled time, which this process knows. No JSON.parse per frame.
function onSub(sub: number, ws: RawWs, data: Buffer, start: number, end: number): void {
  const now = performance.now();
  const s = cur, got = s.got[sub];
  const before = s.delivered;
  for (let p = start; p < end - 3; p++) {
    if (data[p] !== 0x22) continue; // '"'
    const c = data[p + 1];
    if (c === 0x64 && data[p + 2] === 0x61 && data[p + 3] === 0x6d) return dam(ws, data.toString('utf8', start, end)); // "dam
    if (c !== 0x6b) continue; // 'k'
    let i = p + 2, n = 0;
    for (let d = data[i]; d >= 0x30 && d <= 0x39; d = data[++i]) n = n * 10 + (d - 0x30);
    if (i > p + 2 && data[i] === 0x22 && data[i + 1] === 0x3a && data[i + 2] === 0x22) {
      const idx = n - s.first;
      if (idx >= s.warmN && idx < s.total && got) {
        const j = idx - s.warmN;
        if (got[j]) s.dups++;
        else { got[j] = 1; s.delivered++; s.lat.push(now - s.sched[idx]); }
      }
    }
    p = i;
  }
  if (s.delivered !== before) s.lastDelivery = now;
}

function onPub(ws: RawWs, data: Buffer, start: number, end: number): void {
  const now = performance.now();
  let v: unknown;
  try { v = JSON.parse(data.toString('utf8', start, end)); } catch { cur.badFrames++; return; }
  for (const m of (Array.isArray(v) ? v : [v]) as Record<string, unknown>[]) {
    if (!m || typeof m !== 'object') continue;
    if (m.dam !== undefined) { if (m.dam === '?' && m['@'] === undefined) ws.send(JSON.stringify({ dam: '?', pid: rid(), '@': m['#'], '#': rid() })); continue; }
    const at = m['@'];
    if (typeof at !== 'string' || !(m.ok || m.err)) continue;
    const idx = cur.ackPending.get(at);
    if (idx === undefined) continue;
    cur.ackPending.delete(at);
    if (m.err) { cur.ackErrors++; cur.firstAckError ||= String(m.err); continue; }
    cur.acks++;
    cur.ackLat.push(now - cur.sched[idx]);
  }
}

let nextKey = 0;

/** Every frame of a step, built (and signed) up front. */
function buildFrames(first: number, total: number): { ids: string[]; frames: string[] } {
  const state = Date.now(); // in the past once sent: HAM takes each (new) key at once
  const ids: string[] = new Array(total), frames: string[] = new Array(total);
  const soulQ = JSON.stringify(SOUL);
  for (let i = 0; i < total; i++) {
    const key = `k${first + i}`;
    // The same value string either way; unsigned, nobody checks it.
    const value = seaSignedValue(signer, '~' + signer.pub, key, `v${first + i}`, state);
    ids[i] = rid();
    frames[i] = `{"#":"${ids[i]}","put":{${soulQ}:{"_":{"#":${soulQ},">":{"${key}":${state}}},"${key}":${JSON.stringify(value)}}}}`;
  }
  return { ids, frames };
}

async function runStep(label: string, rate: number, warmupS: number, measureS: number, drainS: number): Promise<StepResult> {
  const warmN = Math.round(rate * warmupS);
  const measN = Math.max(1, Math.round(rate * measureS));
  const total = warmN + measN;
  const first = nextKey;
  nextKey += total;
  const built = buildFrames(first, total);
  const s = new Step();
  s.first = first; s.warmN = warmN; s.total = total;
  s.sched = new Float64Array(total);
  s.got = subs.map(() => new Uint8Array(measN));
  cur = s;

  const intervalMs = 1000 / rate;
  const t0 = performance.now() + 5;
  let sent = 0, lagMax = 0;
  const mark = () => ({ p: performance.now(), cpu: process.cpuUsage(), srv: pidsCpuSeconds(SERVER_PIDS), each: SERVER_PIDS.map(procCpuSeconds), all: machineBusySeconds() });
  let w0 = mark(), w1 = w0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const due = Math.min(total, Math.floor((now - t0) / intervalMs) + 1);
      const batch: string[] = [];
      while (sent < due) {
        if (sent === warmN) w0 = mark();
        const at = t0 + sent * intervalMs;
        s.sched[sent] = at;
        if (sent >= warmN) s.ackPending.set(built.ids[sent], sent);
        lagMax = Math.max(lagMax, now - at);
        batch.push(built.frames[sent]);
        sent++;
      }
      if (batch.length) pub.send(batch);
      if (sent >= total) { w1 = mark(); resolve(); } else setTimeout(tick, 1);
    };
    setTimeout(tick, 5);
  });

  const expected = measN * SUBS;
  const drainStart = Date.now();
  while (Date.now() - drainStart < drainS * 1000) {
    if (s.delivered >= expected && (s.acks === 0 || s.acks + s.ackErrors >= measN)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const wallS = (w1.p - w0.p) / 1000 || measureS;
  const spanS = Math.max(wallS, (s.lastDelivery - w0.p) / 1000);
  const lgCpu = (w1.cpu.user - w0.cpu.user + w1.cpu.system - w0.cpu.system) / 1e6;
  const srvCpu = w0.srv !== null && w1.srv !== null ? w1.srv - w0.srv : null;
  const allCpu = w0.all !== null && w1.all !== null ? w1.all - w0.all : null;
  return {
    type: 'step', label, rate, subs: SUBS, puts: measN, expected,
    delivered: s.delivered, deliveryPct: (100 * s.delivered) / expected, deliveredPerSec: s.delivered / spanS,
    latency: s.lat.summary(),
    ack: { received: s.acks, pct: (100 * s.acks) / measN, latency: s.ackLat.summary(), errors: s.ackErrors, firstError: s.firstAckError || null },
    windowS: wallS, drainMs: Date.now() - drainStart, sendLagMaxMs: lagMax,
    serverCpuPct: srvCpu === null ? null : (100 * srvCpu) / wallS,
    serverRssMB: pidsRssMB(SERVER_PIDS),
    loadgenCpuPct: (100 * lgCpu) / wallS,
    otherCpuPct: allCpu === null ? null : Math.max(0, (100 * (allCpu - lgCpu - (srvCpu ?? 0))) / wallS),
    dups: s.dups, echoes: 0, damErrors: s.damErrors, badFrames: s.badFrames, closedSubs,
    ...(SERVER_PIDS.length > 1 ? { serverCpuPctEach: SERVER_PIDS.map((_, k) => { const a = w0.each[k], b = w1.each[k]; return a === null || b === null ? null : (100 * (b - a)) / wallS; }) } : {}),
  };
}

function quit(code: number): void {
  for (const ws of subs) ws.close();
  pub?.close();
  setTimeout(() => process.exit(code), 100);
}

async function main(): Promise<void> {
  if (!PORT || !(SUBS > 0)) throw new Error('usage: loadgen-sea.ts --port P [--sub-port P2] [--path /bench-sea] [--subs 10] [--signed] [--server-pid PID]');
  const common = { host: HOST, port: SUB_PORT, path: PATH, onClose: () => { closedSubs++; } };
  for (let i = 0; i < SUBS; i++) {
    const ws = await RawWs.connect({ ...common, onMessage: (w, d, st, e) => onSub(i, w, d, st, e) });
    ws.send(JSON.stringify({ '#': rid(), get: { '#': SOUL } }));
    subs.push(ws);
  }
  pub = await RawWs.connect({ host: HOST, port: PORT, path: PATH, onMessage: onPub, onClose: () => out({ type: 'error', message: 'publisher socket closed' }) });
  await new Promise((r) => setTimeout(r, 300));
  out({ type: 'ready', subs: SUBS, signed: SIGNED, soul: SOUL });
  serveSteps(runStep, quit);
}

main().catch((err: Error) => { out({ type: 'error', message: err.message }); quit(1); });
