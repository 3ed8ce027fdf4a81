// A few bad inputs, at a steady trickle, each with its documented answer checked
// (docs/protocol.md): frames that are not JSON, unknown types, nesting over 1,000 levels on a
// native WebSocket that must stay open; a native POST without a token (401 bad_token); a
// WebSocket offering only a newer subprotocol (400 unsupported_subprotocol).
import { RawWs } from '../rawws.js';
import { type Check, type Target, nativeWs, parse } from './conn.js';
import { Flow } from './flow.js';
import type { Pacer } from './pacer.js';
import { int, type Workload } from './workload.js';

const PATH = '/soak-bad';
const DEEP = '['.repeat(1001) + ']'.repeat(1001);

export class BadInputs implements Workload {
  readonly answers = new Flow('bad input answered');
  readonly flows = [this.answers];
  private ws: RawWs | null = null;
  private expected: { what: string; sched: number }[] = []; // answers due on the WebSocket, in order
  private inFlight = 0;

  constructor(private t: Target, private perSec: number) {}

  async connect(): Promise<void> {
    this.ws = await nativeWs(this.t, PATH, (_w, d, s, e) => {
      const m = parse(d, s, e);
      if (m?.type !== 'error') return;
      const want = this.expected.shift();
      if (!want) return this.answers.onError('unexpected error', JSON.stringify(m));
      if (m.code === 'bad_message') this.answers.onDone(want.sched);
      else this.answers.onError(want.what, `expected bad_message, got ${JSON.stringify(m)}`);
    }, (why) => this.answers.onError('connection closed', `the member that sent bad input was closed: ${why}`));
  }

  start(pacer: Pacer): void {
    pacer.add(this.perSec, (schedNs, k) => {
      const sched = Number(schedNs);
      this.answers.onSent();
      const onWs = (what: string, text: string) => { this.expected.push({ what, sched }); this.ws!.send(text); };
      switch (k % 5) {
        case 0: return onWs('not JSON', 'not json{');
        case 1: return onWs('unknown type', `{"type":"bogus","ref":"b${k}"}`);
        case 2: return onWs('too deep', `{"type":"publish","ref":"b${k}","data":${DEEP}}`);
        case 3: return void this.expect('POST without token', sched, this.postWithoutToken());
        default: return void this.expect('newer subprotocol', sched, this.newerSubprotocol());
      }
    });
  }

  private async expect(what: string, sched: number, answer: Promise<string | null>): Promise<void> {
    this.inFlight++;
    try {
      const wrong = await answer;
      if (wrong === null) this.answers.onDone(sched); else this.answers.onError(what, wrong);
    } catch (err) {
      this.answers.onError(what, (err as Error).message);
    } finally {
      this.inFlight--;
    }
  }

  /** null when the answer is the documented one, else what came instead. */
  private async postWithoutToken(): Promise<string | null> {
    const res = await fetch(`http://${this.t.host}:${this.t.port}${PATH}`, { method: 'POST', body: '{"type":"publish","data":1}', headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(10_000) });
    const body = await res.text();
    return res.status === 401 && body.includes('"code":"bad_token"') ? null : `expected 401 bad_token, got ${res.status} ${body.slice(0, 200)}`;
  }

  private async newerSubprotocol(): Promise<string | null> {
    try {
      const ws = await RawWs.connect({ host: this.t.host, port: this.t.port, path: PATH, protocol: 'multisocket.v9', onMessage: () => {} });
      ws.close();
      return 'expected 400 unsupported_subprotocol, the upgrade was accepted';
    } catch (err) {
      const msg = (err as Error).message;
      return /handshake failed: HTTP\/1\.1 400/.test(msg) ? null : `expected 400, got: ${msg}`;
    }
  }

  stop(): void {}
  settled(): boolean { return this.expected.length === 0 && this.inFlight === 0; }

  checks(): Check[] {
    return [{
      check: 'bad inputs get their documented answers', ok: this.answers.errors === 0 && this.answers.done === this.answers.sent,
      detail: `${int(this.answers.done)} of ${int(this.answers.sent)} answered as documented, ${int(this.answers.errors)} not, ${this.expected.length} unanswered`,
    }];
  }

  close(): void { this.ws?.close(); }
}
