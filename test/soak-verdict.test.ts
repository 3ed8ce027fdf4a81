// The soak's judge (bench/soak/verdict.ts) on made-up samples: a flat saw-tooth passes, a slow
// leak fails, a few disturbed windows do not make a p99 trend, a creeping p99 does, short runs
// are not judged, and the load generator's accounting decides the rest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { floors, judge, theilSen } from '../bench/soak/verdict.ts';
import type { Final, SampleRow } from '../bench/soak/sample.ts';

function rows(minutes: number, pick: (t: number, k: number) => { rss: number; heap: number; p99: number; other?: number }): SampleRow[] {
  const out: SampleRow[] = [];
  for (let k = 1; k <= minutes * 6; k++) {
    const t = k * 10;
    const v = pick(t, k);
    out.push({
      t, rssMB: v.rss, heapUsedMB: v.heap, heapTotalMB: v.heap * 2, externalMB: 5, loopLagP99Ms: 10, loopLagMaxMs: 20,
      serverCpuPct: 30, loadgenCpuPct: 30, otherCpuPct: v.other ?? 0, connections: 300, rooms: 40, sendLagMaxMs: 1,
      flows: { 'publish delivery': { sent: 10, done: 10, p50: 1, p99: v.p99, max: v.p99, errors: 0 } },
    });
  }
  return out;
}
const ok: Final = { settled: true, drainMs: 5, checks: [{ check: 'every request answered', ok: true, detail: '10 of 10' }], errors: [], totals: {} };
const verdict = (j: ReturnType<typeof judge>, name: string) => j.verdicts.find((v) => v.name === name)!;

test('theilSen: the slope of a line, unmoved by a few outliers', () => {
  const xs = Array.from({ length: 50 }, (_, i) => i * 10);
  const ys = xs.map((x, i) => 100 + 0.5 * x + (i % 10 === 0 ? 500 : 0));
  const fit = theilSen(xs, ys)!;
  assert.ok(Math.abs(fit.slopePerS - 0.5) < 1e-9, String(fit.slopePerS));
  assert.ok(Math.abs(fit.at0 - 100) < 1e-9, String(fit.at0));
  assert.equal(theilSen([1], [1]), null);
});

test('a flat saw-tooth (GC) passes; 3 MB/min of RSS growth over 25 minutes fails', () => {
  const flat = judge(rows(30, (_t, k) => ({ rss: 150 + (k % 6) * 4, heap: 40 + (k % 3) * 10, p99: 5 })), 300, ok);
  assert.ok(flat.verdicts.every((v) => v.ok), JSON.stringify(flat.verdicts, null, 1));
  for (const name of ['RSS growth', 'heap growth', 'p99 trend: publish delivery']) assert.equal(verdict(flat, name).judged, true, name);
  assert.equal(verdict(flat, 'p99 trend: request->reply').judged, false); // no samples of that flow
  const leak = judge(rows(30, (t, k) => ({ rss: 150 + (3 * t) / 60 + (k % 6) * 4, heap: 40, p99: 5 })), 300, ok);
  const v = verdict(leak, 'RSS growth');
  assert.equal(v.ok, false, v.detail);
  assert.match(v.detail, /^floor \(lowest of each 60 s\) \+3\.\d\d MB\/min over 25\.0 min after a 300 s warm-up \(limit 1\.92 MB\/min\)/);
  assert.equal(verdict(leak, 'heap growth').ok, true);
});

test('floors: the lowest value of each trailing window, from the first full window on', () => {
  const xs = [10, 20, 30, 40, 50, 60];
  assert.deepEqual(floors(xs, [5, 1, 9, 8, 7, 9], 20), { xs: [30, 40, 50, 60], ys: [1, 1, 7, 7] });
  // a heap saw-tooth between major GCs (60 -> 140 MB) has a flat floor
  const saw = rows(30, (_t, k) => ({ rss: 250, heap: 60 + (k % 5) * 20, p99: 5 }));
  assert.equal(judge(saw, 300, ok).fits.heap!.slopePerS, 0);
});

test('a short run allows the wander of a bounded server: 24 MB over its span', () => {
  // 2 minutes, 24 s warm-up: 96 s judged; 10 MB of growth in that span is within 24 MB / 1.6 min.
  const j = judge(rows(2, (t) => ({ rss: 150 + (10 * t) / 96, heap: 40, p99: 5 })), 24, ok);
  assert.equal(verdict(j, 'RSS growth').ok, true, verdict(j, 'RSS growth').detail);
});

test('p99: disturbed windows are not a trend; a creeping p99 is', () => {
  const spikes = judge(rows(30, (_t, k) => ({ rss: 150, heap: 40, p99: k % 17 === 0 ? 400 : 5 })), 300, ok);
  assert.equal(verdict(spikes, 'p99 trend: publish delivery').ok, true, verdict(spikes, 'p99 trend: publish delivery').detail);
  const creep = judge(rows(30, (t) => ({ rss: 150, heap: 40, p99: 5 + t / 60 })), 300, ok); // +1 ms a minute
  assert.equal(verdict(creep, 'p99 trend: publish delivery').ok, false, verdict(creep, 'p99 trend: publish delivery').detail);
});

test('windows where other processes used the cores are left out of the p99 trend; a busy machine leaves it unjudged', () => {
  // the p99 climbs only in the windows of the second half where someone else used the cores
  const noisy = judge(rows(30, (t, k) => ({ rss: 150, heap: 40, p99: t > 900 && k % 3 === 0 ? 80 : 5, other: t > 900 && k % 3 === 0 ? 120 : 3 })), 300, ok);
  const v = verdict(noisy, 'p99 trend: publish delivery');
  assert.equal(v.ok, true, v.detail);
  assert.match(v.detail, /had other processes over 25 % CPU, left out/);
  const busy = judge(rows(30, () => ({ rss: 150, heap: 40, p99: 5, other: 150 })), 300, ok);
  const b = verdict(busy, 'p99 trend: publish delivery');
  assert.deepEqual([b.ok, b.judged], [true, false]);
  assert.match(b.detail, /^not judged: the machine was busy \(150 of 150 windows/);
});

test('under a minute after the warm-up nothing is judged but the accounting; a failed check or no accounting fails', () => {
  const short = judge(rows(0.5, () => ({ rss: 150, heap: 40, p99: 5 })), 20, ok);
  assert.ok(short.verdicts.filter((v) => v.name !== 'every request answered').every((v) => v.ok && !v.judged));
  const lost = judge(rows(0.5, () => ({ rss: 150, heap: 40, p99: 5 })), 20, { ...ok, settled: false, checks: [{ check: 'every request answered', ok: false, detail: '9 of 10' }] });
  assert.deepEqual(lost.verdicts.filter((v) => !v.ok).map((v) => v.name), ['drain', 'every request answered']);
  assert.equal(verdict(judge([], 20, null), 'accounting').ok, false);
});
