// Latency samples and /proc readers shared by the load generator and the orchestrator.
import fs from 'node:fs';

/** Growable array of latency samples (ms). Sorting a typed array is exact and fast enough here. */
export class Samples {
  private a = new Float64Array(1024);
  n = 0;

  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }

  summary(): LatencySummary | null {
    if (this.n === 0) return null;
    const s = this.a.subarray(0, this.n).sort();
    const q = (p: number) => s[Math.min(this.n - 1, Math.ceil(p * this.n) - 1)];
    return { n: this.n, p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: s[this.n - 1] };
  }
}

export interface LatencySummary { n: number; p50: number; p90: number; p99: number; p999: number; max: number }

const TICK_HZ = 100; // sysconf(_SC_CLK_TCK); 100 on every Linux we run on (checked with getconf)
const PAGE = 4096;

/** utime+stime of a process in seconds, or null if it is gone. */
export function procCpuSeconds(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may contain spaces; fields after its closing paren are fixed.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK_HZ; // fields 14 and 15 (utime, stime)
  } catch {
    return null;
  }
}

/** CPU seconds all processes on the machine have used (busy time summed over cores), or null. */
export function machineBusySeconds(): number | null {
  try {
    const f = fs.readFileSync('/proc/stat', 'latin1').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = f; // idle and iowait are not busy
    return (user + nice + system + irq + softirq + (steal ?? 0)) / TICK_HZ;
  } catch {
    return null;
  }
}

/** Resident set size in MB, or null if the process is gone. */
export function procRssMB(pid: number): number | null {
  try {
    const f = fs.readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ');
    return (Number(f[1]) * PAGE) / 1048576;
  } catch {
    return null;
  }
}

/** `--server-pid 12,34,56`: every process that serves the load (cluster scenario: the nodes and
 *  the engine), whose CPU and RSS are summed. Empty when not given. */
export function parsePids(arg: string | undefined): number[] {
  return (arg ?? '').split(',').filter(Boolean).map(Number);
}

/** utime+stime of all of `pids` in seconds, or null if none is given or one is gone. */
export function pidsCpuSeconds(pids: number[]): number | null {
  if (!pids.length) return null;
  let sum = 0;
  for (const pid of pids) {
    const s = procCpuSeconds(pid);
    if (s === null) return null;
    sum += s;
  }
  return sum;
}

/** Summed RSS of `pids` in MB, or null if none is given or one is gone. */
export function pidsRssMB(pids: number[]): number | null {
  if (!pids.length) return null;
  let sum = 0;
  for (const pid of pids) {
    const m = procRssMB(pid);
    if (m === null) return null;
    sum += m;
  }
  return sum;
}

/** What the load generator reports for one step (one JSON line on its stdout). */
export interface StepResult {
  type: 'step';
  label: string;
  rate: number; // scheduled puts/s
  subs: number;
  puts: number; // puts in the measured window
  expected: number; // puts × subscribers
  delivered: number; // distinct (socket, key) deliveries of measured puts
  deliveryPct: number;
  deliveredPerSec: number; // delivered / (first measured send .. last delivery)
  latency: LatencySummary | null; // delivery latency (ms) on the sampled sockets, from scheduled send time
  ack: { received: number; pct: number; latency: LatencySummary | null; errors: number; firstError: string | null };
  windowS: number; // wall time of the measured window
  drainMs: number; // time waited after the last put for stragglers
  sendLagMaxMs: number; // worst lateness of the publisher against its schedule (load generator overload)
  serverCpuPct: number | null;
  serverRssMB: number | null;
  loadgenCpuPct: number;
  otherCpuPct: number | null; // everything else on the machine during the window (noise indicator)
  dups: number; // same key seen twice on one socket
  echoes: number; // measured puts sent back to the publisher itself
  damErrors: number; // {"dam":"!"} messages received
  badFrames: number; // frames that were not JSON
  closedSubs: number; // subscriber sockets the server closed so far
  serverRssMaxMB?: number | null; // highest server RSS sampled (every 250 ms) during the step
  slow?: SlowInfo; // slow-consumer steps only
  serverCpuPctEach?: (number | null)[]; // several server processes (--server-pid a,b,c): each one's CPU, in that order
  byNode?: NodeShare[]; // members spread over several nodes (--port a,b): what the members of each got
}

/** The members connected to one node (cluster scenario). */
export interface NodeShare {
  port: number;
  members: number;
  delivered: number;
  deliveryPct: number;
  latency: LatencySummary | null; // of this node's sampled members
}

/** What happened to the member that stopped reading (slow-consumer scenario). */
export interface SlowInfo {
  closed: boolean; // the server closed it (seen after it resumed reading)
  reason: string; // e.g. "close frame 4008"
  framesReadAfterResume: number; // frames still queued for it when it resumed
}
