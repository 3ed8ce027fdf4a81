// Structured logs through pino: one JSON object per line on stdout, so logs are grep-able by people
// and parseable by tests and log shippers; `--log-format pretty` turns each into a readable line.
// The rest of the code sees only `Logger` (msg first, fields second), so pino stays behind this file.
import pino from 'pino';
import type { LogFormat, LogLevel } from './config.js';
import { prettyLine } from './log-pretty.js';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface LoggerOptions {
  format?: LogFormat;
  /** Where each line goes (default stdout, written synchronously). */
  write?: (line: string) => void;
  /** Fields every line carries, e.g. `{ node }` in a worker of `--workers`. */
  bindings?: Record<string, unknown>;
  /** Pretty format only: colour the level (default: when stdout is a terminal and NO_COLOR is unset). */
  color?: boolean;
}

export function createLogger(level: LogLevel, options: LoggerOptions | ((line: string) => void) = {}): Logger {
  const opts: LoggerOptions = typeof options === 'function' ? { write: options } : options;
  // Synchronous like process.stdout.write to a pipe: lines keep their order with stderr and are not
  // lost to the process.exit() after "stopped". pino's default (asynchronous) buffers them.
  const write = opts.write ?? syncStdout();
  const pretty = opts.format === 'pretty';
  const color = opts.color ?? (process.stdout.isTTY === true && !('NO_COLOR' in process.env));
  const destination = { write: pretty ? (line: string) => write(prettyLine(line, color)) : write };
  const p = pino({
    level,
    // Today's shape: `level` as a label ("info", not 30), `time` as ISO 8601, no pid/hostname.
    base: opts.bindings ?? null,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }, destination);
  // The level is fixed for the logger's life: a level below it is an empty function, as cheap as
  // the old logger's early return (a wrapper around pino's own no-op cost ~10x that).
  const at = (lvl: 'debug' | 'info' | 'warn' | 'error') =>
    p.isLevelEnabled(lvl) ? (m: string, f?: Record<string, unknown>) => (f ? p[lvl](f, m) : p[lvl](m)) : noop;
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

const noop = (): void => {};

let stdout: ((line: string) => void) | undefined;
/** One synchronous stdout writer per process, shared by every logger (cli.ts makes two). */
function syncStdout(): (line: string) => void {
  if (!stdout) {
    const dest = pino.destination({ dest: 1, sync: true });
    stdout = (line) => { dest.write(line); };
  }
  return stdout;
}

export const silentLogger: Logger = createLogger('silent', () => {});

/**
 * The one line of an admin action (drain, kick, room close, server-side publish): `info`, message
 * "admin action", with `action`, the `room` and `cid` it touched, the caller's `address`, and `by`
 * when the credential names someone (a JWT's `sub`). docs/operations.md "Logs".
 */
export function logAdminAction(log: Logger, action: string, fields: { room?: string; cid?: string; by?: string; address?: string } & Record<string, unknown> = {}): void {
  log.info('admin action', { action, ...fields });
}
