// Library entry: embed the relay in another program.
export { MultisocketServer } from './server/server.js';
export { makeConfig, parseConfig, DEFAULTS, type Config } from './config.js';
export { createLogger, logAdminAction, silentLogger, type Logger, type LoggerOptions } from './log.js';
export { VERSION } from './version.js';
export type { Connection } from './transports/connection.js';
export type { GraphStore } from './gun/graph-store.js';
