// The taking side of the work queue: each pushed job goes to the pull handler, and what its
// promise does becomes the job's `ack` (resolved, with the value as the result) or `nack`
// (threw/rejected: the server gives the job to another puller). The server gives this member at
// most `prefetch` jobs at once, so a handler that takes 300 ms holds one job at a time.
import { handlerErrorInfo } from './errors.js';
import type { AckCommand, Cid, DataMessage, JobId, NackCommand } from './types.js';

export interface PullContext {
  from: Cid;
  /** The job's id (absent from a server that does not acknowledge jobs). */
  job?: JobId;
  /** 1 for the first delivery of this job, 2 after one puller failed it, … */
  attempt?: number;
}

/** Takes one job; what it returns (or its promise resolves to) is the job's result for the pusher. */
export type PullHandler<T = any> = (data: T, ctx: PullContext) => unknown; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface PullOptions {
  /** Jobs this member holds unacknowledged at once (1–1000, default 1). */
  prefetch?: number;
}

type Answer = AckCommand | NackCommand;

export class Puller {
  private nextRef = 0;
  /** Refs of acks/nacks sent: an `unknown_job` answer to one is expected after a redelivery. */
  private readonly answerRefs = new Set<string>();

  /** `send` writes an ack/nack on the current connection (or buffers it for the next one). */
  constructor(private readonly send: (msg: Answer) => void) {}

  /** Run `handler` on a pushed message; acks or nacks its job when it has one. */
  take(msg: DataMessage, handler: PullHandler | undefined, onSyncError: (err: unknown) => void): void {
    const job = msg.job;
    if (job === undefined) {
      // No job id: the server counts it done on delivery; only the handler runs.
      if (!handler) return;
      try {
        const out = handler(msg.data, { from: msg.from });
        if (out instanceof Promise) out.catch(onSyncError);
      } catch (err) {
        onSyncError(err);
      }
      return;
    }
    if (!handler) {
      // Arrived after unpull(): give it back at once rather than holding it to the ack wait.
      return this.answer({ type: 'nack', job, error: { code: 'handler_error', message: 'this member no longer pulls' } });
    }
    const ctx: PullContext = { from: msg.from, job, ...(msg.attempt !== undefined ? { attempt: msg.attempt } : {}) };
    new Promise<unknown>((resolve) => resolve(handler(msg.data, ctx))).then(
      (data) => {
        try {
          JSON.stringify(data); // a result JSON cannot carry fails the job, not the connection
        } catch (err) {
          return this.answer({ type: 'nack', job, error: handlerErrorInfo(err) });
        }
        this.answer({ type: 'ack', job, ...(data !== undefined ? { data } : {}) });
      },
      (err: unknown) => this.answer({ type: 'nack', job, error: handlerErrorInfo(err) }),
    );
  }

  /** Whether an `unknown_job` error answers one of this member's acks (then it is not news). */
  isOwnAnswer(ref: string | number | undefined): boolean {
    return ref !== undefined && this.answerRefs.delete(String(ref));
  }

  private answer(msg: Answer): void {
    const ref = `k${++this.nextRef}`;
    this.answerRefs.add(ref);
    // Bounded: answers the server never refused are forgotten oldest first.
    if (this.answerRefs.size > 10_000) this.answerRefs.delete(this.answerRefs.values().next().value as string);
    this.send({ ...msg, ref });
  }
}
