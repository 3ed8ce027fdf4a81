// Shared orchestrator machinery for bench/run.ts: child processes killed by PID, ports, targets,
// pinning, formatting.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// ---- child processes: every one is tracked and killed by PID, whatever happens ----

const children = new Set<ChildProcess>();
const tmpDirs = new Set<string>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});
/** A fresh directory under os.tmpdir(), removed when the orchestrator exits. */
export function tmpDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.add(d);
  return d;
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { console.error(`\n${sig}: stopping`); process.exit(130); });

export const canPin = spawnSync('taskset', ['-V']).status === 0 && os.availableParallelism() >= 2;
export const SERVER_CORE = 0;
export const LOADGEN_CORE = 1;
export const pin = (core: number, argv: string[]) => (canPin ? ['taskset', '-c', String(core), ...argv] : argv);

/** A child process whose stdout is read as JSON lines. */
export class Proc {
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
    this.child.stdin!.on('error', () => {}); // EPIPE when it died: reported through exit
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

  send(o: object): void { if (this.alive) this.child.stdin!.write(JSON.stringify(o) + '\n'); }

  /** Sends a command and waits for the answer of one of the given types ("error" always ends it). */
  async ask(o: object, types: string[], timeoutMs: number): Promise<Record<string, unknown>> {
    const p = this.waitJson((x) => types.includes(x.type as string) || x.type === 'error', timeoutMs);
    this.send(o);
    const r = await p;
    if (r.type === 'error') throw new Error(`${this.name}: ${String(r.message)}`);
    return r;
  }

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

// ---- ports ----

// The harness picks a free port itself (below the ephemeral range, which starts at 32768 here)
// and polls until the server accepts.
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const ok = await new Promise<boolean>((r) => {
      const s = net.createServer().once('error', () => r(false)).listen(port, '127.0.0.1', () => s.close(() => r(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free port found');
}
export async function waitListening(p: Proc, port: number, timeoutMs: number): Promise<void> {
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

// ---- targets ----

export const TARGETS = ['ours', 'gun', 'gun-sea', 'ws-naive', 'ws-coalesced', 'ws-echo', 'socketio'] as const;
export type TargetName = (typeof TARGETS)[number];
export interface TargetSpec { argv: string[]; cwd: string; describe: string; cleanup?: () => void }

export function targetSpec(name: TargetName, opts: { serverArgs?: string[]; probe?: boolean; nodeArgs?: string[] } = {}, port: number): TargetSpec {
  const node = [process.execPath, ...(opts.nodeArgs ?? []), ...(opts.probe ? ['--expose-gc', '--require', path.join(ROOT, 'bench/targets/mem-probe.cjs')] : [])];
  const P = String(port);
  if (name === 'ours') {
    const cli = path.join(ROOT, 'dist/cli.js');
    if (!fs.existsSync(cli)) throw new Error('dist/cli.js not found: run `npm run build` first');
    const extra = opts.serverArgs ?? [];
    // Every load generator connects from 127.0.0.1: the per-address room budget (600 new rooms a
    // minute by default) would stop many-rooms and idle-memory at their setup, not measure them.
    return { argv: [...node, cli, '--host', '127.0.0.1', '--port', P, '--log-level', 'warn', '--new-rooms-per-ip', '0', ...extra], cwd: ROOT,
      describe: `multisocket ${pkgVersion('.')} (node dist/cli.js${extra.length ? ' ' + extra.join(' ') : ''})` };
  }
  if (name === 'gun' || name === 'gun-sea') {
    // GUN writes files (radata, stats) into its cwd, so it gets a throwaway one.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'multisocket-bench-gun-'));
    tmpDirs.add(tmp);
    const sea = name === 'gun-sea';
    return { argv: [...node, path.join(ROOT, 'bench/targets/gun-relay.cjs'), P, ...(sea ? ['--sea'] : [])], cwd: tmp,
      cleanup: () => { fs.rmSync(tmp, { recursive: true, force: true }); tmpDirs.delete(tmp); },
      describe: `gun ${pkgVersion('gun')} relay${sea ? ' with SEA (gun/sea required and checked)' : ''}, memory only, /gun` };
  }
  if (name === 'socketio') {
    // serverArgs: the cluster scenario's `--redis <url>` (@socket.io/redis-adapter); nobody else passes any
    const extra = opts.serverArgs ?? [];
    return { argv: [...node, path.join(ROOT, 'bench/targets/socketio.cjs'), '--port', P, ...extra], cwd: ROOT,
      describe: `socket.io ${pkgVersion('socket.io')} rooms, websocket transport, no compression${extra.includes('--redis') ? `, @socket.io/redis-adapter ${pkgVersion('@socket.io/redis-adapter')}` : ''}` };
  }
  const mode = name.slice(3);
  return { argv: [...node, path.join(ROOT, 'bench/targets/ws-baseline.cjs'), '--port', P, '--mode', mode], cwd: ROOT,
    describe: `bare ws ${pkgVersion('ws')} ${mode === 'naive' ? 'naive send loop' : mode === 'echo' ? 'echo server' : 'frame once + one write per client per turn'}` };
}

/** Starts a target pinned to the server core; resolves once it accepts connections. */
/** Node flags for our server only (e.g. --cpu-prof, --trace-gc), from run.ts --server-node-arg. */
export const ourNodeArgs: string[] = [];

export async function startTarget(name: TargetName, opts: { serverArgs?: string[]; probe?: boolean } = {}): Promise<{ server: Proc; port: number; spec: TargetSpec }> {
  const port = await freePort();
  const spec = targetSpec(name, { ...opts, nodeArgs: name === 'ours' ? ourNodeArgs : [] }, port);
  const server = new Proc(`${name} server`, pin(SERVER_CORE, spec.argv), spec.cwd);
  try {
    await waitListening(server, port, 15_000);
  } catch (err) {
    await server.stop();
    spec.cleanup?.();
    throw err;
  }
  return { server, port, spec };
}

/** Starts a load generator script (bench/<script>) pinned to the load generator core. */
export function startLoadgen(script: string, args: string[]): Proc {
  // A larger young generation: fewer objects promoted, so fewer and shorter major GC pauses in the
  // generator (with 10k sockets they reached 60-190 ms and showed up as latency of every target).
  return new Proc('load generator', pin(LOADGEN_CORE, [process.execPath, '--max-semi-space-size=64', '--import', 'tsx', path.join(ROOT, 'bench', script), ...args]), ROOT);
}

export async function stopLoadgen(lg: Proc | null): Promise<void> {
  if (!lg) return;
  if (lg.alive) { lg.send({ cmd: 'quit' }); await Promise.race([new Promise((r) => lg.child.once('exit', r)), sleep(2000)]); }
  await lg.stop();
}

/** GC and memory of a server started with probe:true (bench/targets/mem-probe.cjs). */
export async function probeMemory(server: Proc): Promise<{ rss: number; heapUsed: number; gc: boolean }> {
  const p = server.waitJson((o) => o.probe === 'mem', 10_000);
  server.child.kill('SIGUSR2');
  return (await p) as unknown as { rss: number; heapUsed: number; gc: boolean };
}

export function pkgVersion(name: string): string {
  try { return (JSON.parse(fs.readFileSync(path.join(ROOT, name === '.' ? '' : 'node_modules', name === '.' ? '' : name, 'package.json'), 'utf8')) as { version: string }).version; } catch { return 'n/a'; }
}

export function warnIfStale(): void {
  const cli = path.join(ROOT, 'dist/cli.js');
  if (!fs.existsSync(cli) || !fs.existsSync(path.join(ROOT, 'src'))) return;
  const newest = (dir: string): number => fs.readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .reduce((m, e) => Math.max(m, fs.statSync(path.join(e.parentPath ?? e.path, e.name)).mtimeMs), 0);
  if (newest(path.join(ROOT, 'src')) > fs.statSync(cli).mtimeMs) console.error('warning: src/ is newer than dist/cli.js; run `npm run build` to bench the current code');
}

// ---- formatting ----

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const int = (n: number) => Math.round(n).toLocaleString('en-US');
export const ms = (n: number | undefined | null) => (n === undefined || n === null ? 'n/a' : n < 10 ? n.toFixed(2) : n.toFixed(1));
export const pct = (n: number | null | undefined) => (n === null || n === undefined ? 'n/a' : `${Math.round(n)}%`);
export const mb = (n: number | null | undefined) => (n === null || n === undefined ? 'n/a' : `${Math.round(n)} MB`);
export const ratio = (a: number | null | undefined, b: number | null | undefined) => (a == null || b == null || b === 0 ? 'n/a' : `${(a / b).toFixed(2)}x`);

const LEFT = new Set(['target', 'measured', 'note', 'holds']); // text columns
export function table(rows: string[][]): string {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const left = rows[0].map((h, i) => i === 0 || LEFT.has(h));
  return rows.map((r) => r.map((c, i) => (left[i] ? (c ?? '').padEnd(w[i]) : (c ?? '').padStart(w[i]))).join('  ').trimEnd()).join('\n');
}
