// createServer's options: the CLI's settings (docs/configuration.md) as typed, camelCase fields in
// the CLI's units (seconds where the flag takes seconds), so one table of limits serves both. They
// are turned into the flags' text and checked by the CLI's own code (config.ts resolveConfig): a
// bad value is refused with the CLI's one-line message, naming the option instead of the flag.
import { ConfigError, resolveConfig, type Config, type Flag, type LogFormat, type LogLevel, type SettingSource } from '../config.js';
import type { Logger } from '../log.js';

export interface ServerOptions {
  /** Port `listen()` binds when it is given none (`--port`; default 8765; 0: any free port). */
  port?: number;
  /** Address `listen()` binds when it is given none (`--host`; default `0.0.0.0`). */
  host?: string;
  /** PEM private key file: `listen()` serves HTTPS/WSS, and `tcpTls` uses it (`--ssl-key`; with `sslCert`). `attach()` does not: the host server does its TLS. */
  sslKey?: string;
  /** PEM certificate file (`--ssl-cert`; with `sslKey`). */
  sslCert?: string;
  /** Also take native members over TCP, newline-delimited JSON, on this port; 0 = any free one (`--tcp-port`; default off). Opened by `listen()` and by `attach()`. */
  tcpPort?: number;
  /** Bind address of the TCP listener (`--tcp-host`; default `host`). */
  tcpHost?: string;
  /** TLS on the TCP listener, with `sslKey`/`sslCert` (`--tcp-tls`; default false). */
  tcpTls?: boolean;
  /** Also take native members on this unix socket path (`--ipc`; default off). Opened by `listen()` and by `attach()`. */
  ipc?: string;
  /** File mode of the `ipc` socket: `'0660'`, or the number `0o660` (`--ipc-mode`; default 0660). */
  ipcMode?: string | number;
  /** Seconds an empty room keeps its data (`--room-ttl`; default 300). */
  roomTtl?: number;
  /** Rooms at once; more get HTTP 503 (`--max-rooms`; default 10000). */
  maxRooms?: number;
  /** Peers per room; more get HTTP 503 (`--max-peers-per-room`; default 10000). */
  maxPeersPerRoom?: number;
  /** Largest frame in bytes; larger closes with 1009 (`--max-message-bytes`; default 10485760). */
  maxMessageBytes?: number;
  /** Approximate graph size cap per room, bytes (`--max-room-bytes`; default 67108864). */
  maxRoomBytes?: number;
  /** Unsent bytes per connection before it is closed as slow, code 4008 (`--max-queued-bytes`; default 16777216). */
  maxQueuedBytes?: number;
  /** Messages per second per connection; beyond it its reads pause (`--max-messages-per-second`; default 50000). */
  maxMessagesPerSecond?: number;
  /** Under load, write fan-out at most every this many ms; 0 = every event-loop turn (`--coalesce-ms`; default 2). */
  coalesceMs?: number;
  /** Ping interval in seconds; dead peers are dropped; 0 = off (`--heartbeat`; default 20). */
  heartbeat?: number;
  /** Seconds a dropped native member keeps its cid for a resume (`--resume-grace`; default 5). */
  resumeGrace?: number;
  /** Largest presence info a member may attach, bytes (`--max-info-bytes`; default 1024). */
  maxInfoBytes?: number;
  /** Pushed jobs waiting per room; more get `queue_full` (`--max-queued-jobs`; default 10000). */
  maxQueuedJobs?: number;
  /** Bytes of pushed jobs waiting per room (`--max-queued-job-bytes`; default 33554432). */
  maxQueuedJobBytes?: number;
  /** Seconds before a job not acked goes to another puller (`--job-ack-wait`; default 30). */
  jobAckWait?: number;
  /** Deliveries of a job before it fails to its pusher (`--job-max-attempts`; default 5). */
  jobMaxAttempts?: number;
  /** Origins whose pages may use the server: `*`, or `https://app.example.com`, `https://*.example.com` (`--allowed-origins`; default `['*']`). */
  allowedOrigins?: string[];
  /** Require room tokens: HS256 JWTs signed with this secret, at least 32 bytes (`--jwt-secret`). */
  jwtSecret?: string;
  /** Require room tokens signed by this PEM public key file's owner: RS256, ES256 or EdDSA (`--jwt-public-key`). */
  jwtPublicKey?: string;
  /** Tokens must carry this `iss` (`--jwt-issuer`). */
  jwtIssuer?: string;
  /** Tokens must carry this `aud` (`--jwt-audience`). */
  jwtAudience?: string;
  /** Room globs open without a token, e.g. `['/lobby', '/public/**']` (`--public-rooms`; needs `jwtSecret` or `jwtPublicKey`). */
  publicRooms?: string[];
  /** WebSocket + SSE connections at once; 0 = no limit (`--max-connections`; default 0). */
  maxConnections?: number;
  /** Connections at once per client address; 0 = no limit (`--max-connections-per-ip`; default 0). */
  maxConnectionsPerIp?: number;
  /** New connections per second per client address; 0 = no limit (`--connect-rate-per-ip`; default 0). */
  connectRatePerIp?: number;
  /** Rooms one client address may create per minute; 0 = no limit (`--new-rooms-per-ip`; default 600). */
  newRoomsPerIp?: number;
  /**
   * Proxies in front whose X-Forwarded-For / Forwarded entries are believed: a number of hops, or
   * `true` (1) / `false` (0) (`--trust-proxy`; default 0). Behind Express or Fastify this is about
   * the proxies in front of the app, as for the app's own `trust proxy`.
   */
  trustProxy?: number | boolean;
  /** Published messages kept per room for replay (`--history-size`; default 1000). */
  historySize?: number;
  /** Seconds they are kept (`--history-ttl`; default 300). */
  historyTtl?: number;
  /** Bytes of them kept per room (`--history-bytes`; default 8388608). */
  historyBytes?: number;
  /** Native requests waiting per connection (`--max-pending-requests`; default 100). */
  maxPendingRequests?: number;
  /**
   * Level of the logger made when `logger` is not given: `debug|info|warn|error|silent`
   * (`--log-level`; default info once `logLevel` or `logFormat` is given). With none of `logger`,
   * `logLevel` and `logFormat` the server logs nothing: a library does not write to stdout unless asked.
   */
  logLevel?: LogLevel;
  /** Format of the logger made when `logger` is not given: `json` (one object per line) or `pretty` (`--log-format`; default json). */
  logFormat?: LogFormat;
  /** Join rooms with other nodes through an engine: `memory` (one process), `redis://…`, `rediss://…` or `nats://…` (`--broker`; default `memory`). */
  broker?: string;
  /** This node's name in the cluster, A-Z a-z 0-9 _ - (`--node-id`; default `<hostname>-<pid>-<random>`). */
  nodeId?: string;
  /** Seal everything nodes exchange or store in the engine, at least 16 bytes; every node the same (`--cluster-key`; needs `broker`). */
  clusterKey?: string;
  /** Seconds `close()` gives requests in flight to be answered (`--drain-timeout`; default 10). */
  drainTimeout?: number;
  /** Turns on the admin API (`/_/rooms`, POST `/_/drain`…) for `Authorization: Bearer <it>`, at least 16 bytes (`--admin-token`). */
  adminToken?: string;
  /** The admin API also answers local clients without a credential (`--admin-loopback`; default false). */
  adminLoopback?: boolean;
  /** Where the server logs (not a CLI flag). Default: `createLogger(logLevel)` when `logLevel` is given, else nothing. */
  logger?: Logger;
}

/** Each option and the CLI flag it stands for (docs/embedding.md's table is made from this). */
export const OPTION_FLAGS = {
  port: 'port',
  host: 'host',
  sslKey: 'ssl-key',
  sslCert: 'ssl-cert',
  tcpPort: 'tcp-port',
  tcpHost: 'tcp-host',
  tcpTls: 'tcp-tls',
  ipc: 'ipc',
  ipcMode: 'ipc-mode',
  roomTtl: 'room-ttl',
  maxRooms: 'max-rooms',
  maxPeersPerRoom: 'max-peers-per-room',
  maxMessageBytes: 'max-message-bytes',
  maxRoomBytes: 'max-room-bytes',
  maxQueuedBytes: 'max-queued-bytes',
  maxMessagesPerSecond: 'max-messages-per-second',
  coalesceMs: 'coalesce-ms',
  heartbeat: 'heartbeat',
  resumeGrace: 'resume-grace',
  maxInfoBytes: 'max-info-bytes',
  maxQueuedJobs: 'max-queued-jobs',
  maxQueuedJobBytes: 'max-queued-job-bytes',
  jobAckWait: 'job-ack-wait',
  jobMaxAttempts: 'job-max-attempts',
  allowedOrigins: 'allowed-origins',
  jwtSecret: 'jwt-secret',
  jwtPublicKey: 'jwt-public-key',
  jwtIssuer: 'jwt-issuer',
  jwtAudience: 'jwt-audience',
  publicRooms: 'public-rooms',
  maxConnections: 'max-connections',
  maxConnectionsPerIp: 'max-connections-per-ip',
  connectRatePerIp: 'connect-rate-per-ip',
  newRoomsPerIp: 'new-rooms-per-ip',
  trustProxy: 'trust-proxy',
  historySize: 'history-size',
  historyTtl: 'history-ttl',
  historyBytes: 'history-bytes',
  maxPendingRequests: 'max-pending-requests',
  logLevel: 'log-level',
  logFormat: 'log-format',
  broker: 'broker',
  nodeId: 'node-id',
  clusterKey: 'cluster-key',
  drainTimeout: 'drain-timeout',
  adminToken: 'admin-token',
  adminLoopback: 'admin-loopback',
} as const satisfies { [K in Exclude<keyof ServerOptions, 'logger'>]-?: Flag };

/** CLI flags with no option, and why (the docs' table lists them; a test keeps this complete). */
export const CLI_ONLY: Partial<Record<Flag, string>> = {
  'cors-origin': 'the old name of `--allowed-origins`',
  uid: 'dropping privileges is the host program\'s business',
  gid: 'dropping privileges is the host program\'s business',
  workers: 'it forks the program; run several processes of the host app with `broker` instead',
  help: 'CLI only',
  version: 'CLI only; `VERSION` is exported',
};

export type OptionName = keyof typeof OPTION_FLAGS;
const FLAG_OPTION = new Map<Flag, OptionName>((Object.entries(OPTION_FLAGS) as Array<[OptionName, Flag]>).map(([o, f]) => [f, o]));

/** What each option's value must be at run time (a JavaScript caller has no compiler to say so); also the docs table's type column. */
export const KIND: Record<OptionName, 'number' | 'string' | 'list' | 'boolean' | 'hops' | 'mode'> = {
  port: 'number', host: 'string', sslKey: 'string', sslCert: 'string',
  tcpPort: 'number', tcpHost: 'string', tcpTls: 'boolean', ipc: 'string', ipcMode: 'mode', roomTtl: 'number', maxRooms: 'number',
  maxPeersPerRoom: 'number', maxMessageBytes: 'number', maxRoomBytes: 'number', maxQueuedBytes: 'number',
  maxMessagesPerSecond: 'number', coalesceMs: 'number', heartbeat: 'number', resumeGrace: 'number',
  maxInfoBytes: 'number', maxQueuedJobs: 'number', maxQueuedJobBytes: 'number', jobAckWait: 'number',
  jobMaxAttempts: 'number', allowedOrigins: 'list', jwtSecret: 'string', jwtPublicKey: 'string',
  jwtIssuer: 'string', jwtAudience: 'string', publicRooms: 'list', maxConnections: 'number',
  maxConnectionsPerIp: 'number', connectRatePerIp: 'number', newRoomsPerIp: 'number', trustProxy: 'hops',
  historySize: 'number', historyTtl: 'number', historyBytes: 'number', maxPendingRequests: 'number',
  logLevel: 'string', logFormat: 'string', broker: 'string', nodeId: 'string', clusterKey: 'string', drainTimeout: 'number',
  adminToken: 'string', adminLoopback: 'boolean',
};

const EXPECTED = { number: 'a number', string: 'a string', list: 'an array of strings', boolean: 'true or false', hops: 'a number or true/false', mode: 'an octal string like "0660" or a number like 0o660' };

/** Options → Config, through the CLI's checks; throws ConfigError with a one-line message. */
export function configFromOptions(options: ServerOptions): Config {
  if (typeof options !== 'object' || options === null) throw new ConfigError('createServer(options): options must be an object');
  const given = new Map<OptionName, string | boolean>();
  for (const [key, value] of Object.entries(options)) {
    if (key === 'logger' || value === undefined) continue;
    if (!(key in OPTION_FLAGS)) throw new ConfigError(`unknown option "${key}"${suggestion(key)}`);
    given.set(key as OptionName, asText(key as OptionName, value));
  }
  const source: SettingSource = {
    pick(flag) {
      const option = FLAG_OPTION.get(flag);
      const value = option && given.get(option);
      return typeof value === 'string' ? { value, from: option! } : undefined;
    },
    on(flag) {
      const option = FLAG_OPTION.get(flag);
      return option !== undefined && given.get(option) === true;
    },
    name: (flag) => FLAG_OPTION.get(flag) ?? `--${flag}`,
  };
  return resolveConfig(source);
}

/** A typed value as the text its flag would carry; the type itself is checked here. */
function asText(option: OptionName, value: unknown): string | boolean {
  const kind = KIND[option];
  const wrong = () => new ConfigError(`${option}: expected ${EXPECTED[kind]}, got ${describe(value)}`);
  switch (kind) {
    case 'number':
      if (typeof value !== 'number') throw wrong();
      return String(value);
    case 'string':
      if (typeof value !== 'string') throw wrong();
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw wrong();
      return value;
    case 'mode':
      // A number is the mode itself (0o660), written the way the flag takes it.
      if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? '0' + value.toString(8) : String(value);
      if (typeof value !== 'string') throw wrong();
      return value;
    case 'hops':
      if (typeof value !== 'number' && typeof value !== 'boolean') throw wrong();
      return String(value);
    case 'list':
      // One origin or glob as a plain string is taken too.
      if (typeof value === 'string') return value;
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw wrong();
      if (value.some((v: string) => v.includes(','))) throw new ConfigError(`${option}: an entry holds a comma; give each as its own array element`);
      return value.join(',');
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `"${value.slice(0, 40)}"` : typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

/** A flag's name given as an option (`'room-ttl'`, `roomTTL`) points at the option's spelling. */
function suggestion(key: string): string {
  const byFlag = FLAG_OPTION.get(key as Flag);
  if (byFlag) return `; did you mean "${byFlag}"?`;
  const lower = key.toLowerCase();
  for (const option of Object.keys(OPTION_FLAGS)) if (option.toLowerCase() === lower) return `; did you mean "${option}"?`;
  return '';
}

