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
 * - RSS may grow at most 1 MB/min over a long run: at the default load the server handles about
 *   1.6 million frames a minute (in and out) and churns 600 connections, so 1 MB/min is under one
 *   byte per frame or ~1.7 KB per churned connection: a leak of one small object per message, or
 *   of one connection's state (~7 KB measured), exceeds it. Heap: half of that.
 * - A bounded server's memory still wanders: V8 resizes its young generation, malloc keeps
 *   freed arenas, a slow consumer holds up to 16 MiB until it is closed. So a short run may show
 *   a slope of up to `wander` MB over its judged span without leaking: the limit is
 *   max(per-minute limit, wander / judged minutes).
 * - p99 may not rise (fitted start to fitted end of the judged span) by more than 10 ms and 50 %
 *   of its fitted start: a queue that grows a little every minute shows as a rise; a disturbed
 *   window (other processes on the 2 cores) does not move a Theil-Sen fit.
 */
export const LIMITS = {
  rssMBPerMin: 1, rssWanderMB: 24,
  heapMBPerMin: 0.5, heapWanderMB: 16,
  p99RiseMs: 10, p99RiseFrac: 0.5,
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

export interface Judgement { verdicts: Verdict[]; fits: Record<string, Fit | null>; judgedS: number }

export function judge(rows: SampleRow[], warmupS: number, final: Final | null): Judgement {
  const verdicts: Verdict[] = [];
  const fits: Record<string, Fit | null> = {};
  const last = rows.at(-1)?.t ?? 0;
  const judgedS = Math.max(0, last - warmupS);
  const judged = judgedS >= LIMITS.minJudgedS;
  const mins = judgedS / 60;

  const growth = (name: string, key: string, pick: (r: SampleRow) => number | null, perMin: number, wander: number) => {
    const { xs, ys } = series(rows, warmupS, pick);
    const fit = theilSen(xs, ys);
    fits[key] = fit;
    if (!judged || !fit) return verdicts.push({ name, ok: true, judged: false, detail: `not judged: ${Math.round(judgedS)} s after the warm-up, ${LIMITS.minJudgedS} s needed` });
    const slope = fit.slopePerS * 60;
    const limit = Math.max(perMin, wander / mins);
    verdicts.push({ name, ok: slope <= limit, judged: true,
      detail: `${slope >= 0 ? '+' : ''}${slope.toFixed(2)} MB/min over ${mins.toFixed(1)} min after a ${Math.round(warmupS)} s warm-up (limit ${limit.toFixed(2)} MB/min); ${ys[0].toFixed(0)} -> ${ys.at(-1)!.toFixed(0)} MB` });
  };
  growth('RSS growth', 'rss', (r) => r.rssMB, LIMITS.rssMBPerMin, LIMITS.rssWanderMB);
  growth('heap growth', 'heap', (r) => r.heapUsedMB, LIMITS.heapMBPerMin, LIMITS.heapWanderMB);

  for (const flow of LATENCY_FLOWS) {
    const { xs, ys } = series(rows, warmupS, (r) => r.flows[flow]?.p99 ?? null);
    const fit = theilSen(xs, ys);
    fits[`p99 ${flow}`] = fit;
    const name = `p99 trend: ${flow}`;
    if (!judged || !fit) { verdicts.push({ name, ok: true, judged: false, detail: `not judged: ${!judged ? `${Math.round(judgedS)} s after the warm-up` : 'no p99 samples'}` }); continue; }
    const start = Math.max(0, fit.at0);
    const rise = fit.slopePerS * (fit.t1 - fit.t0);
    const limit = Math.max(LIMITS.p99RiseMs, LIMITS.p99RiseFrac * start);
    verdicts.push({ name, ok: rise <= limit, judged: true,
      detail: `fitted ${start.toFixed(2)} -> ${(start + rise).toFixed(2)} ms (${rise >= 0 ? '+' : ''}${rise.toFixed(2)} ms, limit +${limit.toFixed(2)}); windows: median ${median(ys).toFixed(2)}, worst ${Math.max(...ys).toFixed(1)} ms` });
  }

  if (!final) verdicts.push({ name: 'accounting', ok: false, judged: true, detail: 'the load generator gave no final accounting' });
  else {
    if (!final.settled) verdicts.push({ name: 'drain', ok: false, judged: true, detail: `not everything came back within the drain (${final.drainMs} ms)` });
    for (const c of final.checks) verdicts.push({ name: c.check, ok: c.ok, judged: true, detail: c.detail });
  }
  return { verdicts, fits, judgedS };
}
