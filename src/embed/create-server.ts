// createServer(options): the library's front door (docs/embedding.md). The same server the CLI
// runs, configured by typed options checked by the CLI's own rules; it then either listens on a
// port of its own (listen) or serves under a prefix of the program's http/https server (attach).
import { createLogger, silentLogger } from '../log.js';
import { MultisocketServer } from '../server/server.js';
import { configFromOptions, type ServerOptions } from './server-options.js';

/**
 * A multisocket server, not yet listening. Throws `ConfigError` (one line, naming the option) on
 * a bad option. Then `await server.listen(port?, host?)` or `await server.attach(httpServer,
 * { prefix })`, and `await server.close()` to drain and stop.
 */
export function createServer(options: ServerOptions = {}): MultisocketServer {
  const config = configFromOptions(options);
  // A library writes nothing unless asked: no logger and no level means silence.
  const asked = options.logLevel !== undefined || options.logFormat !== undefined;
  const log = options.logger ?? (asked ? createLogger(config.logLevel, { format: config.logFormat }) : silentLogger);
  return new MultisocketServer(config, log);
}
