// JobQueue in this process: the reference the engine implementations are tested against
// (test/job-queue-contract.test.ts). Several "nodes" (instances with their own node id) share one
// MemoryJobStore. The one-process server does not use it: its rooms keep channels/work-queue.ts.
import type { ClusterKey } from './cluster-key.js';
import {
  newJobCounters, notOpened, openJob, sealJob,
  type JobQueue, type JobQueueLimits, type JobRecord, type TakenJob,
} from './job-queue.js';

interface Entry {
  handle: string;
  /** attempts made before this entry */
  before: number;
  frame: Buffer;
  bytes: number;
  /** times this entry was handed out */
  count: number;
  holder: string | undefined;
  heldAt: number;
}

export class MemoryJobStore {
  readonly rooms = new Map<string, Entry[]>();
  counter = 0;
}

export class MemoryJobQueue implements JobQueue {
  readonly counters = newJobCounters();

  constructor(
    private readonly store: MemoryJobStore, private readonly key: ClusterKey | null, private readonly nodeId: string,
    private readonly limits: JobQueueLimits, private readonly now: () => number = Date.now,
  ) {}

  async push(room: string, job: JobRecord): Promise<'ok' | 'queue_full'> {
    const entries = this.#room(room);
    const bytes = Buffer.byteLength(job.data);
    const stored = entries.reduce((n, e) => n + e.bytes, 0);
    if (entries.length >= this.limits.maxJobs || stored + bytes > this.limits.maxBytes) return 'queue_full';
    entries.push(this.#entry(0, sealJob(this.key, room, job), bytes));
    this.counters.pushed++;
    return 'ok';
  }

  async take(room: string, max: number): Promise<TakenJob[]> {
    const entries = this.store.rooms.get(room) ?? [];
    const now = this.now();
    const out: TakenJob[] = [];
    // Held past the ack wait first (as XAUTOCLAIM before XREADGROUP), then never handed out.
    const expired = entries.filter((e) => e.holder !== undefined && now - e.heldAt >= this.limits.engineAckWaitMs);
    const fresh = entries.filter((e) => e.holder === undefined);
    for (const e of [...expired, ...fresh]) {
      if (out.length >= max) break;
      e.holder = this.nodeId;
      e.heldAt = now;
      e.count++;
      const job = openJob(this.key, room, e.frame);
      if (typeof job === 'string') {
        notOpened(this.counters, job);
        this.#remove(room, e);
        continue;
      }
      this.counters.taken++;
      out.push({ handle: e.handle, job, attempt: e.before + e.count });
    }
    return out;
  }

  async ack(room: string, handle: string): Promise<boolean> {
    const e = this.#held(room, handle);
    if (!e) return false;
    this.#remove(room, e);
    return true;
  }

  async requeue(room: string, taken: TakenJob, attemptsMade: number): Promise<boolean> {
    const e = this.#held(room, taken.handle);
    if (!e) return false;
    this.#remove(room, e);
    this.#room(room).push(this.#entry(attemptsMade, e.frame, e.bytes));
    return true;
  }

  async releaseNode(room: string, nodeId: string): Promise<number> {
    const gone = (this.store.rooms.get(room) ?? []).filter((e) => e.holder === nodeId);
    for (const e of gone) {
      this.#remove(room, e);
      this.#room(room).push(this.#entry(e.before + e.count, e.frame, e.bytes));
    }
    return gone.length;
  }

  /** Nothing expires here: the contract's reference keeps a queue until it is dropped. */
  async touch(): Promise<void> {}

  async drop(room: string): Promise<void> {
    this.store.rooms.delete(room);
  }

  #held(room: string, handle: string): Entry | undefined {
    const e = this.store.rooms.get(room)?.find((x) => x.handle === handle);
    return e && e.holder === this.nodeId ? e : undefined;
  }

  #remove(room: string, e: Entry): void {
    const entries = this.store.rooms.get(room);
    const i = entries?.indexOf(e) ?? -1;
    if (i >= 0) entries!.splice(i, 1);
  }

  #entry(before: number, frame: Buffer, bytes: number): Entry {
    return { handle: String(++this.store.counter), before, frame, bytes, count: 0, holder: undefined, heldAt: 0 };
  }

  #room(room: string): Entry[] {
    let entries = this.store.rooms.get(room);
    if (!entries) this.store.rooms.set(room, (entries = []));
    return entries;
  }
}
