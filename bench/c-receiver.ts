// The C receiver (bench/c/gun-recv.c) as a child process: one command line out, one answer line
// back, strictly in turn. Used by loadgen.ts (gun-fanout's subscribers) and loadgen-gunapps.ts
// (gun-souls' peers, mode q, which also write through it).
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import type { LatencySummary } from './stats.js';

/** What the C receiver answers to `report` (latency in ms, like Samples.summary() plus a mean). */
export interface CReport {
  delivered: number; dups: number; damErrors: number; badFrames: number; closed: number;
  lastDeliveryNs: string; // CLOCK_MONOTONIC = process.hrtime.bigint()
  latency: (LatencySummary & { mean: number }) | null;
}

/** The C receiver process: one command line out, one answer line back, strictly in turn. */
export class CReceiver {
  private child: ChildProcess;
  private lines: string[] = [];
  private waiters: { resolve: (l: string) => void; reject: (e: Error) => void }[] = [];
  private exited: Error | null = null;
  private quitting = false;
  private puts = '';

  /** `onDeath`: it exited or failed while not asked to quit (the caller reports and quits). */
  constructor(bin: string, args: string[], private readonly onDeath: (err: Error) => void) {
    // stderr is inherited: the orchestrator shows it with the load generator's.
    this.child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.stdin!.on('error', () => {}); // EPIPE when it died: reported through exit
    const rl = readline.createInterface({ input: this.child.stdout! });
    rl.on('line', (line) => {
      const w = this.waiters.shift();
      if (w) w.resolve(line); else this.lines.push(line);
    });
    const gone = (why: string) => {
      if (this.exited) return;
      this.exited = new Error(`C receiver ${why}${this.lines.length ? `: ${this.lines.join(' | ')}` : ''}`);
      for (const w of this.waiters.splice(0)) w.reject(this.exited);
      if (!this.quitting) this.onDeath(this.exited);
    };
    this.child.on('error', (err) => gone(`failed: ${err.message}`));
    this.child.on('exit', (code, sig) => gone(`exited (${code ?? sig})`));
  }

  get pid(): number { return this.child.pid!; }

  /** Next output line; `error ...` lines reject. */
  private next(): Promise<string> {
    const l = this.lines.shift();
    const p = l !== undefined ? Promise.resolve(l) : this.exited ? Promise.reject(this.exited)
      : new Promise<string>((resolve, reject) => this.waiters.push({ resolve, reject }));
    return p.then((line) => { if (line.startsWith('error ')) throw new Error(`C receiver: ${line.slice(6)}`); return line; });
  }

  async ask(cmd: string): Promise<string> {
    if (this.exited) throw this.exited;
    this.child.stdin!.write(cmd + '\n');
    return this.next();
  }

  async ready(): Promise<void> {
    const l = await this.next();
    if (l !== 'ready') throw new Error(`C receiver: expected "ready", got "${l}"`);
  }

  async step(base: number, size: number): Promise<void> {
    const l = await this.ask(`step ${base} ${size}`);
    if (l !== 'ok') throw new Error(`C receiver: expected "ok", got "${l}"`);
  }

  async count(): Promise<number> {
    const l = await this.ask('count');
    if (!l.startsWith('count ')) throw new Error(`C receiver: expected "count <n>", got "${l}"`);
    return Number(l.slice(6));
  }

  async report(): Promise<CReport> {
    return JSON.parse(await this.ask('report')) as CReport;
  }

  /**
   * Mode q: peer `peer` sends `json` (message n, scheduled at `schedNs`, CLOCK_MONOTONIC). No
   * answer. Queued until sendPuts(): one pipe write per generator tick, not one per put.
   */
  put(peer: number, n: number, schedNs: bigint, json: string): void {
    this.puts += `put ${peer} ${n} ${schedNs} ${json}\n`;
  }

  sendPuts(): void {
    if (this.puts && !this.exited) this.child.stdin!.write(this.puts);
    this.puts = '';
  }

  /** Asks it to quit; kill() (from the exit handler) makes sure it is gone. */
  quit(): void {
    this.quitting = true;
    if (!this.exited) this.child.stdin!.end('quit\n');
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
