// A native member resumed on another node than the one holding it (docs/cluster.md, "Resume on
// another node"): after its node drained (SIGTERM) or while its node lives (the load balancer sent
// the reconnect elsewhere). The node the connection reached asks the member's node — named by its
// token's tag — to hand the member over (`r.hand`); that node takes it out of its room without a
// `leave` and answers with what the new node needs (`r.hand-ans`: cid, user, info, join time,
// owner-ness, and what it sent the member alone after `seen`). The new node makes it a local
// member dropped and waiting for its resume, and the door then lets the connection in: the hub's
// ordinary resume takes it over (same cid, `resumed:true`, the missed frames after the replay).
//
// Nothing is stored in the engine: a node that died cannot answer, and the connection starts
// afresh (`resumed:false`) after HANDOVER_WAIT_MS — never a silent hole.
import type { ClusterNode } from './cluster-node.js';
import type { Room } from '../rooms/room.js';
import type { BusMessage } from './cluster-bus.js';
import { nodeTokenTag, tokenTagOf } from '../channels/cid.js';
import { nodeOfTag } from './node-tags.js';
import { tokenHash } from './handover-token.js';
import { RosterDirectory } from './roster-directory.js';
import { busCall, encode, NODE_KINDS, parseHandoverAnswer, parseHandoverAsk, type HandedMember, type HandoverAnswer } from './roster-wire.js';

/** How long the new node waits for the old one's answer before the connection starts afresh. */
export const HANDOVER_WAIT_MS = 2000;
/** An answer later than the wait is still taken (the member then leaves after the grace) this long. */
const LATE_MS = 30_000;
/** How many times an ask is passed on to where the member went (it moved again meanwhile). */
const MAX_HOPS = 3;
const handovers = new WeakMap<ClusterNode, MemberHandover>();

interface Waiter {
  room: string;
  token: string;
  /** resolves the door's wait; undefined once it gave up */
  done: (() => void) | undefined;
  timer: NodeJS.Timeout;
}

export class MemberHandover {
  private readonly waiters = new Map<number, Waiter>();
  private counter = 0;

  static of(cluster: ClusterNode): MemberHandover {
    let h = handovers.get(cluster);
    if (!h) handovers.set(cluster, (h = new MemberHandover(cluster)));
    return h;
  }

  private constructor(readonly cluster: ClusterNode) {
    cluster.onNode(NODE_KINDS.handover, (m) => this.onAsk(m));
    cluster.onNode(NODE_KINDS.handoverAnswer, (m) => this.onAnswer(m));
  }

  /**
   * Before a connection with `?resume=<token>` is let into `room`: if the token names a member of
   * another live node, take it over from there. Resolves (never rejects) once the member is here,
   * or it is known it will not be (no such node or member, no answer within HANDOVER_WAIT_MS).
   */
  async take(room: Room, token: string, user: string | undefined, seen: number | undefined): Promise<void> {
    const tag = tokenTagOf(token);
    if (tag === undefined || tag === nodeTokenTag(this.cluster.nodeId)) return;
    let node: string | undefined;
    try {
      node = await nodeOfTag(this.cluster, tag);
    } catch {
      return; // the engine does not answer: the connection starts afresh
    }
    if (node === undefined || node === this.cluster.nodeId) return;
    room.channels(); // the hub (made on the first member) must be there to adopt the member
    const q = ++this.counter;
    const answered = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        const w = this.waiters.get(q);
        if (w) w.done = undefined;
        resolve();
        // A late answer is still taken: otherwise the member would be gone from every node
        // without a `leave`. It then waits out the grace here, and leaves.
        setTimeout(() => this.waiters.delete(q), LATE_MS).unref();
      }, HANDOVER_WAIT_MS);
      this.waiters.set(q, { room: room.name, token, done: resolve, timer });
    });
    const ask = { room: room.name, q, th: tokenHash(token), ...(user !== undefined ? { user } : {}), ...(seen !== undefined ? { seen } : {}) };
    try {
      await busCall(() => this.cluster.bus.toNode(node, NODE_KINDS.handover, encode(ask)));
    } catch {
      const w = this.waiters.get(q);
      if (w) { clearTimeout(w.timer); this.waiters.delete(q); }
      return;
    }
    await answered;
  }

  /** The old node's side: hand the member over if the token's hash and the user match. */
  private onAsk(m: BusMessage): void {
    const ask = parseHandoverAsk(m.payload);
    if (!ask) return;
    const roster = RosterDirectory.of(this.cluster).get(ask.room);
    const asker = ask.origin ?? m.from;
    let out = roster ? roster.handOver(ask.th, ask.user, ask.seen, asker) : 'the room is not on this node';
    if (typeof out === 'object' && 'movedTo' in out) {
      // It resumed elsewhere before and drops again: the node holding it now answers the asker.
      const hops = (ask.hops ?? 0) + 1;
      if (hops <= MAX_HOPS) {
        const on = out.movedTo;
        busCall(() => this.cluster.bus.toNode(on, NODE_KINDS.handover, encode({ ...ask, origin: asker, hops }))).catch(() => { /* the asker gives up after its wait */ });
        return;
      }
      out = 'moved too many times';
    }
    const answer: HandoverAnswer = typeof out === 'string' ? { q: ask.q, why: out } : { q: ask.q, state: out };
    busCall(() => this.cluster.bus.toNode(asker, NODE_KINDS.handoverAnswer, encode(answer))).catch((err: unknown) => {
      // Lost: the asker gives up after its wait and the member, taken out here, is nowhere. Its
      // cid stays in the others' view until its new node's grace ends (no `leave` is owed: it was
      // handed over), so say so in the log.
      this.cluster.log.warn('member handed over but the answer was not sent', { room: ask.room, to: asker, err: (err as Error)?.message });
    });
  }

  private onAnswer(m: BusMessage): void {
    const a = parseHandoverAnswer(m.payload);
    if (!a) return;
    const w = this.waiters.get(a.q);
    if (!w) return;
    this.waiters.delete(a.q);
    clearTimeout(w.timer);
    if (a.state) this.adopt(w, a.state);
    w.done?.();
  }

  private adopt(w: Waiter, state: HandedMember): void {
    const roster = RosterDirectory.of(this.cluster).get(w.room);
    if (!roster?.adopt(state, w.token)) this.cluster.log.warn('handed-over member not adopted (its room is gone here)', { room: w.room, cid: state.cid });
  }
}
