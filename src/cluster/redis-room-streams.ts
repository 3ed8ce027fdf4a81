// RoomStreams in Redis (ioredis 5): one room's stream lives in four keys that share a Redis
// Cluster hash tag, so one Lua script can touch them all atomically on whichever shard holds them:
//   <prefix>:{<room>}:seq     the last seq assigned (INCR)
//   <prefix>:{<room>}:epoch   the incarnation; created with the seq, replaced only with it
//   <prefix>:{<room>}:h       a stream; entry id `<seq>-1`, fields b = bytes of data (clear),
//                             r = the record, sealed (or plain-framed without a cluster key)
//   <prefix>:{<room>}:hb      the bytes of data kept in :h
// (A room name containing `}` ends the hash tag early; its four keys still share the same tag.)
//
// Seq uniqueness: the seq is assigned by INCR inside the same script that writes the entry, and
// Redis runs a script to completion before any other command, so two nodes can never take one
// number, each seq is written once, and the stream is always one unbroken run ending at :seq.
// There is no step to crash between: a script either ran or did not. A client that times out
// may see its append run later (ERR_ROOM_STREAM_TIMEOUT): the seq is then used and the entry
// readable, never numbered twice. If :seq is lost while :epoch stays (eviction), the next call
// starts a new epoch instead of numbering from 1 again under the old one.
//
// Live delivery: the append script also PUBLISHes `<seq> <epoch> <sealed record>` to the room's
// channel `<prefix>:p:<base64url(SHA-256(room))>` (kept for replay or not: a message too big for
// the history is still delivered), so watchers learn of an entry from the append itself, in seq
// order (scripts run one at a time, and Redis delivers one connection's publishes in order). A
// dedicated subscriber connection (made on the first watch) listens; ioredis re-subscribes it
// after a reconnect. What was published while it was away is not resent: the seq jump shows it.
//
// Bounds: count and bytes are enforced by the append script; age is applied on read (Redis cannot
// expire single stream entries), and every append sets the four keys' TTL to maxAgeMs + margin, so
// an abandoned room's stream disappears on its own (the next call starts a new epoch). Run Redis
// with `maxmemory-policy noeviction` (or no maxmemory): evicting a history key is a lost history.
import { Redis } from 'ioredis';
import { runScript, script, type Script } from './redis-script.js';
import type { ClusterKey } from './cluster-key.js';
import type { LiveEntry, PublishRecord, RoomStreams, StreamLimits, StreamPosition, StreamReplay, WatchHandler } from './room-stream.js';
import { roomToken } from './room-token.js';
import { openOrWhy, seal } from './seal.js';
import { newEpoch } from './memory-room-streams.js';
import {
  buildReplay, checkLimits, checkSince, dataBytes, decodeRecord, encodeRecord, HIST_KIND, newCounters, withDeadline,
  type Candidate, type RoomStreamCounters,
} from './stream-replay.js';

export interface RedisRoomStreamsOptions {
  /** key prefix (default 'ms'); no braces */
  prefix?: string;
  /** every call rejects with ERR_ROOM_STREAM_TIMEOUT after this (default 5000 ms) */
  timeoutMs?: number;
  /** added to maxAgeMs for the keys' TTL (default 60 s): clock skew, and a gap before a reset */
  expiryMarginMs?: number;
  /** told of each entry a reader could not open (for a rate-limited log line) */
  onLost?: (room: string, seq: number, reason: string) => void;
}

// Returns the room's epoch, creating epoch and seq together when either is missing.
// KEYS: seq epoch h hb; ARGV[1] = a new epoch, ARGV[2] = TTL ms (0: none)
const ENSURE = `
local function ensure(newEpoch, ttl)
  local epoch = redis.call('GET', KEYS[2])
  if epoch and redis.call('EXISTS', KEYS[1]) == 1 then return epoch end
  redis.call('SET', KEYS[1], 0)
  redis.call('SET', KEYS[2], newEpoch)
  redis.call('DEL', KEYS[3], KEYS[4])
  if ttl > 0 then
    redis.call('PEXPIRE', KEYS[1], ttl)
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
  return newEpoch
end
`;

// ARGV[3] maxEntries, ARGV[4] maxBytes, ARGV[5] bytes of data, ARGV[6] the sealed record,
// ARGV[7] the room's live channel
const APPEND = `${ENSURE}
local ttl = tonumber(ARGV[2])
local epoch = ensure(ARGV[1], ttl)
local seq = redis.call('INCR', KEYS[1])
local maxEntries = tonumber(ARGV[3])
local maxBytes = tonumber(ARGV[4])
local bytes = tonumber(ARGV[5])
if maxEntries <= 0 or bytes > maxBytes then
  -- not kept, and everything older goes too (one unbroken run: the reader's gap covers it)
  redis.call('DEL', KEYS[3])
  redis.call('SET', KEYS[4], 0)
else
  if redis.call('EXISTS', KEYS[3]) == 0 then redis.call('SET', KEYS[4], 0) end
  redis.call('XADD', KEYS[3], seq .. '-1', 'b', bytes, 'r', ARGV[6])
  local total = redis.call('INCRBY', KEYS[4], bytes)
  local len = redis.call('XLEN', KEYS[3])
  while len > maxEntries or total > maxBytes do
    local oldest = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 1)[1]
    redis.call('XDEL', KEYS[3], oldest[1])
    total = redis.call('DECRBY', KEYS[4], tonumber(oldest[2][2]))
    len = len - 1
  end
end
if ttl > 0 then
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl) end
end
redis.call('PUBLISH', ARGV[7], seq .. ' ' .. epoch .. ' ' .. ARGV[6])
return {seq, epoch}
`;

const POSITION = `${ENSURE}
local epoch = ensure(ARGV[1], tonumber(ARGV[2]))
return {tonumber(redis.call('GET', KEYS[1])), epoch}
`;

// ARGV[3] since, ARGV[4] the reader's epoch ('' for none). Returns {seq, epoch, reset, entries after from}.
const SINCE = `${ENSURE}
local epoch = ensure(ARGV[1], tonumber(ARGV[2]))
local last = tonumber(redis.call('GET', KEYS[1]))
local since = tonumber(ARGV[3])
local reset = (ARGV[4] ~= '' and ARGV[4] ~= epoch) or since > last
local from = since
if reset then from = 0 end
local entries = {}
if from < last then entries = redis.call('XRANGE', KEYS[3], string.format('%d-0', from + 1), '+') end
return {last, epoch, reset and 1 or 0, entries}
`;

const SCRIPTS = { append: script(APPEND), position: script(POSITION), since: script(SINCE) };

const BIG = Number.MAX_SAFE_INTEGER;

export class RedisRoomStreams implements RoomStreams {
  readonly redis: Redis;
  readonly counters: RoomStreamCounters = newCounters();
  readonly #owned: boolean;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #ttlMs: number;
  readonly #onLost?: RedisRoomStreamsOptions['onLost'];
  #sub?: Redis;
  readonly #watched = new Map<string, { room: string; handler: WatchHandler }>(); // channel -> watcher

  constructor(client: Redis | string, private readonly key: ClusterKey | null, private readonly limits: StreamLimits, options: RedisRoomStreamsOptions = {}) {
    checkLimits(limits);
    const prefix = options.prefix ?? 'ms';
    if (/[{}]/.test(prefix) || prefix === '') throw new RangeError('the Redis key prefix must be non-empty and without braces');
    this.#prefix = prefix;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    const margin = options.expiryMarginMs ?? 60_000;
    this.#ttlMs = Number.isFinite(limits.maxAgeMs) ? Math.ceil(limits.maxAgeMs + margin) : 0;
    this.#onLost = options.onLost;
    this.#owned = typeof client === 'string';
    this.redis = typeof client === 'string' ? new Redis(client, { maxRetriesPerRequest: 1 }) : client;
    if (this.#owned) this.redis.on('error', () => { /* calls fail (or time out) and say so; ioredis reconnects */ });
  }

  /** The room's live channel (watch). */
  channel(room: string): string {
    return `${this.#prefix}:p:${roomToken(room)}`;
  }

  /** The room's keys (for tests and operators). */
  keys(room: string): [seq: string, epoch: string, h: string, hb: string] {
    const base = `${this.#prefix}:{${room}}:`;
    return [`${base}seq`, `${base}epoch`, `${base}h`, `${base}hb`];
  }

  append(room: string, record: PublishRecord): Promise<StreamPosition> {
    return withDeadline('append', this.#timeoutMs, async () => {
      const bytes = dataBytes(record);
      const frame = seal(this.key, { kind: HIST_KIND, room }, encodeRecord(record));
      const [seq, epoch] = await this.#run(SCRIPTS.append, room, [
        newEpoch(), this.#ttlMs, Math.min(this.limits.maxEntries, BIG), Math.min(this.limits.maxBytes, BIG), bytes, frame, this.channel(room),
      ]) as [number, Buffer];
      this.counters.appends++;
      return { seq, epoch: epoch.toString() };
    });
  }

  position(room: string): Promise<StreamPosition> {
    return withDeadline('position', this.#timeoutMs, async () => {
      const [seq, epoch] = await this.#run(SCRIPTS.position, room, [newEpoch(), this.#ttlMs]) as [number, Buffer];
      return { seq, epoch: epoch.toString() };
    });
  }

  since(room: string, seq: number, epoch?: string): Promise<StreamReplay> {
    checkSince(seq);
    return withDeadline('since', this.#timeoutMs, async () => {
      const [last, epochNow, reset, raw] = await this.#run(SCRIPTS.since, room, [newEpoch(), this.#ttlMs, seq, epoch ?? '']) as
        [number, Buffer, number, [Buffer, Buffer[]][]];
      const position = { seq: last, epoch: epochNow.toString() };
      const candidates = raw.map(([id, fields]) => this.#candidate(room, id, fields));
      const replay = buildReplay(position, reset ? 0 : seq, reset === 1, candidates, this.limits, Date.now());
      this.counters.replayed += replay.entries.length;
      return replay;
    });
  }

  drop(room: string): Promise<void> {
    return withDeadline('drop', this.#timeoutMs, async () => { await this.redis.del(...this.keys(room)); });
  }

  async watch(room: string, handler: WatchHandler): Promise<void> {
    const channel = this.channel(room);
    const had = this.#watched.has(channel);
    this.#watched.set(channel, { room, handler });
    if (had) return;
    await withDeadline('watch', this.#timeoutMs, async () => { await this.#subscriber().subscribe(channel); });
  }

  async unwatch(room: string): Promise<void> {
    const channel = this.channel(room);
    if (!this.#watched.delete(channel)) return;
    await this.#sub?.unsubscribe(channel).catch(() => { /* gone with the connection */ });
  }

  /** Closes the client if this instance made it from a URL, and the subscriber connection. */
  async close(): Promise<void> {
    this.#watched.clear();
    this.#sub?.disconnect();
    if (this.#owned) this.redis.disconnect();
  }

  #subscriber(): Redis {
    if (this.#sub) return this.#sub;
    // Its own connection (one in subscribe mode cannot run scripts); it keeps an offline queue, so
    // a subscribe while disconnected goes out on reconnect, and re-subscribes after one.
    const sub = this.redis.duplicate({ lazyConnect: false, autoResubscribe: true, enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined });
    sub.on('error', () => { /* reconnects by itself; a missed entry shows as a seq jump */ });
    sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.#live(channel.toString('latin1'), message));
    this.#sub = sub;
    return sub;
  }

  #live(channel: string, message: Buffer): void {
    const watcher = this.#watched.get(channel);
    if (!watcher) return; // unwatched while it was on its way
    const a = message.indexOf(0x20);
    const b = a < 0 ? -1 : message.indexOf(0x20, a + 1);
    if (b < 0) return;
    const seq = parseInt(message.subarray(0, a).toString('latin1'), 10);
    const epoch = message.subarray(a + 1, b).toString('latin1');
    if (!Number.isSafeInteger(seq) || seq < 1) return;
    const frame = message.subarray(b + 1);
    let entry: LiveEntry;
    const opened = openOrWhy(this.key, { kind: HIST_KIND, room: watcher.room }, frame);
    const record = opened.ok ? decodeRecord(opened.plaintext) : undefined;
    if (record) entry = { seq, ...record };
    else {
      const reason = opened.ok ? 'malformed' : opened.reason;
      this.counters.notOpened[reason] = (this.counters.notOpened[reason] ?? 0) + 1;
      this.#onLost?.(watcher.room, seq, reason);
      entry = { seq, lost: reason };
    }
    // A throwing handler is the caller's bug: surfaced, without breaking the entries after it.
    try { watcher.handler(entry, epoch); } catch (err) { process.nextTick(() => { throw err; }); }
  }

  #candidate(room: string, id: Buffer, fields: Buffer[]): Candidate {
    const seq = parseInt(id.toString(), 10);
    let bytes = 0;
    let frame: Buffer | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i].toString();
      if (name === 'b') bytes = parseInt(fields[i + 1].toString(), 10);
      else if (name === 'r') frame = fields[i + 1];
    }
    const lost = (reason: string): Candidate => {
      this.counters.notOpened[reason] = (this.counters.notOpened[reason] ?? 0) + 1;
      this.#onLost?.(room, seq, reason);
      return { seq, bytes, lost: reason };
    };
    if (!frame) return lost('malformed');
    const opened = openOrWhy(this.key, { kind: HIST_KIND, room }, frame);
    if (!opened.ok) return lost(opened.reason);
    const record = decodeRecord(opened.plaintext);
    if (!record || Buffer.byteLength(record.data) !== bytes) return lost('malformed');
    return { seq, bytes, record };
  }

  #run(s: Script, room: string, args: (string | number | Buffer)[]): Promise<unknown> {
    return runScript(this.redis, s, this.keys(room), args);
  }
}
