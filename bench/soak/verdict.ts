// The soak's verdicts: growth (RSS, heap), a p99 trend, and the load generator's accounting.
// Growth and trends are slopes over the samples after the warm-up, by Theil-Sen (the median of
// the slopes between every pair of points): a GC sawtooth or a few disturbed windows on a shared
// machine do not move it the way they move a least-squares fit.
import type { Final, SampleRow } from './sample.js';
import { LATENCY_FLOWS } from './sample.js';

export interface Verdict { name: string; ok: boolean; judged: boolean; detail: string }
export interface Fit { slopePerS: number; at0: number; t0: number; t1: number } // value(t) = at0 + slopePerS * (t - t0)

/**
 * The limits, and why (docs/performance.md, "Soak"):
 * - Growth is judged on the memory's floor: at each sample, the lowest value of the trailing
 *   `floorWindowS` (a minute; 30 s in short runs). Heap used swings by ~80 MB between major GCs
 *   and RSS by ~50 MB (V8's young generation, malloc arenas, the 16 MiB a slow consumer holds
 *   until it is closed: measured in 2-minute runs); what is left after them is what leaks.
 * - The floor may grow at most 1 MB/min over a long run: at the default load the server handles
 *   about 1.6 million frames a minute (in and out) and churns 600 connections, so 1 MB/min is
 *   under one byte per frame or ~1.7 KB per churned connection: a leak of one small object per
 *   message, or of one connection's state (~7 KB measured), exceeds it. Heap: the same.
 * - The floor itself still wanders: a short run may show up to `wander` MB over its judged span
 *   without leaking, so the limit is max(per-minute limit, wander / judged minutes). RSS wanders
 *   most, because V8 grows and shrinks the heap it reserves (heap total) by ~50 MB at a time
 *   while the heap used stays flat (3-minute runs at load 0.25 and 0.5: heap total 133 -> 187 ->
 *   146 MB, RSS following); the heap floor by up to ~20 MB (the sampling catches a saw-tooth of
 *   ~80 MB between major GCs at a random phase).
 * - p99 may not rise (fitted start to fitted end of the judged span) by more than 10 ms and 50 %
 *   of its fitted start: a queue that grows a little every minute shows as a rise. Windows in
 *   which other processes used more than `disturbedCpuPct` of the 2 cores are left out of the fit
 *   (their latency is someone else's); with fewer than half of the windows left the trend is not
 *   judged, and the verdict says so.
 */
export const LIMITS = {
  rssMBPerMin: 1, rssWanderMB: 48,
  heapMBPerMin: 1, heapWanderMB: 24,
  floorWindowS: 60,
  p99RiseMs: 10, p99RiseFrac: 0.5,
  disturbedCpuPct: 25,
  minJudgedS: 60, // less than a minute after the warm-up: growth and trends are not judged
};

export function theilSen(xs: number[], ys: number[]): Fit | null {
  const n = xs.length;
  if (n < 2) return null;
  const slopes: number[] = [];
  // Bounded: a 30-minute run has 180 samples, 16,110 pairs; longer runs are thinned.
  const step = Math.max(1, Math.floor(n / 400));
  for (let i = 0; i < n; i += step) for (let j = i + step; j < n; j += step) if (xs[j] !== xs[i]) slopes.push((ys[j] - ys[i]) / (xs[j] - xs[i]));
  if (!slopes.length) return null;
  const slope = median(slopes);
  const at0 = median(ys.map((y, i) => y - slope * (xs[i] - xs[0])));
  return { slopePerS: slope, at0, t0: xs[0], t1: xs[n - 1] };
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The series of one field after the warm-up, without missing values. */
function series(rows: SampleRow[], warmupS: number, pick: (r: SampleRow) => number | null): { xs: number[]; ys: number[] } {
  const xs: number[] = [], ys: number[] = [];
  for (const r of rows) {
    const v = pick(r);
    if (r.t > warmupS && v !== null && Number.isFinite(v)) { xs.push(r.t); ys.push(v); }
  }
  return { xs, ys };
}

/** The floor of a series: at each point whose trailing window lies after the warm-up, the lowest value in it. */
export function floors(xs: number[], ys: number[], windowS: number): { xs: number[]; ys: number[] } {
  const fx: number[] = [], fy: number[] = [];
  if (!xs.length) return { xs: fx, ys: fy };
  for (let i = 0; i < xs.length; i++) {
    if (xs[i] - windowS < xs[0] - 1e-9) continue; // its window would reach into the warm-up
    let m = Infinity;
    for (let j = i; j >= 0 && xs[j] > xs[i] - windowS - 1e-9; j--) m = Math.min(m, ys[j]);
    fx.push(xs[i]);
    fy.push(m);
  }
  return { xs: fx, ys: fy };
}

export interface Judgement { verdicts: Verdict[]; fits: Record<string, Fit | null>; judgedS: number }

export function judge(rows: SampleRow[], warmupS: number, final: Final | null): Judgement {
  const verdicts: Verdict[] = [];
  const fits: Record<string, Fit | null> = {};
  const last = rows.at(-1)?.t ?? 0;
  const judgedS = Math.max(0, last - warmupS);
  const judged = judgedS >= LIMITS.minJudgedS;
  const mins = judgedS / 60;

  const floorS = Math.min(LIMITS.floorWindowS, Math.max(30, judgedS / 4));
  const growth = (name: string, key: string, pick: (r: SampleRow) => number | null, perMin: number, wander: number) => {
    const raw = series(rows, warmupS, pick);
    const { xs, ys } = floors(raw.xs, raw.ys, floorS);
    const fit = xs.length >= 3 ? theilSen(xs, ys) : null;
    fits[key] = fit;
    if (!judged || !fit) return verdicts.push({ name, ok: true, judged: false, detail: `not judged: ${Math.round(judgedS)} s after the warm-up, ${LIMITS.minJudgedS} s needed` });
    const slope = fit.slopePerS * 60;
    const limit = Math.max(perMin, wander / mins);
    verdicts.push({ name, ok: slope <= limit, judged: true,
      detail: `floor (lowest of each ${Math.round(floorS)} s) ${slope >= 0 ? '+' : ''}${slope.toFixed(2)} MB/min over ${mins.toFixed(1)} min after a ${Math.round(warmupS)} s warm-up (limit ${limit.toFixed(2)} MB/min); floor ${ys[0].toFixed(0)} -> ${ys.at(-1)!.toFixed(0)} MB, samples ${Math.min(...raw.ys).toFixed(0)}..${Math.max(...raw.ys).toFixed(0)} MB` });
  };
  growth('RSS growth', 'rss', (r) => r.rssMB, LIMITS.rssMBPerMin, LIMITS.rssWanderMB);
  growth('heap growth', 'heap', (r) => r.heapUsedMB, LIMITS.heapMBPerMin, LIMITS.heapWanderMB);

  const quiet = (r: SampleRow) => (r.otherCpuPct ?? 0) <= LIMITS.disturbedCpuPct;
  const judgedRows = rows.filter((r) => r.t > warmupS);
  const quietRows = judgedRows.filter(quiet);
  const busy = `${judgedRows.length - quietRows.length} of ${judgedRows.length} windows had other processes over ${LIMITS.disturbedCpuPct} % CPU`;
  for (const flow of LATENCY_FLOWS) {
    const name = `p99 trend: ${flow}`;
    const { xs, ys } = series(quietRows, warmupS, (r) => r.flows[flow]?.p99 ?? null);
    const fit = theilSen(xs, ys);
    fits[`p99 ${flow}`] = fit;
    const unjudged = (why: string) => { fits[`p99 ${flow}`] = null; verdicts.push({ name, ok: true, judged: false, detail: `not judged: ${why}` }); };
    if (!judged) { unjudged(`${Math.round(judgedS)} s after the warm-up`); continue; }
    if (quietRows.length < Math.max(3, judgedRows.length / 2)) { unjudged(`the machine was busy (${busy})`); continue; }
    if (!fit) { unjudged('no p99 samples'); continue; }
    const start = Math.max(0, fit.at0);
    const rise = fit.slopePerS * (fit.t1 - fit.t0);
    const limit = Math.max(LIMITS.p99RiseMs, LIMITS.p99RiseFrac * start);
    verdicts.push({ name, ok: rise <= limit, judged: true,
      detail: `fitted ${start.toFixed(2)} -> ${(start + rise).toFixed(2)} ms (${rise >= 0 ? '+' : ''}${rise.toFixed(2)} ms, limit +${limit.toFixed(2)}); windows: median ${median(ys).toFixed(2)}, worst ${Math.max(...ys).toFixed(1)} ms${quietRows.length < judgedRows.length ? `; ${busy}, left out` : ''}` });
  }

  if (!final) verdicts.push({ name: 'accounting', ok: false, judged: true, detail: 'the load generator gave no final accounting' });
  else {
    if (!final.settled) verdicts.push({ name: 'drain', ok: false, judged: true, detail: `not everything came back within the drain (${final.drainMs} ms)` });
    for (const c of final.checks) verdicts.push({ name: c.check, ok: c.ok, judged: true, detail: c.detail });
  }
  return { verdicts, fits, judgedS };
}
