// One place for every server setting: defaults, the CLI flags that set them, and the environment
// variables that mirror those flags (MULTISOCKET_<FLAG>), plus the seed's PORT/HOST/SSL* variables.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { compileRoomGlob } from './access/room-glob.js';
import { parseBrokerUrl, type BrokerConfig } from './cluster/broker-url.js';
import { ClusterKey, ClusterKeyError } from './cluster/cluster-key.js';
import { defaultNodeId, NODE_ID_RULE, validNodeId } from './cluster/node-id.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];
/** json: one object per line, for log shippers and supervisors; pretty: one readable line, for a terminal. */
export type LogFormat = 'json' | 'pretty';
const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];

export interface Config {
  port: number;
  host: string;
  /** PEM key and certificate contents; both set means HTTPS/WSS. */
  tls?: { key: Buffer; cert: Buffer; keyPath: string; certPath: string };
  /** Newline-delimited JSON members over TCP (docs/protocol.md "TCP and IPC"); undefined = off, 0 = any free port. */
  tcpPort?: number;
  /** Bind address of the TCP listener (default: `host`). */
  tcpHost?: string;
  /** TLS on the TCP listener, with the certificate of --ssl-key/--ssl-cert. */
  tcpTls: boolean;
  /** Unix-domain socket path of the IPC listener; undefined = off. */
  ipcPath?: string;
  /** File mode of the IPC socket (default 0o660). */
  ipcMode: number;
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
  /** A dropped native member is kept this long (ms) for its `resume`; others then see `leave`. */
  resumeGraceMs: number;
  /** Largest presence `info` (JSON bytes) a member may attach. */
  maxInfoBytes: number;
  /** Jobs (pushes) one room's work queue may hold waiting, and their bytes. */
  maxQueuedJobs: number;
  maxQueuedJobBytes: number;
  /** A job not acked or nacked this long after delivery (ms) is given to another puller. */
  jobAckWaitMs: number;
  /** Deliveries of one job before it is reported `job_failed` to its pusher. */
  jobMaxAttempts: number;
  /**
   * Origins whose browser pages may use the server (WebSocket upgrades, SSE, CORS): `*` (any), or
   * `scheme://host[:port]` entries, where `https://*.example.com` covers its subdomains.
   */
  allowedOrigins: string[];
  /** Room tokens: unset means every room is open to everyone. */
  auth?: AuthConfig;
  /** Globs of rooms that need no token while tokens are configured. */
  publicRooms: string[];
  /** WebSocket and SSE connections at once, whole server; 0 = no limit. */
  maxConnections: number;
  /** Connections at once from one client address; 0 = no limit. */
  maxConnectionsPerIp: number;
  /** New connections per second from one client address; 0 = no limit. */
  connectRatePerIp: number;
  /** Rooms one client address may create per minute; 0 = no limit. */
  newRoomsPerIp: number;
  /** Proxies in front whose X-Forwarded-For / Forwarded entries are believed; 0 = the socket's address. */
  trustProxy: number;
  uid?: string;
  gid?: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** Which engine joins this node's rooms with other nodes' (`memory`: one process). */
  broker: BrokerConfig;
  /** This process in the cluster (logs, /_/nodes, engine keys). */
  nodeId: string;
  /** Seals everything nodes exchange or store in the engine (--cluster-key); null: plain. */
  clusterKey: ClusterKey | null;
  /** Processes sharing the port (node:cluster); 1 = this process only. */
  workers: number;
  /** On SIGTERM/SIGINT or POST /_/drain: how long requests in flight may take to be answered (ms). */
  drainTimeoutMs: number;
  /** A secret that admits to the admin API (/_/rooms…, /_/dashboard, POST /_/drain) as `Authorization: Bearer <it>`. */
  adminToken?: string;
  /** The admin API answers local clients without a credential (loopback, no proxy, no web page). */
  adminLoopback: boolean;
}

export interface AuthConfig {
  /** HS256 secret (--jwt-secret). */
  secret?: Uint8Array;
  /** --jwt-public-key: the key and the algorithms its type allows. */
  publicKey?: { key: KeyObject; algorithms: string[]; path: string };
  issuer?: string;
  audience?: string;
}

export const DEFAULTS: Omit<Config, 'tls' | 'uid' | 'gid' | 'auth' | 'nodeId' | 'clusterKey' | 'adminToken' | 'tcpPort' | 'tcpHost' | 'ipcPath'> = {
  port: 8765,
  host: '0.0.0.0',
  tcpTls: false,
  ipcMode: 0o660,
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
  resumeGraceMs: 5_000,
  maxInfoBytes: 1024,
  maxQueuedJobs: 10_000,
  maxQueuedJobBytes: 32 * 1024 * 1024,
  jobAckWaitMs: 30_000,
  jobMaxAttempts: 5,
  allowedOrigins: ['*'],
  publicRooms: [],
  maxConnections: 0,
  maxConnectionsPerIp: 0,
  connectRatePerIp: 0,
  newRoomsPerIp: 600,
  trustProxy: 0,
  logLevel: 'info',
  logFormat: 'json',
  broker: { kind: 'memory' },
  workers: 1,
  drainTimeoutMs: 10_000,
  adminLoopback: false,
};

/** Shortest --admin-token accepted: it guards endpoints that stop the server. */
export const MIN_ADMIN_TOKEN_BYTES = 16;

/** Shortest --jwt-secret accepted: HS256 with a short secret can be brute-forced offline. */
export const MIN_JWT_SECRET_BYTES = 32;

/** A bad flag, value or key file: the CLI prints `message` on one line and exits non-zero. */
export class ConfigError extends Error {}

// Flags as util.parseArgs sees them. Each long name maps to env MULTISOCKET_<NAME_IN_CAPS>.
const OPTIONS = {
  port: { type: 'string', short: 'p' },
  host: { type: 'string' },
  'ssl-key': { type: 'string' },
  'ssl-cert': { type: 'string' },
  'tcp-port': { type: 'string' },
  'tcp-host': { type: 'string' },
  'tcp-tls': { type: 'boolean' },
  ipc: { type: 'string' },
  'ipc-mode': { type: 'string' },
  'room-ttl': { type: 'string' },
  'max-rooms': { type: 'string' },
  'max-peers-per-room': { type: 'string' },
  'max-message-bytes': { type: 'string' },
  'max-room-bytes': { type: 'string' },
  'max-queued-bytes': { type: 'string' },
  'max-messages-per-second': { type: 'string' },
  'coalesce-ms': { type: 'string' },
  heartbeat: { type: 'string' },
  'resume-grace': { type: 'string' },
  'max-info-bytes': { type: 'string' },
  'max-queued-jobs': { type: 'string' },
  'max-queued-job-bytes': { type: 'string' },
  'job-ack-wait': { type: 'string' },
  'job-max-attempts': { type: 'string' },
  'cors-origin': { type: 'string' },
  'allowed-origins': { type: 'string' },
  'jwt-secret': { type: 'string' },
  'jwt-public-key': { type: 'string' },
  'jwt-issuer': { type: 'string' },
  'jwt-audience': { type: 'string' },
  'public-rooms': { type: 'string' },
  'max-connections': { type: 'string' },
  'max-connections-per-ip': { type: 'string' },
  'connect-rate-per-ip': { type: 'string' },
  'new-rooms-per-ip': { type: 'string' },
  'trust-proxy': { type: 'string' },
  'history-size': { type: 'string' },
  'history-ttl': { type: 'string' },
  'history-bytes': { type: 'string' },
  'max-pending-requests': { type: 'string' },
  uid: { type: 'string' },
  gid: { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  broker: { type: 'string' },
  'node-id': { type: 'string' },
  'cluster-key': { type: 'string' },
  workers: { type: 'string' },
  'drain-timeout': { type: 'string' },
  'admin-token': { type: 'string' },
  'admin-loopback': { type: 'boolean' },
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
      --tcp-port <n>               also take native members over TCP, newline-delimited JSON; 0 = any free port (MULTISOCKET_TCP_PORT; default off)
      --tcp-host <addr>            bind address of the TCP listener (MULTISOCKET_TCP_HOST; default the --host)
      --tcp-tls                    TLS on the TCP listener with --ssl-key/--ssl-cert (MULTISOCKET_TCP_TLS=1)
      --ipc <path>                 also take native members on this unix socket (MULTISOCKET_IPC; default off)
      --ipc-mode <octal>           file mode of the --ipc socket (MULTISOCKET_IPC_MODE; default 0660)
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
      --resume-grace <seconds>     a dropped native member keeps its cid this long for a resume; then others see leave (MULTISOCKET_RESUME_GRACE; default 5)
      --max-info-bytes <n>         largest presence info a member may attach (MULTISOCKET_MAX_INFO_BYTES; default 1024)
      --max-queued-jobs <n>        pushed jobs waiting per room; more get queue_full (MULTISOCKET_MAX_QUEUED_JOBS; default 10000)
      --max-queued-job-bytes <n>   and their bytes (MULTISOCKET_MAX_QUEUED_JOB_BYTES; default 33554432)
      --job-ack-wait <seconds>     a job not acked in this time goes to another puller (MULTISOCKET_JOB_ACK_WAIT; default 30)
      --job-max-attempts <n>       deliveries of a job before it fails to its pusher (MULTISOCKET_JOB_MAX_ATTEMPTS; default 5)
      --allowed-origins <list>     origins allowed to use the server from a browser, comma-separated:
                                   * or https://app.example.com, https://*.example.com; others get 403
                                   (MULTISOCKET_ALLOWED_ORIGINS; default *; --cors-origin is the old name)
      --jwt-secret <secret>        require room tokens: HS256 JWTs signed with this secret, >= 32 bytes (MULTISOCKET_JWT_SECRET)
      --jwt-public-key <pem file>  require room tokens signed by this key's owner: RS256, ES256 or EdDSA (MULTISOCKET_JWT_PUBLIC_KEY)
      --jwt-issuer <iss>           tokens must carry this "iss" (MULTISOCKET_JWT_ISSUER)
      --jwt-audience <aud>         tokens must carry this "aud" (MULTISOCKET_JWT_AUDIENCE)
      --public-rooms <globs>       rooms open without a token, e.g. /lobby,/public/** (MULTISOCKET_PUBLIC_ROOMS)
      --max-connections <n>        WebSocket + SSE connections at once; 0 = no limit; more get 503 (MULTISOCKET_MAX_CONNECTIONS; default 0)
      --max-connections-per-ip <n> connections at once per client address; more get 429 (MULTISOCKET_MAX_CONNECTIONS_PER_IP; default 0 = no limit)
      --connect-rate-per-ip <n>    new connections per second per client address; more get 429 (MULTISOCKET_CONNECT_RATE_PER_IP; default 0 = no limit)
      --new-rooms-per-ip <n>       rooms one client address may create per minute; more get 429 (MULTISOCKET_NEW_ROOMS_PER_IP; default 600; 0 = no limit)
      --trust-proxy <hops>         take the client address from X-Forwarded-For/Forwarded, set by this many proxies in front (MULTISOCKET_TRUST_PROXY; default 0 = off; true = 1)
      --uid <user|id>              drop to this user after binding (MULTISOCKET_UID)
      --gid <group|id>             drop to this group after binding (MULTISOCKET_GID)
      --log-level <level>          debug|info|warn|error|silent (MULTISOCKET_LOG_LEVEL; default info)
      --log-format <format>        json (one object per line) or pretty (a readable line, for a terminal)
                                   (MULTISOCKET_LOG_FORMAT; default json)
      --broker <url>               join rooms with other nodes through an engine: memory (one process),
                                   redis://[user:pass@]host:port[/db], rediss://… or nats://host:port
                                   (MULTISOCKET_BROKER; default memory); docs/cluster.md
      --node-id <name>             this node's name in the cluster, A-Z a-z 0-9 _ - (MULTISOCKET_NODE_ID;
                                   default <hostname>-<pid>-<random>)
      --cluster-key <secret>       seal everything nodes exchange or store in the engine, >= 16 bytes;
                                   every node needs the same one (MULTISOCKET_CLUSTER_KEY)
      --workers <n>                run n processes sharing the port, joined through --broker (MULTISOCKET_WORKERS; default 1)
      --drain-timeout <seconds>    on SIGTERM/SIGINT or POST /_/drain: /_/ready answers 503, new connections are
                                   refused, members are told to reconnect elsewhere, and requests in flight get
                                   this long to be answered before the process exits 0 (MULTISOCKET_DRAIN_TIMEOUT; default 10)
      --admin-token <secret>       turns on the admin API (/_/rooms, /_/dashboard, POST /_/drain) for
                                   Authorization: Bearer <secret>, >= 16 bytes (MULTISOCKET_ADMIN_TOKEN); a room
                                   token with "admin" is admitted too; with neither the admin API answers 404
      --admin-loopback             the admin API also answers local clients without a credential: loopback,
                                   not through a proxy, not from a web page (MULTISOCKET_ADMIN_LOOPBACK=1)
  -h, --help                       show this help
  -V, --version                    show the version
`;

export type CliAction = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; config: Config };

/** A CLI flag's long name: also the key of every setting (createServer's options map onto them). */
export type Flag = keyof typeof OPTIONS;

/** Every long flag the CLI takes, in --help's order (createServer's option table is checked against it). */
export const FLAGS = Object.keys(OPTIONS) as Flag[];

/** A setting's raw text and how an error message names where it came from (`--room-ttl`, `MULTISOCKET_ROOM_TTL`, `roomTtl`). */
export type Picked = { value: string; from: string } | undefined;

/**
 * Where settings come from: the CLI's argv and environment, or createServer's options
 * (src/server-options.ts). Both go through resolveConfig, so a value is checked by one piece of
 * code and refused with the same one-line message whichever way it came.
 */
export interface SettingSource {
  /** The setting's text, or undefined when it is not set. `legacy`: older environment variables, CLI only. */
  pick(flag: Flag, ...legacy: string[]): Picked;
  /** A boolean setting. */
  on(flag: Flag): boolean;
  /** How a message that names a setting without its value calls it (`--jwt-secret` / `jwtSecret`). */
  name(flag: Flag): string;
  /** TLS key and certificate paths given some other way (the seed's SSL=true SSLKEY SSLCERT). */
  legacyTls?(wanted: boolean): { keyPath?: string; certPath?: string } | undefined;
}

/** Parse argv and env into a Config; throws ConfigError with a one-line message on bad input. */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): CliAction {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    // parseArgs explains some mistakes over several lines; the CLI promises one.
    throw new ConfigError((err as Error).message.replace(/\s*\n\s*/g, ' '));
  }
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  return { kind: 'run', config: resolveConfig(cliSource(values, env)) };
}

/** flag > MULTISOCKET_<FLAG> > legacy variable */
function cliSource(values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): SettingSource {
  const envName = (flag: Flag) => 'MULTISOCKET_' + flag.toUpperCase().replace(/-/g, '_');
  return {
    pick(flag, ...legacy) {
      const v = values[flag];
      if (typeof v === 'string') return { value: v, from: `--${flag}` };
      const name = envName(flag);
      if (env[name] !== undefined && env[name] !== '') return { value: env[name]!, from: name };
      for (const l of legacy) if (env[l] !== undefined && env[l] !== '') return { value: env[l]!, from: l };
      return undefined;
    },
    // A boolean flag, or its variable set to 1/true/yes (0/false/no/empty: off).
    on(flag) {
      if (values[flag] === true) return true;
      const name = envName(flag);
      const v = (env[name] ?? '').trim().toLowerCase();
      if (v === '' || v === '0' || v === 'false' || v === 'no') return false;
      if (v === '1' || v === 'true' || v === 'yes') return true;
      throw new ConfigError(`${name}: expected 1/true/yes or 0/false/no, got "${env[name]}"`);
    },
    name: (flag) => `--${flag}`,
    // The seed's SSL=true SSLKEY=.. SSLCERT=.. SSL=false (or 0/no/off/empty) really means off,
    // unlike the original's string comparison.
    legacyTls(wanted) {
      const ssl = (env.SSL ?? '').trim().toLowerCase();
      if (wanted && ['true', '1', 'yes', 'on'].includes(ssl)) {
        if (!env.SSLKEY || !env.SSLCERT) throw new ConfigError('SSL=true needs SSLKEY and SSLCERT (paths to PEM files)');
        return { keyPath: env.SSLKEY, certPath: env.SSLCERT };
      }
      if (ssl && !['false', '0', 'no', 'off', 'true', '1', 'yes', 'on'].includes(ssl)) throw new ConfigError(`SSL: expected true or false, got "${env.SSL}"`);
      return undefined;
    },
  };
}

/** Settings from `source` checked and turned into a Config; throws ConfigError with a one-line message on a bad one. */
export function resolveConfig(source: SettingSource): Config {
  const pick = source.pick.bind(source);
  const name = source.name.bind(source);
  const int = (flag: Flag, def: number, min: number, max: number, ...legacy: string[]): number => {
    const p = pick(flag, ...legacy);
    if (!p) return def;
    const n = Number(p.value);
    if (!/^\s*\d+\s*$/.test(p.value) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new ConfigError(`${p.from}: expected a whole number from ${min} to ${max}, got "${p.value}"`);
    }
    return n;
  };
  const seconds = (flag: Flag, defMs: number): number => {
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
  const formatPick = pick('log-format');
  const logFormat = (formatPick?.value ?? DEFAULTS.logFormat) as LogFormat;
  if (!LOG_FORMATS.includes(logFormat)) throw new ConfigError(`${formatPick!.from}: expected one of ${LOG_FORMATS.join('|')}, got "${logFormat}"`);

  const config: Config = {
    port: int('port', DEFAULTS.port, 0, 65535, 'PORT'),
    host: pick('host', 'HOST')?.value ?? DEFAULTS.host,
    tcpTls: source.on('tcp-tls'),
    ipcMode: fileMode(pick('ipc-mode')),
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
    resumeGraceMs: seconds('resume-grace', DEFAULTS.resumeGraceMs),
    maxInfoBytes: int('max-info-bytes', DEFAULTS.maxInfoBytes, 0, 1024 * 1024),
    maxQueuedJobs: int('max-queued-jobs', DEFAULTS.maxQueuedJobs, 0, 100_000_000),
    maxQueuedJobBytes: int('max-queued-job-bytes', DEFAULTS.maxQueuedJobBytes, 0, Number.MAX_SAFE_INTEGER),
    jobAckWaitMs: seconds('job-ack-wait', DEFAULTS.jobAckWaitMs),
    jobMaxAttempts: int('job-max-attempts', DEFAULTS.jobMaxAttempts, 1, 1000),
    allowedOrigins: origins(pick('allowed-origins') ?? pick('cors-origin')),
    publicRooms: globs(pick('public-rooms')),
    maxConnections: int('max-connections', DEFAULTS.maxConnections, 0, 100_000_000),
    maxConnectionsPerIp: int('max-connections-per-ip', DEFAULTS.maxConnectionsPerIp, 0, 100_000_000),
    connectRatePerIp: int('connect-rate-per-ip', DEFAULTS.connectRatePerIp, 0, 100_000_000),
    newRoomsPerIp: int('new-rooms-per-ip', DEFAULTS.newRoomsPerIp, 0, 100_000_000),
    trustProxy: proxyHops(pick('trust-proxy')),
    uid: pick('uid')?.value,
    gid: pick('gid')?.value,
    logLevel,
    logFormat,
    broker: broker(pick('broker')),
    nodeId: nodeId(pick('node-id')),
    clusterKey: clusterKey(pick('cluster-key')),
    workers: int('workers', DEFAULTS.workers, 1, 256),
    drainTimeoutMs: seconds('drain-timeout', DEFAULTS.drainTimeoutMs),
    adminLoopback: source.on('admin-loopback'),
  };
  if (pick('tcp-port')) config.tcpPort = int('tcp-port', 0, 0, 65535);
  const tcpHost = pick('tcp-host');
  if (tcpHost) {
    if (config.tcpPort === undefined) throw new ConfigError(`${tcpHost.from} needs ${name('tcp-port')}`);
    config.tcpHost = tcpHost.value;
  }
  const ipc = pick('ipc');
  if (ipc) config.ipcPath = ipc.value;
  if (config.tcpTls && config.tcpPort === undefined) throw new ConfigError(`${name('tcp-tls')} needs ${name('tcp-port')}`);
  // Each worker would find the others' socket live and refuse it (node:cluster shares TCP ports, not this check).
  if (config.ipcPath !== undefined && config.workers > 1) throw new ConfigError(`${name('ipc')} is not supported with ${name('workers')} > 1 yet; use ${name('tcp-port')} (shared by the workers)`);
  const admin = pick('admin-token');
  if (admin) {
    if (Buffer.byteLength(admin.value) < MIN_ADMIN_TOKEN_BYTES) throw new ConfigError(`${admin.from}: an admin token needs at least ${MIN_ADMIN_TOKEN_BYTES} bytes (got ${Buffer.byteLength(admin.value)}); e.g. openssl rand -base64 24`);
    config.adminToken = admin.value;
  }
  if (config.workers > 1 && config.broker.kind === 'memory') {
    throw new ConfigError(`${name('workers')} ${config.workers} needs ${name('broker')} redis://… or nats://… (with the memory broker each process would hold its own rooms)`);
  }
  if (config.clusterKey && config.broker.kind === 'memory') {
    throw new ConfigError(`${name('cluster-key')} needs ${name('broker')} redis://… or nats://… (the memory broker exchanges nothing)`);
  }

  const auth = authConfig(pick('jwt-secret'), pick('jwt-public-key'), pick('jwt-issuer')?.value, pick('jwt-audience')?.value, name);
  if (auth) config.auth = auth;
  else if (config.publicRooms.length > 0) throw new ConfigError(`${name('public-rooms')} needs ${name('jwt-secret')} or ${name('jwt-public-key')} (without them every room is public)`);

  // TLS: --ssl-key/--ssl-cert (or MULTISOCKET_SSL_*), or the seed's SSL=true SSLKEY=.. SSLCERT=..
  let keyPath = pick('ssl-key')?.value;
  let certPath = pick('ssl-cert')?.value;
  const legacy = source.legacyTls?.(!keyPath && !certPath);
  if (legacy) ({ keyPath, certPath } = legacy);
  if (keyPath || certPath) {
    if (!keyPath || !certPath) throw new ConfigError(`TLS needs both ${name('ssl-key')} and ${name('ssl-cert')}`);
    config.tls = { key: readPem(keyPath, 'key'), cert: readPem(certPath, 'certificate'), keyPath, certPath };
  }
  if (config.tcpTls && !config.tls) throw new ConfigError(`${name('tcp-tls')} needs a certificate: ${name('ssl-key')} and ${name('ssl-cert')}`);
  return config;
}


function list(p: Picked): string[] {
  return p ? p.value.split(',').map((s) => s.trim()).filter((s) => s !== '') : [];
}

function origins(p: Picked): string[] {
  const out = list(p);
  if (out.length === 0) return [...DEFAULTS.allowedOrigins];
  for (const o of out) {
    if (o === '*' || o === 'null') continue;
    if (!/^[a-z][a-z0-9+.-]*:\/\/(\*\.)?[^/*?#\s]+$/i.test(o)) {
      throw new ConfigError(`${p!.from}: expected * or origins like https://example.com or https://*.example.com, got "${o}"`);
    }
  }
  return out;
}

function globs(p: Picked): string[] {
  const out = list(p);
  for (const g of out) {
    try {
      compileRoomGlob(g);
    } catch (err) {
      throw new ConfigError(`${p!.from}: ${(err as Error).message}`);
    }
  }
  return out;
}

/** An octal file mode such as 0660 or 660 (owner and group may read and write). */
function fileMode(p: Picked): number {
  if (!p) return DEFAULTS.ipcMode;
  if (!/^0?[0-7]{3}$/.test(p.value.trim())) throw new ConfigError(`${p.from}: expected an octal file mode like 0660, got "${p.value}"`);
  return parseInt(p.value.trim(), 8);
}

function proxyHops(p: Picked): number {
  if (!p) return DEFAULTS.trustProxy;
  const v = p.value.trim().toLowerCase();
  if (['true', 'yes', 'on'].includes(v)) return 1;
  if (['false', 'no', 'off'].includes(v)) return 0;
  if (/^\d{1,2}$/.test(v)) return Number(v);
  throw new ConfigError(`${p.from}: expected a number of proxies (0-99), true or false, got "${p.value}"`);
}

/** Algorithms a public key of this type may sign room tokens with. */
function algorithmsFor(key: KeyObject): string[] | undefined {
  switch (key.asymmetricKeyType) {
    case 'rsa': return ['RS256'];
    case 'ec': return key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? ['ES256'] : undefined;
    case 'ed25519': return ['EdDSA'];
    default: return undefined;
  }
}

function authConfig(secret: Picked, publicKeyFile: Picked, issuer: string | undefined, audience: string | undefined, name: (flag: Flag) => string): AuthConfig | undefined {
  if (!secret && !publicKeyFile) {
    if (issuer !== undefined || audience !== undefined) throw new ConfigError(`${name('jwt-issuer')} and ${name('jwt-audience')} need ${name('jwt-secret')} or ${name('jwt-public-key')}`);
    return undefined;
  }
  const auth: AuthConfig = {};
  if (secret) {
    const bytes = new TextEncoder().encode(secret.value);
    if (bytes.length < MIN_JWT_SECRET_BYTES) throw new ConfigError(`${secret.from}: a JWT secret needs at least ${MIN_JWT_SECRET_BYTES} bytes (got ${bytes.length}); e.g. openssl rand -base64 48`);
    auth.secret = bytes;
  }
  if (publicKeyFile) {
    const path = publicKeyFile.value;
    let key: KeyObject;
    try {
      key = createPublicKey(readFileSync(path));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ConfigError(`${publicKeyFile.from}: cannot read a PEM public key from ${path}: ${code?.startsWith('E') && !code.startsWith('ERR_') ? code : (err as Error).message}`);
    }
    const algorithms = algorithmsFor(key);
    if (!algorithms) throw new ConfigError(`${publicKeyFile.from}: ${path} holds a ${key.asymmetricKeyType} key; expected RSA (RS256), EC P-256 (ES256) or Ed25519 (EdDSA)`);
    auth.publicKey = { key, algorithms, path };
  }
  if (issuer !== undefined) auth.issuer = issuer;
  if (audience !== undefined) auth.audience = audience;
  return auth;
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
  return { ...DEFAULTS, nodeId: partial.nodeId ?? defaultNodeId(), clusterKey: null, ...partial } as Config;
}

function broker(p: { value: string; from: string } | undefined): BrokerConfig {
  if (!p) return DEFAULTS.broker;
  const parsed = parseBrokerUrl(p.value);
  if ('error' in parsed) throw new ConfigError(`${p.from}: ${parsed.error}`);
  return parsed;
}

function nodeId(p: { value: string; from: string } | undefined): string {
  if (!p) return defaultNodeId();
  if (!validNodeId(p.value)) throw new ConfigError(`${p.from}: a node id is ${NODE_ID_RULE}, got "${p.value}"`);
  return p.value;
}

function clusterKey(p: { value: string; from: string } | undefined): ClusterKey | null {
  if (!p) return null;
  try {
    return ClusterKey.fromSecret(p.value);
  } catch (err) {
    if (err instanceof ClusterKeyError) throw new ConfigError(`${p.from}: ${err.message}`);
    throw err;
  }
}
