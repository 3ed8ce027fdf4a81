// The stamp every load generator puts into what it publishes: `"~<index>~<scheduled send time>`
// (the time is process.hrtime in ns, CLOCK_MONOTONIC, valid across processes). Receivers find it
// with a byte scan instead of parsing the message, so a member costs the generator little CPU.

/** The last stamp scanStamp found (one shared object: no allocation per message). */
export const stamp = { idx: 0, sched: 0 };

/** Finds the first `"~<digits>~<digits>` in data[p, e); returns the index after it (stamp holds
 *  its numbers), or -1 when there is none. */
export function scanStamp(data: Buffer, p: number, e: number): number {
  for (; p < e - 2; p++) {
    if (data[p] !== 0x22 || data[p + 1] !== 0x7e) continue; // "~
    let i = p + 2, idx = 0;
    for (let d = data[i]; d >= 0x30 && d <= 0x39; d = data[++i]) idx = idx * 10 + (d - 0x30);
    if (i === p + 2 || data[i] !== 0x7e) continue;
    let j = i + 1, sched = 0;
    for (let d = data[j]; d >= 0x30 && d <= 0x39; d = data[++j]) sched = sched * 10 + (d - 0x30);
    stamp.idx = idx;
    stamp.sched = sched;
    return j;
  }
  return -1;
}
