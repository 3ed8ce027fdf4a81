// Connection ids (`cid`) and member tokens. A cid is a prefix per process and a counter. One process alone picks a random
// prefix; a node of a cluster derives it from its node id and start time (useNodeCidPrefix), so
// cids are unique cluster-wide without any coordination, also across a restart that keeps its
// --node-id (a new start time is a new prefix).
import { createHash, randomBytes } from 'node:crypto';

let cidCounter = 0;
let cidPrefix = randomBytes(3).toString('hex');
/** Cluster: the node's tag in front of every member token, so any node can route a POST to the member's node. */
let tokenTag = '';

/** A member's secret token (hex; 32 characters on one node, 40 in a cluster). */
export function newToken(): string {
  return tokenTag + randomBytes(16).toString('hex');
}

/** 32 bits of SHA-256 of the node id, hex: the first 8 characters of its members' tokens. */
export function nodeTokenTag(nodeId: string): string {
  return createHash('sha256').update(`token\n${nodeId}`).digest().subarray(0, 4).toString('hex');
}

/** The tag of a cluster member's token, or undefined for a token that has none. */
export function tokenTagOf(token: string): string | undefined {
  return token.length === 40 ? token.slice(0, 8) : undefined;
}

export function newCid(): string {
  return 'c' + cidPrefix + (++cidCounter).toString(36);
}

/**
 * The prefix for a cluster node: 48 bits of SHA-256(node id, start time), base64url. Two nodes
 * collide with odds of about n²/2⁴⁹ (one in 10¹¹ for 16 nodes); '-' and '_' are allowed in cids.
 */
export function nodeCidPrefix(nodeId: string, startedAt: number): string {
  return createHash('sha256').update(`${nodeId}\n${startedAt}`).digest().subarray(0, 6).toString('base64url');
}

export function useNodeCidPrefix(nodeId: string, startedAt: number): void {
  cidPrefix = nodeCidPrefix(nodeId, startedAt);
  tokenTag = nodeTokenTag(nodeId);
}
