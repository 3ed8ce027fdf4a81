// The server's running counts that no room keeps: plain numbers bumped where the work already
// happens (an increment, no label lookup), read by the metrics registry only when scraped.
// Shared by every room of one server; a process may run several servers, each with its own.
import { CLOSE_CODES } from '../protocol/errors.js';
import { LatencyHistogram } from './latency-histogram.js';

/** How a native request ended; `handler_error` is a reply carrying the responder's own error. */
export const REQUEST_OUTCOMES = ['ok', 'timeout', 'gone', 'no_responder', 'handler_error', 'room_closed', 'broker_unavailable'] as const;
export type RequestOutcome = typeof REQUEST_OUTCOMES[number];

/** Close codes counted by number; any other code a client sends is counted as `other` (bounded labels). */
const KNOWN_CLOSE_CODES = new Set<number>([...Object.values(CLOSE_CODES), 1005, 1006]);

/**
 * One protocol's traffic with clients, counted by the transports (one object per protocol, held
 * by each connection): bytes both ways, messages sent, and deliveries (messages times recipients).
 */
export class Traffic {
  /** Bytes of frames and bodies received: WebSocket message payloads, POST bodies. */
  bytesIn = 0;
  /** Bytes written to clients: WebSocket frames (headers and pings included), SSE events, HTTP answer bodies on room paths. */
  bytesOut = 0;
  /** Distinct messages sent: a frame written to 100 connections counts once. */
  messagesOut = 0;
  /** Messages written to a client connection, one per recipient (what messagesOut fans out to). */
  deliveries = 0;
}

export class Tally {
  readonly gun = new Traffic();
  readonly native = new Traffic();
  /** GUN: from handling a put to writing its ok ack (on one node: the merge; in a cluster: the engine's answer too). */
  readonly putAck = new LatencyHistogram();
  /** Native: from a request arriving to its reply (ok or the handler's error) going to the requester. */
  readonly requestReply = new LatencyHistogram();
  gunPuts = 0;
  gunGets = 0;
  gunAcks = 0;
  gunErrAcks = 0;
  /** Native messages dropped for --max-messages-per-second (GUN frames over it are held, not dropped). */
  rateLimited = 0;
  readonly requests: Record<RequestOutcome, number> = Object.fromEntries(REQUEST_OUTCOMES.map((o) => [o, 0])) as Record<RequestOutcome, number>;
  /** By close code (a number, or 'other'). */
  readonly closes = new Map<string, number>();
  /** Refused WebSocket upgrades by reason (an error code of src/protocol/errors.ts). */
  readonly refusedUpgrades = new Map<string, number>();
  /** Messages of rooms already freed: the live rooms' own counters are added on scrape. */
  readonly retired = { gunIn: 0, gunOut: 0, nativeIn: 0, nativeOut: 0 };

  requestDone(outcome: RequestOutcome): void {
    this.requests[outcome]++;
  }

  closed(code: number): void {
    const key = KNOWN_CLOSE_CODES.has(code) ? String(code) : 'other';
    this.closes.set(key, (this.closes.get(key) ?? 0) + 1);
  }

  upgradeRefused(reason: string): void {
    this.refusedUpgrades.set(reason, (this.refusedUpgrades.get(reason) ?? 0) + 1);
  }
}

/** The outcome label of an error a request ended with (the hub's own codes; anything else came from the handler). */
export function outcomeOf(code: string | undefined): RequestOutcome {
  switch (code) {
    case undefined: return 'ok';
    case 'timeout': case 'gone': case 'room_closed': case 'broker_unavailable': case 'no_responder': return code;
    default: return 'handler_error';
  }
}
