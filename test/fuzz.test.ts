// A short seeded slice of the fuzzing suite (fuzz/, `npm run fuzz` runs ≥ 100,000 inputs): a
// fixed seed, so a regression shows up the same way every time, and one random seed (printed;
// `npm run fuzz -- --seed <it>` runs it again in full) so that every run looks somewhere new.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { runFuzz, type FuzzResult } from '../fuzz/fuzzer.ts';

function explain(r: FuzzResult): string {
  return r.findings.map((f) => `${f.kind}: ${f.message}\n  reproduce: npm run fuzz -- --seed ${r.seed} --only ${f.inputs[0] ?? '?'}`).join('\n\n');
}

for (const [label, seed, count] of [['fixed seed', 20261204, 3000], ['random seed', randomInt(2 ** 31), 2000]] as const) {
  test(`fuzz slice, ${label} ${seed}: ${count} inputs across every door; no crash, hang, leak or cross-room delivery`, async () => {
    const lines: string[] = [];
    const r = await runFuzz({ seed, count, log: (l) => lines.push(l) });
    console.log(`fuzz seed ${seed}: ${r.inputs} inputs in ${r.seconds.toFixed(1)} s; ${Object.entries(r.perDoor).map(([d, n]) => `${d} ${n}`).join(', ')}`);
    assert.equal(r.inputs, count, lines.join('\n'));
    assert.equal(r.findings.length, 0, explain(r));
  });
}
