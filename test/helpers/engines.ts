// Private Redis and NATS servers for the cluster tests (issue 11): each test starts its own
// `redis-server` / `nats-server` (Debian packages; `bash scripts/ensure-engines.sh`, which `npm test`
// runs first, installs them as root) on a free loopback port with its files in a temp dir, and
// can pause it (SIGSTOP: the engine hangs), take it down and bring it back on the same port, or stop
// it for good. A machine-wide Redis or NATS (6379, 4222) is never used, stopped or touched: every
// signal goes to a pid this module spawned.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { connect as natsConnect } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { lines } from './server.js';

export const ENSURE_ENGINES = 'scripts/ensure-engines.sh';

export type EngineKind = 'redis' | 'nats';

export interface RunningEngine {
  kind: EngineKind;
  url: string; // redis://127.0.0.1:<port> or nats://127.0.0.1:<port>
  port: number; // stays the same across down()/up()
  pid: number; // of the current process (the last one while down)
  dir: string; // temp dir with the engine's files (the JetStream store); removed by stop()
  logs: string[]; // the engine's last output lines, for failure messages
  /** SIGSTOP: the engine hangs with its sockets open (clients see no answers, not a refusal). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** End the process (SIGTERM, SIGKILL after a bound; or `signal` straight away), keeping port and dir:
   * clients now get connection refused. Redis loses its data (no persistence); JetStream keeps its store. */
  down(signal?: NodeJS.Signals): Promise<void>;
  /** Start again on the same port and dir after down(); resolves once it answers a PING. */
  up(): Promise<void>;
  /** down() then up(). */
  restart(signal?: NodeJS.Signals): Promise<void>;
  /** End the process and remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface NatsOptions {
  jetstream?: boolean;
}

/** Ports to try before free ones picked at random (for the test of the start retry). */
export interface StartTuning {
  tryPorts?: number[];
}

const START_ATTEMPTS = 5; // a picked port can be taken before the engine binds it: retry with another
const READY_TIMEOUT_MS = 15_000; // a busy 2-core machine can be slow to start JetStream
const STOP_GRACE_MS = 5_000; // SIGTERM, then SIGKILL
const MACHINE_WIDE = new Set([6379, 4222, 6222, 8222, 16379]); // never ours, even if free right now

/**
 * kill(SIGSTOP) returns before the engine has stopped: each of its threads stops on its way back to
 * user space, and on a busy machine one may first answer a request that was already in flight (seen
 * with nats-server: a JetStream publish acked right after pause()). So pause() waits, spinning on
 * /proc (a few ms at most; bounded), until every thread is in state T. Not on Linux: no wait.
 */
const STOP_WAIT_MS = 2_000;
function waitUntilStopped(pid: number): void {
  const tasks = `/proc/${pid}/task`;
  if (!existsSync(tasks)) return;
  const until = Date.now() + STOP_WAIT_MS;
  for (;;) {
    let running = false;
    try {
      for (const tid of readdirSync(tasks)) {
        // stat is "tid (comm) S ...": the state follows the last ')' (comm may contain spaces)
        const stat = readFileSync(`${tasks}/${tid}/stat`, 'utf8');
        const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        if (state !== 'T' && state !== 't' && state !== 'Z' && state !== 'X') { running = true; break; }
      }
    } catch {
      return; // the process or a thread went away meanwhile
    }
    if (!running) return;
    assert.ok(Date.now() < until, `engine pid ${pid} did not stop within ${STOP_WAIT_MS} ms of SIGSTOP`);
  }
}

/** Spawn `redis-server` on a free loopback port, no persistence, files in a temp dir. */
export function startRedis(tuning: StartTuning = {}): Promise<RunningEngine> {
  return startEngine('redis', {}, tuning);
}

/** Spawn `nats-server` on a free loopback port; with `jetstream`, its store in a temp dir. */
export function startNats(opts: NatsOptions = {}, tuning: StartTuning = {}): Promise<RunningEngine> {
  return startEngine('nats', opts, tuning);
}

export function pauseEngine(engine: RunningEngine): void { engine.pause(); }
export function resumeEngine(engine: RunningEngine): void { engine.resume(); }

// Engines still running when this test process ends (even when the runner cuts it short) are
// killed and their dirs removed. Beyond that, each engine runs under `setpriv --pdeathsig KILL`
// (when util-linux has it), so the kernel kills it if this process dies without running handlers.
const live = new Map<ChildProcess, string>(); // process -> its temp dir
const dirs = new Set<string>();
function killAll(): void {
  for (const proc of live.keys()) { proc.kill('SIGCONT'); proc.kill('SIGKILL'); }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}
process.once('exit', killAll);
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => { killAll(); process.exit(1); });
}

/** The engine binary: $REDIS_SERVER_BIN / $NATS_SERVER_BIN, else PATH, else /usr/sbin or /usr/bin
 * (Debian's nats-server is in /usr/sbin, which a non-root PATH may lack). Fails naming the script. */
function engineBinary(name: 'redis-server' | 'nats-server'): string {
  const override = process.env[name === 'redis-server' ? 'REDIS_SERVER_BIN' : 'NATS_SERVER_BIN'];
  const found = override
    ?? (process.env.PATH ?? '').split(path.delimiter).concat('/usr/sbin', '/usr/bin')
      .map((d) => path.join(d, name)).find((p) => existsSync(p));
  if (!found || !existsSync(found)) {
    assert.fail(`${name} is missing, so the engine tests cannot run. Install Debian's ${name} package: ` +
      `run \`bash ${ENSURE_ENGINES}\` as root (npm test runs it first), or \`apt-get install ${name}\`.`);
  }
  return found;
}

let setprivChecked: boolean | undefined;
function hasSetpriv(): boolean {
  setprivChecked ??= spawnSync('setpriv', ['--pdeathsig', 'KILL', 'true']).status === 0;
  return setprivChecked;
}

/** A random port in [20000, 32000) that 127.0.0.1 can bind right now. Below the kernel's ephemeral
 * range (32768+), so outgoing connections never take it; other test processes may, hence the retry. */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (MACHINE_WIDE.has(port)) continue;
    if (await canBind(port)) return port;
  }
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

function argsFor(kind: EngineKind, port: number, dir: string, opts: NatsOptions): string[] {
  if (kind === 'redis') {
    return [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', dir, '--daemonize', 'no', '--logfile', '', '--pidfile', '', '--supervised', 'no',
      '--unixsocket', '', '--loglevel', 'notice',
    ];
  }
  // -n: a name of our own, so a log or a client's INFO shows which server answered.
  const args = ['-a', '127.0.0.1', '-p', String(port), '-n', `multisocket-test-${process.pid}-${port}`];
  if (opts.jetstream) args.push('-js', '-sd', dir);
  return args;
}

// The line each engine logs once it listens.
const READY_LINE: Record<EngineKind, RegExp> = { redis: /Ready to accept connections/, nats: /Server is ready/ };

interface Spawned { proc: ChildProcess; exited: Promise<void> }

/** Spawn one engine process and wait for its ready line; rejects (after reaping it) if it exits first. */
async function spawnEngine(kind: EngineKind, port: number, dir: string, opts: NatsOptions, logs: string[]): Promise<Spawned> {
  const bin = engineBinary(kind === 'redis' ? 'redis-server' : 'nats-server');
  const args = argsFor(kind, port, dir, opts);
  const [cmd, argv] = hasSetpriv() ? ['setpriv', ['--pdeathsig', 'KILL', bin, ...args]] : [bin, args];
  // setpriv execs the engine, so proc.pid is the engine's pid.
  const proc = spawn(cmd, argv, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  live.set(proc, dir);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => { live.delete(proc); resolve(); }));
  const keep = (line: string) => { logs.push(line); if (logs.length > 200) logs.shift(); };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${kind} on port ${port} did not log ready within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      const onLine = (line: string) => { keep(line); if (READY_LINE[kind].test(line)) { clearTimeout(timer); resolve(); } };
      lines(proc.stdout!, onLine);
      lines(proc.stderr!, onLine);
      proc.once('error', (err) => { clearTimeout(timer); reject(err); });
      proc.once('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`${kind} on port ${port} exited (${sig ?? code}) before it was ready`)); });
    });
  } catch (err) {
    proc.kill('SIGKILL');
    if (proc.pid !== undefined) await exited;
    live.delete(proc);
    throw err;
  }
  // From here on the engine does not keep this process alive: a test that forgets stop() ends
  // anyway, and the exit handler above kills the engine.
  proc.unref();
  (proc.stdout as net.Socket).unref();
  (proc.stderr as net.Socket).unref();
  return { proc, exited };
}

/** One PING through the real client: proves the engine answers on `url`, not just that it logged. */
async function ping(kind: EngineKind, url: string): Promise<void> {
  if (kind === 'redis') {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 5000 });
    client.on('error', () => { /* reported by connect()/ping() */ });
    try {
      await client.connect();
      assert.equal(await client.ping(), 'PONG');
    } finally {
      client.disconnect();
    }
  } else {
    const nc = await natsConnect({ servers: url, reconnect: false, timeout: 5000 });
    try {
      const rtt = await nc.rtt(); // PING/PONG
      assert.ok(rtt >= 0);
    } finally {
      await nc.close();
    }
  }
}

async function startEngine(kind: EngineKind, opts: NatsOptions, tuning: StartTuning): Promise<RunningEngine> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `multisocket-${kind}-`));
  dirs.add(dir);
  const logs: string[] = [];
  const failures: string[] = [];
  let current: Spawned | undefined;
  let port = 0;
  const tryPorts = [...(tuning.tryPorts ?? [])];
  for (let attempt = 1; attempt <= START_ATTEMPTS && !current; attempt++) {
    port = tryPorts.shift() ?? await freePort();
    try {
      current = await spawnEngine(kind, port, dir, opts, logs);
    } catch (err) {
      failures.push(`attempt ${attempt}, port ${port}: ${(err as Error).message}`);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
    }
  }
  if (!current) {
    rmSync(dir, { recursive: true, force: true });
    dirs.delete(dir);
    throw new Error(`could not start ${kind}:\n${failures.join('\n')}\n${logs.slice(-20).join('\n')}`);
  }
  const url = `${kind}://127.0.0.1:${port}`;
  let lastPid = current.proc.pid!;
  let paused = false;
  let stopped = false;

  const endProcess = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const running = current;
    current = undefined;
    if (!running || running.proc.exitCode !== null || running.proc.signalCode !== null) return;
    running.proc.kill(signal);
    if (paused) { running.proc.kill('SIGCONT'); paused = false; } // a stopped process acts on SIGTERM only once continued
    const kill = setTimeout(() => running.proc.kill('SIGKILL'), STOP_GRACE_MS);
    await running.exited;
    clearTimeout(kill);
  };

  const engine: RunningEngine = {
    kind, url, port, dir, logs,
    get pid() { return lastPid; },
    pause() {
      assert.ok(current, `${kind} is down`);
      current.proc.kill('SIGSTOP');
      paused = true;
      waitUntilStopped(current.proc.pid!);
    },
    resume() {
      assert.ok(current, `${kind} is down`);
      current.proc.kill('SIGCONT');
      paused = false;
    },
    down: (signal) => endProcess(signal),
    async up() {
      assert.ok(!stopped, `${kind} was stopped`);
      assert.ok(!current, `${kind} is already up`);
      // The same port on purpose: clients reconnect to the URL they know. If another process took
      // the port meanwhile, this fails rather than moving.
      const started = await spawnEngine(kind, port, dir, opts, logs);
      lastPid = started.proc.pid!;
      if (stopped) { // stop() was called while this one started
        started.proc.kill('SIGKILL');
        await started.exited;
        throw new Error(`${kind} was stopped while it came up`);
      }
      current = started;
      await ping(kind, url);
    },
    async restart(signal) {
      await engine.down(signal);
      await engine.up();
    },
    async stop() {
      stopped = true;
      await endProcess();
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
  };
  try {
    await ping(kind, url);
  } catch (err) {
    await engine.stop();
    throw new Error(`${kind} logged ready on ${url} but did not answer a PING: ${(err as Error).message}\n${logs.slice(-20).join('\n')}`);
  }
  return engine;
}

/**
 * Everything a JetStream stream holds, as the engine sees it: each message's data, subject and
 * headers as bytes (the no-plaintext checks of the contract tests search these).
 */
export async function rawJetStream(url: string, stream: string): Promise<Buffer[]> {
  const nc = await natsConnect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const ci = await jsm.consumers.add(stream, { deliver_policy: DeliverPolicy.All, ack_policy: AckPolicy.None });
    const out: Buffer[] = [];
    if (ci.num_pending === 0) return out;
    const msgs = await jetstream(nc).consumers.getConsumerFromInfo(ci).fetch({ max_messages: ci.num_pending, expires: 2000 });
    for await (const m of msgs) {
      out.push(Buffer.from(m.data), Buffer.from(m.subject));
      for (const [k, v] of m.headers ?? []) out.push(Buffer.from(`${k}: ${v.join(',')}`));
      if (m.info.pending === 0) break;
    }
    return out;
  } finally { await nc.close(); }
}

export interface RawRedisOptions {
  /** key types read; any other type fails the test (default: strings and streams) */
  types?: Array<'string' | 'stream' | 'hash' | 'set'>;
  /** also return the key names */
  keys?: boolean;
  /** skip keys of other types instead of failing */
  skipOthers?: boolean;
}

/** Every byte Redis holds under keys matching `pattern` (values, stream entry ids and fields), for plaintext checks. */
export async function rawRedis(url: string, pattern: string, opts: RawRedisOptions = {}): Promise<Buffer[]> {
  const types = new Set<string>(opts.types ?? ['string', 'stream']);
  const r = new Redis(url);
  try {
    const out: Buffer[] = [];
    for (const k of await r.keysBuffer(pattern)) {
      if (opts.keys) out.push(k);
      const type = await r.type(k);
      if (!types.has(type)) {
        assert.ok(opts.skipOthers, `unexpected ${type} key ${k}`);
        continue;
      }
      if (type === 'string') out.push((await r.getBuffer(k))!);
      else if (type === 'hash') out.push(...Object.values(await r.hgetallBuffer(k)));
      else if (type === 'stream') for (const [id, fields] of await r.xrangeBuffer(k, '-', '+')) out.push(id, ...fields);
      else if (type === 'set') out.push(...await r.smembersBuffer(k));
    }
    return out;
  } finally { r.disconnect(); }
}
