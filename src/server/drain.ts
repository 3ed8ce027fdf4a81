// The drain (SIGTERM, SIGINT, POST /_/drain): how the connections of a stopping server end so that
// clients come back elsewhere without losing anything they were promised.
//
// - GUN peers are closed at once with 1001 (they hold no calls; GUN reconnects and re-syncs).
// - A native member is told `{"type":"closed","reason":"restart","retryMs":n}` and its connection
//   closed with 1012 (service restart) as soon as no request is in flight for it. "In flight"
//   means pending in its room's hub (not answered, not timed out) with both ends still connected:
//   a request it asked, or one it was asked. Both ends stay connected until the reply has gone
//   through the hub (the asker gets it), or until the drain deadline, when every member left is
//   closed anyway. A request whose other end is dropped or already told cannot complete here and
//   holds nobody.
// - retryMs is spread per member over RETRY_MIN_MS..RETRY_MIN_MS+RETRY_SPREAD_MS, so that the
//   members of a node do not all reconnect (to the load balancer or the next node) in one instant.
import type { Member } from '../channels/hub.js';
import type { Room } from '../rooms/room.js';
import { CLOSE_CODES } from '../protocol/errors.js';
import { OutFrame } from '../transports/out-frame.js';

export const RETRY_MIN_MS = 500;
export const RETRY_SPREAD_MS = 1500;
/** After the last member was handed over, the node stays this long to forward what was still sent to it here. */
const HANDOVER_LINGER_MS = 250;
/** How often the drain looks again at members kept for a request in flight. */
const RECHECK_MS = 25;

/** One member's reconnect hint: RETRY_MIN_MS plus a random share of RETRY_SPREAD_MS. */
export function retryHint(random: () => number = Math.random): number {
  return RETRY_MIN_MS + Math.floor(random() * RETRY_SPREAD_MS);
}

/** Close every GUN peer of these rooms with 1001 (`shutting_down`). Returns how many. */
export function closeGunPeers(rooms: Iterable<Room>): number {
  let n = 0;
  for (const room of rooms) {
    for (const peer of [...room.peers]) {
      if (!peer.isOpen) continue;
      peer.close(CLOSE_CODES.GOING_AWAY, 'shutting_down');
      n++;
    }
  }
  return n;
}

export interface MemberDrain {
  /** Members told to reconnect (closed restart + 1012). */
  told: number;
  /** Of those, members closed at the deadline with a request still in flight. */
  cut: number;
  /** Members that were kept open for a request in flight (at any point). */
  waited: number;
}

/**
 * Tell every native member of `rooms()` to reconnect elsewhere and close its connection, each as
 * soon as no request is in flight for it; at `deadline` (ms, epoch) the rest go too. Resolves when
 * every member has been told. `rooms` is called on every pass (rooms may come and go meanwhile).
 */
export async function drainMembers(rooms: () => Iterable<Room>, deadline: number, random: () => number = Math.random): Promise<MemberDrain> {
  const result: MemberDrain = { told: 0, cut: 0, waited: 0 };
  const kept = new WeakSet<Member>();
  for (;;) {
    const late = Date.now() >= deadline;
    let waiting = 0;
    for (const room of rooms()) {
      if (room.members === 0) continue;
      const hub = room.channels();
      const busy = waitedOn(hub.inFlight());
      for (const member of hub.members.values()) {
        const conn = member.conn;
        // Dropped (waiting for a resume) or already told: nothing more to do.
        if (!conn || !conn.isOpen) continue;
        if (busy.has(member) && !late) {
          waiting++;
          if (!kept.has(member)) { kept.add(member); result.waited++; }
          continue;
        }
        if (busy.has(member)) result.cut++;
        conn.send(restartFrame(retryHint(random)), true);
        conn.close(CLOSE_CODES.SERVICE_RESTART, 'restart');
        result.told++;
      }
    }
    if (waiting === 0) return result;
    await new Promise((resolve) => setTimeout(resolve, Math.min(RECHECK_MS, Math.max(1, deadline - Date.now()))));
  }
}

/**
 * Members worth keeping: both ends of a request that can still complete here. An end that is
 * dropped (waiting for a resume) or already told to go cannot answer or hear the answer on this
 * server, so its request would only hold the other end until the deadline for nothing.
 */
function waitedOn(requests: Array<{ asker: Member | undefined; answerer: Member | undefined }>): Set<Member> {
  const out = new Set<Member>();
  for (const { asker, answerer } of requests) {
    // An end on another node (cluster) is not drained here: only this node's end waits. A dropped
    // end cannot come back to a draining server, so the request then holds nobody.
    if ((asker !== undefined && !asker.conn?.isOpen) || (answerer !== undefined && !answerer.conn?.isOpen)) continue;
    if (asker) out.add(asker);
    if (answerer) out.add(answerer);
  }
  return out;
}

/**
 * Cluster: a member told to reconnect may resume on another node, which then asks this one to
 * hand it over (member-handover.ts). So the node stays up, serving those asks, until no member is
 * left here (each handed over, or gone at the end of its resume grace), at most until `until`.
 * Resolves with how many were still here then.
 */
export async function awaitHandovers(rooms: () => Iterable<Room>, until: number): Promise<number> {
  for (let pass = 0; ; pass++) {
    let left = 0;
    for (const room of rooms()) left += room.members;
    if (left === 0 && pass > 0) {
      // The others learn where the last one went one bus trip later: what they sent here for it
      // meanwhile is forwarded, as long as this node is still there to do it.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(HANDOVER_LINGER_MS, until - Date.now()))));
      return 0;
    }
    if (left === 0 || Date.now() >= until) return left;
    await new Promise((resolve) => setTimeout(resolve, Math.min(RECHECK_MS, Math.max(1, until - Date.now()))));
  }
}

function restartFrame(retryMs: number): OutFrame {
  return new RestartFrame(retryMs);
}

/**
 * `closed` `restart`. As a Server-Sent Event it also carries `retry: <retryMs>`, so that a page's
 * plain EventSource (which reconnects by itself when the stream ends) follows the same spread.
 */
class RestartFrame extends OutFrame {
  constructor(private readonly retryMs: number) {
    super(JSON.stringify({ type: 'closed', reason: 'restart', retryMs }), 'closed');
  }

  override get sse(): Buffer {
    return Buffer.concat([Buffer.from(`retry: ${this.retryMs}\n`), super.sse]);
  }
}
