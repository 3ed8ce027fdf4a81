// Writes (publish, send, push) as promises. Every write carries a fresh `ref` ("w12"), so the
// server's `ack`, `job` or `error` for it settles exactly that promise:
//   publish  resolves when acked (with its seq) or, without `ack`, once written to an open connection
//   send     resolves when acked (default) or once written
//   push     resolves with the job's outcome (`job` done), rejects `job_failed` / a refusal
import { MultisocketError } from './errors.js';
import type { AckMessage, Cid, ClientMessage, JobId, JobMessage } from './types.js';

export interface PublishResult {
  /** The message's sequence number, when the server said (an acked publish, or any over SSE). */
  seq?: number;
}

/** A pushed job that a puller finished: `data` is what its handler returned. */
export interface JobResult<T = unknown> {
  status: 'done';
  job: JobId;
  /** The puller that finished it. */
  from: Cid;
  data: T;
  /** Deliveries it took (1 when the first puller finished it). */
  attempts: number;
}

export type WriteKind = 'publish' | 'send' | 'push';

interface PendingWrite {
  kind: WriteKind;
  wantsAck: boolean;
  /** Handed to a connection (it may or may not have reached the server). */
  sent: boolean;
  /** A push the server queued: its outcome is still to come. */
  job?: JobId;
  resolve(value: unknown): void;
  reject(err: MultisocketError): void;
}

export class PendingWrites {
  private nextRef = 0;
  private readonly byRef = new Map<string, PendingWrite>();
  /** Called whenever a write settles or is queued by the server (close() waits on this). */
  onProgress: () => void = () => {};

  newRef(): string {
    return `w${++this.nextRef}`;
  }

  add<T>(ref: string, kind: WriteKind, wantsAck: boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.byRef.set(ref, { kind, wantsAck, sent: false, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  has(ref: string | number | undefined): boolean {
    return ref !== undefined && this.byRef.has(String(ref));
  }

  markSent(ref: string, sent: boolean): void {
    const w = this.byRef.get(ref);
    if (w) w.sent = sent;
  }

  /** Written to an open connection: enough for a write that did not ask for an ack. */
  written(ref: string): void {
    const w = this.byRef.get(ref);
    if (!w || w.wantsAck) return;
    this.settle(ref, () => w.resolve(w.kind === 'publish' ? {} : undefined));
  }

  ack(msg: AckMessage): void {
    const ref = String(msg.ref);
    const w = this.byRef.get(ref);
    if (!w) return;
    if (w.kind === 'push') {
      // Queued: the outcome follows as a `job` message (unless the server gives no job id).
      if (msg.job === undefined) return this.settle(ref, () => w.resolve(undefined));
      w.job = msg.job;
      return this.onProgress();
    }
    this.settle(ref, () => w.resolve(w.kind === 'publish' ? (msg.seq !== undefined ? { seq: msg.seq } : {}) : undefined));
  }

  job(msg: JobMessage): void {
    const ref = String(msg.ref);
    const w = this.byRef.get(ref);
    if (!w || w.kind !== 'push') return;
    if (msg.status === 'done') {
      const result: JobResult = { status: 'done', job: msg.job, from: msg.from, data: msg.data, attempts: msg.attempts };
      return this.settle(ref, () => w.resolve(result));
    }
    // The server says `job_failed` with the last failure in its message; any other code is kept as the cause.
    const { code, message } = msg.error;
    const err = code === 'job_failed'
      ? new MultisocketError('job_failed', `job ${msg.job}: ${message ?? `failed after ${msg.attempts} attempts`}`, ref)
      : new MultisocketError('job_failed', `job ${msg.job} failed after ${msg.attempts} attempts: ${code}${message ? `: ${message}` : ''}`, ref, { cause: MultisocketError.from(msg.error) });
    this.settle(ref, () => w.reject(err));
  }

  /** A refusal (server `error` with the ref, or the SDK's own `too_large`). */
  fail(ref: string, err: MultisocketError): boolean {
    const w = this.byRef.get(ref);
    if (!w) return false;
    this.settle(ref, () => w.reject(err));
    return true;
  }

  /** close() may end once every write is settled or, for a push, queued. */
  get unflushed(): number {
    let n = 0;
    for (const w of this.byRef.values()) if (!(w.kind === 'push' && w.job !== undefined)) n++;
    return n;
  }

  /**
   * The member was not resumed after a drop: writes that went out on the old connection without
   * an answer may or may not have been taken, and queued jobs' outcomes will not come.
   */
  failInFlight(): void {
    for (const [ref, w] of [...this.byRef]) {
      if (w.job !== undefined) {
        this.fail(ref, new MultisocketError('disconnected', `the connection dropped and the server could not resume this member: the outcome of job ${w.job} is lost`, ref));
      } else if (w.sent) {
        this.fail(ref, new MultisocketError('disconnected', `the connection dropped before the server acknowledged this ${w.kind}; it may or may not have been delivered`, ref));
      }
    }
  }

  /** Refs of writes that went out and got no answer yet (pushes already queued excluded). */
  unanswered(): string[] {
    return [...this.byRef].filter(([, w]) => w.sent && w.job === undefined).map(([ref]) => ref);
  }

  failAll(make: (kind: WriteKind, job: JobId | undefined, ref: string) => MultisocketError): void {
    for (const [ref, w] of [...this.byRef]) this.fail(ref, make(w.kind, w.job, ref));
  }

  private settle(ref: string, done: () => void): void {
    this.byRef.delete(ref);
    done();
    this.onProgress();
  }
}

/** The ref of a message, when it is one of the SDK's writes. */
export function writeRef(msg: ClientMessage): string | undefined {
  return (msg.type === 'publish' || msg.type === 'send' || msg.type === 'push') && typeof msg.ref === 'string' ? msg.ref : undefined;
}
