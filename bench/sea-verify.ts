// Micro-benchmark of SEA verification in this process (no sockets): µs per signature check with
// the key cache warm and cold, what a whole checkSeaWrite of a one-field put costs, and what an
// ordinary soul pays. Run by the gun-sea scenario pinned to the server's core, or alone:
//   node --import tsx bench/sea-verify.ts [--json] [--n 3000]
import { parseArgs } from 'node:util';
import { seaSign, seaSignedValue, seaSigner } from './sea-sign.js';
import { checkSeaWrite, EMPTY_GRAPH } from '../src/gun/sea/check.js';
import { clearKeyCache, publicKeyOf } from '../src/gun/sea/pub-keys.js';
import { parseSignedField, signedText, verifySignature } from '../src/gun/sea/signature.js';
import type { GraphUpdate } from '../src/gun/types.js';

const { values: argv } = parseArgs({ options: { json: { type: 'boolean', default: false }, n: { type: 'string', default: '3000' } } });
const N = Number(argv.n);
const NOW = Date.now();

const owner = seaSigner();
const soul = '~' + owner.pub;
const state = NOW - 1000;
const puts: GraphUpdate[] = [];
const texts: string[] = [];
const sigs: string[] = [];
for (let i = 0; i < N; i++) {
  const key = `k${i}`;
  const value = seaSignedValue(owner, soul, key, `v${i}`, state);
  puts.push([{ soul, fields: [{ key, value, state }] }]);
  texts.push(signedText(soul, key, `v${i}`, state));
  sigs.push(parseSignedField(value)!.sig);
}
// Content written by others into the owner's space needs two signatures checked (value, certificate).
const writer = seaSigner();
const inbox = soul + '/inbox';
const certBody = { c: writer.pub, w: { '*': 'inbox' } };
const cert = { m: certBody, s: seaSign(owner, JSON.stringify(certBody)) };
const certified: GraphUpdate[] = [];
for (let i = 0; i < N; i++) {
  const key = `${writer.pub}${i}`;
  const signed = JSON.parse(seaSignedValue(writer, inbox, key, `m${i}`, state)) as Record<string, unknown>;
  certified.push([{ soul: inbox, fields: [{ key, value: JSON.stringify({ ...signed, '*': writer.pub, '+': cert }), state }] }]);
}
const ordinary: GraphUpdate[] = puts.map((p, i) => [{ soul: 'chat', fields: [{ key: `k${i}`, value: p[0].fields[0].value, state }] }]);

/**
 * µs per call of f(i) over N calls (`rounds` times N for cheap calls), after a warm-up; `before`
 * runs untimed ahead of each call.
 */
function time(f: (i: number) => unknown, before?: () => void, rounds = 1): number {
  for (let i = 0; i < Math.min(N, 300); i++) { before?.(); f(i); }
  if (!before) {
    const t = process.hrtime.bigint();
    for (let r = 0; r < rounds; r++) for (let i = 0; i < N; i++) f(i);
    return Number(process.hrtime.bigint() - t) / N / rounds / 1000;
  }
  let total = 0n;
  for (let i = 0; i < N; i++) {
    before();
    const t = process.hrtime.bigint();
    f(i);
    total += process.hrtime.bigint() - t;
  }
  return Number(total) / N / 1000;
}

const ok = (r: ReturnType<typeof checkSeaWrite>) => { if (!r.ok) throw new Error(r.err); };
const key = publicKeyOf(owner.pub)!;
const results = {
  n: N,
  verifyCachedKeyUs: time((i) => { if (!verifySignature(key, texts[i], sigs[i])) throw new Error('bad signature'); }),
  keyImportUs: time(() => publicKeyOf(owner.pub), clearKeyCache),
  checkSignedPutWarmUs: time((i) => ok(checkSeaWrite(puts[i], EMPTY_GRAPH, NOW))),
  checkSignedPutColdUs: time((i) => ok(checkSeaWrite(puts[i], EMPTY_GRAPH, NOW)), clearKeyCache),
  checkCertifiedPutWarmUs: time((i) => ok(checkSeaWrite(certified[i], EMPTY_GRAPH, NOW))),
  checkOrdinaryPutUs: time((i) => ok(checkSeaWrite(ordinary[i], EMPTY_GRAPH, NOW)), undefined, 300),
};

if (argv.json) {
  process.stdout.write(JSON.stringify({ type: 'sea-verify', ...results }) + '\n');
} else {
  const f = (us: number) => (us < 1 ? `${(us * 1000).toFixed(0)} ns` : `${us.toFixed(1)} µs`);
  console.log(`SEA verification, ${N} calls each (node ${process.version})`);
  console.log(`  signature check, key cached          ${f(results.verifyCachedKeyUs)}`);
  console.log(`  key import (cache miss)              ${f(results.keyImportUs)}`);
  console.log(`  checkSeaWrite, signed field, warm    ${f(results.checkSignedPutWarmUs)}`);
  console.log(`  checkSeaWrite, signed field, cold    ${f(results.checkSignedPutColdUs)}`);
  console.log(`  checkSeaWrite, certified field, warm ${f(results.checkCertifiedPutWarmUs)}`);
  console.log(`  checkSeaWrite, ordinary soul         ${f(results.checkOrdinaryPutUs)}`);
}
