// Micro-benchmark of the room history alone, in this process (no sockets): what keeping a
// published message costs (ns per add, GC time), what 1,000 rooms x 1,000 kept messages hold in
// memory, and what a replay costs per message. Scenario 6 (many-rooms) in bench/run.ts measures
// the same thing through the server; this isolates it.
//   node --expose-gc --import tsx bench/history.ts [--rooms 1000] [--messages 1000] [--json]
//   ... [--old <path>]   the same against an older history.ts with the object-entry add
//                         (e.g. `git show <rev>:src/channels/history.ts > /tmp/old/history.ts`)
import { parseArgs } from 'node:util';
import { PerformanceObserver } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { OutFrame } from '../src/transports/out-frame.js';

const { values: argv } = parseArgs({ options: {
  rooms: { type: 'string', default: '1000' }, messages: { type: 'string', default: '1000' },
  old: { type: 'string' }, json: { type: 'boolean', default: false },
} });
const ROOMS = Number(argv.rooms);
const PER_ROOM = Number(argv.messages);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

/** The two History shapes: today's add(frame, topic) and the older add({ seq, at, frame, from, topic, echo }). */
interface AnyHistory { lastSeq: number; nextSeq(): number; add(...a: unknown[]): void; since(seq: number): { entries: unknown[] } }
const mod = await import(argv.old ? pathToFileURL(resolve(argv.old)).href : '../src/channels/history.js') as { History: new (n: number, ttl: number, bytes: number) => AnyHistory };
const keep = argv.old
  ? (h: AnyHistory, frame: OutFrame, seq: number) => h.add({ seq, at: Date.now(), frame, from: 'x1y2', topic: undefined, echo: false })
  : (h: AnyHistory, frame: OutFrame) => h.add(frame, undefined);

let gcMs = 0;
new PerformanceObserver((list) => { for (const e of list.getEntries()) gcMs += e.duration; }).observe({ entryTypes: ['gc'] });

const rooms = Array.from({ length: ROOMS }, () => new mod.History(1000, 300_000, 8 * 1024 * 1024));

/** One publish as the hub makes it (the many-rooms scenario's data shape), framed for the live send. */
function frame(seq: number, i: number): OutFrame {
  const f = new OutFrame(`{"type":"message","kind":"publish","from":"x1y2","data":"~${i}~${1_000_000_000 + i}~","seq":${seq}}`, 'message', seq);
  void f.ws;
  return f;
}

const settle = () => new Promise((r) => setTimeout(r, 100));

/** Publish `count` messages round-robin over the rooms (as scenario 6 does); ns per message and GC ms. */
async function publishAll(count: number, withHistory: boolean): Promise<{ nsPerMessage: number; gcMs: number }> {
  gc!();
  await settle(); // the observer's entries arrive later: let the forced GC's in before counting
  const gcBefore = gcMs;
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const h = rooms[i % ROOMS];
    const seq = withHistory ? h.nextSeq() : i;
    const f = frame(seq, i);
    if (withHistory) keep(h, f, seq);
  }
  const ns = Number(process.hrtime.bigint() - start);
  await settle();
  return { nsPerMessage: ns / count, gcMs: gcMs - gcBefore };
}

function memory(): { rssMB: number; heapMB: number; externalMB: number } {
  gc!();
  const m = process.memoryUsage();
  return { rssMB: m.rss / 2 ** 20, heapMB: m.heapUsed / 2 ** 20, externalMB: m.external / 2 ** 20 };
}

const total = ROOMS * PER_ROOM;
const empty = memory();
const framesOnly = await publishAll(total, false); // the frames alone: what every add below also pays
const fill = await publishAll(total, true); // every room fills up to its 1,000
const full = memory();
const steady = await publishAll(total, true); // at the count bound: each add drops the oldest
const after = memory();

// Replay: the last 100 of every room, then all 1,000.
const replay = (back: number) => {
  const start = process.hrtime.bigint();
  let n = 0;
  for (const h of rooms) n += h.since(h.lastSeq - back).entries.length;
  return Number(process.hrtime.bigint() - start) / n;
};
const replay100 = replay(100);
const replayAll = replay(PER_ROOM);

const result = {
  node: process.version, impl: argv.old ? `old (${argv.old})` : 'current', rooms: ROOMS, perRoom: PER_ROOM,
  framesOnlyNs: framesOnly.nsPerMessage,
  fill: { nsPerAdd: fill.nsPerMessage - framesOnly.nsPerMessage, gcMs: fill.gcMs, gcMsFramesOnly: framesOnly.gcMs },
  steady: { nsPerAdd: steady.nsPerMessage - framesOnly.nsPerMessage, gcMs: steady.gcMs },
  memory: { empty, full, afterSteady: after },
  replayNsPerMessage: { last100: replay100, all: replayAll },
};
if (argv.json) console.log(JSON.stringify(result, null, 2));
else {
  const f1 = (n: number) => n.toFixed(1);
  console.log(`room history, ${result.impl}, ${ROOMS} rooms x ${PER_ROOM} messages, ${process.version}`);
  console.log(`frames alone          ${f1(framesOnly.nsPerMessage)} ns/message, GC ${f1(framesOnly.gcMs)} ms`);
  console.log(`fill (${total} adds)   +${f1(result.fill.nsPerAdd)} ns/add, GC ${f1(fill.gcMs)} ms`);
  console.log(`steady (${total} adds) +${f1(result.steady.nsPerAdd)} ns/add, GC ${f1(steady.gcMs)} ms`);
  for (const [label, m] of [['empty', empty], ['full', full], ['after steady', after]] as const) {
    console.log(`memory ${label.padEnd(13)} RSS ${f1(m.rssMB)} MB, heap ${f1(m.heapMB)} MB, external ${f1(m.externalMB)} MB`);
  }
  console.log(`replay                ${f1(replay100)} ns/message (last 100 per room), ${f1(replayAll)} ns/message (all ${PER_ROOM})`);
}
