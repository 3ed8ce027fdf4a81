// Node ids name a process in the cluster: in Redis keys, NATS subjects (where ".", "*", ">" and
// spaces have meaning), logs and GET /_/nodes. So they are kept to [A-Za-z0-9_-] and a bounded length.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';

export const MAX_NODE_ID_LENGTH = 64;
/** What a --node-id must look like, for the error message. */
export const NODE_ID_RULE = `1 to ${MAX_NODE_ID_LENGTH} characters from A-Z a-z 0-9 _ -`;
const NODE_ID = new RegExp(`^[A-Za-z0-9_-]{1,${MAX_NODE_ID_LENGTH}}$`);
const HOST_PART_MAX = 40;

export function validNodeId(id: string): boolean {
  return NODE_ID.test(id);
}

/**
 * `<host>-<pid>-<8 hex>`: readable in logs (which machine, which process), and unique even when
 * containers share a hostname and pid 1 or a pid is reused after a restart.
 */
export function defaultNodeId(host: string = hostname()): string {
  const hostPart = host.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, HOST_PART_MAX) || 'node';
  return `${hostPart}-${process.pid}-${randomBytes(4).toString('hex')}`;
}
