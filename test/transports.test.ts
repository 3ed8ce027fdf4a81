// Write batching and the heartbeat's spreading, unit by unit (the end-to-end behaviour is covered
// over real sockets in native.test.ts and rooms.test.ts; these pin down how many writes happen).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as turn } from 'node:timers/promises';
import { BatchedConnection } from '../src/transports/batched-connection.ts';
import { FlushScheduler } from '../src/transports/flush-scheduler.ts';
import { LiveConnections } from '../src/server/live-connections.ts';

/** A connection whose "socket" records each write. */
class Recorder extends BatchedConnection {
  readonly writes: string[] = [];
  /** what the "kernel" has not taken yet; a write adds what `takes` leaves of it */
  left = 0;
  takes = Infinity;
  closed: number | undefined;
  constructor(scheduler: FlushScheduler, maxQueued = 1 << 20) { super(scheduler, maxQueued); }
  protected get unsent(): number { return this.left; }
  protected get writable(): boolean { return this.closed === undefined; }
  protected get accepting(): boolean { return this.closed === undefined; }
  protected writeOut(data: Buffer): void { this.writes.push(data.toString()); this.left += Math.max(0, data.length - this.takes); }
  close(code: number): void { this.closed ??= code; }
  queue(text: string, direct = false): void { this.enqueue(Buffer.from(text), direct); }
}

test('a turn of direct frames to one connection is two writes: the first at once, the rest at the flush', async () => {
  // Regression: every direct frame (each GUN ack) was written on its own, 300 writes for 300 puts.
  const c = new Recorder(new FlushScheduler());
  for (let i = 0; i < 300; i++) c.queue(`a${i};`, true);
  assert.deepEqual(c.writes, ['a0;'], 'the first direct frame goes out at once');
  await turn();
  assert.equal(c.writes.length, 2);
  assert.equal(c.writes.join(''), Array.from({ length: 300 }, (_, i) => `a${i};`).join(''), 'in order');
  c.queue('next;', true);
  assert.equal(c.writes.length, 3, 'a new turn writes its first direct frame at once again');
});

test('broadcast frames wait for the flush, and a direct frame behind them keeps its place', async () => {
  const c = new Recorder(new FlushScheduler());
  c.queue('b1;');
  c.queue('d1;', true);
  c.queue('b2;');
  assert.deepEqual(c.writes, [], 'nothing is written before the end of the turn');
  await turn();
  assert.deepEqual(c.writes, ['b1;d1;b2;']);
});

test('connections with the same queued frames share one joined buffer', async () => {
  const s = new FlushScheduler();
  const a = new Recorder(s), b = new Recorder(s);
  const f1 = Buffer.from('x;'), f2 = Buffer.from('y;');
  const joined: Buffer[] = [];
  for (const c of [a, b]) {
    (c as unknown as { writeOut(d: Buffer): void }).writeOut = (d: Buffer) => { joined.push(d); };
    (c as unknown as { enqueue(d: Buffer): void }).enqueue(f1);
    (c as unknown as { enqueue(d: Buffer): void }).enqueue(f2);
  }
  await turn();
  assert.equal(joined.length, 2);
  assert.equal(joined[0].toString(), 'x;y;');
  assert.equal(joined[0], joined[1], 'the same Buffer, not a copy per connection');
});

test('a connection queues batch after batch in one reused array, and lets the frames go after each flush', async () => {
  // Regression: a new array per flush lived until the connection's next message (~140 ms in 1,000
  // small rooms), so the garbage collector promoted one per delivery.
  const c = new Recorder(new FlushScheduler());
  const state = () => c as unknown as { first: unknown; more: unknown[] };
  c.queue('a;');
  c.queue('b;');
  c.queue('c;');
  const array = state().more;
  await turn();
  assert.deepEqual(c.writes, ['a;b;c;']);
  assert.equal(state().more, array, 'the same array');
  assert.ok(state().first === undefined && array.every((x) => x === undefined), 'holding no frame');
  c.queue('d;');
  await turn();
  assert.deepEqual(c.writes, ['a;b;c;', 'd;']);
  assert.equal(c.bufferedBytes, 0);
});

test('a reader that left more than the limit unsent is closed at the flush (4008), its batch dropped', async () => {
  const c = new Recorder(new FlushScheduler(), 10);
  c.takes = 0; // a reader that reads nothing
  c.queue('0123456789ab;');
  await turn();
  assert.equal(c.writes.length, 1, 'the first batch goes out: nothing was unsent before it');
  c.queue('next;');
  await turn();
  assert.equal(c.closed, 4008);
  assert.equal(c.writes.length, 1, 'the second batch is not written');
});

test('a big direct reply written at once does not make its reader slow at the flush that follows', async () => {
  const c = new Recorder(new FlushScheduler(), 10);
  c.takes = 4; // the kernel takes 4 bytes at once, the rest later
  c.queue('a big reply, more than ten bytes;', true);
  c.queue('broadcast;');
  await turn();
  assert.equal(c.closed, undefined, 'not closed for its own reply');
  assert.deepEqual(c.writes, ['a big reply, more than ten bytes;', 'broadcast;']);
  c.queue('more;');
  await turn();
  assert.equal(c.closed, 4008, 'but one that still has not read it by the next flush is slow');
});

test('the heartbeat visits each connection once per interval, one slice per tick', async () => {
  const beats: number[] = [];
  const live = new LiveConnections<{ heartbeatSlot: number; beat(): void; n: number }>(500);
  for (let n = 0; n < 50; n++) live.add({ heartbeatSlot: 0, n, beat() { beats.push(this.n); } });
  assert.equal(live.size, 50);
  assert.equal([...live].length, 50);
  live.start();
  try {
    await new Promise((r) => setTimeout(r, 560));
  } finally {
    live.stop();
  }
  const counts = new Map<number, number>();
  for (const n of beats) counts.set(n, (counts.get(n) ?? 0) + 1);
  assert.ok(counts.size >= 45, `most connections were visited in one interval (${counts.size})`);
  assert.ok([...counts.values()].every((k) => k <= 2), 'none more than about once per interval');
  const first = [...live][0];
  live.delete(first);
  live.delete(first);
  assert.equal(live.size, 49, 'delete is idempotent');
});

test('a peer that sends thousands of frames at once is handled at most 256 per turn, in order, none lost', async () => {
  // Regression: a publisher ahead of the server was handled 10,000 puts in one turn (libuv reads
  // up to 2 MiB per wakeup), so every subscriber waited for the whole turn.
  const { WebSocketServer, WebSocket } = await import('ws');
  const { WebSocketConnection } = await import('../src/transports/websocket.ts');
  const { loopTurn } = await import('../src/transports/loop-turn.ts');
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  const got: Array<[number, number]> = []; // [frame number, turn]
  const done = new Promise<void>((resolve) => {
    wss.once('connection', (ws) => {
      const conn = new WebSocketConnection(ws, new FlushScheduler(), { maxQueuedBytes: 1 << 20, maxMessagesPerSecond: 1_000_000 });
      conn.onThrottledMessage((data) => {
        got.push([Number(data.toString()), loopTurn()]);
        if (got.length === 3000) resolve();
      });
    });
  });
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
  await new Promise((r) => client.once('open', r));
  for (let i = 0; i < 3000; i++) client.send(String(i));
  await done;
  client.close();
  wss.close();
  assert.deepEqual(got.map(([n]) => n), Array.from({ length: 3000 }, (_, i) => i), 'every frame, in order');
  const perTurn = new Map<number, number>();
  for (const [, t] of got) perTurn.set(t, (perTurn.get(t) ?? 0) + 1);
  assert.ok(Math.max(...perTurn.values()) <= 256, `at most 256 frames per turn (max ${Math.max(...perTurn.values())})`);
});

test('--coalesce-ms: a quiet scheduler flushes at the end of the turn; right after a flush it waits', async () => {
  const s = new FlushScheduler(30);
  const c = new Recorder(s);
  c.queue('a;');
  await turn();
  assert.deepEqual(c.writes, ['a;'], 'the first flush is not delayed');
  const t0 = performance.now();
  c.queue('b;');
  c.queue('c;');
  await turn();
  assert.deepEqual(c.writes, ['a;'], 'within 30 ms of the last flush the next one waits');
  await new Promise((r) => setTimeout(r, 45));
  assert.deepEqual(c.writes, ['a;', 'b;c;'], 'then both frames go in one write');
  assert.ok(performance.now() - t0 >= 25);
  c.queue('d;', true);
  assert.deepEqual(c.writes.at(-1), 'd;', 'a direct frame with nothing queued is written at once, coalescing or not');
});
