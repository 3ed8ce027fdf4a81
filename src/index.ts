// Library entry: embed the relay in another program (docs/embedding.md).
export { createServer } from './embed/create-server.js';
export type { ServerOptions } from './embed/server-options.js';
export type { AttachOptions } from './server/mount.js';
export { MultisocketServer } from './server/server.js';
export { makeConfig, parseConfig, ConfigError, DEFAULTS, type Config } from './config.js';
export { createLogger, logAdminAction, silentLogger, type Logger, type LoggerOptions } from './log.js';
export { VERSION } from './version.js';
export type { Connection } from './transports/connection.js';
export type { GraphStore } from './gun/graph-store.js';
// Server-side rooms and in-process members (docs/embedding.md).
export type { InProcessOptions } from './embed/in-process.js';
export type { ServerRoom, RoomMember, ServerRoomEvents, GunNode } from './embed/room-api.js';
