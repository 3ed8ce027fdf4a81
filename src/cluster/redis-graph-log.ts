// GraphLog in Redis (ioredis 5). A room's log lives in three keys that share a Redis Cluster hash
// tag, so one Lua script touches them atomically on whichever shard holds them:
//   <prefix>:{<room>}:g    a stream; entry id `<offset>-1`, field p = the put, sealed
//   <prefix>:{<room>}:gs   a hash: u = the offset the snapshot covers (clear; also inside the
//                          seal), s = the snapshot, sealed, as ONE value (bounded by
//                          maxSnapshotBytes, 64 MiB by default; Redis itself takes up to 512 MB)
//   <prefix>:{<room>}:gn   the last offset given (INCR)
// and the channel <prefix>:gp:<base64url(SHA-256(room))> (room-token.ts): the append script
// PUBLISHes `<offset>\n<the sealed put>` there, so the nodes watching the room learn of the put
// from the append itself; a dedicated subscriber connection (made by the first watch) listens.
// append = INCR + XADD + PEXPIRE in one script: durable in Redis (as durable as its persistence
// settings) when the reply comes. snapshot = replace :gs only if it covers more, XTRIM MINID up to
// it, in one script: a load (one script too) sees either the old snapshot and the whole log or the
// new one and the rest, never a trimmed log with the old snapshot. Every write sets the three keys'
// TTL to the room TTL, and touch() renews it, so an abandoned room's log disappears on its own.
// Run Redis without eviction (`maxmemory-policy noeviction`): an evicted log is lost GUN data.
import { Redis } from 'ioredis';
import { runScript, script, type Script } from './redis-script.js';
import type { ClusterKey } from './cluster-key.js';
import {
  checkOffset, checkPut, countLost, decodePut, decodeSnapshot, DEFAULT_GRAPH_LOG_TTL_MS, DEFAULT_MAX_SNAPSHOT_BYTES, encodePut,
  encodeSnapshot, GraphLogError, newGraphLogCounters, PUT_KIND, SNAP_KIND, withGraphDeadline,
  type GraphLoad, type GraphLog, type GraphLogCounters, type GraphLogOptions, type GraphPut, type PutWatcher,
} from './graph-log.js';
import { openOrWhy, seal } from './seal.js';
import { roomToken } from './room-token.js';

export interface RedisGraphLogOptions extends GraphLogOptions {
  /** key prefix (default 'ms'); no braces */
  prefix?: string;
}

const EXPIRE = `
local function expire(ttl)
  if ttl > 0 then for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ttl) end end
end
`;

// KEYS g gs gn; ARGV[1] the sealed put, ARGV[2] TTL ms, ARGV[3] the room's put channel. If :gn is gone while :g or :gs is not
// (eviction), numbering goes on after what they hold, so no offset is given twice or below a snapshot.
const APPEND = `${EXPIRE}
if redis.call('EXISTS', KEYS[3]) == 0 then
  local base = tonumber(redis.call('HGET', KEYS[2], 'u') or '0')
  local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
  if last then
    local l = tonumber(string.match(last[1], '^(%d+)'))
    if l > base then base = l end
  end
  redis.call('SET', KEYS[3], string.format('%d', base))
end
local n = redis.call('INCR', KEYS[3])
redis.call('XADD', KEYS[1], string.format('%d-1', n), 'p', ARGV[1])
expire(tonumber(ARGV[2]))
redis.call('PUBLISH', ARGV[3], n .. string.char(10) .. ARGV[1])
return n
`;

// KEYS g gs. Returns {u or false, s or false, entries}.
const LOAD = `
return {redis.call('HGET', KEYS[2], 'u'), redis.call('HGET', KEYS[2], 's'), redis.call('XRANGE', KEYS[1], '-', '+')}
`;

// KEYS g gs gn; ARGV[1] upTo, ARGV[2] the sealed snapshot, ARGV[3] TTL ms, ARGV[4] the room's
// put channel (watchers are told `s<upTo>`, in order with the puts). 1 if stored.
const SNAPSHOT = `${EXPIRE}
local upTo = tonumber(ARGV[1])
if tonumber(redis.call('HGET', KEYS[2], 'u') or '0') >= upTo then return 0 end
redis.call('HSET', KEYS[2], 'u', ARGV[1], 's', ARGV[2])
redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d-0', upTo + 1))
if tonumber(redis.call('GET', KEYS[3]) or '0') < upTo then redis.call('SET', KEYS[3], ARGV[1]) end
expire(tonumber(ARGV[3]))
redis.call('PUBLISH', ARGV[4], 's' .. ARGV[1])
return 1
`;

// KEYS g gs gn; returns the last offset (0: no log).
const TOUCH = `${EXPIRE}
expire(tonumber(ARGV[1]))
return tonumber(redis.call('GET', KEYS[3]) or '0')
`;

const SCRIPTS = { append: script(APPEND), load: script(LOAD), snapshot: script(SNAPSHOT), touch: script(TOUCH) };

export class RedisGraphLog implements GraphLog {
  readonly redis: Redis;
  readonly counters: GraphLogCounters = newGraphLogCounters();
  readonly #owned: boolean;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #ttlMs: number;
  readonly #maxSnapshotBytes: number;
  readonly #onLost?: GraphLogOptions['onLost'];

  constructor(client: Redis | string, private readonly key: ClusterKey | null, options: RedisGraphLogOptions = {}) {
    const prefix = options.prefix ?? 'ms';
    if (/[{}]/.test(prefix) || prefix === '') throw new RangeError('the Redis key prefix must be non-empty and without braces');
    this.#prefix = prefix;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#ttlMs = Math.ceil(options.ttlMs ?? DEFAULT_GRAPH_LOG_TTL_MS);
    this.#maxSnapshotBytes = options.maxSnapshotBytes ?? DEFAULT_MAX_SNAPSHOT_BYTES;
    this.#onLost = options.onLost;
    this.#owned = typeof client === 'string';
    this.redis = typeof client === 'string' ? new Redis(client, { maxRetriesPerRequest: 1 }) : client;
    if (this.#owned) this.redis.on('error', () => { /* calls fail (or time out) and say so; ioredis reconnects */ });
    if (this.redis.status === 'ready') this.#wasReady = true;
    else this.redis.once('ready', () => { this.#wasReady = true; });
  }

  /** The room's keys (for tests and operators). */
  keys(room: string): [log: string, snapshot: string, offset: string] {
    const base = `${this.#prefix}:{${room}}:`;
    return [`${base}g`, `${base}gs`, `${base}gn`];
  }

  append(room: string, put: GraphPut): Promise<{ offset: number }> {
    checkPut(put);
    // No offline queue for appends: one refused now must not be sent when the connection is back.
    if (this.#down()) return Promise.reject(new GraphLogError('ERR_GRAPH_LOG_DOWN', `Redis connection is ${this.redis.status}`));
    return withGraphDeadline('append', this.#timeoutMs, async () => {
      const frame = seal(this.key, { kind: PUT_KIND, room }, encodePut(put));
      const offset = await this.#run(SCRIPTS.append, room, [frame, this.#ttlMs, this.channel(room)]) as number;
      this.counters.appends++;
      return { offset };
    });
  }

  load(room: string): Promise<GraphLoad> {
    return withGraphDeadline('load', this.#timeoutMs, async () => {
      const [u, s, entries] = await this.#run(SCRIPTS.load, room, []) as [Buffer | null, Buffer | null, [Buffer, Buffer[]][]];
      const load: GraphLoad = { puts: [], last: 0, lost: 0 };
      const lost = (offset: number, reason: string) => { load.lost++; countLost(this.counters, this.#onLost, room, offset, reason); };
      const upTo = u ? Number(u.toString()) : 0;
      if (s) {
        const opened = openOrWhy(this.key, { kind: SNAP_KIND, room }, s);
        const snap = opened.ok ? decodeSnapshot(opened.plaintext) : undefined;
        if (!opened.ok) lost(upTo, opened.reason);
        else if (!snap || snap.upTo !== upTo) lost(upTo, 'malformed');
        else load.snapshot = snap;
      }
      load.last = upTo;
      for (const [id, fields] of entries) {
        const offset = parseInt(id.toString(), 10);
        if (offset <= upTo) continue;
        load.last = offset;
        const frame = fields[0]?.toString() === 'p' ? fields[1] : undefined;
        if (!frame) { lost(offset, 'malformed'); continue; }
        const opened = openOrWhy(this.key, { kind: PUT_KIND, room }, frame);
        const put = opened.ok ? decodePut(opened.plaintext) : undefined;
        if (!opened.ok) lost(offset, opened.reason);
        else if (!put) lost(offset, 'malformed');
        else load.puts.push({ offset, ...put });
      }
      this.counters.loaded += load.puts.length;
      return load;
    });
  }

  snapshot(room: string, graph: string, upTo: number): Promise<boolean> {
    checkOffset(upTo);
    const frame = seal(this.key, { kind: SNAP_KIND, room }, encodeSnapshot({ graph, upTo, at: Date.now() }));
    if (frame.length > this.#maxSnapshotBytes) {
      return Promise.reject(new GraphLogError('ERR_GRAPH_LOG_TOO_BIG', `snapshot of ${frame.length} bytes is over the bound of ${this.#maxSnapshotBytes}`));
    }
    return withGraphDeadline('snapshot', this.#timeoutMs, async () => {
      const stored = await this.#run(SCRIPTS.snapshot, room, [upTo, frame, this.#ttlMs, this.channel(room)]) === 1;
      if (stored) this.counters.snapshots++;
      return stored;
    });
  }

  touch(room: string): Promise<{ last: number }> {
    return withGraphDeadline('touch', this.#timeoutMs, async () => ({ last: Number(await this.#run(SCRIPTS.touch, room, [this.#ttlMs])) }));
  }

  drop(room: string): Promise<void> {
    return withGraphDeadline('drop', this.#timeoutMs, async () => { await this.redis.del(...this.keys(room)); });
  }

  #wasReady = false;

  /** Lost its connection (not: still making the first one, whose commands wait for it). */
  #down(): boolean {
    const status = this.redis.status;
    if (status === 'ready') return false;
    return this.#wasReady || status === 'reconnecting' || status === 'end' || status === 'close';
  }

  /** The pub/sub channel a room's appends are published on. */
  channel(room: string): string {
    return `${this.#prefix}:gp:${roomToken(room)}`;
  }

  readonly #watched = new Map<string, { room: string; watcher: PutWatcher }>(); // channel → room
  #sub?: Redis;
  #subReady?: Promise<Redis>;

  watch(room: string, watcher: PutWatcher): Promise<void> {
    const channel = this.channel(room);
    const had = this.#watched.has(channel);
    this.#watched.set(channel, { room, watcher });
    if (had) return Promise.resolve();
    return withGraphDeadline('watch', this.#timeoutMs, async () => {
      const sub = await this.#subscriber();
      await sub.subscribe(channel);
    }).catch((err: unknown) => { this.#watched.delete(channel); throw err; });
  }

  async unwatch(room: string): Promise<void> {
    const channel = this.channel(room);
    if (!this.#watched.delete(channel)) return;
    await this.#sub?.unsubscribe(channel).catch(() => { /* gone with the connection */ });
  }

  /** The subscriber connection, made on the first watch. */
  #subscriber(): Promise<Redis> {
    this.#subReady ??= (async () => {
      // Not ioredis's autoResubscribe: after a reconnect we subscribe again ourselves and only
      // then tell the watchers to reload, so that nothing appended after their load is missed.
      const sub = this.redis.duplicate({ lazyConnect: true, autoResubscribe: false, maxRetriesPerRequest: null, enableOfflineQueue: true, commandTimeout: undefined });
      this.#sub = sub;
      sub.on('error', () => { /* reconnects by itself */ });
      sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.#receive(channel.toString('latin1'), message));
      let connected = false;
      sub.on('ready', () => {
        if (!connected) { connected = true; return; }
        const channels = [...this.#watched.keys()];
        if (channels.length === 0) return;
        sub.subscribe(...channels).then(() => {
          for (const { watcher } of this.#watched.values()) watcher.resumed();
        }, () => { /* the connection broke again: the next ready retries */ });
      });
      await sub.connect();
      return sub;
    })().catch((err: unknown) => { this.#subReady = undefined; this.#sub?.disconnect(); this.#sub = undefined; throw err; });
    return this.#subReady;
  }

  #receive(channel: string, message: Buffer): void {
    const entry = this.#watched.get(channel);
    if (!entry) return; // unwatched while it was on its way
    if (message[0] === 0x73 /* s */) {
      const upTo = Number(message.subarray(1).toString('latin1'));
      if (Number.isSafeInteger(upTo)) entry.watcher.snapshot?.(upTo);
      return;
    }
    const nl = message.indexOf(10);
    const offset = nl > 0 ? Number(message.subarray(0, nl).toString('latin1')) : NaN;
    if (!Number.isSafeInteger(offset)) return countLost(this.counters, this.#onLost, entry.room, 0, 'malformed');
    const opened = openOrWhy(this.key, { kind: PUT_KIND, room: entry.room }, message.subarray(nl + 1));
    const put = opened.ok ? decodePut(opened.plaintext) : undefined;
    if (!opened.ok) return countLost(this.counters, this.#onLost, entry.room, offset, opened.reason);
    if (!put) return countLost(this.counters, this.#onLost, entry.room, offset, 'malformed');
    entry.watcher.put({ offset, ...put });
  }

  /** Closes the client if this instance made it from a URL, and the watch connection. */
  async close(): Promise<void> {
    this.#watched.clear();
    this.#sub?.disconnect();
    if (this.#owned) this.redis.disconnect();
  }

  #run(s: Script, room: string, args: (string | number | Buffer)[]): Promise<unknown> {
    return runScript(this.redis, s, this.keys(room), args);
  }
}
