// A room's work queue in the engine (docs/cluster.md, "Work queue"): the seam behind push/pull
// when a room spans nodes. One node pushes a job; any node takes up to as many jobs as it has free
// puller slots; the node that gave a job to a puller acks it (done, or failed for good) or requeues
// it (nack, the puller dropped, the ack wait ran out on a live node). Each take of a job hands it
// to exactly one node. A job held by a node that stops answering (it died) comes back to a
// taker after `engineAckWaitMs`, with its attempt counted: at least once overall.
//
// The seam knows nothing of pullers or of --job-max-attempts: the caller (room-jobs.ts) decides
// from `attempt` whether a taken job is delivered or has failed.
//
// Attempts: a job carries the attempts made before its current entry (`before`); the engine counts
// the times the current entry was handed out. attempt = before + that count. A requeue writes a
// new entry with the attempts really made, so a job given back without reaching a puller (its
// node had no free puller but the job's own pusher) costs no attempt.
import type { ClusterKey } from './cluster-key.js';
import { openOrWhy, seal } from './seal.js';

/** What a job is, as the engine keeps it (sealed). */
export interface JobRecord {
  /** the job id the pusher and the puller see (`j…`), unique cluster-wide */
  id: string;
  /** cid of the pusher (the delivered message's `from`; never delivered to it) */
  from: string;
  /** node of the pusher: where the outcome goes */
  node: string;
  /** the push's `ref`, echoed in the outcome */
  ref: string | number | null;
  /** the pusher asked for the outcome (`ack: true`) */
  report: boolean;
  /** the job's `data` as JSON text */
  data: string;
  /** ms since the epoch, when it was pushed */
  at: number;
}

/** A job a node took: hold `handle` to ack or requeue it. */
export interface TakenJob {
  /** the engine's name for this delivery (a stream entry id, an ack subject) */
  handle: string;
  job: JobRecord;
  /** 1 for the first delivery */
  attempt: number;
}

export interface JobQueueLimits {
  /** jobs a room's queue may hold (waiting or held), --max-queued-jobs */
  maxJobs: number;
  /** UTF-8 bytes of their data (Redis and memory; not NATS, see docs), --max-queued-job-bytes */
  maxBytes: number;
  /** a job held this long without an ack or requeue is handed out again (the holder's node is gone) */
  engineAckWaitMs: number;
}

export interface JobQueue {
  /** Queue a job; 'queue_full' when the room's bound is reached (nothing is queued then). */
  push(room: string, job: JobRecord): Promise<'ok' | 'queue_full'>;
  /** Up to `max` jobs for this node: those waiting, and those held past the engine's ack wait. */
  take(room: string, max: number): Promise<TakenJob[]>;
  /** The job is over (done, or failed for good): removed. False when this node no longer holds it. */
  ack(room: string, handle: string): Promise<boolean>;
  /**
   * Back to the queue for another taker, with `attemptsMade` deliveries to pullers so far. False
   * when this node no longer holds it (the engine handed it out again meanwhile).
   */
  requeue(room: string, taken: TakenJob, attemptsMade: number): Promise<boolean>;
  /**
   * Node `nodeId` is gone (NodeRegistry.onNodeGone): the jobs it held go back to the queue now,
   * each with the delivery it had counted, instead of after the engine ack wait. Idempotent: any
   * number of nodes may call it. Returns how many went back (NATS: always 0, its ack wait is the
   * only way: a pull consumer does not say which client holds what).
   */
  releaseNode(room: string, nodeId: string): Promise<number>;
  /**
   * This node holds the room: its queue stays at least the queue TTL longer (the room TTL + a
   * margin). Called every quarter of that TTL while the room exists here; a queue no node touches
   * (or uses) expires with its jobs. Redis: PEXPIRE; NATS: this node's holder marker; memory: nothing.
   */
  touch(room: string): Promise<void>;
  /**
   * This node freed the room (optional: engines whose TTLs do it leave it out). NATS: the last node
   * to free the room drops its queue. Resolves true when the queue was dropped.
   */
  release?(room: string): Promise<boolean>;
  /** The room is freed everywhere: its queue goes. */
  drop(room: string): Promise<void>;
  readonly counters: JobQueueCounters;
  close?(): Promise<void>;
}

export interface JobQueueCounters {
  pushed: number;
  taken: number;
  /** jobs taken that did not open (another cluster key, altered): dropped, by reason */
  notOpened: Record<string, number>;
}

/** Queue TTL when none is given: the default room TTL (300 s) + 60 s. */
export const DEFAULT_JOB_QUEUE_TTL_MS = 360_000;

/** The queue TTL for a room TTL: the margin covers touches lost to a slow node or a short engine outage. */
export function jobQueueTtlMs(roomTtlMs: number): number {
  return roomTtlMs + Math.min(60_000, Math.max(1000, roomTtlMs));
}

export const newJobCounters = (): JobQueueCounters => ({ pushed: 0, taken: 0, notOpened: {} });

/** The seal context of a job: bound to its room, so a job cannot be moved into another room's queue. */
export const JOB_KIND = 'job';

export function sealJob(key: ClusterKey | null, room: string, job: JobRecord): Buffer {
  return seal(key, { kind: JOB_KIND, room }, Buffer.from(JSON.stringify(job)));
}

/** The job, or why it does not open (the caller drops it and counts the reason). */
export function openJob(key: ClusterKey | null, room: string, frame: Uint8Array): JobRecord | string {
  const opened = openOrWhy(key, { kind: JOB_KIND, room }, frame);
  if (!opened.ok) return opened.reason;
  let o: unknown;
  try { o = JSON.parse(Buffer.from(opened.plaintext).toString('utf8')); } catch { return 'malformed'; }
  const j = o as Partial<JobRecord> | null;
  if (typeof j !== 'object' || j === null || typeof j.id !== 'string' || typeof j.from !== 'string' || typeof j.node !== 'string'
    || typeof j.data !== 'string' || typeof j.at !== 'number' || typeof j.report !== 'boolean'
    || !(j.ref === null || typeof j.ref === 'string' || typeof j.ref === 'number')) return 'malformed';
  return j as JobRecord;
}

/** Count a job that did not open; the caller removes it from the queue. */
export function notOpened(counters: JobQueueCounters, reason: string): void {
  counters.notOpened[reason] = (counters.notOpened[reason] ?? 0) + 1;
}

export class JobQueueError extends Error {
  constructor(readonly code: 'ERR_JOB_QUEUE_TIMEOUT', message: string) {
    super(message);
  }
}

/** Rejects with ERR_JOB_QUEUE_TIMEOUT after `ms` (the engine hangs or is away). */
export async function jobDeadline<T>(what: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new JobQueueError('ERR_JOB_QUEUE_TIMEOUT', `${what}: no answer from the engine within ${ms} ms`)), ms);
  });
  work.catch(() => {});
  try { return await Promise.race([work, timeout]); } finally { clearTimeout(timer); }
}
