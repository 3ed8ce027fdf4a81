// Micro-benchmark of cluster sealing in this process (no engine, no sockets): what sealing and
// opening cost per cross-node message, for a typical small message and a larger one, against the
// plain frames of a cluster run without --cluster-key.
//   node --import tsx bench/seal.ts [--json] [--seconds 1]
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { ClusterKey } from '../src/cluster/cluster-key.js';
import { open, seal, type SealContext } from '../src/cluster/seal.js';

const { values: argv } = parseArgs({ options: { json: { type: 'boolean', default: false }, seconds: { type: 'string', default: '1' } } });
const SECONDS = Number(argv.seconds);
const key = ClusterKey.fromSecret(randomBytes(32));
const context: SealContext = { kind: 'pub', room: '/bench/room' };

/** Calls of f per second over SECONDS, after a warm-up of a fifth of that. */
function rate(f: () => void): number {
  const run = (ms: number) => {
    let n = 0;
    const start = performance.now();
    let elapsed = 0;
    do {
      for (let i = 0; i < 100; i++) f();
      n += 100;
      elapsed = performance.now() - start;
    } while (elapsed < ms);
    return n / (elapsed / 1000);
  };
  run(SECONDS * 200);
  return run(SECONDS * 1000);
}

interface Row { payload: string; mode: string; sealPerS: number; openPerS: number; roundTripPerS: number; usPerRoundTrip: number; overheadBytes: number }
const rows: Row[] = [];
for (const [label, size] of [['200 B', 200], ['10 KiB', 10 * 1024]] as const) {
  const plaintext = randomBytes(size);
  for (const [mode, k] of [['sealed', key], ['plain', null]] as const) {
    const frame = seal(k, context, plaintext);
    if (open(k, context, frame)?.length !== size) throw new Error('does not round-trip');
    const sealPerS = rate(() => { seal(k, context, plaintext); });
    const openPerS = rate(() => { open(k, context, frame); });
    const roundTripPerS = rate(() => { open(k, context, seal(k, context, plaintext)); });
    rows.push({ payload: label, mode, sealPerS, openPerS, roundTripPerS, usPerRoundTrip: 1e6 / roundTripPerS, overheadBytes: frame.length - size });
  }
}

if (argv.json) {
  console.log(JSON.stringify({ node: process.version, rows }, null, 2));
} else {
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  console.log(`cluster sealing, AES-256-GCM, ${process.version}, one core, ${SECONDS} s per figure`);
  console.log('payload  mode     seal/s      open/s      seal+open/s  µs per seal+open  overhead');
  for (const r of rows) {
    console.log(`${r.payload.padEnd(8)} ${r.mode.padEnd(8)} ${fmt(r.sealPerS).padStart(10)}  ${fmt(r.openPerS).padStart(10)}  ${fmt(r.roundTripPerS).padStart(11)}  ${r.usPerRoundTrip.toFixed(2).padStart(16)}  ${String(r.overheadBytes).padStart(5)} B`);
  }
}
