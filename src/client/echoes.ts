// Replay after a reconnect brings back this handle's own earlier publishes: from the previous cid,
// or from the same one when the server resumed the member. They are dropped unless they were
// published with `echo: true` and their echo had not arrived yet. Echoes are recognised by content
// (topic + data), since nothing on the wire ties a replayed message to the publish call that made it.
import type { Cid, DataMessage } from './types.js';

const MAX_PREVIOUS_CIDS = 256;
const MAX_PENDING_PER_CID = 1000;

const keyOf = (topic: string | undefined, data: unknown): string => JSON.stringify([topic ?? null, data ?? null]);

export class OwnPublishes {
  private current: Cid | undefined;
  /** Own cids, oldest first, the current one included; each with its echoes not yet seen. */
  private readonly pendingEchoes = new Map<Cid, string[]>();
  /** Cids whose list dropped entries (over MAX_PENDING_PER_CID): their echoes can no longer all be told apart. */
  private readonly overflowed = new Set<Cid>();

  /** A new connection of this handle got `cid`. */
  connected(cid: Cid): void {
    this.current = cid;
    if (!this.pendingEchoes.has(cid)) this.pendingEchoes.set(cid, []);
    while (this.pendingEchoes.size > MAX_PREVIOUS_CIDS) {
      const oldest = this.pendingEchoes.keys().next().value as Cid;
      this.pendingEchoes.delete(oldest);
      this.overflowed.delete(oldest);
    }
  }

  /** A `publish` with `echo: true` was handed to the connection `cid`. */
  sentEcho(cid: Cid, topic: string | undefined, data: unknown): void {
    const list = this.pendingEchoes.get(cid);
    if (!list) return;
    list.push(keyOf(topic, data));
    if (list.length > MAX_PENDING_PER_CID) {
      list.shift();
      this.overflowed.add(cid);
    }
  }

  /** Whether a published message should reach the application. */
  accept(msg: DataMessage): boolean {
    const list = this.pendingEchoes.get(msg.from);
    if (!list) return true; // another member's
    const i = list.indexOf(keyOf(msg.topic, msg.data));
    if (i >= 0) list.splice(i, 1);
    // Only the echoes still expected are wanted (a resumed member's replay comes from its current
    // cid too). If the current list overflowed, live echoes are let through rather than lost.
    return i >= 0 || (msg.from === this.current && this.overflowed.has(msg.from));
  }

  isOwn(cid: Cid): boolean {
    return this.pendingEchoes.has(cid);
  }
}
