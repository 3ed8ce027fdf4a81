// One place for every server setting: defaults, the CLI flags that set them, and the environment
// variables that mirror those flags (MULTISOCKET_<FLAG>), plus the seed's PORT/HOST/SSL* variables.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

export interface Config {
  port: number;
  host: string;
  /** PEM key and certificate contents; both set means HTTPS/WSS. */
  tls?: { key: Buffer; cert: Buffer; keyPath: string; certPath: string };
  /** How long an empty room keeps its graph before it is freed, in ms. */
  roomTtlMs: number;
  maxRooms: number;
  maxPeersPerRoom: number;
  /** Largest accepted WebSocket frame payload; larger frames close the socket with 1009. */
  maxMessageBytes: number;
  /** Approximate cap on one room's graph; a put that would pass it gets an `err` ack. */
  maxRoomBytes: number;
  /** Bytes queued to one socket (kernel + ours) before it is closed as a slow consumer. */
  maxQueuedBytes: number;
  /** Ping interval; a peer that has not answered the previous ping is dropped. 0 disables. */
  heartbeatMs: number;
  /** Messages one connection may send per second before its reads are paused (flood control). */
  maxMessagesPerSecond: number;
  /** Under load, queued fan-out is written at most once per this many ms (0: every turn). */
  coalesceMs: number;
  /** Published messages kept per room for replay, and for how long (ms). */
  historySize: number;
  historyTtlMs: number;
  /** UTF-8 bytes of published messages kept per room for replay. */
  historyBytes: number;
  /** Requests one native connection may have waiting for replies. */
  maxPendingRequests: number;
  /** Access-Control-Allow-Origin for the HTTP API on room paths. */
  corsOrigin: string;
  uid?: string;
  gid?: string;
  logLevel: LogLevel;
}

export const DEFAULTS: Omit<Config, 'tls' | 'uid' | 'gid'> = {
  port: 8765,
  host: '0.0.0.0',
  roomTtlMs: 300_000,
  maxRooms: 10_000,
  maxPeersPerRoom: 10_000,
  maxMessageBytes: 10 * 1024 * 1024,
  maxRoomBytes: 64 * 1024 * 1024,
  maxQueuedBytes: 16 * 1024 * 1024,
  heartbeatMs: 20_000,
  maxMessagesPerSecond: 50_000,
  coalesceMs: 2,
  historySize: 1000,
  historyTtlMs: 300_000,
  historyBytes: 8 * 1024 * 1024,
  maxPendingRequests: 100,
  corsOrigin: '*',
  logLevel: 'info',
};

/** A bad flag, value or key file: the CLI prints `message` on one line and exits non-zero. */
export class ConfigError extends Error {}

// Flags as util.parseArgs sees them. Each long name maps to env MULTISOCKET_<NAME_IN_CAPS>.
const OPTIONS = {
  port: { type: 'string', short: 'p' },
  host: { type: 'string' },
  'ssl-key': { type: 'string' },
  'ssl-cert': { type: 'string' },
  'room-ttl': { type: 'string' },
  'max-rooms': { type: 'string' },
  'max-peers-per-room': { type: 'string' },
  'max-message-bytes': { type: 'string' },
  'max-room-bytes': { type: 'string' },
  'max-queued-bytes': { type: 'string' },
  'max-messages-per-second': { type: 'string' },
  'coalesce-ms': { type: 'string' },
  heartbeat: { type: 'string' },
  'cors-origin': { type: 'string' },
  'history-size': { type: 'string' },
  'history-ttl': { type: 'string' },
  'history-bytes': { type: 'string' },
  'max-pending-requests': { type: 'string' },
  uid: { type: 'string' },
  gid: { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const;

export const HELP = `Usage: multisocket [options]

Real-time relay: one port, isolated ephemeral rooms by URL path (GUN peers and more).

Options (each also read from the environment variable shown):
  -p, --port <n>                   listen port (MULTISOCKET_PORT, PORT; default 8765)
      --host <addr>                bind address (MULTISOCKET_HOST, HOST; default 0.0.0.0)
      --ssl-key <file>             PEM private key: serve HTTPS/WSS (MULTISOCKET_SSL_KEY, SSLKEY with SSL=true)
      --ssl-cert <file>            PEM certificate (MULTISOCKET_SSL_CERT, SSLCERT with SSL=true)
      --room-ttl <seconds>         keep an empty room's data this long (MULTISOCKET_ROOM_TTL; default 300)
      --max-rooms <n>              rooms at once; more get HTTP 503 (MULTISOCKET_MAX_ROOMS; default 10000)
      --max-peers-per-room <n>     peers per room; more get HTTP 503 (MULTISOCKET_MAX_PEERS_PER_ROOM; default 10000)
      --max-message-bytes <n>      largest frame; larger closes with 1009 (MULTISOCKET_MAX_MESSAGE_BYTES; default 10485760)
      --max-room-bytes <n>         approximate graph size cap per room (MULTISOCKET_MAX_ROOM_BYTES; default 67108864)
      --max-queued-bytes <n>       unsent bytes per peer before it is closed as slow, code 4008 (MULTISOCKET_MAX_QUEUED_BYTES; default 16777216)
      --max-messages-per-second <n> per peer; beyond it the peer's reads pause (MULTISOCKET_MAX_MESSAGES_PER_SECOND; default 50000)
      --heartbeat <seconds>        ping interval, dead peers dropped; 0 = off (MULTISOCKET_HEARTBEAT; default 20)
      --coalesce-ms <ms>           under load, write fan-out at most every <ms>; 0 = every event-loop turn (MULTISOCKET_COALESCE_MS; default 2)
      --history-size <n>           published messages kept per room for replay (MULTISOCKET_HISTORY_SIZE; default 1000)
      --history-ttl <seconds>      how long they are kept (MULTISOCKET_HISTORY_TTL; default 300)
      --history-bytes <n>          and at most this many bytes of them per room (MULTISOCKET_HISTORY_BYTES; default 8388608)
      --max-pending-requests <n>   native requests waiting per connection (MULTISOCKET_MAX_PENDING_REQUESTS; default 100)
      --cors-origin <origin>       Access-Control-Allow-Origin of the HTTP API (MULTISOCKET_CORS_ORIGIN; default *)
      --uid <user|id>              drop to this user after binding (MULTISOCKET_UID)
      --gid <group|id>             drop to this group after binding (MULTISOCKET_GID)
      --log-level <level>          debug|info|warn|error|silent (MULTISOCKET_LOG_LEVEL; default info)
  -h, --help                       show this help
  -V, --version                    show the version
`;

export type CliAction = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; config: Config };

/** Parse argv and env into a Config; throws ConfigError with a one-line message on bad input. */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): CliAction {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };

  // flag > MULTISOCKET_<FLAG> > legacy variable
  const pick = (flag: keyof typeof OPTIONS, ...legacy: string[]): { value: string; from: string } | undefined => {
    const v = values[flag];
    if (typeof v === 'string') return { value: v, from: `--${flag}` };
    const envName = 'MULTISOCKET_' + flag.toUpperCase().replace(/-/g, '_');
    if (env[envName] !== undefined && env[envName] !== '') return { value: env[envName]!, from: envName };
    for (const name of legacy) if (env[name] !== undefined && env[name] !== '') return { value: env[name]!, from: name };
    return undefined;
  };
  const int = (flag: keyof typeof OPTIONS, def: number, min: number, max: number, ...legacy: string[]): number => {
    const p = pick(flag, ...legacy);
    if (!p) return def;
    const n = Number(p.value);
    if (!/^\s*\d+\s*$/.test(p.value) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new ConfigError(`${p.from}: expected a whole number from ${min} to ${max}, got "${p.value}"`);
    }
    return n;
  };
  const seconds = (flag: keyof typeof OPTIONS, defMs: number): number => {
    const p = pick(flag);
    if (!p) return defMs;
    const n = Number(p.value);
    if (p.value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 2_000_000) {
      throw new ConfigError(`${p.from}: expected seconds (a number from 0 to 2000000), got "${p.value}"`);
    }
    return Math.round(n * 1000);
  };

  const logPick = pick('log-level');
  const logLevel = (logPick?.value ?? DEFAULTS.logLevel) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`${logPick!.from}: expected one of ${LOG_LEVELS.join('|')}, got "${logLevel}"`);

  const config: Config = {
    port: int('port', DEFAULTS.port, 0, 65535, 'PORT'),
    host: pick('host', 'HOST')?.value ?? DEFAULTS.host,
    roomTtlMs: seconds('room-ttl', DEFAULTS.roomTtlMs),
    maxRooms: int('max-rooms', DEFAULTS.maxRooms, 1, 10_000_000),
    maxPeersPerRoom: int('max-peers-per-room', DEFAULTS.maxPeersPerRoom, 1, 10_000_000),
    maxMessageBytes: int('max-message-bytes', DEFAULTS.maxMessageBytes, 64, 1024 * 1024 * 1024),
    maxRoomBytes: int('max-room-bytes', DEFAULTS.maxRoomBytes, 1, Number.MAX_SAFE_INTEGER),
    maxQueuedBytes: int('max-queued-bytes', DEFAULTS.maxQueuedBytes, 1024, Number.MAX_SAFE_INTEGER),
    maxMessagesPerSecond: int('max-messages-per-second', DEFAULTS.maxMessagesPerSecond, 1, 100_000_000),
    coalesceMs: int('coalesce-ms', DEFAULTS.coalesceMs, 0, 1000),
    heartbeatMs: seconds('heartbeat', DEFAULTS.heartbeatMs),
    historySize: int('history-size', DEFAULTS.historySize, 0, 10_000_000),
    historyTtlMs: seconds('history-ttl', DEFAULTS.historyTtlMs),
    historyBytes: int('history-bytes', DEFAULTS.historyBytes, 0, Number.MAX_SAFE_INTEGER),
    maxPendingRequests: int('max-pending-requests', DEFAULTS.maxPendingRequests, 1, 1_000_000),
    corsOrigin: pick('cors-origin')?.value ?? DEFAULTS.corsOrigin,
    uid: pick('uid')?.value,
    gid: pick('gid')?.value,
    logLevel,
  };

  if (!/^[\x21-\x7e]+$/.test(config.corsOrigin)) throw new ConfigError(`cors origin must be "*" or an origin like https://example.com, got "${config.corsOrigin}"`);

  // TLS: --ssl-key/--ssl-cert (or MULTISOCKET_SSL_*), or the seed's SSL=true SSLKEY=.. SSLCERT=..
  // SSL=false (or 0/no/off/empty) really means off, unlike the original's string comparison.
  let keyPath = pick('ssl-key')?.value;
  let certPath = pick('ssl-cert')?.value;
  const ssl = (env.SSL ?? '').trim().toLowerCase();
  if (!keyPath && !certPath && ['true', '1', 'yes', 'on'].includes(ssl)) {
    keyPath = env.SSLKEY;
    certPath = env.SSLCERT;
    if (!keyPath || !certPath) throw new ConfigError('SSL=true needs SSLKEY and SSLCERT (paths to PEM files)');
  } else if (ssl && !['false', '0', 'no', 'off', 'true', '1', 'yes', 'on'].includes(ssl)) {
    throw new ConfigError(`SSL: expected true or false, got "${env.SSL}"`);
  }
  if (keyPath || certPath) {
    if (!keyPath || !certPath) throw new ConfigError('TLS needs both --ssl-key and --ssl-cert');
    config.tls = { key: readPem(keyPath, 'key'), cert: readPem(certPath, 'certificate'), keyPath, certPath };
  }
  return { kind: 'run', config };
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(`cannot read TLS ${what} file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Config for embedding (tests, library use): defaults overridden by `partial`. */
export function makeConfig(partial: Partial<Config> = {}): Config {
  return { ...DEFAULTS, ...partial };
}
