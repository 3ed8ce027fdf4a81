// A line chart of the last minutes as inline SVG, drawn by hand (no chart library): the y axis
// from 0 to a round maximum with three labelled grid lines, the x axis the last `spanMs` ending now.
// A gap in the samples (the stream was closed) breaks the line rather than bridging it.
const SVG = 'http://www.w3.org/2000/svg';
const HEIGHT = 120;
const PAD = { left: 50, right: 8, top: 8, bottom: 18 };
/** Samples further apart than this are not joined. */
const GAP_MS = 5000;

export interface Series {
  points: { t: number; v: number }[];
  color: string;
  format: (n: number) => string;
}

function el(tag: string, attrs: Record<string, string | number>): SVGElement {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/** The smallest 1, 2 or 5 × 10^n at or above `n` (at least `floor`). */
export function niceMax(n: number, floor = 1): number {
  const m = Math.max(n, floor);
  const p = 10 ** Math.floor(Math.log10(m));
  for (const f of [1, 2, 5, 10]) if (f * p >= m) return f * p;
  return 10 * p;
}

export function drawChart(box: HTMLElement, s: Series, now: number, spanMs: number): void {
  const width = Math.max(200, Math.floor(box.clientWidth));
  const w = width - PAD.left - PAD.right;
  const ht = HEIGHT - PAD.top - PAD.bottom;
  const from = now - spanMs;
  const pts = s.points.filter((p) => p.t >= from);
  const max = niceMax(Math.max(0, ...pts.map((p) => p.v)));
  const x = (t: number) => PAD.left + ((t - from) / spanMs) * w;
  const y = (v: number) => PAD.top + ht - (v / max) * ht;
  const svg = el('svg', { width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: 'img' });
  for (const f of [0, 0.5, 1]) {
    const gy = y(max * f);
    svg.append(el('line', { x1: PAD.left, x2: width - PAD.right, y1: gy, y2: gy, class: f === 0 ? 'axis' : 'grid' }));
    const label = el('text', { x: PAD.left - 6, y: gy + 4, 'text-anchor': 'end', class: 'tick' });
    label.textContent = s.format(max * f);
    svg.append(label);
  }
  for (const [t, text, anchor] of [[from, `-${Math.round(spanMs / 60_000)} min`, 'start'], [from + spanMs / 2, `-${(spanMs / 120_000).toFixed(1).replace(/\.0$/, '')} min`, 'middle'], [now, 'now', 'end']] as const) {
    const label = el('text', { x: x(t), y: HEIGHT - 4, 'text-anchor': anchor, class: 'tick' });
    label.textContent = text;
    svg.append(label);
  }
  // One path per run of samples without a gap; the area under it lightly filled.
  let run: { t: number; v: number }[] = [];
  const flush = () => {
    if (run.length === 0) return;
    const line = run.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join('');
    const area = `${line}L${x(run[run.length - 1].t).toFixed(1)},${y(0)}L${x(run[0].t).toFixed(1)},${y(0)}Z`;
    svg.append(el('path', { d: area, fill: s.color, 'fill-opacity': 0.12, stroke: 'none' }));
    svg.append(el('path', { d: line, fill: 'none', stroke: s.color, 'stroke-width': 1.8, 'stroke-linejoin': 'round' }));
    if (run.length === 1) svg.append(el('circle', { cx: x(run[0].t), cy: y(run[0].v), r: 2, fill: s.color }));
    run = [];
  };
  for (const p of pts) {
    if (run.length && p.t - run[run.length - 1].t > GAP_MS) flush();
    run.push(p);
  }
  flush();
  if (pts.length === 0) {
    const empty = el('text', { x: PAD.left + w / 2, y: PAD.top + ht / 2, 'text-anchor': 'middle', class: 'tick' });
    empty.textContent = 'waiting for data…';
    svg.append(empty);
  }
  box.replaceChildren(svg);
}
