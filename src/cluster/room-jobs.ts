// A room's push/pull on this node when the room spans nodes (docs/cluster.md, "Work queue"): the
// same semantics as channels/work-queue.ts, with the jobs in the engine's queue (JobQueue) instead of
// the room's memory. The hub calls it where it would call WorkQueue.
//
//   push    → JobQueue.push; the pusher's `ack` once the engine took it; a nudge on the room's bus
//             channel wakes the nodes that have free pullers
//   pullers → this node takes as many jobs as its pullers here have free slots (on a nudge, when a
//             slot frees, and on a poll that also finds jobs whose node died), and gives each to a
//             free puller in turn, never the job's own pusher, another than the one it last failed on
//   ack     → JobQueue.ack, then the outcome to the pusher's node (ClusterBus.toNode)
//   nack, the puller drops, the ack wait runs out on this node → JobQueue.requeue with the attempts
//             made, or, after --job-max-attempts, job_failed to the pusher
// A node that dies holding jobs: on Redis every node with the room releases them as soon as the
// registry reports the node gone; otherwise the engine hands them out again after its ack wait
// (the node's ack wait plus a margin, so a live node always settles its own jobs first). The taker
// delivers them (attempt + 1) or, the attempt past the limit, reports job_failed.
import { randomBytes } from 'node:crypto';
import type { Json, Ref } from '../channels/messages.js';
import type { JobOutcome, Puller, WorkQueueOptions } from '../channels/work-queue.js';
import type { BusMessage } from './cluster-bus.js';
import type { ClusterNode } from './cluster-node.js';
import type { JobQueue, JobRecord, TakenJob } from './job-queue.js';
import { logFailure } from '../log-throttle.js';

/** Bus kinds: a room's "jobs are waiting" nudge, and a job's outcome to the pusher's node. */
export const NUDGE_KIND = 'q.nudge';
export const OUTCOME_KIND = 'q.outcome';

/** After a nack this node waits this long before taking for that puller again: a free puller on another node gets the job first. */
const COOL_MS = 150;
/** At most this many jobs per take. */
const MAX_TAKE = 100;

/** What a job looks like to the hub when it is delivered. */
export interface DeliveredJob {
  id: string;
  from: string;
  data: Json;
  attempts: number;
}

/** How RoomJobs reaches this node's members (implemented by the hub). */
export interface RoomJobsHost {
  deliverJob(to: Puller, job: DeliveredJob): void;
  /** The outcome of job `id` to its pusher `cid` on this node, if it is still here. */
  tellJobOutcome(cid: string, ref: string | number | null, id: string, attempts: number, outcome: JobOutcome): void;
}

interface Held {
  taken: TakenJob;
  puller: Puller;
  timer: NodeJS.Timeout | undefined;
}

/** The outcome as it travels to the pusher's node. */
interface OutcomeMessage {
  room: string;
  cid: string;
  ref: string | number | null;
  id: string;
  attempts: number;
  outcome: JobOutcome;
}

/** Engine ack wait for a node ack wait: a margin so that a live node settles its own jobs first; "forever" (0) is an hour. */
export function engineAckWaitMs(ackWaitMs: number): number {
  return ackWaitMs > 0 ? ackWaitMs + Math.max(1000, Math.round(ackWaitMs / 2)) : 3_600_000;
}

export class RoomJobs {
  private readonly queue: JobQueue;
  private readonly pullers: Puller[] = [];
  private cursor = 0;
  private readonly held = new Map<string, Held>();
  private readonly holding = new Map<Puller, Set<string>>();
  /** job id → cid of the puller here it last failed on (the next delivery here prefers another) */
  private readonly failedOn = new Map<string, string>();
  /** puller → until when it takes nothing new (after a nack) */
  private readonly cooling = new Map<Puller, number>();
  /** jobs pushed here whose push the engine has not confirmed yet → outcomes that arrived first */
  private readonly pushing = new Map<string, OutcomeMessage[]>();
  private taking = false;
  private takeAgain = false;
  /** the last take failed (the engine is away): logged once per outage, not once per poll */
  private takeFailing = false;
  private subscribed = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private coolTimer: NodeJS.Timeout | undefined;
  private disposed = false;
  private readonly pollMs: number;

  constructor(private readonly cluster: ClusterNode, readonly room: string, private readonly opts: WorkQueueOptions, private readonly host: RoomJobsHost) {
    this.queue = cluster.jobs;
    // The poll finds what no nudge announced: jobs of a node that died (after the engine ack wait)
    // and nudges lost while the bus was cut off (also retaken when it comes back, see wake()).
    this.pollMs = Math.min(5000, Math.max(100, Math.round(engineAckWaitMs(opts.ackWaitMs) / 4)));
    cluster.jobRooms.set(room, this);
  }

  /** Queue a job in the engine. Resolves with its id, or 'queue_full'; rejects when the engine does not answer. */
  async push(from: Puller, data: Json, ref: Ref, report: boolean): Promise<string | 'queue_full'> {
    const job: JobRecord = {
      id: 'j' + randomBytes(9).toString('base64url'), from: from.cid, node: this.cluster.nodeId,
      ref: ref ?? null, report, data: JSON.stringify(data), at: Date.now(),
    };
    this.pushing.set(job.id, []);
    try {
      if (await this.queue.push(this.room, job) === 'queue_full') { this.pushing.delete(job.id); return 'queue_full'; }
    } catch (err) {
      this.pushing.delete(job.id);
      throw err;
    }
    this.nudge();
    return job.id;
  }

  /** The pusher has heard `ack`: outcomes that came before it follow now. */
  pushAnswered(id: string): void {
    const early = this.pushing.get(id);
    this.pushing.delete(id);
    for (const o of early ?? []) this.outcome(o);
  }

  pull(p: Puller, prefetch: number, autoAck: boolean): void {
    p.pulling = true;
    p.prefetch = prefetch;
    p.autoAck = autoAck;
    if (!this.pullers.includes(p)) this.pullers.push(p);
    this.listen();
    this.take();
  }

  unpull(p: Puller): void {
    p.pulling = false;
    const i = this.pullers.indexOf(p);
    if (i >= 0) this.pullers.splice(i, 1);
    this.cooling.delete(p);
  }

  /** True when `p` holds job `id` here; the engine ack and the outcome follow. */
  ack(p: Puller, id: string, data: Json): boolean {
    const h = this.held.get(id);
    if (!h || h.puller !== p) return false;
    this.unhold(h);
    const attempts = h.taken.attempt;
    void this.queue.ack(this.room, h.taken.handle).then((mine) => {
      // Not ours any more (held past the engine's ack wait: another node has it): its outcome is theirs.
      if (mine) this.report(h.taken.job, attempts, { status: 'done', from: p.cid, data });
    }, (err) => logFailure(this.cluster.log, 'warn', 'job ack failed', { room: this.room, job: id, err: String(err) }));
    this.take();
    return true;
  }

  nack(p: Puller, id: string, error: { code: string; message: string }): boolean {
    const h = this.held.get(id);
    if (!h || h.puller !== p) return false;
    this.retry(h, error);
    return true;
  }

  /** The puller's connection dropped, or it left: what it holds goes back. */
  release(p: Puller): void {
    const ids = this.holding.get(p);
    if (!ids?.size) return;
    for (const id of [...ids]) this.retry(this.held.get(id)!, { code: 'gone', message: `puller ${p.cid} left before acknowledging` });
  }

  forget(p: Puller): void {
    this.unpull(p);
    this.release(p);
  }

  /** WorkQueue's dispatch: try to fill free slots. */
  dispatch(): void { this.take(); }

  get waitingCount(): number { return 0; }

  dispose(): void {
    this.disposed = true;
    for (const h of [...this.held.values()]) this.retry(h, { code: 'gone', message: 'the room closed on the puller\'s node' });
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.coolTimer) clearTimeout(this.coolTimer);
    this.pullers.length = 0;
    if (this.subscribed) void this.cluster.unsubscribe(this.room, NUDGE_KIND).catch(() => {});
    if (this.cluster.jobRooms.get(this.room) === this) this.cluster.jobRooms.delete(this.room);
  }

  /** The bus is back: nudges may have been lost meanwhile. */
  wake(): void { this.take(); }

  /** Node `id` is gone: the jobs it held in this room go back now (Redis; NATS waits for its ack wait). */
  nodeGone(id: string): void {
    void this.queue.releaseNode(this.room, id).then((n) => { if (n > 0) { this.nudge(); this.take(); } }, (err) => {
      this.cluster.log.warn('jobs of a gone node not released', { room: this.room, node: id, err: String(err) }); // the engine ack wait brings them back
    });
  }

  /** An outcome for a pusher here (from this node or another). */
  outcome(o: OutcomeMessage): void {
    const early = this.pushing.get(o.id);
    if (early) { early.push(o); return; }
    this.host.tellJobOutcome(o.cid, o.ref, o.id, o.attempts, o.outcome);
  }

  // --- taking and delivering

  /** Subscribe to the room's nudges and poll, once this node has pullers in the room. */
  private listen(): void {
    if (this.subscribed || this.disposed) return;
    this.subscribed = true;
    void Promise.resolve(this.cluster.subscribe(this.room, NUDGE_KIND, () => this.take())).then(() => this.take(), (err) => {
      this.subscribed = false;
      this.cluster.log.warn('job nudges not subscribed', { room: this.room, err: String(err) });
    });
    this.pollTimer = setInterval(() => { if (this.pullers.length) this.take(); }, this.pollMs);
    this.pollTimer.unref?.();
  }

  /** Tell the nodes with pullers in the room that jobs may be waiting. */
  private nudge(): void {
    void Promise.resolve(this.cluster.bus.publishRoom(this.room, NUDGE_KIND, new Uint8Array(0))).catch(() => { /* their poll finds it */ });
  }

  private freeSlots(): number {
    const now = Date.now();
    let free = 0;
    for (const p of this.pullers) {
      if (!p.pulling || p.conn === undefined || (this.cooling.get(p) ?? 0) > now) continue;
      free += p.autoAck ? p.prefetch : Math.max(0, p.prefetch - (this.holding.get(p)?.size ?? 0));
    }
    return free;
  }

  /** Take jobs for the free slots until there are none or the queue is empty. One take at a time. */
  private take(): void {
    if (this.disposed) return;
    if (this.taking) { this.takeAgain = true; return; }
    const free = this.freeSlots();
    if (free === 0) return;
    this.taking = true;
    this.takeAgain = false;
    const asked = Math.min(free, MAX_TAKE);
    void this.queue.take(this.room, asked).then((taken) => {
      this.taking = false;
      this.takeFailing = false;
      let gaveBack = false;
      for (const t of taken) if (!this.place(t)) gaveBack = true;
      // Again if something changed meanwhile, or if the queue may hold more (it filled the take).
      if (!gaveBack && (this.takeAgain || taken.length >= asked)) this.take();
    }, (err) => {
      this.taking = false;
      if (!this.takeFailing) this.cluster.log.warn('job take failed', { room: this.room, err: String(err) }); // the poll tries again
      this.takeFailing = true;
    });
  }

  /** Deliver a taken job here, fail it, or give it back; false when given back. */
  private place(t: TakenJob): boolean {
    if (t.attempt > this.opts.maxAttempts) {
      // Its last delivery ran out of time on a node that is gone.
      this.fail(t, t.attempt - 1, { code: 'timeout', message: `not acknowledged within ${this.opts.ackWaitMs} ms` });
      return true;
    }
    const to = this.freePuller(t.job);
    if (!to || this.disposed) {
      // Only the job's pusher is free here (or the slot went meanwhile): back, costing no attempt.
      // This node takes nothing more until its next poll, so that it does not draw the job again
      // and again while a puller elsewhere may be about to take it.
      this.coolAll(this.pollMs);
      void this.queue.requeue(this.room, t, t.attempt - 1).then(() => this.nudge(), () => {});
      return false;
    }
    const { job } = t;
    let data: Json;
    try { data = JSON.parse(job.data) as Json; } catch { data = null; }
    const delivered: DeliveredJob = { id: job.id, from: job.from, data, attempts: t.attempt };
    if (to.autoAck) {
      this.host.deliverJob(to, delivered);
      void this.queue.ack(this.room, t.handle).then((mine) => { if (mine) this.report(job, t.attempt, { status: 'done', from: to.cid, data: null }); }, () => {});
      return true;
    }
    const h: Held = { taken: t, puller: to, timer: undefined };
    this.held.set(job.id, h);
    let ids = this.holding.get(to);
    if (!ids) this.holding.set(to, (ids = new Set()));
    ids.add(job.id);
    if (this.opts.ackWaitMs > 0) {
      h.timer = setTimeout(() => {
        h.timer = undefined;
        if (this.held.get(job.id) === h) this.retry(h, { code: 'timeout', message: `not acknowledged within ${this.opts.ackWaitMs} ms` });
      }, this.opts.ackWaitMs);
      h.timer.unref?.();
    }
    this.host.deliverJob(to, delivered);
    return true;
  }

  /** The next free puller here after the cursor, never the job's pusher; another than the one it last failed on if there is one. */
  private freePuller(job: JobRecord): Puller | undefined {
    const n = this.pullers.length;
    const avoid = this.failedOn.get(job.id);
    let fallback: Puller | undefined;
    for (let i = 0; i < n; i++) {
      const idx = (this.cursor + i) % n;
      const p = this.pullers[idx];
      if (!p.pulling || p.conn === undefined || p.cid === job.from) continue;
      if (!p.autoAck && (this.holding.get(p)?.size ?? 0) >= p.prefetch) continue;
      if (p.cid === avoid && n > 1) { fallback ??= p; continue; }
      this.cursor = idx + 1;
      return p;
    }
    return fallback;
  }

  private unhold(h: Held): void {
    if (h.timer) clearTimeout(h.timer);
    h.timer = undefined;
    this.held.delete(h.taken.job.id);
    this.holding.get(h.puller)?.delete(h.taken.job.id);
  }

  /** The job failed on its puller here: to the queue again, or job_failed after the last attempt. */
  private retry(h: Held, error: { code: string; message: string }): void {
    this.unhold(h);
    const { taken } = h;
    if (taken.attempt >= this.opts.maxAttempts) return this.fail(taken, taken.attempt, error);
    this.failedOn.set(taken.job.id, h.puller.cid);
    if (this.failedOn.size > 10_000) this.failedOn.delete(this.failedOn.keys().next().value!);
    // The puller it failed on waits a moment, so that a free puller on another node gets it first.
    this.cool(h.puller);
    void this.queue.requeue(this.room, taken, taken.attempt).then(() => { this.nudge(); this.take(); }, (err) => {
      logFailure(this.cluster.log, 'warn', 'job requeue failed', { room: this.room, job: taken.job.id, err: String(err) }); // the engine's ack wait brings it back
    });
  }

  private fail(taken: TakenJob, attempts: number, last: { code: string; message: string }): void {
    void this.queue.ack(this.room, taken.handle).then((mine) => {
      if (mine) this.report(taken.job, attempts, { status: 'failed', error: { code: 'job_failed', message: `failed on ${attempts} deliveries; last: ${last.code}: ${last.message}` } });
      this.take();
    }, () => {});
  }

  private cool(p: Puller): void {
    this.cooling.set(p, Date.now() + COOL_MS);
    this.afterCooling(COOL_MS);
  }

  private coolAll(ms: number): void {
    for (const p of this.pullers) this.cooling.set(p, Date.now() + ms);
    this.afterCooling(ms);
  }

  private afterCooling(ms: number): void {
    if (this.coolTimer) return;
    this.coolTimer = setTimeout(() => { this.coolTimer = undefined; this.take(); }, ms + 5);
    this.coolTimer.unref?.();
  }

  /** The outcome to the pusher, on its node. */
  private report(job: JobRecord, attempts: number, outcome: JobOutcome): void {
    if (!job.report) return;
    const o: OutcomeMessage = { room: this.room, cid: job.from, ref: job.ref, id: job.id, attempts, outcome };
    if (job.node === this.cluster.nodeId) return this.outcome(o);
    void Promise.resolve(this.cluster.bus.toNode(job.node, OUTCOME_KIND, Buffer.from(JSON.stringify(o)))).catch((err) => {
      logFailure(this.cluster.log, 'warn', 'job outcome not sent', { room: this.room, job: job.id, node: job.node, err: String(err) });
    });
  }
}

/** ClusterNode's handler of OUTCOME_KIND: to the room's RoomJobs here (dropped if the room is gone here). */
export function routeOutcome(cluster: ClusterNode, message: BusMessage): void {
  let o: OutcomeMessage;
  try { o = JSON.parse(Buffer.from(message.payload).toString('utf8')) as OutcomeMessage; } catch { return; }
  if (typeof o?.room !== 'string' || typeof o.cid !== 'string' || typeof o.id !== 'string' || typeof o.attempts !== 'number') return;
  if (typeof o.outcome !== 'object' || o.outcome === null || (o.outcome.status !== 'done' && o.outcome.status !== 'failed')) return;
  cluster.jobRooms.get(o.room)?.outcome(o);
}
