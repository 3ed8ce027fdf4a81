// GUN correctness under load (GUN's own test/panic/load.js pattern), as a separate pinned process:
// W writers each put K distinct keys into one soul as fast as they can send them, R readers
// subscribed to the soul with `get` must each see every one of the W×K keys. Reports how many
// keys each reader saw, and the time from the first put to the moment the last reader had all.
// Then a late reader connects and `get`s the soul: the relay's stored copy must hold every key.
// Prints one JSON line {"type":"gunload",...} (or {"type":"error"}) and exits.
import { parseArgs } from 'node:util';
import { RawWs } from './rawws.js';
import { out, rid } from './loadgen-steps.js';
import { procCpuSeconds, procRssMB } from './stats.js';

const { values: argv } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    path: { type: 'string', default: '/bench-load' },
    writers: { type: 'string', default: '20' },
    keys: { type: 'string', default: '500' },
    readers: { type: 'string', default: '10' },
    timeout: { type: 'string', default: '30' }, // seconds to wait for convergence
    'server-pid': { type: 'string' },
  },
});
const HOST = argv.host!, PORT = Number(argv.port), PATH = argv.path!;
const W = Number(argv.writers), K = Number(argv.keys), R = Number(argv.readers);
const ALL = W * K;
const SOUL = 'load';
const SERVER_PID = argv['server-pid'] ? Number(argv['server-pid']) : null;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Msg = Record<string, unknown>;
let badFrames = 0, damErrors = 0, acks = 0, ackErrors = 0;
let firstPut = 0n;

interface Reader { keys: Set<string>; doneAt: bigint | null }
const AT = Buffer.from('"@"'), DAM = Buffer.from('"dam"');
// Search only this frame's bytes: d may be a chunk holding many frames, and searching to its end
// for every frame would be quadratic.
const has = (d: Buffer, pat: Buffer, s: number, e: number) => d.subarray(s, e).indexOf(pat) >= 0;
function onFrame(reader: Reader | null, ws: RawWs, d: Buffer, s: number, e: number): void {
  // Writers only look at acks and DAM: relayed puts from the other writers are skipped unparsed,
  // so the load generator spends its CPU on the readers.
  if (!reader && !has(d, AT, s, e) && !has(d, DAM, s, e)) return;
  let v: unknown;
  try { v = JSON.parse(d.toString('utf8', s, e)); } catch { badFrames++; return; }
  for (const m of (Array.isArray(v) ? v : [v]) as Msg[]) {
    if (!m || typeof m !== 'object') continue;
    if (m.dam !== undefined) {
      if (m.dam === '?' && m['@'] === undefined) ws.send(JSON.stringify({ dam: '?', pid: rid(), '@': m['#'], '#': rid() }));
      if (m.dam === '!') damErrors++;
      continue;
    }
    if (!reader) { // a writer: count acks of its puts
      if (m['@'] !== undefined && m.ok) acks++;
      if (m['@'] !== undefined && m.err) ackErrors++;
      continue;
    }
    const node = (m.put as Record<string, Msg> | undefined)?.[SOUL];
    if (!node || typeof node !== 'object') continue;
    for (const k in node) if (k !== '_') reader.keys.add(k);
    if (reader.doneAt === null && reader.keys.size >= ALL) reader.doneAt = process.hrtime.bigint();
  }
}

async function main(): Promise<void> {
  const common = { host: HOST, port: PORT, path: PATH };
  const readers: Reader[] = Array.from({ length: R }, () => ({ keys: new Set<string>(), doneAt: null }));
  const rws = await Promise.all(readers.map((r) => RawWs.connect({ ...common, onMessage: (ws, d, s, e) => onFrame(r, ws, d, s, e) })));
  for (const ws of rws) ws.send(JSON.stringify({ '#': rid(), get: { '#': SOUL } }));
  const wws = await Promise.all(Array.from({ length: W }, () => RawWs.connect({ ...common, onMessage: (ws, d, s, e) => onFrame(null, ws, d, s, e) })));
  await sleep(300);

  const cpu0 = SERVER_PID ? procCpuSeconds(SERVER_PID) : null;
  const lg0 = process.cpuUsage();
  firstPut = process.hrtime.bigint();
  // Every writer sends its keys in slices of 25 frames per 1 ms tick (one socket write per slice):
  // 20 writers x 25 = up to 500k puts/s offered, i.e. as fast as the relay takes them.
  let sent = 0;
  await new Promise<void>((resolve) => {
    let i = 0;
    const tick = () => {
      for (let w = 0; w < W; w++) {
        const frames: string[] = [];
        for (let j = i; j < Math.min(K, i + 25); j++) {
          const key = `w${w}_${j}`;
          frames.push(`{"#":"${rid()}","put":{"${SOUL}":{"_":{"#":"${SOUL}",">":{"${key}":${Date.now()}}},"${key}":"v${j}"}}}`);
        }
        if (frames.length) { wws[w].send(frames); sent += frames.length; }
      }
      i += 25;
      if (i < K) setTimeout(tick, 1); else resolve();
    };
    tick();
  });
  const sentMs = Number(process.hrtime.bigint() - firstPut) / 1e6;

  const deadline = Date.now() + Number(argv.timeout) * 1000;
  while (Date.now() < deadline && readers.some((r) => r.doneAt === null)) await sleep(5);
  const convergedMs = readers.every((r) => r.doneAt !== null)
    ? Math.max(...readers.map((r) => Number(r.doneAt! - firstPut) / 1e6)) : null;
  const cpu1 = SERVER_PID ? procCpuSeconds(SERVER_PID) : null;
  const lg = process.cpuUsage(lg0);
  const spanS = (convergedMs ?? Number(argv.timeout) * 1000) / 1000;

  // The late reader: what the relay stored.
  const late: Reader = { keys: new Set(), doneAt: null };
  const lws = await RawWs.connect({ ...common, onMessage: (ws, d, s, e) => onFrame(late, ws, d, s, e) });
  lws.send(JSON.stringify({ '#': rid(), get: { '#': SOUL } }));
  for (let t = 0; t < 250 && late.keys.size < ALL; t++) await sleep(20);

  const counts = readers.map((r) => r.keys.size);
  out({
    type: 'gunload', writers: W, keysPerWriter: K, readers: R, keys: ALL, sent, sentMs,
    readerKeys: counts, readersComplete: counts.filter((c) => c >= ALL).length,
    minPct: (100 * Math.min(...counts)) / ALL, convergedMs,
    lateReaderKeys: late.keys.size,
    acks, ackErrors, badFrames, damErrors,
    serverCpuPct: cpu0 !== null && cpu1 !== null ? (100 * (cpu1 - cpu0)) / spanS : null,
    serverRssMB: SERVER_PID ? procRssMB(SERVER_PID) : null,
    loadgenCpuPct: (100 * (lg.user + lg.system)) / 1e6 / spanS,
  });
  for (const ws of [...rws, ...wws, lws]) ws.close();
  setTimeout(() => process.exit(0), 100);
}

main().catch((err: Error) => { out({ type: 'error', message: err.message }); setTimeout(() => process.exit(1), 100); });
