// A room's push/pull work queue, in the room's memory, with the semantics of NATS JetStream's
// work-queue consumers and RabbitMQ's manual acks: a job waits (bounded) until a puller is free;
// a puller holds at most `prefetch` unacknowledged jobs; a job is done when its puller acks it and
// goes to another puller when the puller nacks it, leaves, or lets the ack wait run out — up to
// `maxAttempts` deliveries, after which the pusher hears `job_failed`. Delivery is at least once:
// a puller that acks after its job was given to another gets `unknown_job`.
import type { Json, Ref } from './messages.js';

/** What the queue needs to know of a member (the hub's Member has these fields). */
export interface Puller {
  readonly cid: string;
  /** Undefined while the member is dropped and waiting for a resume: it takes no work then. */
  readonly conn: object | undefined;
  pulling: boolean;
  /** Unacknowledged jobs it may hold at once. */
  prefetch: number;
  /** Pulled with `ack: false`: a job is done once written to it (at most once, no prefetch limit). */
  autoAck: boolean;
  /** Jobs it holds unacknowledged; made on first use. */
  holding: Set<Job> | undefined;
}

export interface Job {
  readonly id: string;
  readonly data: Json;
  /** The pusher's cid (the `from` of the delivered message). */
  readonly from: string;
  /** Told the outcome (`job` message) when set: the push asked for an ack. */
  readonly pusher: Puller | undefined;
  readonly ref: Ref;
  /** UTF-8 bytes of `data`'s JSON, counted against the queue's byte bound. */
  readonly bytes: number;
  /** Deliveries so far. */
  attempts: number;
  holder: Puller | undefined;
  /** The last puller it failed on: the next delivery prefers another. */
  failedOn: Puller | undefined;
  timer: NodeJS.Timeout | undefined;
}

export type JobOutcome =
  | { status: 'done'; from: string; data: Json }
  | { status: 'failed'; error: { code: string; message: string } };

export interface WorkQueueOptions {
  maxJobs: number;
  maxBytes: number;
  /** 0: wait for the ack for ever. */
  ackWaitMs: number;
  maxAttempts: number;
}

/** How the queue reaches members; implemented by the hub. */
export interface WorkQueueHost {
  deliverJob(to: Puller, job: Job): void;
  reportJob(job: Job, outcome: JobOutcome): void;
}

export class WorkQueue {
  /** Waiting jobs, oldest first from `head` (a deque: redeliveries go back to the front). */
  private waiting: (Job | undefined)[] = [];
  private head = 0;
  private readonly inFlight = new Map<string, Job>();
  private readonly pullers: Puller[] = [];
  private cursor = 0;
  private counter = 0;
  /** Bytes of the waiting jobs. */
  private bytes = 0;

  constructor(private readonly opts: WorkQueueOptions, private readonly host: WorkQueueHost) {}

  get waitingCount(): number { return this.waiting.length - this.head; }
  get inFlightCount(): number { return this.inFlight.size; }

  /** Queue a job; `queue_full` when the bound is reached (nothing is queued then). */
  push(from: Puller, data: Json, ref: Ref, report: boolean): Job | 'queue_full' {
    const bytes = Buffer.byteLength(JSON.stringify(data));
    if (this.waitingCount >= this.opts.maxJobs || this.bytes + bytes > this.opts.maxBytes) return 'queue_full';
    const job: Job = {
      id: 'j' + (++this.counter).toString(36), data, from: from.cid, pusher: report ? from : undefined, ref, bytes,
      attempts: 0, holder: undefined, failedOn: undefined, timer: undefined,
    };
    this.waiting.push(job);
    this.bytes += bytes;
    this.dispatch();
    return job;
  }

  /** A member starts (or changes how it does) pulling. */
  pull(p: Puller, prefetch: number, autoAck: boolean): void {
    p.pulling = true;
    p.prefetch = prefetch;
    p.autoAck = autoAck;
    if (!this.pullers.includes(p)) this.pullers.push(p);
    this.dispatch();
  }

  /** It takes no new jobs; those it holds stay with it until it acks or nacks them (or leaves). */
  unpull(p: Puller): void {
    p.pulling = false;
    const i = this.pullers.indexOf(p);
    if (i >= 0) this.pullers.splice(i, 1);
  }

  ack(p: Puller, id: string, data: Json): boolean {
    const job = this.inFlight.get(id);
    if (!job || job.holder !== p) return false;
    this.settle(job, { status: 'done', from: p.cid, data });
    return true;
  }

  nack(p: Puller, id: string, error: { code: string; message: string }): boolean {
    const job = this.inFlight.get(id);
    if (!job || job.holder !== p) return false;
    this.retry(job, error);
    return true;
  }

  /** The puller's connection dropped, or it left: what it holds goes to others. */
  release(p: Puller): void {
    if (!p.holding?.size) return;
    for (const job of [...p.holding]) this.retry(job, { code: 'gone', message: `puller ${p.cid} left before acknowledging` });
  }

  /** The member left the room for good. */
  forget(p: Puller): void {
    this.unpull(p);
    this.release(p);
  }

  /** Give waiting jobs to free pullers, round-robin; call whenever a slot may have opened. */
  dispatch(): void {
    while (this.head < this.waiting.length) {
      const job = this.waiting[this.head]!;
      const to = this.freePuller(job);
      if (!to) return;
      this.waiting[this.head++] = undefined;
      this.bytes -= job.bytes;
      this.compact();
      this.deliver(job, to);
    }
  }

  dispose(): void {
    for (const job of this.inFlight.values()) if (job.timer) clearTimeout(job.timer);
    this.inFlight.clear();
    this.waiting = [];
    this.head = 0;
    this.bytes = 0;
    this.pullers.length = 0;
  }

  /** The next free puller after the cursor, never the job's pusher; another than the one it just failed on if there is one. */
  private freePuller(job: Job): Puller | undefined {
    const n = this.pullers.length;
    const avoid = job.failedOn;
    let fallback: Puller | undefined;
    for (let i = 0; i < n; i++) {
      const idx = (this.cursor + i) % n;
      const p = this.pullers[idx];
      if (!p.pulling || p.conn === undefined || p.cid === job.from) continue;
      if (!p.autoAck && (p.holding?.size ?? 0) >= p.prefetch) continue;
      if (p === avoid && n > 1) { fallback ??= p; continue; }
      this.cursor = idx + 1;
      return p;
    }
    return fallback;
  }

  private deliver(job: Job, to: Puller): void {
    job.attempts++;
    job.holder = to;
    if (to.autoAck) {
      this.host.deliverJob(to, job);
      job.holder = undefined;
      if (job.pusher) this.host.reportJob(job, { status: 'done', from: to.cid, data: null });
      return;
    }
    (to.holding ??= new Set()).add(job);
    this.inFlight.set(job.id, job);
    if (this.opts.ackWaitMs > 0) {
      job.timer = setTimeout(() => {
        job.timer = undefined;
        if (this.inFlight.get(job.id) === job) this.retry(job, { code: 'timeout', message: `not acknowledged within ${this.opts.ackWaitMs} ms` });
      }, this.opts.ackWaitMs);
      job.timer.unref?.();
    }
    this.host.deliverJob(to, job);
  }

  /** Take the job back from its holder. */
  private takeBack(job: Job): void {
    if (job.timer) clearTimeout(job.timer);
    job.timer = undefined;
    job.holder?.holding?.delete(job);
    job.failedOn = job.holder;
    job.holder = undefined;
    this.inFlight.delete(job.id);
  }

  private settle(job: Job, outcome: JobOutcome): void {
    this.takeBack(job);
    if (job.pusher) this.host.reportJob(job, outcome);
    this.dispatch();
  }

  private retry(job: Job, error: { code: string; message: string }): void {
    if (job.attempts >= this.opts.maxAttempts) {
      return this.settle(job, { status: 'failed', error: { code: 'job_failed', message: `failed on ${job.attempts} deliveries; last: ${error.code}: ${error.message}` } });
    }
    this.takeBack(job);
    // Back to the front: it was first in line before.
    if (this.head > 0) this.waiting[--this.head] = job;
    else this.waiting.unshift(job);
    this.bytes += job.bytes;
    this.dispatch();
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.waiting.length) { this.waiting = this.waiting.slice(this.head); this.head = 0; }
    else if (this.head === this.waiting.length) { this.waiting.length = 0; this.head = 0; }
  }
}
