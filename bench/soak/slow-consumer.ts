// The slow consumer: a member of the slow room that stops reading. The server must close it
// (4008) once --max-queued-bytes (16 MiB) are left unsent, and meanwhile keep serving the room's
// other members (the slow room's readers, counted like any publish room). Each cycle: connect,
// stop reading for `holdMs`, read again: the connection must end, and the server must count one
// more 4008 close; then the next one connects.
import type { RawWs } from '../rawws.js';
import { type Check, type Target, nativeWs, sleep, until } from './conn.js';
import { Flow } from './flow.js';
import { int, type Workload } from './workload.js';

export class SlowConsumer implements Workload {
  readonly cycles = new Flow('slow consumer closed');
  readonly flows = [this.cycles];
  private running = false;
  private current: RawWs | null = null;

  constructor(private t: Target, private path: string, private holdMs: number) {}

  async connect(): Promise<void> {}

  start(): void {
    this.running = true;
    void this.run();
  }

  private async run(): Promise<void> {
    while (this.running) {
      const sched = Number(process.hrtime.bigint());
      let reason: string | null = null;
      let frames = 0;
      try {
        const before = await this.closes4008();
        const ws = await nativeWs(this.t, this.path, () => { frames++; }, (why) => { reason = why; });
        this.current = ws;
        ws.socket.pause(); // a socket that never read keeps the kernel's default receive buffer
        this.cycles.onSent();
        const end = Date.now() + this.holdMs;
        while (this.running && Date.now() < end) await sleep(100);
        if (!this.running) { ws.close(); break; }
        ws.socket.resume();
        await until(() => reason !== null, 10_000); // read what was queued, then the close
        ws.close();
        // The close frame waits behind the 16 MiB the server gave up on, so the member usually
        // sees its connection end without it: the server's close counter tells which close it was.
        const after = await this.closes4008();
        if (reason === 'close frame 4008' || (reason !== null && after > before)) this.cycles.onDone(sched);
        else this.cycles.onError('not closed', `after ${this.holdMs / 1000} s without reading: ${reason ?? 'still open'} (${int(frames)} frames read on resume)`);
      } catch (err) {
        this.cycles.onError('failed', (err as Error).message);
        await sleep(1000);
      }
    }
  }

  /** The server's count of 4008 closes (GET /_/metrics, multisocket_closes_total{code="4008"}). */
  private async closes4008(): Promise<number> {
    const res = await fetch(`http://${this.t.host}:${this.t.port}/_/metrics`, { signal: AbortSignal.timeout(10_000) });
    const m = /^multisocket_closes_total\{code="4008"\} (\d+)/m.exec(await res.text());
    return m ? Number(m[1]) : 0;
  }

  stop(): void {
    this.running = false;
    this.current?.close();
  }

  settled(): boolean { return true; }

  checks(): Check[] {
    const judged = this.cycles.done + this.cycles.errors;
    return [{
      check: 'slow consumers closed (4008), the room served on',
      ok: this.cycles.errors === 0,
      detail: judged ? `${int(this.cycles.done)} of ${int(judged)} completed cycles closed with 4008 (${this.holdMs / 1000} s without reading each)` : `no cycle completed (a cycle takes ${this.holdMs / 1000} s)`,
    }];
  }

  close(): void { this.current?.close(); }
}
