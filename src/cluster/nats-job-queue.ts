// JobQueue in NATS JetStream (servers 2.9+): one work-queue stream `<P>_Q` (subjects `<p>.q.>`,
// retention WorkQueue: a message is removed once acked), one subject per room
// `<p>.q.<base64url(SHA-256(room))>`, and one durable pull consumer per room (`q_<same token>`,
// explicit acks, AckWait = the engine ack wait, no MaxDeliver: failures are counted by us).
//   push     publish the sealed job (header Ms-Before: attempts before this message); the bound is
//            the stream's max_msgs_per_subject = maxJobs with discard-new per subject, so the
//            server refuses the job that would pass it (queue_full) atomically
//   take     one pull request `{batch: n, no_wait: true}` on the room's consumer: the server hands
//            each message to one pull request (so to one node), and hands a message not acked
//            within AckWait out again with its delivery count raised (in the ack subject)
//   ack      `+ACK` on the delivery's ack subject (the message is removed)
//   requeue  publish a copy with Ms-Before = attempts made, then `+ACK` the old one (a crash
//            between the two is a duplicate, never a loss); if the room is full, `-NAK` instead
//            (redelivered at once, one attempt counted too many)
//   holders  stream `<P>_QH` (limits, max_age = the queue TTL, one message per subject): each node
//            that holds the room keeps a marker `<p>.qh.<token>.<node>` fresh (`touch`, every
//            quarter of the TTL); a node that frees the room removes its own marker and, if no
//            other node's is left, drops the room's jobs and consumer (`release`). JetStream 2.9
//            has no per-message TTL, so the last holder drops the queue instead of the engine.
// Bytes are not bounded per room (JetStream has no per-subject byte limit); a job is bounded by
// the server's max_payload. A node does not ask the server whether it still holds a delivery: it
// counts it lost once held for the engine ack wait (the server has handed it out again by then).
import { createInbox, headers, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, type JetStreamClient, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import type { ClusterKey } from './cluster-key.js';
import { openStream } from './nats-stream.js';
import { roomToken } from './room-token.js';
import {
  DEFAULT_JOB_QUEUE_TTL_MS, jobDeadline, newJobCounters, notOpened, openJob, sealJob,
  type JobQueue, type JobQueueLimits, type JobRecord, type TakenJob,
} from './job-queue.js';

export interface NatsJobQueueOptions {
  /** stream `<PREFIX>_Q`, subjects `<prefix>.q.>` (default 'ms') */
  prefix?: string;
  /** every call rejects with ERR_JOB_QUEUE_TIMEOUT after this (default 5000 ms) */
  timeoutMs?: number;
  replicas?: number;
  /** this node's id: its holder marker's subject (default: a random one) */
  nodeId?: string;
  /** a holder marker this old is gone (a node that stopped touching: it died); default 360 s */
  ttlMs?: number;
}

export const H_BEFORE = 'Ms-Before';

export class NatsJobQueue implements JobQueue {
  readonly counters = newJobCounters();
  readonly stream: string;
  readonly #subjectRoot: string;
  readonly #timeoutMs: number;
  readonly #source: NatsConnection | string;
  readonly #replicas: number;
  readonly #holders: string;
  readonly #nodeId: string;
  readonly #ttlMs: number;
  #ready?: Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }>;
  #nc?: NatsConnection;
  readonly #consumers = new Map<string, Promise<void>>(); // room -> its consumer exists
  /** handle -> when this node took it (a delivery held longer than the engine ack wait is lost) */
  readonly #takenAt = new Map<string, number>();

  constructor(nc: NatsConnection | string, private readonly key: ClusterKey | null, private readonly limits: JobQueueLimits, options: NatsJobQueueOptions = {}) {
    const prefix = options.prefix ?? 'ms';
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(prefix)) throw new RangeError('the NATS prefix must be 1 to 32 characters from A-Z a-z 0-9 _ -');
    this.stream = `${prefix.toUpperCase()}_Q`;
    this.#subjectRoot = `${prefix}.q`;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#replicas = options.replicas ?? 1;
    this.#holders = `${prefix.toUpperCase()}_QH`;
    this.#nodeId = options.nodeId ?? `q${Math.random().toString(36).slice(2, 10)}`;
    this.#ttlMs = Math.max(1000, Math.ceil(options.ttlMs ?? DEFAULT_JOB_QUEUE_TTL_MS));
    this.#source = nc;
  }

  subject(room: string): string { return `${this.#subjectRoot}.${roomToken(room)}`; }
  consumer(room: string): string { return `q_${roomToken(room)}`; }
  /** Where node `nodeId`'s marker for `room` lives (`<p>.qh.<token>.<node>`); without a node: all of the room's. */
  holderSubject(room: string, nodeId?: string): string { return `${this.#subjectRoot}h.${roomToken(room)}.${nodeId ?? '>'}`; }

  ready(): Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }> {
    this.#ready ??= this.#setUp().catch((err) => { this.#ready = undefined; throw err; });
    return this.#ready;
  }

  async #setUp(): Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }> {
    const wanted: Partial<StreamConfig> = {
      subjects: [`${this.#subjectRoot}.>`],
      retention: RetentionPolicy.Workqueue,
      discard: DiscardPolicy.New,
      discard_new_per_subject: true,
      max_msgs_per_subject: Math.max(1, this.limits.maxJobs),
    };
    const open = await openStream(this.#source, this.stream, this.#replicas, this.#timeoutMs, wanted);
    if (open.owned) this.#nc = open.nc;
    await openStream(open.nc, this.#holders, this.#replicas, this.#timeoutMs, {
      subjects: [`${this.#subjectRoot}h.>`],
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_msgs_per_subject: 1,
      max_age: this.#ttlMs * 1e6,
    });
    return open;
  }

  push(room: string, job: JobRecord): Promise<'ok' | 'queue_full'> {
    return jobDeadline('push', this.#timeoutMs, (async () => {
      if (this.limits.maxJobs <= 0) return 'queue_full';
      const { js } = await this.ready();
      const h = headers();
      h.set(H_BEFORE, '0');
      try {
        await js.publish(this.subject(room), sealJob(this.key, room, job), { headers: h });
      } catch (err) {
        if (isFull(err)) return 'queue_full';
        throw err;
      }
      this.counters.pushed++;
      return 'ok';
    })());
  }

  take(room: string, max: number): Promise<TakenJob[]> {
    return jobDeadline('take', this.#timeoutMs, (async () => {
      if (max <= 0) return [];
      const { nc } = await this.ready();
      await this.#consumer(room);
      const inbox = createInbox();
      const sub = nc.subscribe(inbox, { timeout: this.#timeoutMs });
      const out: TakenJob[] = [];
      let got = 0;
      try {
        nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${this.stream}.${this.consumer(room)}`, JSON.stringify({ batch: max, no_wait: true }), { reply: inbox });
        for await (const m of sub) {
          if (m.headers?.code && m.data.length === 0) {
            // 404 no messages, 408 request ended; 503 no responders: the consumer is gone (the room
            // was dropped by another node): made again on the next take.
            if (m.headers.code === 503) this.#consumers.delete(room);
            break;
          }
          got++;
          const handle = m.reply ?? '';
          const job = openJob(this.key, room, m.data);
          if (typeof job === 'string') {
            notOpened(this.counters, job); // dropped (see redis-job-queue.ts)
            nc.publish(handle, '+ACK');
          } else {
            this.counters.taken++;
            this.#takenAt.set(handle, Date.now());
            out.push({ handle, job, attempt: Number(m.headers?.get(H_BEFORE) || 0) + deliveries(handle) });
          }
          if (got >= max) break;
        }
      } finally {
        sub.unsubscribe();
      }
      return out;
    })());
  }

  ack(room: string, handle: string): Promise<boolean> {
    return jobDeadline('ack', this.#timeoutMs, (async () => {
      if (!this.#held(handle)) return false;
      const { nc } = await this.ready();
      await nc.request(handle, '+ACK', { timeout: this.#timeoutMs });
      return true;
    })());
  }

  requeue(room: string, taken: TakenJob, attemptsMade: number): Promise<boolean> {
    return jobDeadline('requeue', this.#timeoutMs, (async () => {
      if (!this.#held(taken.handle)) return false;
      const { nc, js } = await this.ready();
      const h = headers();
      h.set(H_BEFORE, String(attemptsMade));
      try {
        await js.publish(this.subject(room), sealJob(this.key, room, taken.job), { headers: h });
      } catch (err) {
        if (!isFull(err)) throw err;
        nc.publish(taken.handle, '-NAK');
        return true;
      }
      await nc.request(taken.handle, '+ACK', { timeout: this.#timeoutMs });
      return true;
    })());
  }

  /** Not possible here: the server's ack wait brings a gone node's deliveries back. */
  async releaseNode(): Promise<number> { return 0; }

  /** This node holds the room: its marker, fresh (one message per subject: the old one goes). */
  touch(room: string): Promise<void> {
    return jobDeadline('touch', this.#timeoutMs, (async () => {
      const { js } = await this.ready();
      await js.publish(this.holderSubject(room, this.#nodeId), new Uint8Array(0));
    })());
  }

  /**
   * This node freed the room: its marker goes; if no other node's marker is left, the room's jobs
   * and consumer go too. Each node removes its own marker before it looks at the others', so of
   * two nodes freeing the room at once at least one sees none left. Resolves true if it dropped.
   */
  release(room: string): Promise<boolean> {
    return jobDeadline('release', this.#timeoutMs, (async () => {
      const { jsm } = await this.ready();
      await jsm.streams.purge(this.#holders, { filter: this.holderSubject(room, this.#nodeId) });
      const info = await jsm.streams.info(this.#holders, { subjects_filter: this.holderSubject(room) });
      if (Object.keys(info.state.subjects ?? {}).length > 0) return false;
      this.#consumers.delete(room);
      await jsm.consumers.delete(this.stream, this.consumer(room)).catch(() => {});
      await jsm.streams.purge(this.stream, { filter: this.subject(room) });
      return true;
    })());
  }

  drop(room: string): Promise<void> {
    return jobDeadline('drop', this.#timeoutMs, (async () => {
      const { jsm } = await this.ready();
      this.#consumers.delete(room);
      await jsm.consumers.delete(this.stream, this.consumer(room)).catch(() => {});
      await jsm.streams.purge(this.stream, { filter: this.subject(room) });
    })());
  }

  async close(): Promise<void> {
    if (this.#nc && !this.#nc.isClosed()) await this.#nc.close();
  }

  /** Still this node's: taken less than the engine ack wait ago (forgotten either way). */
  #held(handle: string): boolean {
    const at = this.#takenAt.get(handle);
    this.#takenAt.delete(handle);
    return at !== undefined && Date.now() - at < this.limits.engineAckWaitMs;
  }

  #consumer(room: string): Promise<void> {
    let made = this.#consumers.get(room);
    if (!made) {
      made = (async () => {
        const { jsm } = await this.ready();
        // Made by another node with other settings (another --job-ack-wait): use it as it is.
        if (await jsm.consumers.info(this.stream, this.consumer(room)).then(() => true, () => false)) return;
        await jsm.consumers.add(this.stream, {
          durable_name: this.consumer(room),
          filter_subject: this.subject(room),
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          ack_wait: Math.max(1, Math.ceil(this.limits.engineAckWaitMs)) * 1e6,
          max_deliver: -1,
          max_ack_pending: -1,
        });
      })();
      made.catch(() => this.#consumers.delete(room));
      this.#consumers.set(room, made);
    }
    return made;
  }
}

/** The delivery count in an ack subject: `$JS.ACK.<stream>.<consumer>.<delivered>.…` (v1) or with domain and account hash first (v2). */
function deliveries(ackSubject: string): number {
  const t = ackSubject.split('.');
  const n = Number(t.length >= 12 ? t[6] : t[4]);
  return Number.isSafeInteger(n) && n > 0 ? n : 1;
}

function isFull(err: unknown): boolean {
  return /maximum messages per subject/i.test(String((err as Error)?.message ?? err));
}
