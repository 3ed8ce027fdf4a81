// The fan-out hot path alone, in-process, for comparing two builds (e.g. main and a branch that
// adds counting to it): one OutFrame per message, queued on 1,000 WebSocketConnections over a fake
// socket (nothing is sent anywhere), one batched write per connection per turn, as the flush
// scheduler does. Measures CPU time (process.cpuUsage) per delivery, which a busy shared machine
// disturbs much less than the open-loop bench's latency-bound capacity. Each build runs in a
// child process of its own (one build's classes never share a call site with another's), the
// builds alternate, several rounds each, and the median is reported.
//
//   node --import tsx bench/fanout-hot-path.ts --build /path/to/main/dist --build dist [--conns 1000] [--messages 400] [--rounds 7]
import { parseArgs } from 'node:util';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const { values: opt } = parseArgs({
  options: {
    build: { type: 'string', multiple: true },
    conns: { type: 'string', default: '1000' },
    messages: { type: 'string', default: '400' },
    perTurn: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '7' },
    child: { type: 'string' }, // internal: run the passes of this build and print the median
  },
});
const builds = opt.build ?? ['dist'];
const CONNS = Number(opt.conns), MESSAGES = Number(opt.messages), PER_TURN = Number(opt.perTurn), ROUNDS = Number(opt.rounds);

interface Build {
  name: string;
  OutFrame: new (text: string, event?: string, id?: number) => unknown;
  WebSocketConnection: new (ws: unknown, scheduler: unknown, opts: { maxQueuedBytes: number; maxMessagesPerSecond: number }) => { send(f: unknown): void; traffic?: unknown };
  FlushScheduler: new (coalesceMs?: number) => unknown;
  Traffic?: new () => unknown;
}

async function load(dir: string): Promise<Build> {
  const url = (p: string) => pathToFileURL(path.resolve(dir, p)).href;
  const [{ OutFrame }, { WebSocketConnection }, { FlushScheduler }, tally] = await Promise.all([
    import(url('transports/out-frame.js')), import(url('transports/websocket.js')), import(url('transports/flush-scheduler.js')),
    import(url('metrics/tally.js')).catch(() => ({})),
  ]);
  return { name: dir, OutFrame, WebSocketConnection, FlushScheduler, Traffic: (tally as { Traffic?: Build['Traffic'] }).Traffic };
}

/** A socket that takes every write at once (the kernel never pushes back). */
function fakeWs(): unknown {
  const socket = { writableLength: 0, destroyed: false, written: 0, write(b: Buffer) { this.written += b.length; return true; } };
  return { _socket: socket, readyState: 1, on() {}, once() {} };
}

const turn = () => new Promise<void>((r) => setImmediate(r));

/** CPU µs per delivery for one pass: MESSAGES messages to CONNS connections, PER_TURN messages per event-loop turn. */
async function pass(b: Build): Promise<number> {
  const scheduler = new b.FlushScheduler(0);
  const traffic = b.Traffic ? new b.Traffic() : undefined;
  const conns = Array.from({ length: CONNS }, () => {
    const c = new b.WebSocketConnection(fakeWs(), scheduler, { maxQueuedBytes: 1 << 30, maxMessagesPerSecond: 1e9 });
    if (traffic) c.traffic = traffic; // counted, as the server counts a native member's traffic
    return c;
  });
  const text = JSON.stringify({ type: 'message', kind: 'publish', from: 'c0abcdef', data: '~123456~1733350000000~', seq: 1 });
  const t0 = process.cpuUsage();
  for (let m = 0; m < MESSAGES; m += PER_TURN) {
    for (let k = 0; k < PER_TURN; k++) {
      const frame = new b.OutFrame(text, 'message', m + k);
      for (let i = 0; i < conns.length; i++) conns[i].send(frame);
    }
    await turn(); // the scheduler's flush: one write per connection
  }
  const used = process.cpuUsage(t0);
  return (used.user + used.system) / (MESSAGES * CONNS);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

if (opt.child !== undefined) {
  const b = await load(opt.child);
  for (let i = 0; i < 3; i++) await pass(b); // warm up (JIT)
  const xs: number[] = [];
  for (let i = 0; i < 5; i++) xs.push(await pass(b));
  console.log(JSON.stringify({ usPerDelivery: median(xs) }));
} else {
  const { execFileSync } = await import('node:child_process');
  const results = new Map<string, number[]>(builds.map((b) => [b, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const b of builds) {
      const out = execFileSync(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname, '--child', b, '--conns', String(CONNS), '--messages', String(MESSAGES), '--perTurn', String(PER_TURN)], { encoding: 'utf8' });
      results.get(b)!.push((JSON.parse(out.trim().split('\n').pop()!) as { usPerDelivery: number }).usPerDelivery);
    }
  }
  console.log(`fan-out hot path: ${CONNS} connections, ${MESSAGES} messages (${PER_TURN} per turn), ${ROUNDS} alternating rounds of a child process per build; load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  for (const b of builds) {
    const xs = results.get(b)!;
    console.log(`${b}: median ${(median(xs) * 1000).toFixed(1)} ns CPU per delivery (${(1 / median(xs)).toFixed(1)} M deliveries per CPU-second); rounds ${xs.map((x) => (x * 1000).toFixed(1)).join(' ')} ns`);
  }
}
