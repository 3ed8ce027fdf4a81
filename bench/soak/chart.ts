// The soak's chart: the samples drawn as an SVG (five panels sharing the time axis), rasterized
// to PNG by the Chromium the browser tests use (/usr/bin/chromium through playwright-core), so
// no chart library and nothing from a CDN.
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import type { SampleRow } from './sample.js';
import { LATENCY_FLOWS } from './sample.js';
import type { Fit } from './verdict.js';

interface Line { label: string; color: string; values: (number | null)[]; dash?: boolean; fit?: Fit | null }
interface Panel { title: string; unit: string; lines: Line[]; log?: boolean; min0?: boolean }

const W = 1200, LEFT = 70, RIGHT = 250, PANEL_H = 170, GAP = 46, TOP = 92;
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number) => (Math.abs(v) >= 10000 ? `${Math.round(v / 1000)}k` : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));

/** The top of a linear axis with 4 round steps (ticks at 0, 25, 50 ... or 0, 0.5, 1 ...). */
function niceMax(v: number): number {
  if (v <= 0) return 1;
  const step = v / 4;
  const p = 10 ** Math.floor(Math.log10(step));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= step) return 4 * m * p;
  return 40 * p;
}

function panel(p: Panel, top: number, ts: number[], tMax: number, warmupS: number): string {
  const plotW = W - LEFT - RIGHT;
  const x = (t: number) => LEFT + (plotW * t) / tMax;
  const all = p.lines.flatMap((l) => l.values.filter((v): v is number => v !== null && Number.isFinite(v) && (!p.log || v > 0)));
  let lo = p.log ? Math.max(1e-3, Math.min(...all, 1)) : 0, hi = all.length ? Math.max(...all) : 1;
  if (p.log) { lo = 10 ** Math.floor(Math.log10(lo)); hi = 10 ** Math.ceil(Math.log10(Math.max(hi, lo * 10))); } else hi = niceMax(hi * 1.05);
  const y = (v: number) => top + PANEL_H - (PANEL_H * (p.log ? Math.log10(Math.max(v, lo)) - Math.log10(lo) : v - lo)) / (p.log ? Math.log10(hi) - Math.log10(lo) : hi - lo);
  const out: string[] = [];
  out.push(`<text x="${LEFT}" y="${top - 10}" font-size="15" font-weight="bold">${esc(p.title)}</text><text x="${LEFT + plotW}" y="${top - 10}" font-size="12" text-anchor="end" fill="#555">${esc(p.unit)}</text>`);
  if (warmupS > 0) out.push(`<rect x="${LEFT}" y="${top}" width="${x(Math.min(warmupS, tMax)) - LEFT}" height="${PANEL_H}" fill="#eee"/>`);
  const ticks = p.log ? Array.from({ length: Math.round(Math.log10(hi / lo)) + 1 }, (_, i) => lo * 10 ** i) : [0, 0.25, 0.5, 0.75, 1].map((f) => lo + f * (hi - lo));
  for (const v of ticks) out.push(`<line x1="${LEFT}" x2="${LEFT + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/><text x="${LEFT - 6}" y="${y(v) + 4}" font-size="11" text-anchor="end">${fmt(v)}</text>`);
  out.push(`<rect x="${LEFT}" y="${top}" width="${plotW}" height="${PANEL_H}" fill="none" stroke="#999"/>`);
  p.lines.forEach((l, i) => {
    const pts: string[] = [];
    let d = '';
    l.values.forEach((v, k) => {
      if (v === null || !Number.isFinite(v) || (p.log && v <= 0)) { d += pts.length ? ' ' : ''; pts.length = 0; return; }
      const pt = `${x(ts[k]).toFixed(1)},${y(v).toFixed(1)}`;
      d += (pts.length ? ' L' : ' M') + pt;
      pts.push(pt);
    });
    out.push(`<path d="${d}" fill="none" stroke="${l.color}" stroke-width="1.8"${l.dash ? ' stroke-dasharray="5,3"' : ''}/>`);
    if (l.fit) {
      const f = l.fit, v0 = f.at0, v1 = f.at0 + f.slopePerS * (f.t1 - f.t0);
      out.push(`<line x1="${x(f.t0)}" y1="${y(v0)}" x2="${x(f.t1)}" y2="${y(v1)}" stroke="${l.color}" stroke-width="1.2" stroke-dasharray="2,3"/>`);
    }
    const ly = top + 14 + i * 16;
    out.push(`<line x1="${LEFT + plotW + 12}" x2="${LEFT + plotW + 30}" y1="${ly - 4}" y2="${ly - 4}" stroke="${l.color}" stroke-width="2.5"${l.dash ? ' stroke-dasharray="5,3"' : ''}/><text x="${LEFT + plotW + 36}" y="${ly}" font-size="12">${esc(l.label)}</text>`);
  });
  return out.join('\n');
}

export function soakSvg(rows: SampleRow[], o: { title: string; subtitle: string; warmupS: number; intervalS: number; fits: Record<string, Fit | null> }): string {
  const ts = rows.map((r) => r.t);
  const tMax = Math.max(10, ...ts);
  const flowNames = Object.keys(rows[0]?.flows ?? {});
  const rate = (name: string) => rows.map((r, i) => { const dt = r.t - (i ? rows[i - 1].t : 0); const w = r.flows[name]; return w && dt > 0 ? w.done / dt : null; });
  const panels: Panel[] = [
    { title: 'Server memory', unit: 'MB (dotted: Theil-Sen fit of the floor after the warm-up)', lines: [
      { label: 'RSS', color: COLORS[0], values: rows.map((r) => r.rssMB), fit: o.fits.rss },
      { label: 'heap used', color: COLORS[1], values: rows.map((r) => r.heapUsedMB), fit: o.fits.heap },
      { label: 'heap total', color: COLORS[1], values: rows.map((r) => r.heapTotalMB), dash: true },
      { label: 'external (Buffers)', color: COLORS[2], values: rows.map((r) => r.externalMB), dash: true },
    ] },
    { title: `Server event-loop lag (per ${o.intervalS} s window)`, unit: 'ms (10 ms resolution)', lines: [
      { label: 'p99', color: COLORS[0], values: rows.map((r) => r.loopLagP99Ms) },
      { label: 'max', color: COLORS[3], values: rows.map((r) => r.loopLagMaxMs), dash: true },
    ] },
    { title: `p99 latency per ${o.intervalS} s window, from the scheduled send time`, unit: 'ms, log scale', log: true, lines: LATENCY_FLOWS.map((f, i) => ({ label: f, color: COLORS[i], values: rows.map((r) => r.flows[f]?.p99 ?? null), fit: o.fits[`p99 ${f}`] })) }, // fits only where the trend was judged
    { title: 'Completed per second', unit: 'per s, log scale', log: true, lines: flowNames.map((f, i) => ({ label: f, color: COLORS[i % COLORS.length], values: rate(f) })) },
    { title: 'CPU and errors', unit: '% of one core; errors per window', lines: [
      { label: 'server CPU %', color: COLORS[0], values: rows.map((r) => r.serverCpuPct) },
      { label: 'load generator CPU %', color: COLORS[2], values: rows.map((r) => r.loadgenCpuPct) },
      { label: 'other processes CPU %', color: COLORS[8], values: rows.map((r) => r.otherCpuPct), dash: true },
      { label: 'errors', color: COLORS[1], values: rows.map((r) => Object.values(r.flows).reduce((a, f) => a + f.errors, 0)) },
    ] },
  ];
  const H = TOP + panels.length * (PANEL_H + GAP) + 20;
  const body = panels.map((p, i) => panel(p, TOP + i * (PANEL_H + GAP), ts, tMax, o.warmupS)).join('\n');
  const plotW = W - LEFT - RIGHT;
  const axis = [0, 0.25, 0.5, 0.75, 1].map((f) => { const t = f * tMax; return `<text x="${LEFT + plotW * f}" y="${H - 8}" font-size="11" text-anchor="middle">${t >= 120 ? `${(t / 60).toFixed(t % 60 ? 1 : 0)} min` : `${Math.round(t)} s`}</text>`; }).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${LEFT}" y="28" font-size="20" font-weight="bold">${esc(o.title)}</text>
<text x="${LEFT}" y="48" font-size="12" fill="#444">${esc(o.subtitle)}</text>
${body}
${axis}
</svg>`;
}

/** Writes the SVG rasterized to `pngPath` with headless Chromium. */
export async function writePng(svg: string, pngPath: string): Promise<void> {
  const width = Number(/width="(\d+)"/.exec(svg)![1]), height = Number(/height="(\d+)"/.exec(svg)![1]);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'], timeout: 30_000 });
  try {
    const page = await browser.newPage({ viewport: { width, height }, deviceScaleFactor: 1 });
    await page.setContent(`<!doctype html><html><body style="margin:0">${svg}</body></html>`);
    fs.mkdirSync(path.dirname(path.resolve(pngPath)), { recursive: true });
    await page.screenshot({ path: pngPath, clip: { x: 0, y: 0, width, height } });
  } finally {
    await browser.close();
  }
}
