// `--workers <n>`: n processes share the port through node:cluster (the primary accepts and hands
// connections to the workers), each a node of the cluster joined through the configured broker —
// so a room reached through any worker is one room. The primary serves nothing itself: it starts
// the workers, says "listening" once all of them are, restarts one that dies (bounded), and
// passes SIGTERM/SIGINT on so that each drains as a lone process would.
import cluster from 'node:cluster';
import type { Config } from './config.js';
import type { Logger } from './log.js';

/** Set in a worker's environment: its index (1..n), for its node id. */
export const WORKER_INDEX_ENV = 'MULTISOCKET_WORKER_INDEX';
/** A worker that dies is started again, but not more often than this per minute (a crash loop stops). */
const MAX_RESTARTS_PER_MINUTE = 10;

/** What the primary sends a worker to make it drain and exit. */
export const STOP_MESSAGE = 'multisocket:stop';

/** In a worker: call `stop` when the primary says so. */
export function onStopFromPrimary(stop: () => void): void {
  process.on('message', (m: { type?: string }) => { if (m?.type === STOP_MESSAGE) stop(); });
}

export function isWorkerProcess(): boolean {
  return cluster.isWorker && process.env[WORKER_INDEX_ENV] !== undefined;
}

/** A worker's node id: the configured (or default) id with `-w<index>`, kept within the id's length rule. */
export function workerNodeId(base: string, index: string): string {
  const suffix = `-w${index}`;
  return base.slice(0, 64 - suffix.length) + suffix;
}

/** Tell the primary this worker listens (it prints the one startup line for all). */
export function reportListening(port: number): void {
  process.send?.({ type: 'multisocket:listening', port });
}

/** Run the primary: start `config.workers` workers and supervise them until a signal. */
export function runPrimary(config: Config, log: Logger, startup: Logger, version: string): void {
  const n = config.workers;
  const listening = new Set<number>();
  const restarts: number[] = [];
  let stopping = false;
  let announced = false;

  const fork = (index: number) => {
    const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(index) });
    worker.on('message', (m: { type?: string; port?: number }) => {
      if (m?.type !== 'multisocket:listening' || typeof m.port !== 'number') return;
      listening.add(index);
      if (!announced && listening.size === n) {
        announced = true;
        startup.info('listening', { port: m.port, host: config.host, workers: n, broker: config.broker.kind, version, primary: process.pid });
      }
    });
    worker.on('exit', (code, signal) => {
      listening.delete(index);
      if (stopping) return;
      // Before every worker listened, a death is a start failure (engine unreachable, port taken):
      // starting it again would only repeat its one-line error.
      if (!announced) {
        log.error('a worker failed to start; stopping', { worker: index, code, signal });
        stop('start failure', 1);
        return;
      }
      const now = Date.now();
      while (restarts.length > 0 && restarts[0] < now - 60_000) restarts.shift();
      if (restarts.length >= MAX_RESTARTS_PER_MINUTE) {
        log.error('worker keeps dying; stopping', { worker: index, code, signal });
        stop('worker crash loop', 1);
        return;
      }
      restarts.push(now);
      log.warn('worker died; starting it again', { worker: index, code, signal });
      fork(index);
    });
  };

  const stop = (why: string, exitCode = 0) => {
    if (stopping) { log.warn('second signal, exiting now', { signal: why }); process.exit(1); }
    stopping = true;
    log.info('shutting down workers', { signal: why });
    const workers = Object.values(cluster.workers ?? {});
    // A message, not a signal: a terminal's Ctrl-C or systemd's control-group kill already signals
    // every worker, and a second SIGTERM would make a worker give up its drain.
    for (const w of workers) if (w?.isConnected()) w.send({ type: STOP_MESSAGE }); else w?.process.kill('SIGTERM');
    let left = workers.length;
    if (left === 0) process.exit(exitCode);
    for (const w of workers) w?.once('exit', () => { if (--left === 0) process.exit(exitCode); });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  for (let i = 1; i <= n; i++) fork(i);
}
