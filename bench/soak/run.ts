// The soak run (issue 14 §3): `npm run soak -- --minutes 30`. Starts our server (node dist/cli.js,
// pinned to the server core like the bench) and the mixed load (bench/soak/loadgen.ts, pinned to
// the load generator's core) at about half of capacity (bench/soak/plan.ts), records the server's
// RSS, heap, event-loop lag and CPU and every flow's rate, p99 and errors every 10 s, then stops
// the load, waits for everything to come back and judges (bench/soak/verdict.ts): growth, a p99
// trend, lost messages. Writes the samples as JSON and a PNG chart; exits 1 when a verdict fails.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, type Proc, canPin, sleep, startLoadgen, startTarget, stopLoadgen, table, warnIfStale } from '../lib.js';
import { machineBusySeconds, procCpuSeconds, procRssMB } from '../stats.js';
import { soakSvg, writePng } from './chart.js';
import { CAPACITY, SHAPE, SMOKE_SHAPE, describePlan, planRates, type Rates } from './plan.js';
import type { Final, SampleRow } from './sample.js';
import { LIMITS, judge } from './verdict.js';

const { values: opt } = parseArgs({
  options: {
    minutes: { type: 'string' },
    load: { type: 'string' },
    smoke: { type: 'boolean', default: false },
    interval: { type: 'string' }, // seconds between samples (10; --smoke 2)
    warmup: { type: 'string' }, // seconds not judged at the start (20 % of the run, 20..300 s)
    chart: { type: 'string' }, // PNG path (default bench/results/<time>-soak.png; --smoke: none)
    'no-chart': { type: 'boolean', default: false },
    json: { type: 'string' }, // default bench/results/<time>-soak.json
    replot: { type: 'string' }, // draw the chart of a saved run (its JSON) again, without running
    'no-save': { type: 'boolean', default: false },
    'server-arg': { type: 'string', multiple: true },
    'slow-hold': { type: 'string', default: '30' },
    // rates (per second) instead of the plan's: see plan.ts Rates
    'gun-puts': { type: 'string' }, publish: { type: 'string' }, requests: { type: 'string' }, jobs: { type: 'string' },
    churn: { type: 'string' }, 'late-joiners': { type: 'string' }, 'bad-inputs': { type: 'string' }, 'slow-bytes': { type: 'string' },
  },
});

function fail(msg: string): never {
  console.error(`soak: ${msg}`);
  process.exit(2);
}
const num = (name: string, v: string | undefined, dflt: number, min = 0): number => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) fail(`--${name} takes a number >= ${min}, not "${v}"`);
  return n;
};

const smoke = opt.smoke!;
const minutes = num('minutes', opt.minutes, smoke ? 0.33 : 30, 0.05);
const load = num('load', opt.load, smoke ? 0.1 : 0.5, 0.001);
const intervalS = num('interval', opt.interval, smoke ? 2 : 10, 1);
const durationS = minutes * 60;
const warmupS = num('warmup', opt.warmup, Math.min(300, Math.max(20, 0.2 * durationS)));
const overrides: Partial<Rates> = {};
const RATE_FLAGS: [keyof typeof opt, keyof Rates][] = [['gun-puts', 'gunPuts'], ['publish', 'publish'], ['requests', 'requests'], ['jobs', 'jobs'], ['churn', 'churn'], ['late-joiners', 'lateJoiners'], ['bad-inputs', 'badInputs'], ['slow-bytes', 'slowBytes']];
for (const [flag, key] of RATE_FLAGS) if (opt[flag] !== undefined) overrides[key] = num(String(flag), opt[flag] as string, 0);
const rates = planRates({ load, overrides });
const shape = smoke ? SMOKE_SHAPE : SHAPE;
const stampName = new Date().toISOString().replace(/[:.]/g, '-');
const jsonPath = opt['no-save'] ? null : (opt.json ?? path.join(ROOT, 'bench/results', `${stampName}-soak.json`));
const chartPath = opt['no-chart'] ? null : (opt.chart ?? (smoke || opt['no-save'] ? null : path.join(ROOT, 'bench/results', `${stampName}-soak.png`)));

/** Sums every series of each metric name in a Prometheus text answer. */
function promSums(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const sp = line.lastIndexOf(' ');
    const brace = line.indexOf('{');
    const name = line.slice(0, brace >= 0 && brace < sp ? brace : sp);
    const v = Number(line.slice(sp + 1));
    if (Number.isFinite(v)) m.set(name, (m.get(name) ?? 0) + v);
  }
  return m;
}

async function scrape(port: number): Promise<Map<string, number> | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/_/metrics`, { signal: AbortSignal.timeout(5000) });
    return res.status === 200 ? promSums(await res.text()) : null;
  } catch { return null; }
}

const MB = 1048576;
const orNull = (v: number | undefined, scale: number) => (v === undefined ? null : v / scale);
const f1 = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : v.toFixed(1));

async function main(): Promise<void> {
  warnIfStale();
  const load1 = os.loadavg()[0];
  if (load1 > 0.5) console.error(`warning: 1-minute load average ${load1.toFixed(2)} at start: other processes share the cores (see "other CPU")`);
  const plan = describePlan(load, rates, shape);
  console.log(`# Soak: ${minutes} min${smoke ? ' (smoke)' : ''}, samples every ${intervalS} s, warm-up ${Math.round(warmupS)} s not judged`);
  for (const l of plan) console.log(`- ${l}`);
  console.log(`- pinning: ${canPin ? 'server taskset -c 0, load generator taskset -c 1' : 'none (no taskset or one CPU)'}`);

  const { server, port, spec } = await startTarget('ours', { serverArgs: opt['server-arg'] ?? [] });
  console.log(`- server: ${spec.describe}, pid ${server.pid}, port ${port}`);
  let lg: Proc | null = null;
  const rows: SampleRow[] = [];
  let final: Final | null = null;
  let aborted: string | null = null;
  try {
    lg = startLoadgen('soak/loadgen.ts', ['--port', String(port), '--rates', JSON.stringify(rates), '--slow-hold', String(num('slow-hold', opt['slow-hold'], 30, 1)), ...(smoke ? ['--smoke'] : [])]);
    const ready = await lg.waitJson((o) => o.type === 'ready' || o.type === 'error', 120_000);
    if (ready.type === 'error') throw new Error(`load generator: ${String(ready.message)}`);
    await scrape(port); // resets the event-loop histogram: the first window starts now
    await lg.ask({ cmd: 'start' }, ['started'], 10_000);
    const t0 = Date.now();
    let prev = { srv: procCpuSeconds(server.pid), all: machineBusySeconds(), t: Date.now() };
    console.log('');
    console.log(table([['t s', 'RSS MB', 'heap MB', 'lag p99', 'srv CPU', 'lg CPU', 'other', 'pub p99', 'gun p99', 'ack p99', 'rr p99', 'job p99', 'errors']]).split('\n')[0]);
    for (let k = 1; Date.now() - t0 < durationS * 1000 - 100; k++) {
      await sleep(Math.max(0, t0 + Math.min(k * intervalS, durationS) * 1000 - Date.now()));
      if (!server.alive) { aborted = `the server exited:\n${server.logs.slice(-20).join('\n')}`; break; }
      const s = await lg.ask({ cmd: 'sample' }, ['sample'], 30_000) as unknown as { flows: SampleRow['flows']; loadgenCpuPct: number; sendLagMaxMs: number };
      const m = await scrape(port);
      const now = { srv: procCpuSeconds(server.pid), all: machineBusySeconds(), t: Date.now() };
      const dt = (now.t - prev.t) / 1000;
      const srvCpu = now.srv !== null && prev.srv !== null ? (100 * (now.srv - prev.srv)) / dt : null;
      const allCpu = now.all !== null && prev.all !== null ? (100 * (now.all - prev.all)) / dt : null;
      prev = now;
      const row: SampleRow = {
        t: Math.round((now.t - t0) / 100) / 10,
        rssMB: procRssMB(server.pid),
        heapUsedMB: orNull(m?.get('nodejs_heap_size_used_bytes'), MB),
        heapTotalMB: orNull(m?.get('nodejs_heap_size_total_bytes'), MB),
        externalMB: orNull(m?.get('nodejs_external_memory_bytes'), MB),
        loopLagP99Ms: orNull(m?.get('nodejs_eventloop_lag_p99_seconds'), 1e-3),
        loopLagMaxMs: orNull(m?.get('nodejs_eventloop_lag_max_seconds'), 1e-3),
        serverCpuPct: srvCpu,
        loadgenCpuPct: s.loadgenCpuPct,
        otherCpuPct: allCpu !== null ? Math.max(0, allCpu - (srvCpu ?? 0) - s.loadgenCpuPct) : null,
        connections: m?.get('multisocket_connections') ?? null,
        rooms: m?.get('multisocket_rooms') ?? null,
        sendLagMaxMs: s.sendLagMaxMs,
        flows: s.flows,
      };
      rows.push(row);
      const p = (f: string) => f1(row.flows[f]?.p99);
      const errors = Object.values(row.flows).reduce((a, f) => a + f.errors, 0);
      console.log(table([['t s', 'RSS MB', 'heap MB', 'lag p99', 'srv CPU', 'lg CPU', 'other', 'pub p99', 'gun p99', 'ack p99', 'rr p99', 'job p99', 'errors'],
        [String(Math.round(row.t)), f1(row.rssMB), f1(row.heapUsedMB), f1(row.loopLagP99Ms), `${f1(srvCpu)}%`, `${f1(s.loadgenCpuPct)}%`, `${f1(row.otherCpuPct)}%`,
          p('publish delivery'), p('gun delivery'), p('gun put->ack'), p('request->reply'), p('push->done'), String(errors)]]).split('\n')[1]);
    }
    if (!aborted) final = await lg.ask({ cmd: 'stop', drainMs: 15_000 }, ['final'], 60_000) as unknown as Final;
    if (!aborted && !server.alive) aborted = `the server exited:\n${server.logs.slice(-20).join('\n')}`;
  } catch (err) {
    aborted = (err as Error).message;
  } finally {
    await stopLoadgen(lg);
    await server.stop();
  }

  const { verdicts, fits, judgedS } = judge(rows, warmupS, final);
  if (aborted) verdicts.unshift({ name: 'run', ok: false, judged: true, detail: `aborted: ${aborted}` });
  const lgBusy = rows.filter((r) => r.loadgenCpuPct > 90).length;
  console.log('\n## Totals');
  if (final) console.log(table([['flow', 'sent', 'done', 'errors'], ...Object.entries(final.totals).map(([f, v]) => [f, String(v.sent), String(v.done), String(v.errors)])]));
  if (final?.errors.length) {
    console.log('\n## Errors (first of each kind)');
    for (const e of final.errors) console.log(`- ${e.flow} / ${e.kind}: ${e.n} x, first: ${e.first}`);
  }
  console.log('\n## Verdicts');
  for (const v of verdicts) console.log(`${v.ok ? (v.judged ? 'ok  ' : '--  ') : 'FAIL'}  ${v.name}: ${v.detail}`);
  const busy = rows.filter((r) => (r.otherCpuPct ?? 0) > LIMITS.disturbedCpuPct).length;
  if (busy > rows.length / 4) console.log(`note: other processes used > ${LIMITS.disturbedCpuPct} % CPU in ${busy} of ${rows.length} windows (up to ${Math.round(Math.max(...rows.map((r) => r.otherCpuPct ?? 0)))} % of the 2 cores): latency, memory and errors reflect their load too; judge on a quiet machine`);
  if (lgBusy) console.log(`note: the load generator used > 90 % of its core in ${lgBusy} of ${rows.length} windows: latencies there include its own queueing`);
  const failed = verdicts.filter((v) => !v.ok);
  const passed = failed.length === 0;
  console.log(`\nsoak: ${passed ? 'PASS' : `FAIL (${failed.map((v) => v.name).join('; ')})`}`);

  const record = {
    kind: 'soak', startedAt: stampName, minutes, smoke, load, intervalS, warmupS, judgedS, rates, shape, capacity: CAPACITY, limits: LIMITS, plan,
    server: spec.describe, node: process.version, cpus: os.cpus()[0]?.model, nproc: os.availableParallelism(), loadAvgAtStart: load1, pinned: canPin,
    passed, verdicts, final, serverWarnings: server.logs.filter((l) => /"level":(40|50|60)|WARN|ERROR/.test(l)).slice(0, 20), samples: rows,
  };
  if (jsonPath) {
    fs.mkdirSync(path.dirname(jsonPath), { recursive: true });
    fs.writeFileSync(jsonPath, JSON.stringify(record, null, 1));
    console.log(`samples: ${path.relative(process.cwd(), jsonPath)}`);
  }
  if (chartPath && rows.length) await chart(record, fits, chartPath);
  process.exitCode = passed ? 0 : 1;
}

interface RunRecord { startedAt: string; minutes: number; load: number; intervalS: number; warmupS: number; rates: Rates; shape: typeof SHAPE; passed: boolean; samples: SampleRow[] }

async function chart(r: RunRecord, fits: ReturnType<typeof judge>['fits'], pngPath: string): Promise<void> {
  const rows = r.samples;
  const last = rows.at(-1);
  const when = r.startedAt.slice(0, 16).replace(/-(\d\d)$/, ':$1').replace(/T(\d\d)-/, 'T$1:');
  const title = `multisocket soak: ${r.minutes >= 1 ? `${+r.minutes.toFixed(1)} min` : `${Math.round(r.minutes * 60)} s`} at load ${r.load} - ${r.passed ? 'PASS' : 'FAIL'}`;
  const subtitle = `${r.rates.gunPuts} GUN puts/s, ${r.rates.publish} publishes/s (x${r.shape.pubWsMembers + r.shape.pubSseMembers}), ${r.rates.requests} requests/s, ${r.rates.jobs} jobs/s, ${r.rates.churn} churn/s; ` +
    `end: RSS ${f1(last?.rssMB)} MB, heap ${f1(last?.heapUsedMB)} MB; grey: warm-up (${Math.round(r.warmupS)} s, not judged); started ${when}Z`;
  try {
    await writePng(soakSvg(rows, { title, subtitle, warmupS: r.warmupS, intervalS: r.intervalS, fits }), pngPath);
    console.log(`chart: ${path.relative(process.cwd(), pngPath)}`);
  } catch (err) {
    console.error(`chart not written: ${(err as Error).message}`);
  }
}

/** --replot <json>: the chart of a saved run, drawn again (to --chart, or next to the JSON). */
async function replot(file: string): Promise<void> {
  const r = JSON.parse(fs.readFileSync(file, 'utf8')) as RunRecord & { final: Final | null };
  // Judged again by the current rules (the title's PASS/FAIL and the fits drawn).
  const { verdicts, fits } = judge(r.samples, r.warmupS, r.final);
  for (const v of verdicts) console.log(`${v.ok ? (v.judged ? 'ok  ' : '--  ') : 'FAIL'}  ${v.name}: ${v.detail}`);
  await chart({ ...r, passed: verdicts.every((v) => v.ok) }, fits, opt.chart ?? file.replace(/\.json$/, '') + '.png');
}

(opt.replot ? replot(opt.replot) : main()).catch((err: Error) => { console.error(err.stack ?? err.message); process.exitCode = 2; });
