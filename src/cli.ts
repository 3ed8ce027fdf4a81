#!/usr/bin/env node
// `multisocket`: parse flags and environment, listen, drop privileges, shut down gracefully.
import { ConfigError, HELP, parseConfig } from './config.js';
import { createLogger } from './log.js';
import { MultisocketServer } from './server/server.js';
import { VERSION } from './version.js';
import { isWorkerProcess, onStopFromPrimary, reportListening, runPrimary, workerNodeId, WORKER_INDEX_ENV } from './workers.js';

async function main(): Promise<void> {
  let action;
  try {
    action = parseConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`multisocket: ${err.message} (see --help)\n`);
      process.exit(2);
    }
    throw err;
  }
  if (action.kind === 'help') { process.stdout.write(HELP); return; }
  if (action.kind === 'version') { process.stdout.write(VERSION + '\n'); return; }

  const { config } = action;
  const worker = isWorkerProcess();
  if (worker) config.nodeId = workerNodeId(config.nodeId, process.env[WORKER_INDEX_ENV]!);
  // The workers of --workers share the primary's stdout: each line says which worker wrote it.
  const logOptions = { format: config.logFormat, bindings: worker ? { node: config.nodeId } : undefined };
  const log = createLogger(config.logLevel, logOptions);
  // The one line every level but silent prints: it is how a supervisor learns the port (--port 0).
  const startup = config.logLevel === 'silent' ? log : createLogger('info', logOptions);
  if (config.workers > 1 && !worker) {
    runPrimary(config, log, startup, VERSION);
    return;
  }
  // Last resort only: every door answers its own failures. One that slips through is logged with
  // a fixed message (the fuzzer fails on it) instead of ending the process and every room in it.
  process.on('unhandledRejection', (reason) => {
    log.error('unhandledRejection', { err: reason instanceof Error ? reason.stack : String(reason) });
  });
  const server = new MultisocketServer(config, log);
  let address;
  try {
    await server.cluster?.start();
  } catch (err) {
    process.stderr.write(`multisocket: ${(err as Error).message}\n`);
    process.exit(1);
  }
  try {
    address = await server.listen();
  } catch (err) {
    const message = (err as Error).message;
    // The line listeners' errors name their own address (TCP port, unix socket).
    process.stderr.write(`multisocket: ${/^(cannot listen|--ipc)/.test(message) ? message : `cannot listen on ${config.host}:${config.port}: ${message}`}\n`);
    process.exit(1);
  }
  // Bind first (a low port may need root), then give root up, as moshpit does. Group first:
  // after setuid the process may no longer change its group.
  try {
    if (config.gid !== undefined) process.setgid!(/^\d+$/.test(config.gid) ? Number(config.gid) : config.gid);
    if (config.uid !== undefined) process.setuid!(/^\d+$/.test(config.uid) ? Number(config.uid) : config.uid);
  } catch (err) {
    process.stderr.write(`multisocket: cannot drop privileges: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const scheme = config.tls ? 'https' : 'http';
  const shownHost = address.address.includes(':') ? `[${address.address}]` : address.address;
  startup.info(worker ? 'worker listening' : 'listening', {
    port: address.port,
    host: address.address,
    url: `${scheme}://${shownHost}:${address.port}/`,
    tls: Boolean(config.tls),
    ...(server.lineAddresses.tcp ? { tcpPort: server.lineAddresses.tcp.port, tcpHost: server.lineAddresses.tcp.address, tcpTls: config.tcpTls } : {}),
    ...(server.lineAddresses.ipc !== undefined ? { ipc: server.lineAddresses.ipc } : {}),
    version: VERSION,
    broker: config.broker.kind,
    node: worker ? undefined : server.cluster?.nodeId, // a worker's lines all carry it already
    uid: process.getuid?.(),
    gid: process.getgid?.(),
  });
  // After this worker's line (written synchronously to the stdout it shares with the primary), so
  // the primary's "listening" comes after every worker's.
  if (worker) reportListening(address.port);

  // SIGTERM, SIGINT and POST /_/drain all drain (docs/cluster.md "Drain"): the server stops within
  // --drain-timeout plus a few seconds of closing; past that something hangs and the process goes.
  // A second signal exits at once; a signal during a drain POST /_/drain began (an orchestrator's
  // SIGTERM following the admin's drain) lets it go on.
  let stopping: 'signal' | 'request' | undefined;
  const stop = (signal: string, kind: 'signal' | 'request' = 'signal') => {
    if (stopping && signal === 'primary') return; // the primary passing on a signal this worker had too
    if (stopping === 'signal' && kind === 'signal') { log.warn('second signal, exiting now', { signal }); process.exit(1); }
    if (stopping) {
      if (kind === 'signal') { stopping = 'signal'; log.info('signal during a requested drain, draining on', { signal }); }
      return;
    }
    stopping = kind;
    log.info('shutting down', { signal, drainTimeoutMs: config.drainTimeoutMs });
    const force = setTimeout(() => { log.error('shutdown took too long, exiting'); process.exit(1); }, config.drainTimeoutMs + 4500);
    force.unref();
    server.close().then(() => { log.info('stopped'); process.exit(0); }, (err) => { log.error('shutdown failed', { err: String(err) }); process.exit(1); });
  };
  server.onDrainRequested = (by) => stop(by, 'request');
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (worker) onStopFromPrimary(() => stop('primary'));
}

main().catch((err) => {
  process.stderr.write(`multisocket: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
