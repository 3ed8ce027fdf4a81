// The second seam of the cluster (docs/cluster.md): how nodes reach each other. A room's
// publications (publishes, join/leave, GUN puts to relay) go to every node subscribed to the room;
// a node message (send, request, reply, job delivery) goes to one node's inbox. The memory
// implementation delivers in-process; Redis uses pub/sub channels, NATS core subjects. Every
// implementation passes the same contract test (test/cluster-bus-contract.test.ts).
//
// Delivery is at most once: the engines' pub/sub keeps nothing for a node that is not connected.
// What must not be lost goes through RoomStreams (its seq lets a member see a gap) or a queue.
//
// Wire frame (what the engine carries), whatever the engine:
//   1 byte kind length k, k bytes kind (ASCII, clear: the receiver needs it to know what to open),
//   then the payload sealed by seal.ts for the context below, whose plaintext is
//   1 byte sender id length s, s bytes sender node id, then the caller's payload.
// Seal contexts: a room publication {kind: 'room>' + kind, room}, a node message
// {kind: 'node>' + kind, room: <target node id>}: a frame cannot be replayed into another room,
// into another node's inbox, or from a room into an inbox. The sender id is inside the seal, so it
// is authenticated. Without a cluster key (null) the frame is plain (seal.ts), not authenticated.
import type { ClusterKey } from './cluster-key.js';
import { openOrWhy, seal, type OpenFailure, type SealContext } from './seal.js';
import { validNodeId } from './node-id.js';

/** A kind names what a payload is ('pub', 'join', 'gun-put', 'req'...): 1 to 64 of A-Z a-z 0-9 _ . : - */
export const BUS_KIND_RULE = '1 to 64 characters from A-Z a-z 0-9 _ . : -';
const KIND = /^[A-Za-z0-9_.:-]{1,64}$/;

export interface BusMessage {
  kind: string;
  /** the sending node's id (authenticated when a cluster key is set) */
  from: string;
  payload: Uint8Array;
}

export type RoomHandler = (message: BusMessage, room: string) => void;
export type NodeMessageHandler = (message: BusMessage) => void;

/** Why a frame was dropped: it did not open (seal.ts) or is not a bus frame. */
export type BusRejectReason = OpenFailure | 'malformed';

export interface BusRejection {
  reason: BusRejectReason;
  /** the kind the frame claimed, when it could be read */
  kind?: string;
  /** the room whose channel it came on, or undefined for this node's inbox */
  room?: string;
}

export interface BusCounters {
  /** room publications and node messages handed to the engine */
  published: number;
  sent: number;
  /** frames opened and given to a handler */
  delivered: number;
  /** frames dropped, by reason */
  rejected: Partial<Record<BusRejectReason, number>>;
}

export type BusState = 'up' | 'down';

export interface ClusterBusOptions {
  /** this node's id (node-id.ts rules) */
  nodeId: string;
  /** what arrives in this node's inbox (toNode from any node, this one included) */
  onNodeMessage?: NodeMessageHandler;
  /** told of every frame dropped (for a rate-limited log line); never throws into the bus */
  onRejected?: (rejection: BusRejection) => void;
  /** told when the engine connection goes down or comes back */
  onState?: (state: BusState) => void;
}

/**
 * How nodes reach each other. Payloads are sealed with the cluster key; a frame that does not open
 * (another key, altered, sealed for another room or node, a node without a key) is dropped, counted
 * in `counters.rejected` and reported to `onRejected`: never thrown, never delivered.
 *
 * - **The publisher hears itself.** A node subscribed to a room gets its own `publishRoom`s back
 *   through its room handler, like every other subscribed node (Centrifuge's rule: local and remote
 *   delivery are one path). A node that is not subscribed publishes without hearing it.
 * - **Order.** For one publisher and one room (or one target node), handlers see messages in
 *   publish order. Nothing is promised across publishers or rooms.
 * - **At most once.** A message is delivered to the nodes subscribed when the engine routes it;
 *   nodes cut off from the engine miss it (subscriptions come back by themselves on reconnect).
 *   While the bus knows the engine is down (`state`), publishRoom and toNode reject with
 *   ERR_BUS_DOWN; when the engine hangs without the connection breaking, they are held by the
 *   connection and go out, in order, once it answers again.
 * - Memory delivers synchronously inside publishRoom/toNode (re-entrant calls are queued, so order
 *   holds); the engines deliver asynchronously.
 */
export interface ClusterBus {
  readonly nodeId: string;
  readonly counters: BusCounters;
  readonly state: BusState;
  /** Connects and subscribes this node's inbox. Rejects with one clear line when the engine is unreachable. */
  start(): Promise<void>;
  /** Deliver the room's publications to `handler` (replacing this node's previous handler for the room). Resolves once the engine routes them here. */
  subscribeRoom(room: string, handler: RoomHandler): void | Promise<void>;
  /** Stop: no handler call for the room after this returns (in-flight engine frames are dropped). */
  unsubscribeRoom(room: string): void | Promise<void>;
  /** To every node subscribed to `room`, this one included. */
  publishRoom(room: string, kind: string, payload: Uint8Array): void | Promise<void>;
  /** To the inbox of node `nodeId` (this one included). */
  toNode(nodeId: string, kind: string, payload: Uint8Array): void | Promise<void>;
  close(): Promise<void>;
}

export class BusError extends Error {
  constructor(readonly code: 'ERR_BUS_DOWN' | 'ERR_BUS_TIMEOUT', message: string) {
    super(message);
  }
}

export function newBusCounters(): BusCounters {
  return { published: 0, sent: 0, delivered: 0, rejected: {} };
}

export function roomContext(kind: string, room: string): SealContext {
  return { kind: `room>${kind}`, room };
}

export function nodeContext(kind: string, nodeId: string): SealContext {
  return { kind: `node>${kind}`, room: nodeId };
}

export function checkKind(kind: string): void {
  if (!KIND.test(kind)) throw new RangeError(`a bus message kind must be ${BUS_KIND_RULE}, got ${JSON.stringify(kind)}`);
}

export function checkNodeId(nodeId: string): void {
  if (!validNodeId(nodeId)) throw new RangeError(`invalid node id ${JSON.stringify(nodeId)}`);
}

/** The wire frame for `payload` from `from`, sealed for the context of its kind. */
export function encodeBusFrame(key: ClusterKey | null, context: (kind: string) => SealContext, kind: string, from: string, payload: Uint8Array): Buffer {
  const plaintext = Buffer.allocUnsafe(1 + from.length + payload.length);
  plaintext[0] = from.length;
  plaintext.write(from, 1, 'latin1');
  plaintext.set(payload, 1 + from.length);
  const sealed = seal(key, context(kind), plaintext);
  const frame = Buffer.allocUnsafe(1 + kind.length + sealed.length);
  frame[0] = kind.length;
  frame.write(kind, 1, 'latin1');
  sealed.copy(frame, 1 + kind.length);
  return frame;
}

export type DecodedBusFrame = { ok: true; message: BusMessage } | { ok: false; reason: BusRejectReason; kind?: string };

/** The message in a wire frame, or why it is dropped. Never throws. */
export function decodeBusFrame(key: ClusterKey | null, context: (kind: string) => SealContext, frame: Uint8Array): DecodedBusFrame {
  if (frame.length < 2) return { ok: false, reason: 'malformed' };
  const kindEnd = 1 + frame[0];
  if (frame.length <= kindEnd) return { ok: false, reason: 'malformed' };
  const kind = Buffer.from(frame.buffer, frame.byteOffset + 1, frame[0]).toString('latin1');
  if (!KIND.test(kind)) return { ok: false, reason: 'malformed' };
  const opened = openOrWhy(key, context(kind), frame.subarray(kindEnd));
  if (!opened.ok) return { ok: false, reason: opened.reason, kind };
  const p = opened.plaintext;
  if (p.length < 1 || p.length < 1 + p[0]) return { ok: false, reason: 'malformed', kind };
  const from = Buffer.from(p.buffer, p.byteOffset + 1, p[0]).toString('latin1');
  if (!validNodeId(from)) return { ok: false, reason: 'malformed', kind };
  return { ok: true, message: { kind, from, payload: p.subarray(1 + p[0]) } };
}

/** Counts and reports a dropped frame; the hook's errors are swallowed (a hook never breaks delivery). */
export function reject(counters: Pick<BusCounters, 'rejected'>, onRejected: ClusterBusOptions['onRejected'], rejection: BusRejection): void {
  counters.rejected[rejection.reason] = (counters.rejected[rejection.reason] ?? 0) + 1;
  try { onRejected?.(rejection); } catch { /* a logging hook must not break delivery */ }
}

/**
 * Opens a frame that came in on a room channel (room given) or this node's inbox (room undefined)
 * and hands it to `deliver`, or counts it as rejected.
 */
export function receiveFrame(
  key: ClusterKey | null, nodeId: string, counters: BusCounters, onRejected: ClusterBusOptions['onRejected'],
  room: string | undefined, frame: Uint8Array, deliver: (message: BusMessage) => void,
): void {
  const decoded = decodeBusFrame(key, room === undefined ? (k) => nodeContext(k, nodeId) : (k) => roomContext(k, room), frame);
  if (!decoded.ok) { reject(counters, onRejected, { reason: decoded.reason, kind: decoded.kind, room }); return; }
  counters.delivered++;
  // A throwing handler is the caller's bug: surfaced as an uncaught exception (as an EventEmitter
  // listener's would be), without breaking the delivery of the frames after it.
  try { deliver(decoded.message); } catch (err) { process.nextTick(() => { throw err; }); }
}

/** The engine URL for a message: without user and password. */
export function engineAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return 'the engine';
  }
}
