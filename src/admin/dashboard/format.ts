// Numbers for people: 1,234 · 12.3k · 4.5M; rates with "/s"; bytes in KiB/MiB/GiB; times as "3m ago".

/** A count: exact below 10,000, then k / M / G with at most three significant digits. */
export function count(n: number): string {
  if (!Number.isFinite(n)) return '–';
  const a = Math.abs(n);
  if (a < 10_000) return a < 10 && !Number.isInteger(n) ? n.toFixed(1) : Math.round(n).toLocaleString('en-US');
  for (const [div, unit] of [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']] as const) {
    if (a >= div) {
      const v = n / div;
      return `${Math.abs(v) >= 100 ? Math.round(v) : Math.abs(v) >= 10 ? v.toFixed(1).replace(/\.0$/, '') : v.toFixed(2).replace(/\.?0+$/, '')}${unit}`;
    }
  }
  return String(n);
}

/** Per second: "1.2k/s" (suffix "" for a table column that already says /s). */
export function rate(n: number, suffix = '/s'): string {
  return `${count(n)}${suffix}`;
}

export function ms(n: number): string {
  if (!Number.isFinite(n)) return '–';
  return n >= 100 ? `${Math.round(n)} ms` : `${n.toFixed(1)} ms`;
}

export function bytes(n: number): string {
  if (!Number.isFinite(n)) return '–';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v >= 100 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

/** A span: "45 s", "3 m 20 s", "2 h 5 m", "3 d 4 h". */
export function duration(msSpan: number): string {
  const s = Math.max(0, Math.floor(msSpan / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${s % 60} s`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr} h ${m % 60} m`;
  return `${Math.floor(hr / 24)} d ${hr % 24} h`;
}

/** How long ago an ISO time was: "12 s ago". */
export function since(iso: string): string {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? `${duration(Date.now() - t)} ago` : iso;
}
