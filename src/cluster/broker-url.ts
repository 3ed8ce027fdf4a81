// `--broker` / MULTISOCKET_BROKER: which engine joins this node's rooms with other nodes'.
// `memory` is one process (today's code path, nothing else needed); redis://, rediss:// and
// nats:// name an engine that several nodes share.

export type BrokerConfig =
  | { kind: 'memory' }
  | { kind: 'redis'; url: string }
  | { kind: 'nats'; url: string };

export const BROKER_RULE = 'memory, redis://[user:pass@]host:port[/db], rediss://… or nats://host:port';

/** The broker a `--broker` value names, or a one-line reason it names none. */
export function parseBrokerUrl(value: string): BrokerConfig | { error: string } {
  const v = value.trim();
  if (v === '' || v === 'memory') return { kind: 'memory' };
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return { error: `expected ${BROKER_RULE}, got "${v}"` };
  }
  if (!url.hostname) return { error: `expected ${BROKER_RULE}, got "${v}" (no host)` };
  if (url.protocol === 'redis:' || url.protocol === 'rediss:') {
    const db = url.pathname.replace(/^\//, '');
    if (db !== '' && !/^\d{1,2}$/.test(db)) return { error: `a Redis URL's path is a database number, got "/${db}"` };
    return { kind: 'redis', url: v };
  }
  if (url.protocol === 'nats:') {
    if (url.pathname !== '' && url.pathname !== '/') return { error: `a NATS URL has no path, got "${url.pathname}"` };
    return { kind: 'nats', url: v };
  }
  return { error: `expected ${BROKER_RULE}, got "${v}"` };
}
