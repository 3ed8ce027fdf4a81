// Benchmark orchestrator. Usage (see bench/README.md):
//   npm run bench [-- gun-fanout] [--quick | --smoke] [--target ours|gun]... [--subs N] [--no-save] [--server-arg=--flag=value]...
// For each target it starts the server pinned to core 0 and bench/loadgen.ts pinned to core 1,
// steps the put rate up until the SLO breaks, prints a table and writes bench/results/<date>-gun-fanout.json.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StepResult } from './stats.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SLO = { p99Ms: 50, deliveryPct: 99.9 };

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    quick: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    target: { type: 'string', multiple: true },
    subs: { type: 'string' },
    'no-save': { type: 'boolean', default: false },
    'server-arg': { type: 'string', multiple: true }, // extra flags for our server, e.g. --server-arg=--max-messages-per-second=100000
  },
});
const scenario = positionals[0] ?? 'gun-fanout';
if (scenario !== 'gun-fanout') fail(`unknown scenario "${scenario}" (available: gun-fanout)`);

interface Plan {
  mode: 'full' | 'quick' | 'smoke';
  subs: number;
  sample: number; // sockets whose latency is measured
  rates: number[]; // puts/s, stepped up until the SLO breaks
  warmup: number; measure: number; drain: number; // seconds per step
  ackRate: number | null; // dedicated put->ack step before the ramp
  targets: string[];
}
const RATES = [500, 1000, 2000, 4000, 8000, 16000, 32000];
const plan: Plan = opt.smoke
  ? { mode: 'smoke', subs: 10, sample: 10, rates: [300], warmup: 0, measure: 1, drain: 1, ackRate: null, targets: ['ours'] }
  : opt.quick
    ? { mode: 'quick', subs: 100, sample: 10, rates: RATES, warmup: 1, measure: 2, drain: 1, ackRate: 1000, targets: ['ours', 'gun'] }
    : { mode: 'full', subs: 100, sample: 10, rates: RATES, warmup: 2, measure: 10, drain: 2, ackRate: 1000, targets: ['ours', 'gun'] };
if (opt.subs) plan.subs = Number(opt.subs);
if (!Number.isInteger(plan.subs) || plan.subs < 1 || plan.subs > 15_000) fail('--subs must be a whole number from 1 to 15000 (one process holds < 20k fds)');
if (opt.target?.length) plan.targets = opt.target;
for (const t of plan.targets) if (t !== 'ours' && t !== 'gun') fail(`unknown target "${t}" (ours|gun)`);

// ---- child processes: every one is tracked and killed by PID, whatever happens ----

const children = new Set<ChildProcess>();
const tmpDirs = new Set<string>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { console.error(`\n${sig}: stopping`); process.exit(130); });

const canPin = spawnSync('taskset', ['-V']).status === 0 && os.availableParallelism() >= 2;
const pin = (core: number, argv: string[]) => (canPin ? ['taskset', '-c', String(core), ...argv] : argv);

/** A child process whose stdout is read as JSON lines. */
class Proc {
  readonly child: ChildProcess;
  readonly logs: string[] = []; // last lines of output, for error reports
  private waiters: { pred: (o: Record<string, unknown>) => boolean; resolve: (o: Record<string, unknown>) => void }[] = [];
  private exitWaiters: ((err: Error) => void)[] = [];

  constructor(readonly name: string, argv: string[], cwd: string) {
    this.child = spawn(argv[0], argv.slice(1), { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(this.child);
    this.child.on('exit', (code, sig) => {
      children.delete(this.child);
      for (const w of this.exitWaiters) w(new Error(`${name} exited (${code ?? sig}):\n${this.logs.slice(-20).join('\n')}`));
    });
    this.child.on('error', (err) => { for (const w of this.exitWaiters) w(err); });
    this.readLines(this.child.stdout!, true);
    this.readLines(this.child.stderr!, false);
  }

  get pid(): number { return this.child.pid!; }
  get alive(): boolean { return this.child.exitCode === null && this.child.signalCode === null; }

  private readLines(stream: NodeJS.ReadableStream, json: boolean): void {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.logs.push(line);
        if (this.logs.length > 200) this.logs.shift();
        if (!json || !line.startsWith('{')) continue;
        try {
          const o = JSON.parse(line) as Record<string, unknown>;
          const w = this.waiters.find((x) => x.pred(o));
          if (w) { this.waiters.splice(this.waiters.indexOf(w), 1); w.resolve(o); }
        } catch { /* not JSON */ }
      }
    });
  }

  /** Resolves with the next stdout JSON line matching pred; rejects on timeout or exit. */
  waitJson(pred: (o: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      if (!this.alive) return reject(new Error(`${this.name} is not running:\n${this.logs.slice(-20).join('\n')}`));
      const timer = setTimeout(() => done(new Error(`${this.name}: no answer within ${timeoutMs} ms:\n${this.logs.slice(-20).join('\n')}`)), timeoutMs);
      const onExit = (err: Error) => done(err);
      const done = (err: Error | null, o?: Record<string, unknown>) => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w.resolve !== ok);
        this.exitWaiters = this.exitWaiters.filter((w) => w !== onExit);
        if (err) reject(err); else resolve(o!);
      };
      const ok = (o: Record<string, unknown>) => done(null, o);
      this.waiters.push({ pred, resolve: ok });
      this.exitWaiters.push(onExit);
    });
  }

  send(o: object): void { this.child.stdin!.write(JSON.stringify(o) + '\n'); }

  /** SIGTERM, then SIGKILL after 3 s; resolves when the process is gone. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  }
}

// ---- targets ----

// With --log-level warn our server does not print its "listening" line, so the harness picks a
// free port itself (below the ephemeral range, which starts at 32768 here) and polls until it accepts.
const PORT = '{port}';
async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const ok = await new Promise<boolean>((r) => {
      const s = net.createServer().once('error', () => r(false)).listen(port, '127.0.0.1', () => s.close(() => r(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free port found');
}
async function waitListening(p: Proc, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!p.alive) throw new Error(`${p.name} exited:\n${p.logs.slice(-20).join('\n')}`);
    const ok = await new Promise<boolean>((r) => {
      const c = net.connect({ host: '127.0.0.1', port }, () => { c.destroy(); r(true); }).once('error', () => r(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${p.name} did not accept connections on ${port} within ${timeoutMs} ms:\n${p.logs.slice(-20).join('\n')}`);
}

interface TargetSpec { argv: string[]; cwd: string; wsPath: string; cleanup?: () => void; describe: string }

function targetSpec(name: string): TargetSpec {
  if (name === 'ours') {
    const cli = path.join(ROOT, 'dist/cli.js');
    if (!fs.existsSync(cli)) fail('dist/cli.js not found: run `npm run build` first');
    warnIfStale(cli);
    const extra = opt['server-arg'] ?? [];
    return { argv: [process.execPath, cli, '--host', '127.0.0.1', '--port', PORT, '--log-level', 'warn', ...extra], cwd: ROOT, wsPath: '/bench',
      describe: `node dist/cli.js${extra.length ? ' ' + extra.join(' ') : ''}, room /bench` };
  }
  // GUN writes files (radata, stats) into its cwd, so it gets a throwaway one.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'multisocket-bench-gun-'));
  tmpDirs.add(tmp);
  return {
    argv: [process.execPath, path.join(ROOT, 'bench/targets/gun-relay.cjs'), PORT], cwd: tmp, wsPath: '/gun',
    cleanup: () => { fs.rmSync(tmp, { recursive: true, force: true }); tmpDirs.delete(tmp); }, describe: `gun ${pkgVersion('gun')} relay, memory only, /gun`,
  };
}

function warnIfStale(cli: string): void {
  const newest = (dir: string): number => fs.readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .reduce((m, e) => Math.max(m, fs.statSync(path.join(e.parentPath ?? e.path, e.name)).mtimeMs), 0);
  if (fs.existsSync(path.join(ROOT, 'src')) && newest(path.join(ROOT, 'src')) > fs.statSync(cli).mtimeMs) {
    console.error('warning: src/ is newer than dist/cli.js; run `npm run build` to bench the current code');
  }
}

// ---- running one target ----

interface TargetResult {
  target: string;
  describe: string;
  ackStep: StepResult | null;
  steps: StepResult[];
  capacity: { rate: number; deliveriesPerSec: number } | null;
  lowerBound: string | null; // why capacity may be understated, if it may
  stopReason: string;
  serverWarnings: string[]; // server log lines at warn level or above (first 20)
  error?: string;
}

const DISTURBED_PCT = 15; // other processes' CPU during a step above which it is marked as disturbed
const disturbed = (s: StepResult) => (s.otherCpuPct ?? 0) > DISTURBED_PCT;
const passes = (s: StepResult) => s.latency !== null && s.latency.p99 <= SLO.p99Ms && s.deliveryPct >= SLO.deliveryPct;

async function runTarget(name: string): Promise<TargetResult> {
  const spec = targetSpec(name);
  const res: TargetResult = { target: name, describe: spec.describe, ackStep: null, steps: [], capacity: null, lowerBound: null, stopReason: '', serverWarnings: [] };
  let server: Proc | null = null;
  let lg: Proc | null = null;
  try {
    const port = await freePort();
    server = new Proc(`${name} server`, pin(0, spec.argv.map((a) => (a === PORT ? String(port) : a))), spec.cwd);
    await waitListening(server, port, 15_000);
    lg = new Proc('load generator', pin(1, [process.execPath, '--import', 'tsx', path.join(ROOT, 'bench/loadgen.ts'),
      '--port', String(port), '--path', spec.wsPath, '--subs', String(plan.subs), '--sample', String(plan.sample),
      '--server-pid', String(server.pid)]), ROOT);
    await lg.waitJson((o) => o.type === 'ready', 30_000);
    console.error(`[${name}] ${plan.subs} subscribers connected to :${port}${spec.wsPath}`);

    const step = async (label: string, rate: number): Promise<StepResult> => {
      lg!.send({ cmd: 'step', label, rate, warmup: plan.warmup, measure: plan.measure, drain: plan.drain });
      const limit = (plan.warmup + plan.measure + plan.drain) * 1000 + 20_000;
      const r = (await lg!.waitJson((o) => o.type === 'step' || o.type === 'error', limit)) as unknown as StepResult | { type: 'error'; message: string };
      if (r.type === 'error') throw new Error(`load generator: ${r.message}`);
      console.error(`[${name}] ${label}: ${fmtStep(r)}`);
      return r;
    };

    if (plan.ackRate) res.ackStep = await step(`ack@${plan.ackRate}`, plan.ackRate);
    res.stopReason = 'all rates passed';
    for (const rate of plan.rates) {
      let r = await step(String(rate), rate);
      // Retry a failing step: once, because on this shared VM a short window sometimes catches a
      // single unrelated 50+ ms stall; up to 3 times while other processes were busy during it.
      // Every run stays in the table.
      for (let tries = 1; !passes(r) && server.alive && (tries < 2 || (tries < 4 && disturbed(r))); tries++) {
        res.steps.push(r);
        r = await step(`${rate} retry`, rate);
      }
      res.steps.push(r);
      if (!server.alive) { res.stopReason = 'server exited'; break; }
      if (!passes(r)) { res.stopReason = r.deliveryPct < SLO.deliveryPct ? `delivery ${r.deliveryPct.toFixed(2)}% < ${SLO.deliveryPct}% at ${rate}/s` : `p99 ${r.latency?.p99.toFixed(1)} ms > ${SLO.p99Ms} ms at ${rate}/s`; break; }
    }
  } catch (err) {
    res.error = (err as Error).message;
    res.stopReason = 'error';
    console.error(`[${name}] error: ${res.error}`);
  } finally {
    if (lg?.alive) { lg.send({ cmd: 'quit' }); await Promise.race([new Promise((r) => lg!.child.once('exit', r)), sleep(2000)]); }
    await lg?.stop();
    await server?.stop();
    spec.cleanup?.();
  }
  if (server) res.serverWarnings = server.logs.filter((l) => /"level":"(warn|error|fatal)"/.test(l)).slice(0, 20);

  // Capacity: the highest rate that passed (on the first try or on its retry); stepping stops at
  // the first rate that failed twice, so every lower rate passed.
  for (const s of res.steps) if (passes(s)) res.capacity = { rate: s.rate, deliveriesPerSec: s.rate * s.subs };
  const reasons: string[] = [];
  const hot = res.steps.filter((s) => s.loadgenCpuPct > 90);
  if (hot.length) reasons.push(`load generator CPU > 90% at ${hot.map((s) => s.rate).join(', ')} puts/s`);
  if (res.stopReason === 'all rates passed') reasons.push('highest rate tried still passed');
  res.lowerBound = reasons.length ? reasons.join('; ') : null;
  return res;
}

// ---- report ----

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number | undefined | null) => (n === undefined || n === null ? 'n/a' : n < 10 ? n.toFixed(2) : n.toFixed(1));
const pct = (n: number | null) => (n === null ? 'n/a' : `${Math.round(n)}%`);
const fmtStep = (s: StepResult) =>
  `${int(s.deliveredPerSec)} deliv/s, ${s.deliveryPct.toFixed(3)}%, p50 ${ms(s.latency?.p50)} p99 ${ms(s.latency?.p99)} max ${ms(s.latency?.max)} ms, ` +
  `ack p99 ${ms(s.ack.latency?.p99)}, server ${pct(s.serverCpuPct)}, loadgen ${pct(s.loadgenCpuPct)}, other ${pct(s.otherCpuPct)} (send lag max ${ms(s.sendLagMaxMs)} ms)`;

function table(rows: string[][]): string {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ')).join('\n');
}

function report(results: TargetResult[]): string {
  const out: string[] = [];
  for (const r of results) {
    out.push(`\n== ${r.target}: ${r.describe}; ${plan.subs} subscribers, 1 publisher; ${canPin ? 'server on CPU 0, load generator on CPU 1' : 'NOT pinned (no taskset)'}`);
    const rows = [['step', 'puts/s', 'deliveries/s', 'delivered', 'p50 ms', 'p99 ms', 'max ms', 'ack p50', 'ack p99', 'acked', 'srv CPU', 'srv RSS', 'lg CPU', 'other CPU']];
    for (const s of [...(r.ackStep ? [r.ackStep] : []), ...r.steps]) {
      rows.push([s.label + (disturbed(s) ? ' *' : ''), int(s.rate), int(s.deliveredPerSec), `${s.deliveryPct.toFixed(3)}%`, ms(s.latency?.p50), ms(s.latency?.p99), ms(s.latency?.max),
        ms(s.ack.latency?.p50), ms(s.ack.latency?.p99), s.ack.received ? `${s.ack.pct.toFixed(1)}%` : 'none', pct(s.serverCpuPct),
        s.serverRssMB === null ? 'n/a' : `${Math.round(s.serverRssMB)} MB`, pct(s.loadgenCpuPct), pct(s.otherCpuPct)]);
    }
    out.push(table(rows));
    if ([r.ackStep, ...r.steps].some((s) => s && disturbed(s))) out.push(`* other processes used > ${DISTURBED_PCT}% CPU during this step: treat it as noise`);
    out.push(`capacity: ${r.capacity ? `${r.lowerBound ? '>= ' : ''}${int(r.capacity.deliveriesPerSec)} deliveries/s (${int(r.capacity.rate)} puts/s x ${plan.subs})` : 'none (first step failed)'}` +
      `; stopped: ${r.stopReason}${r.lowerBound ? `\n  lower bound: ${r.lowerBound}` : ''}`);
    const odd = [...(r.ackStep ? [r.ackStep] : []), ...r.steps].filter((s) => s.dups || s.echoes || s.damErrors || s.badFrames || s.closedSubs || s.ack.errors);
    for (const s of odd) {
      out.push(`  anomalies at ${s.label}: dups ${s.dups}, echoes to publisher ${s.echoes}, dam errors ${s.damErrors}, non-JSON frames ${s.badFrames}, ` +
        `closed subscribers ${s.closedSubs}, put errors ${s.ack.errors}${s.ack.firstError ? ` ("${s.ack.firstError}")` : ''}`);
    }
    if (r.serverWarnings.length) out.push(`  server warnings (first ${r.serverWarnings.length}):\n    ${r.serverWarnings.join('\n    ')}`);
    if (r.error) out.push(`  ERROR: ${r.error.split('\n')[0]}`);
  }
  const ours = results.find((r) => r.target === 'ours');
  const gun = results.find((r) => r.target === 'gun');
  if (ours && gun) {
    const ratio = (a: number | null | undefined, b: number | null | undefined) => (a == null || b == null || b === 0 ? 'n/a' : `${(a / b).toFixed(2)}x`);
    const a = ours.ackStep, g = gun.ackStep;
    const at = `(ack@${plan.ackRate} step)`;
    // RSS grows with every key stored, so compare it after the same step, not at each one's peak.
    const common = plan.rates.filter((rate) => ours.steps.some((s) => s.rate === rate) && gun.steps.some((s) => s.rate === rate)).pop();
    const rssAfter = (r: TargetResult) => r.steps.filter((s) => s.rate === common).pop()?.serverRssMB ?? null;
    const rows = [['metric', 'ours', 'gun', 'ours/gun'],
      ['capacity, deliveries/s', ours.capacity ? int(ours.capacity.deliveriesPerSec) + (ours.lowerBound ? '+' : '') : 'none', gun.capacity ? int(gun.capacity.deliveriesPerSec) + (gun.lowerBound ? '+' : '') : 'none', ratio(ours.capacity?.deliveriesPerSec, gun.capacity?.deliveriesPerSec)],
      [`delivery p50 ms ${at}`, ms(a?.latency?.p50), ms(g?.latency?.p50), ratio(a?.latency?.p50, g?.latency?.p50)],
      [`delivery p99 ms ${at}`, ms(a?.latency?.p99), ms(g?.latency?.p99), ratio(a?.latency?.p99, g?.latency?.p99)],
      [`put->ack p50 ms ${at}`, ms(a?.ack.latency?.p50), ms(g?.ack.latency?.p50), ratio(a?.ack.latency?.p50, g?.ack.latency?.p50)],
      [`put->ack p99 ms ${at}`, ms(a?.ack.latency?.p99), ms(g?.ack.latency?.p99), ratio(a?.ack.latency?.p99, g?.ack.latency?.p99)],
      [`server CPU ${at}`, pct(a?.serverCpuPct ?? null), pct(g?.serverCpuPct ?? null), ratio(a?.serverCpuPct, g?.serverCpuPct)]];
    if (common) {
      const ro = rssAfter(ours), rg = rssAfter(gun);
      rows.push([`server RSS MB after the ${common}/s step`, ro === null ? 'n/a' : int(ro), rg === null ? 'n/a' : int(rg), ratio(ro, rg)]);
    }
    for (const rate of plan.rates) {
      const o = ours.steps.find((s) => s.rate === rate), q = gun.steps.find((s) => s.rate === rate);
      if (o && q) rows.push([`delivery p99 ms at ${rate}/s`, ms(o.latency?.p99), ms(q.latency?.p99), ratio(o.latency?.p99, q.latency?.p99)]);
    }
    out.push(`\n== ours vs gun (SLO: p99 <= ${SLO.p99Ms} ms and delivery >= ${SLO.deliveryPct}%; "+" = lower bound)`);
    out.push(table(rows));
  }
  return out.join('\n');
}

function pkgVersion(name: string): string {
  try { return (JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version; } catch { return 'n/a'; }
}

function fail(msg: string): never {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

async function main(): Promise<void> {
  const started = new Date();
  const load = os.loadavg()[0];
  if (load > 0.5) console.error(`warning: 1-minute load average is ${load.toFixed(2)} before starting; other processes will skew the numbers`);
  console.error(`bench ${scenario} (${plan.mode}): targets ${plan.targets.join(', ')}; rates ${plan.rates.join(', ')} puts/s; ` +
    `${plan.warmup}s warm-up + ${plan.measure}s measured per step; pinning ${canPin ? 'on' : 'off'}`);
  const results: TargetResult[] = [];
  for (const t of plan.targets) results.push(await runTarget(t));
  console.log(report(results));

  if (plan.mode !== 'smoke' && !opt['no-save']) {
    const sh = (...a: string[]) => spawnSync('git', a, { cwd: ROOT, encoding: 'utf8' }).stdout?.trim() ?? '';
    const git = sh('rev-parse', '--short', 'HEAD') + (sh('status', '--porcelain', '--', 'src', 'bench') ? '+uncommitted changes' : '');
    const file = path.join(ROOT, 'bench/results', `${started.toISOString().replace(/[:.]/g, '-')}-${scenario}.json`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify({
      scenario, mode: plan.mode, started: started.toISOString(), plan, slo: SLO,
      env: { loadavg1mAtStart: load, node: process.version, platform: `${os.platform()} ${os.release()}`, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model,
        pinned: canPin ? { server: 0, loadgen: 1 } : null, gun: pkgVersion('gun'), ws: pkgVersion('ws'), git },
      results,
    }, null, 2) + '\n');
    console.log(`\nresults: ${path.relative(ROOT, file)}`);
  }
  if (results.some((r) => r.error)) process.exitCode = 1;
}

main().catch((err: Error) => { console.error(err.stack ?? err.message); process.exitCode = 1; });
