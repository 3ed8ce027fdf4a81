// The server side of the cluster scenario (bench/run.ts `cluster`): a private redis-server and N
// processes on it — N multisocket nodes (`--broker redis://… --node-id … --cluster-key …`) or N
// Socket.IO processes joined by @socket.io/redis-adapter — or one target alone, behind one shape
// (`Setup`) so that the open-loop ramp runs the same way on each.
//
// Every process of a setup is pinned to the server core, Redis included: on this 2-core machine
// the load generator keeps the other core to itself, as in every other scenario, so a two-node
// setup has exactly the CPU a single node has and the comparison shows what the cluster path
// costs, not what a second core buys (docs/performance.md, "Cluster").
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import { Proc, SERVER_CORE, freePort, pin, pkgVersion, startTarget, tmpDir, waitListening, type TargetName } from './lib.js';

export interface Setup {
  describe: string;
  /** One port per node; the publisher uses the first. */
  ports: number[];
  /** Every process that serves the load (nodes, then the engine): their CPU and RSS are summed. */
  pids: number[];
  /** Names of `pids`, in order ("node A", "node B", "redis"). */
  names: string[];
  alive(): boolean;
  /** Server log lines at warn level or above. */
  warnings(): string[];
  stop(): Promise<void>;
}

const REDIS_BIN = ['redis-server', '/usr/bin/redis-server', '/usr/sbin/redis-server']
  .find((b) => spawnSync(b, ['--version']).status === 0) ?? null;

export function redisVersion(): string {
  if (!REDIS_BIN) return 'n/a';
  return /v=(\S+)/.exec(spawnSync(REDIS_BIN, ['--version'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? 'n/a';
}

let hasSetpriv: boolean | undefined;

/** A private redis-server on a free loopback port (never the machine-wide 6379): no persistence,
 *  files in a temp dir, pinned to the server core; killed by pid with the orchestrator's children
 *  (and by the kernel if the orchestrator dies without handlers, where setpriv exists). */
export async function startRedis(): Promise<{ proc: Proc; url: string }> {
  if (!REDIS_BIN) throw new Error('redis-server not found: `apt-get install redis-server` (scripts/ensure-engines.sh installs it)');
  hasSetpriv ??= spawnSync('setpriv', ['--pdeathsig', 'KILL', 'true']).status === 0;
  const port = await freePort(); // 20000..32000: never 6379
  const dir = tmpDir('multisocket-bench-redis-');
  const argv = [REDIS_BIN, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
    '--daemonize', 'no', '--logfile', '', '--pidfile', '', '--unixsocket', '', '--loglevel', 'warning'];
  const proc = new Proc('redis-server', pin(SERVER_CORE, hasSetpriv ? ['setpriv', '--pdeathsig', 'KILL', ...argv] : argv), dir);
  try {
    await waitListening(proc, port, 15_000);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { proc, url: `redis://127.0.0.1:${port}` };
}

const LETTERS = 'ABCDEFGH';
// "broker up" is logged at warn by every node at start (an operator should see that a node joined
// an engine); it is not a problem of the run.
const isWarning = (l: string) => /"level":"(warn|error|fatal)"/.test(l) && !/"msg":"broker up"/.test(l);

/** One target alone (what every other scenario runs). */
export async function single(target: TargetName, serverArgs: string[]): Promise<Setup> {
  const t = await startTarget(target, { serverArgs });
  return {
    describe: `${t.spec.describe}, alone`, ports: [t.port], pids: [t.server.pid], names: ['server'],
    alive: () => t.server.alive, warnings: () => t.server.logs.filter(isWarning),
    stop: async () => { await t.server.stop(); t.spec.cleanup?.(); },
  };
}

/**
 * `nodes` processes of `target` (ours or socketio) on one private Redis. Ours: `--broker`, a node
 * id per node and one random cluster key (sealing is part of the cost). Resolves once every
 * process accepts connections; on failure everything started is stopped.
 */
export async function onRedis(target: 'ours' | 'socketio', nodes: number, serverArgs: string[]): Promise<Setup> {
  const redis = await startRedis();
  const key = crypto.randomBytes(24).toString('hex');
  const started: { server: Proc; port: number; cleanup?: () => void }[] = [];
  const stop = async () => {
    await Promise.all(started.map(async (s) => { await s.server.stop(); s.cleanup?.(); }));
    await redis.proc.stop();
  };
  try {
    for (let i = 0; i < nodes; i++) {
      const args = target === 'ours'
        ? ['--broker', redis.url, '--node-id', `bench-${LETTERS[i].toLowerCase()}`, '--cluster-key', key, ...serverArgs]
        : ['--redis', redis.url];
      const t = await startTarget(target, { serverArgs: args });
      started.push({ server: t.server, port: t.port, cleanup: t.spec.cleanup });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const what = target === 'ours'
    ? `${nodes} multisocket ${pkgVersion('.')} nodes (node dist/cli.js --broker ${redis.url} --node-id bench-a|b --cluster-key <random>${serverArgs.length ? ' ' + serverArgs.join(' ') : ''})`
    : `${nodes} socket.io ${pkgVersion('socket.io')} processes with @socket.io/redis-adapter ${pkgVersion('@socket.io/redis-adapter')} (ioredis ${pkgVersion('ioredis')}), websocket transport, no compression`;
  return {
    describe: `${what} + redis-server ${redisVersion()}, all on one core`,
    ports: started.map((s) => s.port),
    pids: [...started.map((s) => s.server.pid), redis.proc.pid],
    names: [...started.map((_, i) => `node ${LETTERS[i]}`), 'redis'],
    alive: () => redis.proc.alive && started.every((s) => s.server.alive),
    warnings: () => started.flatMap((s, i) => s.server.logs.filter(isWarning).map((l) => `node ${LETTERS[i]}: ${l}`)),
    stop,
  };
}

/**
 * What node A's GET /_/nodes says once every node's heartbeat (every 2 s) counts the members:
 * "2 live node(s) seen from bench-a: bench-a (501 connections, 1 rooms), …". Polls until the
 * connections add up to `connections` or 5 s have passed (then it says what it saw last).
 */
export async function liveNodes(port: number, connections: number): Promise<string> {
  const until = Date.now() + 5000;
  for (;;) {
    const r = await nodesOnce(port);
    if (r.total >= connections || Date.now() > until) return r.text + (r.total >= connections ? '' : ` (expected ${connections} connections in all)`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

function nodesOnce(port: number): Promise<{ text: string; total: number }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/_/nodes', timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => {
        try {
          const o = JSON.parse(body) as { self: string; nodes: { id: string; connections?: number; rooms?: number }[] };
          const total = o.nodes.reduce((sum, n) => sum + (n.connections ?? 0), 0);
          resolve({ total, text: `${o.nodes.length} live node(s) seen from ${o.self}: ${o.nodes.map((n) => `${n.id} (${n.connections ?? '?'} connections, ${n.rooms ?? '?'} rooms)`).join(', ')}` });
        } catch { resolve({ total: -1, text: `/_/nodes answered ${res.statusCode}: ${body.slice(0, 200)}` }); }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ total: -1, text: `/_/nodes failed: ${err.message}` }));
  });
}
