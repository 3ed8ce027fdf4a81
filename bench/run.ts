// Benchmark orchestrator. Usage (see bench/README.md):
//   npm run bench                                   every scenario, full
//   npm run bench -- <scenario> [--quick | --smoke] [--target NAME]... [--no-save] [--server-arg=--flag=value]...
// Every server under test runs pinned to core 0, every load generator (raw node:net sockets) to
// core 1. Each scenario prints its step tables and a summary table with the ratio of ours to each
// peer measured in the same run; the run writes bench/results/<date>-<scenario|all>.json.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { StepResult } from './stats.js';
import {
  ROOT, TARGETS, type TargetName, Proc, canPin, int, mb, ms, pct, pin, pkgVersion, probeMemory, ratio, sleep,
  startLoadgen, startTarget, stopLoadgen, table, tmpDir, warnIfStale, ourNodeArgs, SERVER_CORE, freePort,
} from './lib.js';
import { liveNodes, onRedis, redisVersion, single, type Setup } from './cluster.js';

const SLO = { p99Ms: 50, deliveryPct: 99.9 };
const SCENARIOS = ['gun-fanout', 'gun-load', 'gun-sea', 'gun-chat', 'gun-souls', 'native-ws', 'native-sse', 'native-tcp', 'native-mixed', 'many-rooms', 'idle-memory', 'reqrep', 'inproc-reqrep', 'slow-consumer', 'cluster'] as const;
type Scenario = (typeof SCENARIOS)[number];

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    quick: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    target: { type: 'string', multiple: true },
    subs: { type: 'string' },
    'no-save': { type: 'boolean', default: false },
    'server-arg': { type: 'string', multiple: true }, // extra flags for our server, e.g. --server-arg=--max-messages-per-second=100000
    'server-node-arg': { type: 'string', multiple: true }, // node flags for our server, e.g. --server-node-arg=--cpu-prof
    receiver: { type: 'string' }, // gun-fanout subscribers: c (bench/c/gun-recv.c, the default when it compiles) or node
    scrape: { type: 'string' }, // ours: GET /_/metrics every this many ms during the ramp (the cost of metrics, issue 12)
    rates: { type: 'string' }, // native-ws, native-sse, native-tcp, native-mixed, many-rooms: these msgs/s steps instead of the ramp, e.g. --rates 5000
    measure: { type: 'string' }, // seconds measured per step instead of the mode's (a long step shows what grows over time)
  },
});
ourNodeArgs.push(...(opt['server-node-arg'] ?? []));
const mode: 'full' | 'quick' | 'smoke' = opt.smoke ? 'smoke' : opt.quick ? 'quick' : 'full';
if (positionals.includes('soak')) runSoak();
const scenarios: Scenario[] = positionals.length ? (positionals as Scenario[]) : opt.smoke ? ['gun-fanout'] : [...SCENARIOS];
for (const s of scenarios) if (!SCENARIOS.includes(s)) fail(`unknown scenario "${s}" (available: ${SCENARIOS.join(', ')})`);
for (const t of opt.target ?? []) if (!TARGETS.includes(t as TargetName)) fail(`unknown target "${t}" (${TARGETS.join('|')})`);
const serverArgs = opt['server-arg'] ?? [];
if (opt.receiver !== undefined && opt.receiver !== 'c' && opt.receiver !== 'node') fail(`--receiver must be c or node, not "${opt.receiver}"`);
const scrapeMs = opt.scrape === undefined ? 0 : Number(opt.scrape);
if (!(Number.isInteger(scrapeMs) && scrapeMs >= 0)) fail(`--scrape takes milliseconds, not "${opt.scrape}"`);

/** Timing of one open-loop step: warm-up (not counted), measured window, bounded drain. */
interface Timing { warmup: number; measure: number; drain: number }
const TIMING: Record<typeof mode, Timing> = { full: { warmup: 2, measure: 5, drain: 2 }, quick: { warmup: 1, measure: 2, drain: 1 }, smoke: { warmup: 0, measure: 1, drain: 1 } };
const GUN_TIMING: Record<typeof mode, Timing> = { ...TIMING, full: { warmup: 2, measure: 10, drain: 2 } };
if (opt.measure !== undefined) {
  const s = Number(opt.measure);
  if (!(s > 0)) fail(`--measure takes seconds, not "${opt.measure}"`);
  TIMING[mode] = { ...TIMING[mode], measure: s };
  GUN_TIMING[mode] = { ...GUN_TIMING[mode], measure: s };
}
const rateOverride = opt.rates?.split(',').map(Number);
if (rateOverride?.some((r) => !(r > 0))) fail(`--rates takes msgs/s separated by commas, not "${opt.rates}"`);

const targetsFor = (defaults: TargetName[]): TargetName[] => (opt.target?.length ? defaults.filter((t) => opt.target!.includes(t)) : defaults);

// ---- result shapes ----

interface RampResult {
  target: string;
  describe: string;
  proto?: string;
  ackStep: StepResult | null;
  lightStep: StepResult | null; // latency at light load, before the ramp (cluster)
  steps: StepResult[];
  capacity: { rate: number; deliveriesPerSec: number; step: StepResult } | null;
  lowerBound: string | null; // why capacity may be understated, if it may
  stopReason: string;
  serverWarnings: string[]; // server log lines at warn level or above (first 20)
  error?: string;
  cpuNames?: string[]; // several server processes: what serverCpuPctEach's entries are
  clusterView?: string; // GET /_/nodes once the members were in (ours on several nodes)
  scrapes?: ScrapeStats; // --scrape: what the scraper saw
}
interface ScrapeStats { everyMs: number; count: number; failed: number; maxMs: number; meanMs: number; bytes: number }

/**
 * --scrape: GET /_/metrics on every port every `everyMs`, as Prometheus would (one at a time per
 * port: a slow answer delays the next, it does not pile up). Runs in this orchestrator process.
 */
function startScraper(ports: string[], everyMs: number): { stop(): ScrapeStats } {
  const stats: ScrapeStats = { everyMs, count: 0, failed: 0, maxMs: 0, meanMs: 0, bytes: 0 };
  let total = 0;
  const busy = new Set<string>();
  const timer = setInterval(() => {
    for (const port of ports) {
      if (busy.has(port)) continue;
      busy.add(port);
      const t0 = performance.now();
      fetch(`http://127.0.0.1:${port}/_/metrics`, { signal: AbortSignal.timeout(10_000) }).then(async (res) => {
        const text = await res.text();
        if (res.status !== 200) throw new Error(String(res.status));
        const ms = performance.now() - t0;
        stats.count++;
        total += ms;
        stats.maxMs = Math.max(stats.maxMs, ms);
        stats.bytes = text.length;
      }).catch(() => { stats.failed++; }).finally(() => busy.delete(port));
    }
  }, everyMs);
  return { stop() { clearInterval(timer); stats.meanMs = stats.count ? total / stats.count : 0; return stats; } };
}
/** One row of a scenario's summary table. */
interface SummaryRow {
  target: string;
  value: number | null; // the scenario's headline figure for this target
  valueText: string;
  deliveredPerSec?: number | null;
  p50?: number | null; p99?: number | null; max?: number | null;
  srvCpu?: number | null; srvRssMB?: number | null; lgCpu?: number | null;
  lowerBound?: boolean;
  note?: string;
}
interface ScenarioResult {
  scenario: Scenario;
  title: string;
  headline: string; // what `value` means
  higherIsBetter: boolean;
  summary: SummaryRow[];
  details: unknown;
  text: string; // the printed detail tables
  ref?: string; // the summary row the others are compared with (default: the first of ours with a value)
}

// ---- open-loop ramps ----

const DISTURBED_PCT = 15; // other processes' CPU during a step above which it is marked as disturbed
const disturbed = (s: StepResult) => (s.otherCpuPct ?? 0) > DISTURBED_PCT;
const passes = (s: StepResult) => s.latency !== null && s.latency.p99 <= SLO.p99Ms && s.deliveryPct >= SLO.deliveryPct;

interface RampPlan {
  target: TargetName;
  loadgen: string; // script under bench/
  lgArgs: (port: string, pid: string) => string[]; // ports and pids comma-separated when several
  rates: number[];
  timing: Timing;
  ackRate?: number | null;
  proto?: string;
  serverArgs?: string[]; // for ours, before --server-arg ones
  perRate: string; // unit of a rate, for logs: "puts/s", "msgs/s"
  setup?: () => Promise<Setup>; // what serves the load (default: the target alone)
  label?: string; // the result's name (default: the target)
  lightRate?: number | null; // a step at this rate before the ramp: latency at light load
}

async function ramp(p: RampPlan): Promise<RampResult> {
  const name = p.label ?? p.target;
  const res: RampResult = { target: name, describe: '', proto: p.proto, ackStep: null, lightStep: null, steps: [], capacity: null, lowerBound: null, stopReason: '', serverWarnings: [] };
  let server: Setup | null = null, lg: Proc | null = null, scraper: { stop(): ScrapeStats } | null = null;
  try {
    server = p.setup ? await p.setup() : await single(p.target, p.target === 'ours' ? [...(p.serverArgs ?? []), ...serverArgs] : []);
    res.describe = server.describe;
    if (server.pids.length > 1) res.cpuNames = server.names;
    lg = startLoadgen(p.loadgen, p.lgArgs(server.ports.join(','), server.pids.join(',')));
    const ready = await lg.waitJson((o) => o.type === 'ready' || o.type === 'error', 120_000);
    if (ready.type === 'error') throw new Error(`load generator: ${String(ready.message)}`);
    console.error(`[${name}] connected to :${server.ports.join(', :')}: ${JSON.stringify(ready)}`);
    if (p.target === 'ours' && server.ports.length > 1) {
      res.clusterView = await liveNodes(server.ports[0], Number(ready.members) + Number(ready.rooms ?? 1)); // + the publishers
      console.error(`[${name}] ${res.clusterView}`);
    }
    if (scrapeMs > 0 && p.target === 'ours') {
      scraper = startScraper(server.ports.map(String), scrapeMs);
      res.describe += `; GET /_/metrics every ${scrapeMs} ms`;
    }
    const { warmup, measure, drain } = p.timing;
    const step = async (label: string, rate: number): Promise<StepResult> => {
      const r = (await lg!.ask({ cmd: 'step', label, rate, warmup, measure, drain }, ['step'], (warmup + measure + drain) * 1000 + 30_000)) as unknown as StepResult;
      console.error(`[${name}] ${label}: ${fmtStep(r)}${r.byNode ? `; ${fmtNodes(r)}` : ''}`);
      return r;
    };
    if (p.ackRate) res.ackStep = await step(`ack@${p.ackRate}`, p.ackRate);
    if (p.lightRate) res.lightStep = await step(`light@${p.lightRate}`, p.lightRate);
    res.stopReason = 'all rates passed';
    for (const rate of p.rates) {
      let r = await step(String(rate), rate);
      // Retry a failing step: once, because on this shared VM a short window sometimes catches a
      // single unrelated 50+ ms stall; up to 3 times while other processes were busy during it.
      // A smoke run checks that the harness works, not speed: no retries (they only made a busy
      // CI machine run past the smoke test's time limit).
      for (let tries = 1; mode !== 'smoke' && !passes(r) && server.alive() && (tries < 2 || (tries < 4 && disturbed(r))); tries++) {
        res.steps.push(r);
        r = await step(`${rate} retry`, rate);
      }
      res.steps.push(r);
      if (!server.alive()) { res.stopReason = 'server exited'; break; }
      if (!passes(r)) { res.stopReason = r.deliveryPct < SLO.deliveryPct ? `delivery ${r.deliveryPct.toFixed(2)}% < ${SLO.deliveryPct}% at ${rate} ${p.perRate}` : `p99 ${ms(r.latency?.p99)} ms > ${SLO.p99Ms} ms at ${rate} ${p.perRate}`; break; }
    }
  } catch (err) {
    res.error = (err as Error).message;
    res.stopReason = 'error';
    console.error(`[${name}] error: ${res.error}`);
  } finally {
    if (scraper) {
      res.scrapes = scraper.stop();
      const sc = res.scrapes;
      console.error(`[${name}] scrapes: ${sc.count} (${sc.failed} failed), mean ${sc.meanMs.toFixed(1)} ms, max ${sc.maxMs.toFixed(1)} ms, ${sc.bytes} bytes`);
    }
    await stopLoadgen(lg);
    if (server) res.serverWarnings = server.warnings().slice(0, 20);
    await server?.stop();
  }
  // Capacity: the highest rate that passed; stepping stops at the first rate that failed twice.
  for (const s of res.steps) if (passes(s)) res.capacity = { rate: s.rate, deliveriesPerSec: s.rate * s.subs, step: s };
  const reasons: string[] = [];
  const hot = res.steps.filter((s) => s.loadgenCpuPct > 90 && s.rate <= (res.capacity?.rate ?? 0) * 2);
  if (hot.length) reasons.push(`load generator CPU > 90% at ${[...new Set(hot.map((s) => s.rate))].join(', ')} ${p.perRate}`);
  if (res.stopReason === 'all rates passed') reasons.push('highest rate tried still passed');
  res.lowerBound = reasons.length ? reasons.join('; ') : null;
  return res;
}

/** Per node (cluster): what the members on each node got. */
const fmtNodes = (s: StepResult) => (s.byNode ?? []).map((n, k) =>
  `node ${'ABCDEFGH'[k]} (${n.members} members) ${n.deliveryPct.toFixed(3)}% p50 ${ms(n.latency?.p50)} p99 ${ms(n.latency?.p99)} ms`).join(', ');

const fmtStep = (s: StepResult) =>
  `${int(s.deliveredPerSec)} deliv/s, ${s.deliveryPct.toFixed(3)}%, p50 ${ms(s.latency?.p50)} p99 ${ms(s.latency?.p99)} max ${ms(s.latency?.max)} ms, ` +
  `ack p99 ${ms(s.ack.latency?.p99)}, server ${pct(s.serverCpuPct)} ${mb(s.serverRssMB)}, loadgen ${pct(s.loadgenCpuPct)}, other ${pct(s.otherCpuPct)} (send lag max ${ms(s.sendLagMaxMs)} ms)`;

function rampText(r: RampResult, unit: string, who: string, acks: boolean): string {
  const out: string[] = [];
  out.push(`\n== ${r.target}${r.proto ? ` (${r.proto})` : ''}: ${r.describe}; ${who}; ${canPin ? 'server on CPU 0, load generator on CPU 1' : 'NOT pinned (no taskset)'}`);
  const head = ['step', unit, 'deliveries/s', 'delivered', 'p50 ms', 'p99 ms', 'max ms', ...(acks ? ['ack p50', 'ack p99', 'acked'] : []), 'srv CPU', 'srv RSS', 'lg CPU', 'other CPU'];
  const rows = [head];
  const all = [...(r.ackStep ? [r.ackStep] : []), ...(r.lightStep ? [r.lightStep] : []), ...r.steps];
  for (const s of all) {
    rows.push([s.label + (disturbed(s) ? ' *' : ''), int(s.rate), int(s.deliveredPerSec), `${s.deliveryPct.toFixed(3)}%`, ms(s.latency?.p50), ms(s.latency?.p99), ms(s.latency?.max),
      ...(acks ? [ms(s.ack.latency?.p50), ms(s.ack.latency?.p99), s.ack.received ? `${s.ack.pct.toFixed(1)}%` : 'none'] : []),
      pct(s.serverCpuPct), mb(s.serverRssMB), pct(s.loadgenCpuPct), pct(s.otherCpuPct)]);
  }
  if (rows.length > 1) out.push(table(rows));
  if (all.some((s) => disturbed(s))) out.push(`* other processes used > ${DISTURBED_PCT}% CPU during this step: treat it as noise`);
  if (r.clusterView) out.push(`cluster: ${r.clusterView}`);
  if (r.scrapes) out.push(`scraper: GET /_/metrics every ${r.scrapes.everyMs} ms: ${r.scrapes.count} answered (${r.scrapes.failed} failed), mean ${r.scrapes.meanMs.toFixed(1)} ms, max ${r.scrapes.maxMs.toFixed(1)} ms, ${int(r.scrapes.bytes)} bytes`);
  if (all.some((s) => s.byNode)) out.push(`members by node (publisher on node A):\n${all.filter((s) => s.byNode).map((s) => `  ${s.label}: ${fmtNodes(s)}`).join('\n')}`);
  if (r.cpuNames && all.some((s) => s.serverCpuPctEach)) {
    out.push(`srv CPU split (${r.cpuNames.join(' / ')}): ${all.filter((s) => s.serverCpuPctEach).map((s) => `${s.label} ${s.serverCpuPctEach!.map(pct).join('/')}`).join(', ')}`);
  }
  const subs = r.steps[0]?.subs ?? 0;
  out.push(`capacity: ${r.capacity ? `${r.lowerBound ? '>= ' : ''}${int(r.capacity.deliveriesPerSec)} deliveries/s (${int(r.capacity.rate)} ${unit} x ${subs})` : 'none (first step failed)'}` +
    `; stopped: ${r.stopReason}${r.lowerBound ? `\n  lower bound: ${r.lowerBound}` : ''}`);
  for (const s of [...(r.ackStep ? [r.ackStep] : []), ...r.steps].filter((x) => x.dups || x.echoes || x.damErrors || x.badFrames || x.closedSubs || x.ack.errors)) {
    out.push(`  anomalies at ${s.label}: dups ${s.dups}, echoes to publisher ${s.echoes}, dam errors ${s.damErrors}, bad frames ${s.badFrames}, ` +
      `closed subscribers ${s.closedSubs}, put errors ${s.ack.errors}${s.ack.firstError ? ` ("${s.ack.firstError}")` : ''}`);
  }
  if (r.serverWarnings.length) out.push(`  server warnings (first ${r.serverWarnings.length}):\n    ${r.serverWarnings.join('\n    ')}`);
  if (r.error) out.push(`  ERROR: ${r.error.split('\n')[0]}`);
  return out.join('\n');
}

function rampRow(r: RampResult, label = r.target): SummaryRow {
  const s = r.capacity?.step;
  return {
    target: label, value: r.capacity?.deliveriesPerSec ?? null,
    valueText: r.capacity ? int(r.capacity.deliveriesPerSec) + (r.lowerBound ? '+' : '') : r.error ? 'error' : 'none',
    deliveredPerSec: s?.deliveredPerSec ?? null, p50: s?.latency?.p50, p99: s?.latency?.p99, max: s?.latency?.max,
    srvCpu: s?.serverCpuPct, srvRssMB: s?.serverRssMB, lgCpu: s?.loadgenCpuPct, lowerBound: !!r.lowerBound,
    note: r.capacity ? `${int(r.capacity.rate)}/s; stop: ${r.stopReason}` : r.error ? r.error.split('\n')[0] : r.stopReason,
  };
}

// ---- scenarios ----

const gunRates = (): number[] => (mode === 'smoke' ? [300] : [500, 1000, 2000, 4000, 8000, 16000, 32000, 48000, 64000, 96000, 128000]);
const fanRates = (): number[] => (mode === 'smoke' ? [50] : [50, 100, 200, 400, 800, 1600, 3200, 6400]);

// A full ramp writes up to ~4.8M distinct keys (~53 bytes each by our server's accounting) into
// one room: more than the default --max-room-bytes (64 MiB), which would turn the last steps into
// "room graph is full" errors. The cap is not what this scenario measures, so it is raised.
// The one writer also sends more than --max-messages-per-second (50,000 by default, per
// connection) at the top steps, where ours would throttle it (losslessly, by pausing its socket).
const GUN_FANOUT_ARGS = ['--max-room-bytes=1073741824', '--max-messages-per-second=1000000'];

/** gun-fanout's subscribers: bench/c/gun-recv.c compiled once into a temp dir (removed at exit),
 *  or the Node ones in loadgen.ts when asked (--receiver node) or when cc is missing or fails. */
function gunReceiver(): { bin: string | null; label: string } {
  if (opt.receiver === 'node') return { bin: null, label: 'Node (--receiver node)' };
  const src = path.join(ROOT, 'bench/c/gun-recv.c');
  const bin = path.join(tmpDir('multisocket-bench-recv-'), 'gun-recv');
  const cc = spawnSync('cc', ['-std=c11', '-O2', '-Wall', '-Wextra', '-o', bin, src], { encoding: 'utf8' });
  const firstErr = cc.stderr?.split('\n').find((l) => /error/i.test(l)) ?? cc.stderr?.split('\n')[0] ?? '';
  const why = cc.error ? `cc not runnable (${cc.error.message})` : cc.status !== 0 ? `cc failed (exit ${cc.status ?? cc.signal})${firstErr ? `: ${firstErr.trim()}` : ''}` : null;
  if (why) {
    const where = `cannot build the C receiver ${path.relative(ROOT, src)}: ${why}${cc.stderr?.trim() ? `\n${cc.stderr.trim()}` : ''}`;
    if (opt.receiver === 'c') fail(`--receiver c: ${where}`);
    console.error(`warning: ${where}\nwarning: gun-fanout falls back to Node subscribers (limit ~1.6M deliveries/s)`);
    return { bin: null, label: `Node (C receiver not built: ${why})` };
  }
  if (cc.stderr.trim()) console.error(`gun-recv.c compiler warnings:\n${cc.stderr}`);
  return { bin, label: 'C epoll' };
}

async function gunFanout(): Promise<ScenarioResult> {
  const subs = opt.subs ? Number(opt.subs) : mode === 'smoke' ? 10 : 100;
  const recv = gunReceiver();
  console.error(`gun-fanout receivers: ${recv.label}`);
  const results: RampResult[] = [];
  for (const t of targetsFor(mode === 'smoke' ? ['ours'] : ['ours', 'gun', 'ws-coalesced'])) {
    results.push(await ramp({
      target: t, loadgen: 'loadgen.ts', rates: gunRates(), timing: GUN_TIMING[mode], perRate: 'puts/s', serverArgs: GUN_FANOUT_ARGS,
      ackRate: mode === 'smoke' || t.startsWith('ws-') ? null : 1000, proto: 'GUN wire',
      lgArgs: (port, pid) => ['--port', String(port), '--path', t === 'gun' ? '/gun' : '/bench', '--subs', String(subs), '--sample', '10', '--server-pid', String(pid),
        ...(recv.bin ? ['--c-bin', recv.bin] : [])],
    }));
  }
  const who = `${subs} GUN-wire subscribers (${recv.bin ? 'C epoll receiver, every delivery timed' : 'Node, 10 sampled for latency'}), 1 publisher of distinct keys`;
  // lg CPU is the sum of both processes on the load generator's core; here is the split.
  const split = (r: RampResult) => [...(r.ackStep ? [r.ackStep] : []), ...r.steps].map((s) => {
    const g = s as StepResult & { receiverCpuPct?: number | null; publisherCpuPct?: number | null };
    return `${s.label} ${pct(g.receiverCpuPct)}/${pct(g.publisherCpuPct)}`;
  }).join(', ');
  const text = results.map((r) => rampText(r, 'puts/s', who, true) + (recv.bin && r.steps.length ? `\n  lg CPU split, C receiver/Node publisher: ${split(r)}` : '')).join('\n');
  return {
    scenario: 'gun-fanout', title: `(1)+(2) GUN wire fan-out: ${subs} peers in one room, one writer; put->ack at 1,000 puts/s; receivers: ${recv.label}`,
    headline: 'capacity, deliveries/s at p99 <= 50 ms and >= 99.9% delivered', higherIsBetter: true,
    summary: results.flatMap((r) => {
      const rows = [rampRow(r)];
      if (r.ackStep) rows.push({ target: `${r.target} ack@1000`, value: r.ackStep.ack.latency?.p99 ?? null, valueText: r.ackStep.ack.received ? `ack p99 ${ms(r.ackStep.ack.latency?.p99)} ms` : 'no acks',
        deliveredPerSec: r.ackStep.deliveredPerSec, p50: r.ackStep.latency?.p50, p99: r.ackStep.latency?.p99, max: r.ackStep.latency?.max, srvCpu: r.ackStep.serverCpuPct, srvRssMB: r.ackStep.serverRssMB, lgCpu: r.ackStep.loadgenCpuPct,
        note: `put->ack p50 ${ms(r.ackStep.ack.latency?.p50)} p99 ${ms(r.ackStep.ack.latency?.p99)} ms, acked ${r.ackStep.ack.pct.toFixed(1)}% (no ratio)` });
      return rows;
    }),
    details: results, text,
  };
}

// ---- gun-sea: signed puts ----

const seaRates = (): number[] => (mode === 'smoke' ? [200] : [250, 500, 1000, 2000, 4000, 6000, 8000, 12_000, 16_000, 24_000, 32_000, 48_000, 64_000]);

/** bench/sea-verify.ts on the server's core: µs per verification, cache warm and cold. */
function seaMicro(): Record<string, number> | null {
  const [cmd, ...args] = pin(SERVER_CORE, [process.execPath, '--import', 'tsx', path.join(ROOT, 'bench/sea-verify.ts'), '--json', '--n', mode === 'full' ? '3000' : '500']);
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8' });
  const line = r.stdout?.split('\n').find((l) => l.startsWith('{"type":"sea-verify"'));
  if (!line) { console.error(`sea-verify failed: ${r.stderr || r.error?.message}`); return null; }
  return JSON.parse(line) as Record<string, number>;
}

async function gunSea(): Promise<ScenarioResult> {
  const subs = opt.subs ? Number(opt.subs) : mode === 'smoke' ? 2 : 10;
  const micro = mode === 'smoke' ? null : seaMicro();
  const results: RampResult[] = [];
  for (const t of targetsFor(mode === 'smoke' ? ['ours'] : ['ours', 'gun-sea'])) {
    for (const signed of mode === 'smoke' ? [true] : [true, false]) {
      results.push(await ramp({
        target: t, loadgen: 'loadgen-sea.ts', rates: seaRates(), timing: TIMING[mode], perRate: 'puts/s', serverArgs: GUN_FANOUT_ARGS,
        ackRate: mode === 'smoke' ? null : 1000, proto: signed ? 'signed' : 'unsigned',
        lgArgs: (port, pid) => ['--port', String(port), '--path', t === 'ours' ? '/bench-sea' : '/gun', '--subs', String(subs), '--server-pid', String(pid), ...(signed ? ['--signed'] : [])],
      }));
    }
  }
  const who = `${subs} GUN-wire subscribers (every delivery timed), 1 publisher; signed = SEA-signed puts into ~<pub>, unsigned = the same bytes into an ordinary soul`;
  const cap = (t: string, proto: string) => results.find((r) => r.target === t && r.proto === proto)?.capacity?.rate ?? null;
  const lines = [
    `  puts/s capacity: ours signed ${cap('ours', 'signed') ?? 'n/a'}, unsigned ${cap('ours', 'unsigned') ?? 'n/a'} (signed/unsigned ${ratio(cap('ours', 'signed'), cap('ours', 'unsigned'))}); ` +
      `GUN with SEA signed ${cap('gun-sea', 'signed') ?? 'n/a'}, unsigned ${cap('gun-sea', 'unsigned') ?? 'n/a'}; ours/GUN signed ${ratio(cap('ours', 'signed'), cap('gun-sea', 'signed'))}`,
  ];
  if (micro) {
    const us = (k: string) => (micro[k] < 1 ? `${(micro[k] * 1000).toFixed(0)} ns` : `${micro[k].toFixed(1)} µs`);
    lines.push(`  per verification (bench/sea-verify.ts, ${micro.n} calls, server core): signature ${us('verifyCachedKeyUs')} with the key cached, key import ${us('keyImportUs')}; ` +
      `checkSeaWrite of a signed field ${us('checkSignedPutWarmUs')} (cache warm) / ${us('checkSignedPutColdUs')} (cold), of a certified field ${us('checkCertifiedPutWarmUs')}, of an ordinary soul ${us('checkOrdinaryPutUs')}`);
  }
  return {
    scenario: 'gun-sea', title: `SEA-signed puts: ${who}`,
    headline: 'capacity, deliveries/s at p99 <= 50 ms and >= 99.9% delivered (puts/s = deliveries/s / subscribers)', higherIsBetter: true,
    summary: results.flatMap((r) => {
      const rows = [rampRow(r, `${r.target} (${r.proto})`)];
      if (r.ackStep) rows.push({ target: `${r.target} (${r.proto}) @1000`, value: null, valueText: r.ackStep.ack.received ? `ack p99 ${ms(r.ackStep.ack.latency?.p99)} ms` : 'no acks',
        deliveredPerSec: r.ackStep.deliveredPerSec, p50: r.ackStep.latency?.p50, p99: r.ackStep.latency?.p99, max: r.ackStep.latency?.max, srvCpu: r.ackStep.serverCpuPct, srvRssMB: r.ackStep.serverRssMB, lgCpu: r.ackStep.loadgenCpuPct,
        note: r.ackStep.ack.received ? `put->ack p50 ${ms(r.ackStep.ack.latency?.p50)} p99 ${ms(r.ackStep.ack.latency?.p99)} ms, acked ${r.ackStep.ack.pct.toFixed(1)}%` : 'GUN\'s relay sends no acks: delivery latency only' });
      return rows;
    }),
    details: { ramps: results, micro }, text: results.map((r) => rampText(r, 'puts/s', who, true)).join('\n') + '\n' + lines.join('\n'),
  };
}

// ---- gun-chat, gun-souls: GUN workloads as apps write them (issue 14 §2) ----

/** Per shape: rooms x peers, the rates, and what GUN's relay is asked to do. */
const GUN_APPS = {
  'gun-chat': { shape: 'chat', rooms: 1000, peers: 5, smokeRooms: 10, rates: [25, 50, 100, 250, 500, 1000, 2000, 4000, 8000, 16_000, 32_000] },
  'gun-souls': { shape: 'souls', rooms: 1, peers: 100, smokeRooms: 1, rates: [25, 50, 100, 250, 500, 1000, 2000, 4000, 8000, 16_000, 20_000, 24_000, 32_000, 48_000] },
} as const;

async function gunApps(scn: 'gun-chat' | 'gun-souls'): Promise<ScenarioResult> {
  const app = GUN_APPS[scn];
  const rooms = mode === 'smoke' ? app.smokeRooms : app.rooms;
  const peers = opt.subs ? Number(opt.subs) : mode === 'smoke' ? Math.min(app.peers, 10) : app.peers;
  const souls = 10_000;
  // gun-souls' 100 peers read more than a Node process can: the C peers of gun-fanout, in the mode
  // where they also write (bench/c/gun-recv.c "mode q"), unless --receiver node or cc is missing.
  const recv = scn === 'gun-souls' && rooms === 1 ? gunReceiver() : { bin: null, label: 'Node' };
  if (scn === 'gun-souls') console.error(`gun-souls peers: ${recv.label}`);
  const results: RampResult[] = [];
  for (const t of targetsFor(mode === 'smoke' ? ['ours'] : ['ours', 'gun'])) {
    results.push(await ramp({
      target: t, loadgen: 'loadgen-gunapps.ts', rates: mode === 'smoke' ? [100] : [...app.rates], timing: TIMING[mode], perRate: 'msgs/s', proto: app.shape,
      lgArgs: (port, pid) => ['--port', String(port), '--shape', app.shape, '--rooms', String(rooms), '--peers', String(peers), '--souls', String(souls), '--server-pid', String(pid),
        ...(t === 'gun' ? ['--shared-path', '/gun'] : ['--prefix', `/${scn}-`]), ...(recv.bin ? ['--c-bin', recv.bin] : [])],
    }));
  }
  const who = app.shape === 'chat'
    ? `${rooms} rooms x ${peers} GUN-wire peers, each message a \`.set()\` (link put into the room's list node + the new message node, two frames as gun 0.2020.1241 sends them), writers in turn, every delivery timed`
    : `${rooms > 1 ? `${rooms} rooms x ` : ''}${peers} GUN-wire peers in one room (${recv.bin ? 'C epoll peers' : 'Node peers'}), profile-like puts (3 fields) spread over ${int(souls)} souls, writers in turn, every delivery timed`;
  const foreign = (r: RampResult) => r.steps.filter((s) => (s as StepResult & { foreign?: number }).foreign).map((s) => `${s.label}: ${int((s as StepResult & { foreign: number }).foreign)}`).join(', ');
  const text = results.map((r) => rampText(r, 'msgs/s', who, false) + (foreign(r) ? `\n  messages that reached peers of other rooms (not counted): ${foreign(r)}` : '')).join('\n');
  return {
    scenario: scn,
    title: app.shape === 'chat' ? `GUN chat as apps write it: ${who}` : `GUN profiles over many souls: ${who}`,
    headline: `capacity, deliveries/s at p99 <= 50 ms and >= 99.9% delivered (msgs/s x ${peers - 1} other peers of the room)`, higherIsBetter: true,
    summary: results.map((r) => rampRow(r, `${r.target} (${r.proto})`)), details: results, text,
  };
}

async function nativeFanout(scn: 'native-ws' | 'native-sse' | 'native-tcp' | 'native-mixed' | 'many-rooms'): Promise<ScenarioResult> {
  const many = scn === 'many-rooms';
  const rooms = many ? (mode === 'smoke' ? 10 : 1000) : 1;
  const perRoom = many ? 10 : opt.subs ? Number(opt.subs) : mode === 'smoke' ? 20 : 1000;
  const defaults: TargetName[] = scn === 'native-sse' || scn === 'native-tcp' || scn === 'native-mixed' ? ['ours'] : mode === 'smoke' ? ['ours'] : many ? ['ours', 'ws-coalesced', 'socketio'] : ['ours', 'ws-coalesced', 'ws-naive', 'socketio'];
  const rates = rateOverride ?? (many ? (mode === "smoke" ? [500] : [2500, 5000, 7000, 8500, 10_000, 12_000, 14_000, 20_000, 40_000]) : fanRates());
  const results: RampResult[] = [];
  // TCP members: the server also listens on a TCP port for line streams (docs/protocol.md "TCP and IPC").
  const tcpPort = scn === 'native-tcp' || scn === 'native-mixed' ? await freePort() : 0;
  for (const t of targetsFor(defaults)) {
    const proto = t === 'ours' ? (scn === 'native-sse' ? 'sse' : scn === 'native-tcp' ? 'tcp' : scn === 'native-mixed' ? 'mixed' : 'native') : t === 'socketio' ? 'sio' : 'ws';
    results.push(await ramp({
      target: t, loadgen: 'loadgen-native.ts', rates, timing: TIMING[mode], perRate: 'msgs/s', proto,
      ...(tcpPort ? { serverArgs: ['--tcp-port', String(tcpPort)] } : {}),
      lgArgs: (port, pid) => ['--port', String(port), '--proto', proto, '--rooms', String(rooms), '--members', String(perRoom), '--sample', many ? '1000' : '50', '--server-pid', String(pid), ...(tcpPort ? ['--tcp-port', String(tcpPort)] : [])],
    }));
  }
  const kind = scn === 'native-sse' ? 'SSE' : scn === 'native-tcp' ? 'TCP (line)' : scn === 'native-mixed' ? 'mixed (WebSocket, SSE, TCP in turn)' : 'WebSocket';
  const who = `${rooms > 1 ? `${rooms} rooms x ${perRoom}` : perRoom} ${kind} members, ${rooms > 1 ? `${rooms} publishers (messages round-robin over rooms)` : '1 publisher'}`;
  return {
    scenario: scn,
    title: scn === 'native-ws' ? `(4) native WebSocket fan-out: ${who}` : scn === 'native-sse' ? `(5) SSE fan-out: ${who} (publisher on WebSocket)` : scn === 'native-tcp' ? `(5b) TCP fan-out: ${who} (publisher on WebSocket)` : scn === 'native-mixed' ? `(5c) one room, mixed transports: ${who} (publisher on WebSocket)` : `(6) many rooms: ${who}`,
    headline: 'capacity, deliveries/s at p99 <= 50 ms and >= 99.9% delivered', higherIsBetter: true,
    summary: results.map((r) => rampRow(r, `${r.target} (${r.proto})`)), details: results,
    text: results.map((r) => rampText(r, 'msgs/s', who, false)).join('\n'),
  };
}

// ---- cluster (issue 11): one room over two nodes on Redis, vs one node and Socket.IO + Redis ----

const CLUSTER = { lightRate: 20, gunRate: 100, gunSubs: 10, gunPath: '/bench-cluster-gun' };
const TWO_NODES = 'ours, 2 nodes + Redis';
const ONE_NODE = 'ours, 1 node';
const SIO_TWO = 'socketio, 2 processes + Redis';

/** GUN put on the first node -> delivery to GUN-wire peers on the last node, at a light rate. */
interface GunHop { label: string; describe: string; step: StepResult | null; error?: string; warnings: string[]; cpuNames: string[] }
async function gunHop(label: string, setup: () => Promise<Setup>): Promise<GunHop> {
  const res: GunHop = { label, describe: '', step: null, warnings: [], cpuNames: [] };
  let server: Setup | null = null, lg: Proc | null = null;
  const { warmup, measure, drain } = TIMING[mode];
  const rate = CLUSTER.gunRate;
  try {
    server = await setup();
    res.describe = server.describe;
    res.cpuNames = server.names;
    const [a, b] = [server.ports[0], server.ports[server.ports.length - 1]];
    lg = startLoadgen('loadgen-sea.ts', ['--port', String(a), '--sub-port', String(b), '--path', CLUSTER.gunPath, '--subs', String(CLUSTER.gunSubs), '--server-pid', server.pids.join(',')]);
    const ready = await lg.waitJson((o) => o.type === 'ready' || o.type === 'error', 60_000);
    if (ready.type === 'error') throw new Error(`load generator: ${String(ready.message)}`);
    res.step = (await lg.ask({ cmd: 'step', label: `light@${rate}`, rate, warmup, measure, drain }, ['step'], (warmup + measure + drain) * 1000 + 30_000)) as unknown as StepResult;
    console.error(`[${label}] GUN ${res.step.label}: ${fmtStep(res.step)}`);
  } catch (err) {
    res.error = (err as Error).message;
    console.error(`[${label}] GUN error: ${res.error}`);
  } finally {
    await stopLoadgen(lg);
    if (server) res.warnings = server.warnings().slice(0, 20);
    await server?.stop();
  }
  return res;
}

// native-ws's rates with 25 msgs/s first: Socket.IO on two processes and Redis, sharing one core,
// may not hold 50 (one process alone held 100 in the full run), and a capacity of "none" would
// leave the comparison with nothing but a bound.
const clusterRates = (): number[] => (mode === 'smoke' ? fanRates() : [25, ...fanRates()]);

async function cluster(): Promise<ScenarioResult> {
  const members = opt.subs ? Number(opt.subs) : mode === 'smoke' ? 20 : 1000;
  const light = mode === 'smoke' ? null : CLUSTER.lightRate;
  // A smoke run checks the native two-node plumbing only (engine, nodes, members on both, /_/nodes, the tables).
  const plans: { target: TargetName; label: string; setup: () => Promise<Setup> }[] = [
    { target: 'ours' as const, label: TWO_NODES, setup: () => onRedis('ours', 2, serverArgs) },
    ...(mode === 'smoke' ? [] : [
      { target: 'ours' as const, label: ONE_NODE, setup: () => single('ours', serverArgs) },
      { target: 'socketio' as const, label: SIO_TWO, setup: () => onRedis('socketio', 2, []) },
    ]),
  ].filter((x) => targetsFor(['ours', 'socketio']).includes(x.target));
  const ramps: RampResult[] = [];
  for (const x of plans) {
    const proto = x.target === 'socketio' ? 'sio' : 'native';
    ramps.push(await ramp({
      target: x.target, label: x.label, setup: x.setup, loadgen: 'loadgen-native.ts', rates: clusterRates(), timing: TIMING[mode], perRate: 'msgs/s', proto, lightRate: light,
      lgArgs: (port, pid) => ['--port', port, '--proto', proto, '--members', String(members), '--sample', '50', '--prefix', '/bench-cluster', '--server-pid', pid],
    }));
  }
  const hops: GunHop[] = [];
  if (targetsFor(['ours']).length && mode !== 'smoke') {
    hops.push(await gunHop(`${TWO_NODES} (GUN, put on A, peers on B)`, () => onRedis('ours', 2, serverArgs)));
    hops.push(await gunHop(`${ONE_NODE} (GUN)`, () => single('ours', serverArgs)));
  }

  const who = `${members} native members in one room (on two nodes: member k on node k mod 2; ${Math.min(50, members)} sampled, half on each), 1 publisher on node A`;
  const text = ramps.map((r) => rampText(r, 'msgs/s', who, false));
  const gunWho = `GUN wire: 1 writer on the first node, ${CLUSTER.gunSubs} peers that \`get\` the soul on the last node (every delivery timed); put->ack at the writer`;
  if (hops.length) text.push(`\n== GUN put -> delivery across nodes; ${gunWho}`);
  const gunRows = [['setup', 'puts/s', 'delivered', 'p50 ms', 'p99 ms', 'max ms', 'ack p50', 'ack p99', 'acked', 'srv CPU', 'lg CPU', 'other CPU']];
  for (const h of hops) {
    const st = h.step;
    gunRows.push([h.label, st ? int(st.rate) : '', st ? `${st.deliveryPct.toFixed(3)}%` : 'error', ms(st?.latency?.p50), ms(st?.latency?.p99), ms(st?.latency?.max),
      ms(st?.ack.latency?.p50), ms(st?.ack.latency?.p99), st ? `${st.ack.pct.toFixed(1)}%` : '', pct(st?.serverCpuPct), pct(st?.loadgenCpuPct), pct(st?.otherCpuPct)]);
  }
  if (hops.length) text.push(table(gunRows));
  for (const h of hops) {
    text.push(`  ${h.label}: ${h.describe}${h.error ? `\n  ERROR: ${h.error.split('\n')[0]}` : ''}`);
    if (h.step?.serverCpuPctEach) text.push(`  srv CPU split (${h.cpuNames.join(' / ')}): ${h.step.serverCpuPctEach.map(pct).join('/')}`);
    if (h.step && (h.step.dups || h.step.damErrors || h.step.badFrames || h.step.ack.errors)) text.push(`  anomalies: dups ${h.step.dups}, dam errors ${h.step.damErrors}, bad frames ${h.step.badFrames}, put errors ${h.step.ack.errors}${h.step.ack.firstError ? ` ("${h.step.ack.firstError}")` : ''}`);
    if (h.warnings.length) text.push(`  server warnings (first ${h.warnings.length}):\n    ${h.warnings.join('\n    ')}`);
  }

  const summary: SummaryRow[] = [];
  for (const r of ramps) {
    summary.push(rampRow(r, `${r.target} (${r.proto})`));
    const l = r.lightStep;
    if (l) {
      const b = l.byNode?.[1];
      summary.push({ target: `${r.target} light@${l.rate}`, value: null, valueText: `p50 ${ms(l.latency?.p50)} ms`, deliveredPerSec: l.deliveredPerSec, p50: l.latency?.p50, p99: l.latency?.p99, max: l.latency?.max,
        srvCpu: l.serverCpuPct, srvRssMB: l.serverRssMB, lgCpu: l.loadgenCpuPct,
        note: `delivered ${l.deliveryPct.toFixed(3)}%${b ? `; members on node B: ${b.deliveryPct.toFixed(3)}%, p50 ${ms(b.latency?.p50)} p99 ${ms(b.latency?.p99)} ms` : ''}` });
    }
  }
  for (const h of hops) {
    const st = h.step;
    summary.push({ target: h.label, value: null, valueText: st ? `p50 ${ms(st.latency?.p50)} ms` : 'error', deliveredPerSec: st?.deliveredPerSec ?? null, p50: st?.latency?.p50, p99: st?.latency?.p99, max: st?.latency?.max,
      srvCpu: st?.serverCpuPct, srvRssMB: st?.serverRssMB, lgCpu: st?.loadgenCpuPct,
      note: st ? `GUN put->delivery at ${st.rate} puts/s, delivered ${st.deliveryPct.toFixed(3)}%; put->ack p50 ${ms(st.ack.latency?.p50)} p99 ${ms(st.ack.latency?.p99)} ms` : (h.error ?? '').split('\n')[0] });
  }
  return {
    scenario: 'cluster',
    title: `(11) cluster: ${who}; vs one node alone and Socket.IO + @socket.io/redis-adapter on two processes; GUN put on node A -> peers on node B`,
    headline: 'capacity, deliveries/s at p99 <= 50 ms and >= 99.9% delivered (light@N rows and GUN rows: latency, no ratio)', higherIsBetter: true,
    summary, details: { ramps, gun: hops }, text: text.join('\n'), ref: `${TWO_NODES} (native)`,
  };
}

/** Issue 11's targets, from the cluster scenario. */
function clusterChecks(r: ScenarioResult): TargetCheck[] {
  const { ramps, gun } = r.details as { ramps: RampResult[]; gun: GunHop[] };
  const find = (label: string) => ramps.find((x) => x.target === label);
  const two = find(TWO_NODES), one = find(ONE_NODE), sio = find(SIO_TWO);
  const out: TargetCheck[] = [];
  // The hop: what members on node B wait more than the same members on one node, at light load.
  const hop = (what: string, bP50: number | null | undefined, bPct: number | null | undefined, oneP50: number | null | undefined, extra: string) => {
    if (bPct == null || oneP50 == null) { out.push({ n: '11', target: `${what}: cross-node hop adds < 1 ms at p50 (light load)`, measured: `n/a (${bPct == null ? 'no two-node light step' : 'no one-node light step'}${mode === 'smoke' ? ': smoke run' : ''})`, holds: null }); return; }
    if (bPct < SLO.deliveryPct || bP50 == null) { out.push({ n: '11', target: `${what}: cross-node hop adds < 1 ms at p50 (light load)`, measured: `peers on node B got ${bPct.toFixed(1)}% of what was published on node A: cross-node delivery not in this build`, holds: null }); return; }
    const d = bP50 - oneP50;
    out.push({ n: '11', target: `${what}: cross-node hop adds < 1 ms at p50 (light load)`, measured: `node B p50 ${ms(bP50)} ms vs one node ${ms(oneP50)} ms: ${d < 0 ? '-' : '+'}${ms(Math.abs(d))} ms${extra}`, holds: d < 1 });
  };
  const bTwo = two?.lightStep?.byNode?.[1];
  const aTwo = two?.lightStep?.byNode?.[0];
  hop(`native, ${CLUSTER.lightRate} msgs/s x ${two?.lightStep?.subs ?? 1000}`, bTwo?.latency?.p50, bTwo?.deliveryPct, one?.lightStep?.latency?.p50, aTwo ? ` (node A's own members: ${ms(aTwo.latency?.p50)} ms)` : '');
  const g2 = gun.find((h) => h.label.startsWith(TWO_NODES))?.step, g1 = gun.find((h) => h.label.startsWith(ONE_NODE))?.step;
  hop(`GUN, ${CLUSTER.gunRate} puts/s`, g2?.latency?.p50, g2?.deliveryPct, g1?.latency?.p50, '');
  const c2 = two?.capacity?.deliveriesPerSec ?? null, cs = sio?.capacity?.deliveriesPerSec ?? null;
  const eff = (x: RampResult | undefined) => { const st = x?.capacity?.step; return st?.serverCpuPct ? st.deliveredPerSec / (st.serverCpuPct / 100) : null; };
  const e2 = eff(two), es = eff(sio);
  // Socket.IO failing its first step: its capacity is below that step's deliveries/s, a bound.
  const sioBelow = sio && cs === null && sio.steps.length && !sio.error ? sio.steps[0].rate * sio.steps[0].subs : null;
  const sioText = cs !== null ? `${int(cs)}${sio!.lowerBound ? '+' : ''}/s` : sioBelow !== null ? `< ${int(sioBelow)}/s (failed its first step: ${sio!.stopReason})` : 'none';
  out.push({ n: '11', target: 'two-node fan-out >= 5x Socket.IO + Redis (same cores, same members)',
    measured: !two || !sio ? 'n/a (run both targets)' : c2 === null ? `ours on two nodes: no capacity (${two.stopReason}); Socket.IO + Redis ${sioText}` :
      `ours ${int(c2)}${two.lowerBound ? '+' : ''}/s vs Socket.IO + Redis ${sioText} = ${cs ? `${(c2 / cs).toFixed(2)}x` : sioBelow ? `> ${(c2 / sioBelow).toFixed(2)}x` : 'n/a'}; per server CPU-s ${e2 && es ? `${(e2 / es).toFixed(2)}x` : 'n/a'}` +
      (one?.capacity ? `; one node alone ${int(one.capacity.deliveriesPerSec)}${one.lowerBound ? '+' : ''}/s` : ''),
    holds: c2 === null ? null : cs !== null ? c2 / cs >= 5 : sioBelow !== null && c2 / sioBelow >= 5 ? true : null });
  return out;
}

async function gunLoad(): Promise<ScenarioResult> {
  const W = mode === 'smoke' ? 4 : 20, K = mode === 'smoke' ? 50 : 500, R = mode === 'smoke' ? 3 : 10;
  const rows: SummaryRow[] = [];
  const details: Record<string, unknown>[] = [];
  const lines: string[] = [];
  for (const t of targetsFor(['ours', 'gun'])) {
    let server: Proc | null = null, lg: Proc | null = null, cleanup: (() => void) | undefined;
    try {
      const st = await startTarget(t, { serverArgs: t === 'ours' ? serverArgs : [] });
      server = st.server; cleanup = st.spec.cleanup;
      lg = startLoadgen('loadgen-gunload.ts', ['--port', String(st.port), '--path', t === 'gun' ? '/gun' : '/bench-load', '--writers', String(W), '--keys', String(K), '--readers', String(R),
        '--timeout', mode === 'full' ? '30' : '10', '--server-pid', String(server.pid)]);
      const r = await lg.waitJson((o) => o.type === 'gunload' || o.type === 'error', 60_000) as Record<string, number | number[] | null | string>;
      if (r.type === 'error') throw new Error(String(r.message));
      details.push({ target: t, ...r });
      const ok = r.readersComplete === R && r.lateReaderKeys === W * K;
      console.error(`[${t}] gun-load: ${JSON.stringify(r)}`);
      rows.push({ target: t, value: r.convergedMs as number | null, valueText: r.convergedMs === null ? `not converged (min ${(r.minPct as number).toFixed(1)}%)` : `${ms(r.convergedMs as number)} ms`,
        deliveredPerSec: r.convergedMs ? ((W * K * R) / (r.convergedMs as number)) * 1000 : null, srvCpu: r.serverCpuPct as number, srvRssMB: r.serverRssMB as number, lgCpu: r.loadgenCpuPct as number,
        note: `${ok ? '100% at every reader' : `NOT all keys: readers ${(r.readerKeys as number[]).join('/')} of ${W * K}`}; late reader ${String(r.lateReaderKeys)}/${W * K}; acks ${String(r.acks)}, ack errors ${String(r.ackErrors)}, sent in ${ms(r.sentMs as number)} ms` });
      lines.push(`  ${t}: readers saw ${(r.readerKeys as number[]).join(', ')} of ${W * K} keys; converged ${r.convergedMs === null ? 'never (timeout)' : `in ${ms(r.convergedMs as number)} ms`}; late reader got ${String(r.lateReaderKeys)}; writers got ${String(r.acks)} acks, ${String(r.ackErrors)} errors; dam errors ${String(r.damErrors)}`);
    } catch (err) {
      rows.push({ target: t, value: null, valueText: 'error', note: (err as Error).message.split('\n')[0] });
      console.error(`[${t}] error: ${(err as Error).message}`);
    } finally {
      await stopLoadgen(lg);
      await server?.stop();
      cleanup?.();
    }
  }
  return {
    scenario: 'gun-load', title: `(3) GUN correctness under load: ${W} writers x ${K} keys into one soul, ${R} readers subscribed with get`,
    headline: 'time from the first put until every reader has every key (ms); delivered = key deliveries/s over that time', higherIsBetter: false,
    summary: rows, details, text: lines.join('\n'),
  };
}

async function idleMemory(): Promise<ScenarioResult> {
  const N = mode === 'full' ? 10_000 : mode === 'quick' ? 2000 : 200;
  const EMPTY = mode === 'full' ? 5000 : mode === 'quick' ? 1000 : 100;
  const plans: { target: TargetName; proto: string; rooms: number; label: string }[] = [
    { target: 'ours', proto: 'gun', rooms: 10, label: 'ours (GUN wire, 10 rooms)' },
    { target: 'ours', proto: 'native', rooms: Math.max(1, N / 10), label: `ours (native, ${Math.max(1, N / 10)} rooms x 10)` },
    // the same members in few big rooms: per-room cost apart from per-member cost (and every join
    // announced to up to N/10 - 1 others, so the join burst is far larger)
    { target: 'ours', proto: 'native', rooms: 10, label: `ours (native, 10 rooms x ${N / 10})` },
    { target: 'ws-coalesced', proto: 'ws', rooms: 10, label: 'ws-coalesced (bare ws)' },
    { target: 'gun', proto: 'gun', rooms: 1, label: 'gun' },
    { target: 'socketio', proto: 'sio', rooms: 10, label: 'socketio' },
  ];
  const rows: SummaryRow[] = [];
  const details: Record<string, unknown>[] = [];
  const lines: string[] = [];
  const churn: Record<'one' | 'many', { rss: number; heap: number } | undefined> = { one: undefined, many: undefined };
  const measure = async (target: TargetName, proto: string, what: 'idle' | 'churn' | 'churn-one', n: number, rooms: number, label: string) => {
    let server: Proc | null = null, lg: Proc | null = null, cleanup: (() => void) | undefined;
    try {
      const st = await startTarget(target, { probe: true, serverArgs: target === 'ours' ? serverArgs : [] });
      server = st.server; cleanup = st.spec.cleanup;
      lg = startLoadgen('loadgen-native.ts', ['--port', String(st.port), '--proto', proto, '--prefix', '/m', ...(target === 'gun' ? ['--gun-path', '/gun'] : []), '--server-pid', String(server.pid)]);
      await lg.waitJson((o) => o.type === 'ready', 30_000);
      await sleep(500);
      const m0 = await probeMemory(server);
      const cpu0 = process.cpuUsage();
      const r = what === 'idle'
        ? await lg.ask({ cmd: 'idle', n, rooms }, ['idle'], 180_000)
        : await lg.ask({ cmd: 'churn', n, oneRoom: what === 'churn-one' }, ['churn'], 180_000);
      void cpu0;
      await sleep(1000);
      const m1 = await probeMemory(server);
      const done = what === 'idle' ? (r.connected as number) : (r.rooms as number);
      let roomsSeen: number | null = null;
      if (target === 'ours') {
        try { roomsSeen = ((await (await fetch(`http://127.0.0.1:${st.port}/_/health`)).json()) as { rooms: number }).rooms; } catch { /* not fatal */ }
      }
      if (!done) throw new Error(`no ${what === 'idle' ? 'connection' : 'room'} succeeded: ${String(r.firstError)}`);
      const rssPer = (m1.rss - m0.rss) / done, heapPer = (m1.heapUsed - m0.heapUsed) / done;
      if (what !== 'idle') churn[what === 'churn' ? 'many' : 'one'] = { rss: rssPer, heap: heapPer };
      details.push({ label, target, proto, what, n, done, rooms, result: r, before: m0, after: m1, roomsSeen });
      const kb = (b: number) => `${(b / 1024).toFixed(2)} KB`;
      lines.push(`  ${label}: ${what === 'idle' ? `${done} idle connections` : what === 'churn' ? `${done} empty rooms` : `${done} connect/leave cycles`}${r.failed ? ` (${String(r.failed)} failed: ${String(r.firstError)})` : ''} in ${String(r.ms)} ms; ` +
        `RSS ${mb(m0.rss / 1048576)} -> ${mb(m1.rss / 1048576)} (${kb(rssPer)} each), heap after gc ${mb(m0.heapUsed / 1048576)} -> ${mb(m1.heapUsed / 1048576)} (${kb(heapPer)} each)${m1.gc ? '' : ' [no gc]'}` +
        `${roomsSeen !== null ? `; /_/health rooms ${roomsSeen}` : ''}`);
      console.error(lines[lines.length - 1]);
      rows.push({ target: `${label}${what === 'churn' ? ' per room, with churn' : what === 'churn-one' ? ' per cycle' : ' per connection'}`, value: rssPer / 1024, valueText: `${kb(rssPer)} RSS, ${kb(heapPer)} heap`, srvRssMB: m1.rss / 1048576,
        note: `${done} ${what === 'idle' ? 'connections' : what === 'churn' ? 'rooms' : 'cycles into one room'}${r.failed ? `, ${String(r.failed)} failed` : ''}` });
    } catch (err) {
      rows.push({ target: label, value: null, valueText: 'error', note: (err as Error).message.split('\n')[0] });
      console.error(`[${label}] error: ${(err as Error).message}`);
    } finally {
      await stopLoadgen(lg);
      await server?.stop();
      cleanup?.();
    }
  };
  const chosen = plans.filter((p) => targetsFor(mode === 'smoke' ? ['ours'] : TARGETS.filter((t) => t !== 'ws-naive' && t !== 'ws-echo')).includes(p.target));
  for (const p of chosen) await measure(p.target, p.proto, 'idle', N, p.rooms, p.label);
  if (chosen.some((p) => p.target === 'ours')) {
    // An empty room is measured by what it leaves behind: EMPTY peers that each connect to a room
    // of their own and leave. That also measures EMPTY connect/leave cycles (allocator and V8
    // young-generation growth that any server accepting that many connections shows), so the
    // same cycles into one single room, on a fresh server, are the control; the room's own cost
    // is the difference.
    await measure('ours', 'gun', 'churn', EMPTY, 0, 'ours (connect + leave, distinct rooms, GUN wire)');
    await measure('ours', 'gun', 'churn-one', EMPTY, 0, 'ours (connect + leave, one room, GUN wire)');
    if (churn.many && churn.one) {
      const kb = (b: number) => `${(b / 1024).toFixed(2)} KB`;
      const rss = churn.many.rss - churn.one.rss, heap = churn.many.heap - churn.one.heap;
      rows.push({ target: 'ours per empty room (distinct rooms - one room)', value: rss / 1024, valueText: `${kb(rss)} RSS, ${kb(heap)} heap`,
        note: 'net of the connect/leave churn' });
      lines.push(`  per empty room, net of churn: ${kb(rss)} RSS, ${kb(heap)} heap`);
    }
  }
  return {
    scenario: 'idle-memory', title: `(7) idle memory: ${N} idle WebSocket connections; ${EMPTY} empty rooms (server RSS and heap after gc)`,
    headline: 'KB of RSS per idle connection / per empty room (after gc)', higherIsBetter: false, summary: rows, details, text: lines.join('\n'),
  };
}

async function reqrep(): Promise<ScenarioResult> {
  const T = mode === 'full' ? { warmup: 1, measure: 5 } : mode === 'quick' ? { warmup: 0.5, measure: 2 } : { warmup: 0.2, measure: 0.5 };
  const rows: SummaryRow[] = [];
  const details: Record<string, unknown>[] = [];
  const lines: string[] = [];
  for (const t of targetsFor(mode === 'smoke' ? ['ours'] : ['ours', 'ws-echo'])) {
    let server: Proc | null = null, lg: Proc | null = null, cleanup: (() => void) | undefined;
    const proto = t === 'ours' ? 'native' : 'ws';
    try {
      const st = await startTarget(t, { serverArgs: t === 'ours' ? serverArgs : [] });
      server = st.server; cleanup = st.spec.cleanup;
      lg = startLoadgen('loadgen-native.ts', ['--port', String(st.port), '--proto', proto, '--prefix', '/rr', '--reqrep', '--server-pid', String(server.pid)]);
      await lg.waitJson((o) => o.type === 'ready', 30_000);
      const r = await lg.ask({ cmd: 'reqrep', ...T }, ['reqrep'], (T.warmup + T.measure) * 1000 + 20_000) as Record<string, unknown>;
      const l = r.latency as { p50: number; p99: number; max: number } | null;
      details.push({ target: t, proto, ...r });
      const what = t === 'ours' ? 'request -> server -> serving member -> reply -> server -> requester' : 'ping -> echo server -> pong';
      lines.push(`  ${t}: ${what}: ${int(r.roundTrips as number)} round trips, ${int(r.perSec as number)}/s, p50 ${ms(l?.p50)} p99 ${ms(l?.p99)} max ${ms(l?.max)} ms, errors ${String(r.errors)}`);
      rows.push({ target: `${t} (${proto})`, value: l?.p50 ?? null, valueText: `p50 ${ms(l?.p50)} ms`, deliveredPerSec: r.perSec as number, p50: l?.p50, p99: l?.p99, max: l?.max,
        srvCpu: r.serverCpuPct as number, srvRssMB: r.serverRssMB as number, lgCpu: r.loadgenCpuPct as number, note: `closed loop, one outstanding; ${t === 'ours' ? 'two hops through the server' : 'one hop'}` });
    } catch (err) {
      rows.push({ target: t, value: null, valueText: 'error', note: (err as Error).message.split('\n')[0] });
    } finally {
      await stopLoadgen(lg);
      await server?.stop();
      cleanup?.();
    }
  }
  return {
    scenario: 'reqrep', title: '(8) request/reply round trip: one serving member, one requester, closed loop (vs raw ws ping-pong across the same cores)',
    headline: 'round-trip p50 ms; delivered = round trips/s', higherIsBetter: false, summary: rows, details, text: lines.join('\n'),
  };
}

/** Issue 13 §2: request/reply between two in-process members (server.connect), all in one process. */
async function inprocReqrep(): Promise<ScenarioResult> {
  const T = mode === 'full' ? { warmup: 1, measure: 5 } : mode === 'quick' ? { warmup: 0.5, measure: 2 } : { warmup: 0.2, measure: 0.5 };
  const rows: SummaryRow[] = [];
  const details: Record<string, unknown>[] = [];
  const lines: string[] = [];
  const us = (n: number | undefined | null) => (n == null ? 'n/a' : (n * 1000).toFixed(1));
  // One process holds the server and both members: pinned to the server's core like every server under test.
  const proc = new Proc('in-process bench', pin(SERVER_CORE, [process.execPath, '--import', 'tsx', path.join(ROOT, 'bench', 'inproc-reqrep.ts'), '--warmup', String(T.warmup), '--measure', String(T.measure)]), ROOT);
  // Both answers are waited for from the start: a line is matched only by a wait already there.
  const answers = ['ping', '1 KiB object'].map((payload) => proc.waitJson((o) => o.type === 'inproc-reqrep' && o.payload === payload, 2 * (T.warmup + T.measure) * 1000 + 30_000));
  answers.forEach((a) => a.catch(() => {}));
  try {
    for (const answer of answers) {
      const r = await answer;
      details.push(r);
      const l = r.latency as { p50: number; p99: number; max: number } | null;
      lines.push(`  ours (inproc), ${String(r.payload)}: ${int(r.roundTrips as number)} round trips, ${int(r.perSec as number)}/s, p50 ${us(l?.p50)} p99 ${us(l?.p99)} max ${us(l?.max)} µs, errors ${String(r.errors)}`);
      rows.push({ target: `ours (inproc, ${String(r.payload)})`, value: l?.p50 ?? null, valueText: `p50 ${us(l?.p50)} µs`, deliveredPerSec: r.perSec as number, p50: l?.p50, p99: l?.p99, max: l?.max,
        srvCpu: r.cpuPct as number, srvRssMB: r.rssMB as number, note: 'closed loop, one outstanding; server and both members in one process' });
    }
  } catch (err) {
    rows.push({ target: 'ours (inproc)', value: null, valueText: 'error', note: (err as Error).message.split('\n')[0] });
  } finally {
    await proc.stop();
  }
  return {
    scenario: 'inproc-reqrep', title: 'In-process request/reply (issue 13): two members of one room in the server\'s process (server.connect), closed loop',
    headline: 'round-trip p50 (ms in the columns, µs in "result"); delivered = round trips/s', higherIsBetter: false, summary: rows, details, text: lines.join('\n'),
  };
}

const SLOW = { rate: 400, pad: 1024, queue: 1 << 20 };
async function slowConsumer(): Promise<ScenarioResult> {
  const perRoom = mode === 'smoke' ? 20 : 1000;
  const rate = mode === 'smoke' ? 50 : SLOW.rate;
  const timing: Timing = mode === "full" ? { warmup: 2, measure: 20, drain: 2 } : mode === "quick" ? { warmup: 1, measure: 12, drain: 1 } : TIMING.smoke;
  const rows: SummaryRow[] = [];
  const lines: string[] = [];
  const details: StepResult[] = [];
  let server: Proc | null = null, lg: Proc | null = null;
  const sArgs = [`--max-queued-bytes=${SLOW.queue}`, ...serverArgs];
  try {
    const st = await startTarget('ours', { serverArgs: sArgs });
    server = st.server;
    lg = startLoadgen('loadgen-native.ts', ['--port', String(st.port), '--proto', 'native', '--members', String(perRoom), '--sample', '50', '--pad', String(SLOW.pad), '--server-pid', String(server.pid)]);
    const ready = await lg.waitJson((o) => o.type === 'ready' || o.type === 'error', 120_000);
    if (ready.type === 'error') throw new Error(String(ready.message));
    const step = async (label: string, slow: boolean) => {
      const r = await lg!.ask({ cmd: 'step', label, rate, slow, ...timing }, ['step'], (timing.warmup + timing.measure + timing.drain) * 1000 + 40_000) as unknown as StepResult;
      console.error(`[ours] ${label}: ${fmtStep(r)}${r.slow ? ` slow: ${JSON.stringify(r.slow)}` : ''}, RSS max ${mb(r.serverRssMaxMB)}`);
      details.push(r);
      rows.push({ target: `ours, ${label}`, value: r.latency?.p99 ?? null, valueText: `p99 ${ms(r.latency?.p99)} ms`, deliveredPerSec: r.deliveredPerSec, p50: r.latency?.p50, p99: r.latency?.p99, max: r.latency?.max,
        srvCpu: r.serverCpuPct, srvRssMB: r.serverRssMaxMB, lgCpu: r.loadgenCpuPct,
        note: `delivered ${r.deliveryPct.toFixed(3)}%${r.slow ? `; slow member: ${r.slow.closed ? `closed (${r.slow.reason})` : 'NOT closed'}, ${r.slow.framesReadAfterResume} frames still queued for it` : ''}` });
      return r;
    };
    const a = await step('all reading', false);
    const b = await step('one stopped reading', true);
    lines.push(`  ${perRoom} members + 1 that stops reading, ${rate} msgs/s of ${SLOW.pad + 40} B, ours with --max-queued-bytes=${SLOW.queue}: ` +
      `p99 ${ms(a.latency?.p99)} -> ${ms(b.latency?.p99)} ms (${ratio(b.latency?.p99, a.latency?.p99)}), server RSS max ${mb(a.serverRssMaxMB)} -> ${mb(b.serverRssMaxMB)}, ` +
      `slow member ${b.slow?.closed ? `closed: ${b.slow.reason}` : 'NOT closed'}`);
  } catch (err) {
    rows.push({ target: 'ours', value: null, valueText: 'error', note: (err as Error).message.split('\n')[0] });
    console.error(`[ours] error: ${(err as Error).message}`);
  } finally {
    await stopLoadgen(lg);
    await server?.stop();
  }
  return {
    scenario: 'slow-consumer', title: `(9) slow consumer: scenario 4 at ${rate} msgs/s (${SLOW.pad} B padding), then the same with one member that stops reading`,
    headline: 'p99 of the other members (ms); srv RSS = max during the step', higherIsBetter: false, summary: rows, details, text: lines.join('\n'),
  };
}

// ---- report ----

function summaryText(r: ScenarioResult): string {
  const ours = r.ref !== undefined ? r.summary.find((s) => s.target === r.ref && s.value !== null) : r.summary.find((s) => s.target.startsWith('ours') && s.value !== null);
  const perCpu = (x: SummaryRow) => (x.deliveredPerSec && x.srvCpu ? x.deliveredPerSec / (x.srvCpu / 100) : null);
  const ramp = r.higherIsBetter;
  const rows = [['target', 'result', 'delivered/s', 'p50 ms', 'p99 ms', 'max ms', 'srv CPU', 'srv RSS', 'lg CPU', 'ours vs it', ...(ramp ? ['per srv CPU-s', 'ours vs it'] : []), 'note']];
  for (const s of r.summary) {
    const cmp = s === ours || !ours || s.target.startsWith('ours') || s.value === null || ours.value === null ? '' :
      r.higherIsBetter ? ratio(ours.value, s.value) + (ours.lowerBound || s.lowerBound ? '~' : '') : ratio(ours.value, s.value);
    rows.push([s.target, s.valueText, s.deliveredPerSec == null ? '' : int(s.deliveredPerSec), ms(s.p50 ?? null).replace('n/a', ''), ms(s.p99 ?? null).replace('n/a', ''), ms(s.max ?? null).replace('n/a', ''),
      s.srvCpu == null ? '' : pct(s.srvCpu), s.srvRssMB == null ? '' : mb(s.srvRssMB), s.lgCpu == null ? '' : pct(s.lgCpu) + (s.lgCpu > 90 ? '!' : ''), cmp,
      ...(ramp ? [perCpu(s) === null ? '' : int(perCpu(s)!), s === ours || !ours || s.target.startsWith('ours') ? '' : ratio(perCpu(ours), perCpu(s))] : []), s.note ?? '']);
  }
  return `\n## ${r.title}\n${r.headline}${r.higherIsBetter ? '' : ' (lower is better)'}; "+" = lower bound, "!" = load generator over 90% CPU; ratio = ours / that target` +
    `${ramp ? '; "per srv CPU-s" = deliveries per second of server CPU at that step (delivered/s / srv CPU), comparable even when the load generator is the limit' : ''}\n${table(rows)}`;
}

interface TargetCheck { n: string; target: string; measured: string; holds: boolean | null }
function targetChecks(res: Map<Scenario, ScenarioResult>): TargetCheck[] {
  const out: TargetCheck[] = [];
  const ramps = (s: Scenario) => (res.get(s)?.details ?? []) as RampResult[];
  const cap = (s: Scenario, t: string) => ramps(s).find((r) => r.target === t)?.capacity?.deliveriesPerSec ?? null;
  const lb = (s: Scenario, t: string) => (ramps(s).find((r) => r.target === t)?.lowerBound ? '+' : '');
  const r2 = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b);
  const f = (x: number | null) => (x === null ? 'n/a' : `${x.toFixed(2)}x`);
  const eff = (s: Scenario, t: string) => { const st = ramps(s).find((r) => r.target === t)?.capacity?.step; return st?.serverCpuPct ? st.deliveredPerSec / (st.serverCpuPct / 100) : null; };
  if (res.has('gun-fanout')) {
    const o = cap('gun-fanout', 'ours'), w = cap('gun-fanout', 'ws-coalesced'), g = cap('gun-fanout', 'gun');
    const a = r2(o, w), b = r2(o, g);
    out.push({ n: '1', target: '>= 70% of bare-ws ceiling, >= 5x GUN', measured: `ours ${o === null ? 'n/a' : int(o)}${lb('gun-fanout', 'ours')}/s = ${f(a)} of ws-coalesced ${w === null ? 'n/a' : int(w)}${lb('gun-fanout', 'ws-coalesced')}, ${f(b)} GUN ${g === null ? 'n/a' : int(g)}; per server CPU-s ${f(r2(eff('gun-fanout', 'ours'), eff('gun-fanout', 'ws-coalesced')))} of ws, ${f(r2(eff('gun-fanout', 'ours'), eff('gun-fanout', 'gun')))} of GUN`, holds: a === null || b === null ? null : a >= 0.7 && b >= 5 });
    const ack = ramps('gun-fanout').find((r) => r.target === 'ours')?.ackStep?.ack.latency?.p99 ?? null;
    // Issue 14 §2: scenario 1 against the bare forwarder (ws-coalesced, the same C receivers).
    out.push({ n: '14.2', target: 'gun-fanout: >= 50% of the bare forwarder', measured: `ours ${o === null ? 'n/a' : int(o)}${lb('gun-fanout', 'ours')}/s = ${f(a)} of ${w === null ? 'n/a' : int(w)}${lb('gun-fanout', 'ws-coalesced')}; per server CPU-s ${f(r2(eff('gun-fanout', 'ours'), eff('gun-fanout', 'ws-coalesced')))}`, holds: a === null ? null : a >= 0.5 });
    out.push({ n: '2', target: 'put->ack p99 < 5 ms at 1,000 puts/s', measured: `${ms(ack)} ms`, holds: ack === null ? null : ack < 5 });
  }
  if (res.has('gun-load')) {
    const d = res.get('gun-load')!.details as Record<string, unknown>[];
    const o = d.find((x) => x.target === 'ours'), g = d.find((x) => x.target === 'gun');
    const full = (x: Record<string, unknown> | undefined) => !!x && x.readersComplete === x.readers && x.lateReaderKeys === x.keys;
    out.push({ n: '3', target: '100% of keys at every reader, faster than GUN', measured: `ours ${full(o) ? '100%' : 'INCOMPLETE'} in ${ms(o?.convergedMs as number | null)} ms; gun ${full(g) ? '100%' : `incomplete (min ${Number(g?.minPct ?? NaN).toFixed(1)}%)`}${g?.convergedMs != null ? ` in ${ms(g.convergedMs as number)} ms` : ''}`,
      holds: !o ? null : full(o) && (!g || !full(g) || (o.convergedMs as number) < (g.convergedMs as number)) });
  }
  const n4 = cap('native-ws', 'ours');
  if (res.has('native-ws')) {
    const w = cap('native-ws', 'ws-coalesced'), s = cap('native-ws', 'socketio');
    const a = r2(n4, w), b = r2(n4, s);
    out.push({ n: '4', target: '>= 70% of coalescing bare ws, >= 5x Socket.IO', measured: `ours ${n4 === null ? 'n/a' : int(n4)}${lb('native-ws', 'ours')}/s = ${f(a)} ws-coalesced ${w === null ? 'n/a' : int(w)}${lb('native-ws', 'ws-coalesced')}, ${f(b)} Socket.IO ${s === null ? 'n/a' : int(s)}; per server CPU-s ${f(r2(eff('native-ws', 'ours'), eff('native-ws', 'ws-coalesced')))} of ws, ${f(r2(eff('native-ws', 'ours'), eff('native-ws', 'socketio')))} of Socket.IO`, holds: a === null || b === null ? null : a >= 0.7 && b >= 5 });
  }
  if (res.has('native-sse')) {
    const s = cap('native-sse', 'ours'), a = r2(s, n4);
    out.push({ n: '5', target: 'SSE >= 50% of scenario 4', measured: `${s === null ? 'n/a' : int(s)}${lb('native-sse', 'ours')}/s = ${f(a)} of ${n4 === null ? 'n/a (run native-ws too)' : int(n4)}`, holds: a === null ? null : a >= 0.5 });
  }
  if (res.has('many-rooms')) {
    const s = cap('many-rooms', 'ours'), a = r2(s, n4);
    out.push({ n: '6', target: 'many rooms >= 50% of scenario 4', measured: `${s === null ? 'n/a' : int(s)}${lb('many-rooms', 'ours')}/s = ${f(a)} of ${n4 === null ? 'n/a (run native-ws too)' : int(n4)}`, holds: a === null ? null : a >= 0.5 });
    // Issue 14 §1: at least the bare coalescing ws server, with RSS bounded: ours' largest RSS over
    // the ramp at most twice the bare server's (before the history left the heap it grew without bound).
    const w = cap('many-rooms', 'ws-coalesced'), b = r2(s, w);
    const maxRss = (t: string) => { const st = ramps('many-rooms').find((r) => r.target === t)?.steps ?? []; return st.length ? Math.max(...st.map((x) => x.serverRssMB ?? 0)) : null; };
    const ro = maxRss('ours'), rw = maxRss('ws-coalesced');
    out.push({ n: '14.1', target: 'many rooms >= 1.0x bare ws, RSS bounded', measured: `ours ${s === null ? 'n/a' : int(s)}${lb('many-rooms', 'ours')}/s = ${f(b)} of ws-coalesced ${w === null ? 'n/a' : int(w)}${lb('many-rooms', 'ws-coalesced')}; per server CPU-s ${f(r2(eff('many-rooms', 'ours'), eff('many-rooms', 'ws-coalesced')))}; RSS max ${ro === null ? 'n/a' : Math.round(ro)} MB vs ${rw === null ? 'n/a' : Math.round(rw)} MB`,
      holds: b === null || ro === null || rw === null ? null : b >= 1 && ro <= 2 * rw });
  }
  for (const scn of ['gun-chat', 'gun-souls'] as const) {
    if (!res.has(scn)) continue;
    const o = cap(scn, 'ours'), g = cap(scn, 'gun');
    // GUN's relay failing even its first step: its capacity is below that step's deliveries/s.
    const gRamp = ramps(scn).find((r) => r.target === 'gun');
    const gBound = g === null && gRamp && gRamp.steps.length && !gRamp.error ? gRamp.steps[0].rate * gRamp.steps[0].subs : null;
    const a = r2(o, g ?? gBound);
    out.push({ n: '14.2', target: `${scn}: >= 5x GUN's relay`, measured: `ours ${o === null ? 'n/a' : int(o)}${lb(scn, 'ours')}/s, GUN ${g !== null ? int(g) + lb(scn, 'gun') : gBound !== null ? `< ${int(gBound)} (failed its first step)` : 'n/a'}: ${gBound !== null ? '>= ' : ''}${f(a)}; per server CPU-s ${f(r2(eff(scn, 'ours'), eff(scn, 'gun')))}`,
      holds: a === null ? null : a >= 5 });
  }
  if (res.has('idle-memory')) {
    const rows = res.get('idle-memory')!.summary;
    const conn = rows.filter((r) => r.target.startsWith('ours') && r.target.endsWith('per connection') && r.value !== null);
    const room = rows.find((r) => r.target.startsWith('ours per empty room'));
    const worst = conn.length ? Math.max(...conn.map((r) => r.value!)) : null;
    out.push({ n: '7', target: '<= 8 KB RSS per idle WebSocket, <= 2 KB per empty room', measured: `${conn.map((r) => `${r.target.replace(' per connection', '')}: ${r.valueText}`).join('; ')}; empty room: ${room?.valueText ?? 'n/a'}`,
      holds: worst === null || room?.value == null ? null : worst <= 8 && room.value <= 2 });
  }
  if (res.has('reqrep')) {
    const rows = res.get('reqrep')!.summary;
    const o = rows.find((r) => r.target.startsWith('ours'))?.value ?? null, e = rows.find((r) => r.target.startsWith('ws-echo'))?.value ?? null;
    out.push({ n: '8', target: 'request/reply p50 <= 2x raw ws ping-pong', measured: `${ms(o)} ms vs ${ms(e)} ms = ${f(r2(o, e))}`, holds: o === null || e === null ? null : o <= 2 * e });
  }
  if (res.has('inproc-reqrep')) {
    const p50 = res.get('inproc-reqrep')!.summary.find((r) => r.target.includes('ping'))?.value ?? null;
    out.push({ n: '13', target: 'in-process request/reply p50 < 20 µs', measured: p50 === null ? 'n/a' : `${(p50 * 1000).toFixed(1)} µs`, holds: p50 === null ? null : p50 < 0.02 });
  }
  if (res.has('slow-consumer')) {
    const d = res.get('slow-consumer')!.details as StepResult[];
    const [a, b] = d;
    const q = r2(b?.latency?.p99 ?? null, a?.latency?.p99 ?? null);
    const grow = a && b && a.serverRssMaxMB != null && b.serverRssMaxMB != null ? b.serverRssMaxMB - a.serverRssMaxMB : null;
    const bounded = grow !== null && grow < 64;
    out.push({ n: '9', target: "others' p99 within 1.5x, RSS bounded, slow one closed", measured: `p99 ${ms(a?.latency?.p99)} -> ${ms(b?.latency?.p99)} ms (${f(q)}), RSS max ${mb(a?.serverRssMaxMB)} -> ${mb(b?.serverRssMaxMB)}, slow ${b?.slow?.closed ? `closed (${b.slow.reason})` : 'not closed'}`,
      holds: q === null || !b ? null : q <= 1.5 && bounded && !!b.slow?.closed });
  }
  return out;
}

/**
 * `npm run bench -- soak [--quick | --smoke]`: the soak (bench/soak/run.ts, `npm run soak`) on its
 * own, not part of a full run (it takes 30 minutes): full = 30 min, --quick = 2 min, --smoke = 20 s.
 */
function runSoak(): never {
  if (positionals.length > 1) fail('soak runs on its own: `npm run bench -- soak [--quick | --smoke]` (or `npm run soak -- --minutes N`)');
  const args = [...(mode === 'smoke' ? ['--smoke'] : ['--minutes', mode === 'quick' ? '2' : '30']), ...(opt['no-save'] ? ['--no-save'] : []),
    ...(opt['server-arg'] ?? []).map((a) => `--server-arg=${a}`)];
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/soak/run.ts'), ...args], { cwd: ROOT, stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

function fail(msg: string): never {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

async function main(): Promise<void> {
  const started = new Date();
  const load = os.loadavg()[0];
  if (load > 0.5) console.error(`warning: 1-minute load average is ${load.toFixed(2)} before starting; other processes will skew the numbers`);
  warnIfStale();
  console.error(`bench ${scenarios.join(', ')} (${mode}); pinning ${canPin ? 'on (server CPU 0, load generators CPU 1)' : 'off'}`);
  const results = new Map<Scenario, ScenarioResult>();
  const run: Record<Scenario, () => Promise<ScenarioResult>> = {
    'gun-fanout': gunFanout, 'gun-load': gunLoad, 'gun-sea': gunSea, 'gun-chat': () => gunApps('gun-chat'), 'gun-souls': () => gunApps('gun-souls'), 'native-ws': () => nativeFanout('native-ws'), 'native-sse': () => nativeFanout('native-sse'), 'native-tcp': () => nativeFanout('native-tcp'), 'native-mixed': () => nativeFanout('native-mixed'),
    'many-rooms': () => nativeFanout('many-rooms'), 'idle-memory': idleMemory, reqrep, 'inproc-reqrep': inprocReqrep, 'slow-consumer': slowConsumer, cluster,
  };
  for (const s of scenarios) {
    const t = Date.now();
    console.error(`\n=== ${s} ===`);
    const r = await run[s]();
    results.set(s, r);
    console.log(r.text);
    console.log(summaryText(r));
    console.error(`(${s}: ${Math.round((Date.now() - t) / 1000)} s)`);
  }
  const checks = targetChecks(results);
  if (scenarios.length > 1) {
    console.log('\n# Summary');
    for (const r of results.values()) console.log(summaryText(r));
  }
  const checkTable = (cs: TargetCheck[]) => table([['#', 'target', 'measured', 'holds'], ...cs.map((c) => [c.n, c.target, c.measured, c.holds === null ? 'n/a' : c.holds ? 'yes' : 'NO'])]);
  const issue5 = checks.filter((c) => !c.n.startsWith('14.')), issue14 = checks.filter((c) => c.n.startsWith('14.'));
  if (issue5.length) {
    console.log('\n## Targets (issue 5)');
    console.log(checkTable(issue5));
  }
  if (issue14.length) {
    console.log('\n## Targets (issue 14)');
    console.log(checkTable(issue14));
  }
  const clusterTargets = results.has('cluster') ? clusterChecks(results.get('cluster')!) : [];
  if (clusterTargets.length) {
    console.log('\n## Targets (issue 11)');
    console.log(checkTable(clusterTargets));
  }

  if (mode !== 'smoke' && !opt['no-save']) {
    const sh = (...a: string[]) => spawnSync('git', a, { cwd: ROOT, encoding: 'utf8' }).stdout?.trim() ?? '';
    const git = sh('rev-parse', '--short', 'HEAD') + (sh('status', '--porcelain', '--', 'src', 'bench') ? '+uncommitted changes' : '');
    const name = scenarios.length === 1 ? scenarios[0] : scenarios.length === SCENARIOS.length ? 'all' : scenarios.join('+');
    const file = path.join(ROOT, 'bench/results', `${started.toISOString().replace(/[:.]/g, '-')}-${name}.json`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify({
      scenarios, mode, started: started.toISOString(), finished: new Date().toISOString(), slo: SLO, timing: TIMING[mode], gunTiming: GUN_TIMING[mode],
      env: { loadavg1mAtStart: load, node: process.version, platform: `${os.platform()} ${os.release()}`, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model,
        pinned: canPin ? { server: 0, loadgen: 1 } : null, versions: { multisocket: pkgVersion('.'), gun: pkgVersion('gun'), ws: pkgVersion('ws'), 'socket.io': pkgVersion('socket.io'), '@socket.io/redis-adapter': pkgVersion('@socket.io/redis-adapter'), redis: redisVersion() }, git, serverArgs },
      targets: checks, clusterTargets,
      results: Object.fromEntries([...results].map(([k, v]) => [k, { title: v.title, headline: v.headline, summary: v.summary, details: v.details }])),
    }, null, 2) + '\n');
    console.log(`\nresults: ${path.relative(ROOT, file)}`);
  }
  const errors = [...results.values()].some((r) => r.summary.some((s) => s.valueText === 'error'));
  if (errors) process.exitCode = 1;
}

main().catch((err: Error) => { console.error(err.stack ?? err.message); process.exitCode = 1; });
