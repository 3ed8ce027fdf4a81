// Starts the real server the way the README does (node dist/cli.js, which `npm start` runs),
// in its own process, and hands back its address. No mocks: tests talk to it over loopback.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'dist/cli.js');

// Servers still running when this test process ends (even when the runner cuts it short) are
// killed, so no test leaves a server behind.
const live = new Set<ChildProcess>();
process.once('exit', () => { for (const p of live) p.kill('SIGKILL'); });
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => { for (const p of live) p.kill('SIGKILL'); process.exit(1); });
}

export interface RunningServer {
  port: number;
  host: string;
  http: string; // http://127.0.0.1:port
  ws: string; // ws://127.0.0.1:port
  proc: ChildProcess;
  logs: string[]; // every stdout/stderr line so far
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartOptions {
  args?: string[];
  env?: Record<string, string>;
  port?: number; // default 0 (any free port)
  timeoutMs?: number;
}

/** Spawn `node dist/cli.js --host 127.0.0.1 --port <port>` and wait for its "listening" log line. */
export async function startServer(opts: StartOptions = {}): Promise<RunningServer> {
  const args = [CLI, '--host', '127.0.0.1', '--port', String(opts.port ?? 0), ...(opts.args ?? [])];
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, MULTISOCKET_LOG_LEVEL: 'info', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  let exited = false;
  live.add(proc);
  proc.on('exit', () => { exited = true; live.delete(proc); });
  const port = await listeningPort(proc, logs, 'server', opts.timeoutMs);
  return {
    port, host: '127.0.0.1', http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}`, proc, logs,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (exited) return proc.exitCode;
      proc.kill(signal);
      const kill = setTimeout(() => proc.kill('SIGKILL'), 8000);
      const [code] = await once(proc, 'exit');
      clearTimeout(kill);
      return code as number | null;
    },
  };
}

/**
 * The port of the first JSON log line `{"msg":"listening","port":n}` of `proc` (stdout or stderr);
 * every line goes into `logs`. Rejects, with the lines so far, when `proc` exits first or after `timeoutMs`.
 */
export function listeningPort(proc: ChildProcess, logs: string[], what: string, timeoutMs = 10_000): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start:\n` + logs.join('\n'))), timeoutMs);
    const onLine = (line: string) => {
      logs.push(line);
      try {
        const rec = JSON.parse(line);
        if (rec.msg === 'listening' && typeof rec.port === 'number') { clearTimeout(timer); resolve(rec.port); }
      } catch { /* not JSON */ }
    };
    lines(proc.stdout!, onLine);
    lines(proc.stderr!, onLine);
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${what} exited with ${code}:\n` + logs.join('\n'))); });
  });
}

export function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) { onLine(buf.slice(0, i)); buf = buf.slice(i + 1); }
  });
}
