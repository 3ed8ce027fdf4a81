// JobQueue in Redis (ioredis 5, Redis 6.2+ for XAUTOCLAIM): one room's queue is a stream with one
// consumer group, and a byte counter, sharing the room's Redis Cluster hash tag:
//   <prefix>:{<room>}:q    stream; fields a = attempts before this entry, b = bytes of data (both
//                          clear), p = the job, sealed; group `g`, one consumer per node (its id)
//   <prefix>:{<room>}:qb   bytes of data of the stored jobs
// Every step is one script, so nothing runs between its reads and writes:
//   push     XLEN and :qb against the bounds, then XADD (queue_full: nothing written)
//   take     XAUTOCLAIM entries idle past the engine ack wait (their holder is gone), reading each
//            one's delivery count with XPENDING, then XREADGROUP '>' for the rest: each entry is
//            in one consumer's pending list, so exactly one node holds each delivery
//   ack      only if this node is the entry's holder: XACK + XDEL, :qb down
//   requeue  only if this node is the entry's holder: XACK + XDEL, XADD a copy with a = attempts
//            made (at the end of the stream: a requeued job waits behind those pushed meanwhile)
// The delivery count Redis keeps per pending entry (raised by XREADGROUP and XAUTOCLAIM) plus `a` is
// the attempt. Both keys live `ttlMs` (the room TTL + a margin) past the room's last use: every
// script sets the TTL, and each node that holds the room calls `touch` every quarter of it
// (native-room-link.ts). When no node holds the room any more, the queue expires with it, jobs
// still waiting included (one node frees a room's queue with the room too).
import { Redis } from 'ioredis';
import { runScript, script, type Script } from './redis-script.js';
import type { ClusterKey } from './cluster-key.js';
import {
  DEFAULT_JOB_QUEUE_TTL_MS, jobDeadline, newJobCounters, notOpened, openJob, sealJob,
  type JobQueue, type JobQueueLimits, type JobRecord, type TakenJob,
} from './job-queue.js';

export interface RedisJobQueueOptions {
  /** key prefix (default 'ms'); no braces */
  prefix?: string;
  /** every call rejects with ERR_JOB_QUEUE_TIMEOUT after this (default 5000 ms) */
  timeoutMs?: number;
  /** a room's queue expires this long after its last use or touch (the room TTL + a margin; default 360 s) */
  ttlMs?: number;
}

// Every script ends by setting both keys' TTL (the last ARGV, ms): a room in use never expires.
const EXPIRE = `
redis.call('PEXPIRE', KEYS[1], ARGV[#ARGV])
redis.call('PEXPIRE', KEYS[2], ARGV[#ARGV])`;

// KEYS q qb; ARGV maxJobs maxBytes bytes frame ttl
const PUSH = script(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], 'g', '0', 'MKSTREAM')
  redis.call('SET', KEYS[2], 0)
end
local bytes = tonumber(ARGV[3])
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) or tonumber(redis.call('GET', KEYS[2]) or '0') + bytes > tonumber(ARGV[2]) then
  return 0
end
redis.call('XADD', KEYS[1], '*', 'a', 0, 'b', bytes, 'p', ARGV[4])
redis.call('INCRBY', KEYS[2], bytes)
${EXPIRE}
return 1
`);

// KEYS q qb; ARGV consumer max minIdleMs ttl. Returns {{id, fields, deliveries}...}
const TAKE = script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local out = {}
local max = tonumber(ARGV[2])
local claimed = redis.call('XAUTOCLAIM', KEYS[1], 'g', ARGV[1], ARGV[3], '0-0', 'COUNT', max)
for _, e in ipairs(claimed[2]) do
  if e and e[1] then
    local p = redis.call('XPENDING', KEYS[1], 'g', e[1], e[1], 1)
    table.insert(out, {e[1], e[2], p[1][4]})
  end
end
if #out < max then
  local r = redis.call('XREADGROUP', 'GROUP', 'g', ARGV[1], 'COUNT', max - #out, 'STREAMS', KEYS[1], '>')
  if r then
    for _, e in ipairs(r[1][2]) do table.insert(out, {e[1], e[2], 1}) end
  end
end
${EXPIRE}
return out
`);

// Shared head of ack and requeue: the entry's fields if this consumer holds it, else return 0.
const HELD = `
local p = redis.call('XPENDING', KEYS[1], 'g', ARGV[2], ARGV[2], 1, ARGV[1])
if #p == 0 then return 0 end
local e = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
redis.call('XACK', KEYS[1], 'g', ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
if #e == 0 then return 0 end
local f = {}
for i = 1, #e[1][2], 2 do f[e[1][2][i]] = e[1][2][i + 1] end
`;

// KEYS q qb; ARGV consumer id ttl
const ACK = script(`${HELD}
redis.call('DECRBY', KEYS[2], tonumber(f['b']))
${EXPIRE}
return 1
`);

// KEYS q qb; ARGV consumer id attemptsMade ttl
const REQUEUE = script(`${HELD}
redis.call('XADD', KEYS[1], '*', 'a', ARGV[3], 'b', f['b'], 'p', f['p'])
${EXPIRE}
return 1
`);

// KEYS q qb; ARGV the gone node's consumer, ttl. Its pending entries become copies at the end of the stream
// with the deliveries it had counted; then the consumer goes.
const RELEASE_NODE = script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = 0
for _, p in ipairs(redis.call('XPENDING', KEYS[1], 'g', '-', '+', 100000, ARGV[1])) do
  local e = redis.call('XRANGE', KEYS[1], p[1], p[1])
  redis.call('XACK', KEYS[1], 'g', p[1])
  redis.call('XDEL', KEYS[1], p[1])
  if #e > 0 then
    local f = {}
    for i = 1, #e[1][2], 2 do f[e[1][2][i]] = e[1][2][i + 1] end
    redis.call('XADD', KEYS[1], '*', 'a', tonumber(f['a']) + p[4], 'b', f['b'], 'p', f['p'])
    n = n + 1
  end
end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], 'g', ARGV[1])
${EXPIRE}
return n
`);

// KEYS q qb; ARGV ttl. A node holds the room: its queue stays (PEXPIRE on a missing key does nothing).
const TOUCH = script(`${EXPIRE}
return 1
`);

export class RedisJobQueue implements JobQueue {
  readonly redis: Redis;
  readonly counters = newJobCounters();
  readonly #owned: boolean;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #ttlMs: number;

  constructor(
    client: Redis | string, private readonly key: ClusterKey | null, private readonly nodeId: string,
    private readonly limits: JobQueueLimits, options: RedisJobQueueOptions = {},
  ) {
    const prefix = options.prefix ?? 'ms';
    if (/[{}]/.test(prefix) || prefix === '') throw new RangeError('the Redis key prefix must be non-empty and without braces');
    this.#prefix = prefix;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#ttlMs = Math.max(1, Math.ceil(options.ttlMs ?? DEFAULT_JOB_QUEUE_TTL_MS));
    this.#owned = typeof client === 'string';
    this.redis = typeof client === 'string' ? new Redis(client, { maxRetriesPerRequest: 1 }) : client;
    if (this.#owned) this.redis.on('error', () => { /* calls fail (or time out) and say so; ioredis reconnects */ });
  }

  /** The room's keys (for tests and operators). */
  keys(room: string): [q: string, qb: string] {
    const base = `${this.#prefix}:{${room}}:`;
    return [`${base}q`, `${base}qb`];
  }

  push(room: string, job: JobRecord): Promise<'ok' | 'queue_full'> {
    return jobDeadline('push', this.#timeoutMs, (async () => {
      if (this.limits.maxJobs <= 0) return 'queue_full';
      const frame = sealJob(this.key, room, job);
      const ok = await this.#run(PUSH, room, [this.limits.maxJobs, Math.min(this.limits.maxBytes, Number.MAX_SAFE_INTEGER), Buffer.byteLength(job.data), frame]);
      if (ok !== 1) return 'queue_full';
      this.counters.pushed++;
      return 'ok';
    })());
  }

  take(room: string, max: number): Promise<TakenJob[]> {
    return jobDeadline('take', this.#timeoutMs, (async () => {
      if (max <= 0) return [];
      const raw = await this.#run(TAKE, room, [this.nodeId, max, Math.max(1, Math.ceil(this.limits.engineAckWaitMs))]) as [Buffer, Buffer[], number][];
      const out: TakenJob[] = [];
      for (const [id, fields, deliveries] of raw) {
        const handle = id.toString();
        let before = 0;
        let frame: Buffer | undefined;
        for (let i = 0; i + 1 < fields.length; i += 2) {
          const name = fields[i].toString();
          if (name === 'a') before = parseInt(fields[i + 1].toString(), 10);
          else if (name === 'p') frame = fields[i + 1];
        }
        const job = frame ? openJob(this.key, room, frame) : 'malformed';
        if (typeof job === 'string') {
          // Dropped: no node of this cluster can do more with it than this one (see docs).
          notOpened(this.counters, job);
          await this.#run(ACK, room, [this.nodeId, handle]);
          continue;
        }
        this.counters.taken++;
        out.push({ handle, job, attempt: before + Number(deliveries) });
      }
      return out;
    })());
  }

  ack(room: string, handle: string): Promise<boolean> {
    return jobDeadline('ack', this.#timeoutMs, (async () => await this.#run(ACK, room, [this.nodeId, handle]) === 1)());
  }

  requeue(room: string, taken: TakenJob, attemptsMade: number): Promise<boolean> {
    return jobDeadline('requeue', this.#timeoutMs, (async () => await this.#run(REQUEUE, room, [this.nodeId, taken.handle, attemptsMade]) === 1)());
  }

  releaseNode(room: string, nodeId: string): Promise<number> {
    return jobDeadline('releaseNode', this.#timeoutMs, (async () => Number(await this.#run(RELEASE_NODE, room, [nodeId])))());
  }

  touch(room: string): Promise<void> {
    return jobDeadline('touch', this.#timeoutMs, (async () => { await this.#run(TOUCH, room, []); })());
  }

  drop(room: string): Promise<void> {
    return jobDeadline('drop', this.#timeoutMs, (async () => { await this.redis.del(...this.keys(room)); })());
  }

  async close(): Promise<void> {
    if (this.#owned) this.redis.disconnect();
  }

  #run(s: Script, room: string, args: (string | number | Buffer)[]): Promise<unknown> {
    return runScript(this.redis, s, this.keys(room), [...args, this.#ttlMs]);
  }
}
