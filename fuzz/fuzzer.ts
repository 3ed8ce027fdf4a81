// The fuzzing run: starts the real server (node dist/cli.js on 127.0.0.1, port 0, small limits,
// an --admin-token, and with the line door a TCP port and a unix socket in a temporary directory),
// places canary members in rooms no input ever names, then sends generated inputs to every door
// in batches from a pool of workers. After each batch: the process is alive, /_/health answers
// in time, the canaries heard nothing, the server logged no error. At the end, with every fuzz
// client closed: connections and rooms are back to the canaries', RSS is bounded.
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { startServer, type RunningServer } from '../test/helpers/server.ts';
import { Rng } from './rng.ts';
import { FuzzSocket, LineStream, SseReader, httpExchange, rawExchange, type LineTarget } from './clients.ts';
import { generateGunFrame, type WsFrameInput } from './doors/gun.ts';
import { generateNativeFrame, tokenGarbage } from './doors/native.ts';
import { anyJson, asText, oddString, pctEncode } from './mutate.ts';
import { TokenMint } from './tokens.ts';
import { generateSsePost, type SsePostInput } from './doors/sse.ts';
import { generateHttp, type HttpInput } from './doors/http.ts';
import { generateRaw, type RawInput } from './doors/raw-http.ts';
import { generateWsRaw, type WsRawInput } from './doors/ws-frames.ts';
import { generateLine, type LineInput } from './doors/line.ts';
import { generateAdmin, type AdminInput } from './doors/admin.ts';

export const DOORS = ['gun', 'native', 'sse', 'http', 'raw', 'ws', 'line', 'admin'] as const;
export type Door = (typeof DOORS)[number];
export type Input = WsFrameInput | SsePostInput | HttpInput | RawInput | WsRawInput | LineInput | AdminInput;

const WEIGHTS: ReadonlyArray<readonly [number, Door]> = [[30, 'gun'], [24, 'native'], [10, 'sse'], [22, 'http'], [8, 'raw'], [6, 'ws'], [10, 'line'], [8, 'admin']];

/** Small limits, so that the paths behind them are reached quickly. */
export const SERVER_ARGS = [
  '--log-level', 'error', '--room-ttl', '1', '--heartbeat', '5', '--max-message-bytes', '262144',
  '--max-room-bytes', '2097152', '--history-size', '50', '--history-bytes', '65536', '--max-pending-requests', '5',
  '--max-peers-per-room', '64', '--max-queued-bytes', '1048576', '--max-messages-per-second', '2000',
  // Random paths by the thousand from one address: with the default budget most would stop at a
  // 429 instead of reaching the room behind it (the budget itself is tested in limits.test.ts).
  '--new-rooms-per-ip', '0',
  // A dropped member is held this long for a resume before its requests are answered `gone`: short,
  // so that the "every POST is answered within 5 s of the clients closing" check sees them answered.
  '--resume-grace', '1',
];

export interface FuzzOptions {
  seed: number;
  count: number;
  /** stop starting batches after this long */
  minutes?: number;
  doors?: Door[];
  /** run just this one input (reproduction) */
  only?: number;
  concurrency?: number;
  batchSize?: number;
  maxRssBytes?: number;
  /** more server flags, after SERVER_ARGS (e.g. --jwt-secret … --public-rooms '/fz*,/canary-*') */
  serverArgs?: string[];
  log?: (line: string) => void;
}

export interface Finding {
  kind: 'crash' | 'hang' | 'leak' | 'cross-room' | 'fault' | 'error-log' | 'rss';
  message: string;
  /** indices of the inputs that may have caused it */
  inputs: number[];
}

export interface FuzzResult {
  seed: number;
  inputs: number;
  perDoor: Record<string, number>;
  seconds: number;
  findings: Finding[];
  rssBytes: number;
}

/** The input at `index` of a run with `seed`. */
export function inputAt(seed: number, index: number, rooms: readonly string[], doors: readonly Door[] = DOORS): Input {
  const rng = Rng.forInput(seed, index);
  const weights = WEIGHTS.filter(([, d]) => doors.includes(d));
  const door = rng.weighted(weights);
  switch (door) {
    case 'gun': return generateGunFrame(rng, rooms.length);
    case 'native': return generateNativeFrame(rng, rooms.length);
    case 'sse': return generateSsePost(rng, rooms.length);
    case 'http': return generateHttp(rng, rooms);
    case 'raw': return generateRaw(rng, rooms);
    case 'ws': return generateWsRaw(rng, rooms.length);
    case 'line': return generateLine(rng, rooms);
    case 'admin': return generateAdmin(rng, rooms);
  }
}

/** The input as one line of JSON, long strings and buffers shortened. */
export function describeInput(input: Input, max = 600): string {
  const short = (s: string) => (s.length > 300 ? `${s.slice(0, 200)}…(${s.length} chars)…${s.slice(-40)}` : s);
  const text = JSON.stringify(input, (_k, v) => {
    if (typeof v === 'string') return short(v);
    if (v && typeof v === 'object' && v.type === 'Buffer' && Array.isArray(v.data)) return `<${v.data.length} bytes> ` + short(Buffer.from(v.data).toString('latin1'));
    return v;
  });
  return text.length > max ? text.slice(0, max) + '…' : text;
}

export function fuzzRooms(seed: number): string[] {
  return Array.from({ length: 6 }, (_, k) => `/fz${seed.toString(36)}-${k}`);
}

/** One worker's connections into the fuzz rooms, made when first needed. */
class Worker {
  gun: FuzzSocket | undefined;
  native: FuzzSocket | undefined;
  sse: SseReader | undefined;
  sseInfo: { token: string; cid: string; room: string } | undefined;
  current = -1;
  private sinceBarrier = new Map<FuzzSocket, number[]>();
  /** where this worker's connections go (not part of any input: inputs stay a function of seed and index) */
  private readonly rng: Rng;

  constructor(readonly id: number, private readonly run: Run) {
    this.rng = new Rng((run.seed + Math.imul(id + 7, 0x85ebca6b)) >>> 0);
  }

  async execute(index: number, input: Input): Promise<void> {
    this.current = index;
    switch (input.door) {
      case 'gun': case 'native': return this.frame(index, input);
      case 'sse': return this.ssePost(index, input);
      case 'http': return this.http(index, input);
      case 'raw': return this.raw(index, input);
      case 'ws': return this.wsRaw(index, input);
      case 'line': return this.line(index, input);
      case 'admin': return this.admin(index, input);
    }
  }

  /** Where a new connection goes: the input's fuzz room, sometimes an owned room (or a new one,
   *  as its owner), sometimes with replay options. */
  private target(room: string, native: boolean): string {
    const rng = this.rng;
    if (native && rng.chance(0.1)) return '/_/new';
    if (this.run.owned.length && rng.chance(0.25)) room = rng.pick(this.run.owned);
    const query: string[] = [];
    if (rng.chance(0.25)) query.push(`since=${rng.pick([0, 1, 5, 40, 1e6, -1])}`, ...(rng.chance(0.5) ? ['topics=t,news.*,*'] : []), ...(rng.chance(0.3) ? ['epoch=' + rng.word()] : []));
    // resume (a well-formed token of no member, or garbage), seen, and presence info (JSON, garbage, over the cap)
    if (native && rng.chance(0.1)) query.push('resume=' + rng.weighted<string>([[3, Array.from({ length: 32 }, () => rng.int(0, 15).toString(16)).join('')], [1, pctEncode(oddString(rng, 80))], [1, '']]));
    if (native && rng.chance(0.05)) query.push('seen=' + rng.pick(['0', '5', '999999999999999', '-1', 'x']));
    if (rng.chance(0.1)) query.push('info=' + rng.weighted<string>([[3, pctEncode(JSON.stringify({ name: rng.word() }))], [1, pctEncode(oddString(rng, 200))], [1, 'x'.repeat(rng.int(1000, 3000))], [1, pctEncode(JSON.stringify(anyJson(rng, 3)))]]));
    if (this.run.tokens.enabled && rng.chance(0.85)) query.push('token=$JWT_' + rng.weighted([[8, 'ok'], [1, 'read'], [1, 'write'], [1, 'admin'], [1, 'sub']]));
    else if (rng.chance(0.1)) query.push('token=' + pctEncode(asText(tokenGarbage(rng))).slice(0, 2000));
    return query.length ? room + '?' + query.join('&') : room;
  }

  private async socket(native: boolean, room: string): Promise<FuzzSocket | undefined> {
    const have = native ? this.native : this.gun;
    if (have && !have.closed) return have;
    const tag = `w${this.id}-${randomBytes(3).toString('hex')}`;
    const s = new FuzzSocket(this.run.server.ws + this.run.tokens.fill(this.target(room, native)), native, (what) => this.run.fault(what, this.sinceBarrier.get(s) ?? [this.current]), tag);
    s.onConnect = (hello) => { if (typeof hello.room === 'string' && hello.room.startsWith('/r-')) this.run.addOwned(hello.room); };
    this.sinceBarrier.set(s, []);
    s.answerer = new Rng((this.run.seed ^ Math.imul(this.id + 1, 0x9e3779b9)) >>> 0);
    if (native) this.native = s; else this.gun = s;
    this.run.sockets.add(s);
    s.ws.once('close', () => { this.run.sockets.delete(s); this.sinceBarrier.delete(s); });
    return (await s.opened) ? s : undefined;
  }

  private async frame(index: number, input: WsFrameInput): Promise<void> {
    const s = await this.socket(input.door === 'native', this.run.rooms[input.room]);
    if (!s) return;
    let data = input.data;
    if (typeof data === 'string' && input.door === 'native') data = await this.fill(data);
    data = typeof data === 'string' ? this.run.tokens.fill(data) : this.run.tokens.fillBytes(data);
    if (input.repeat && typeof data === 'string') {
      for (let i = 0; i < input.repeat; i++) s.send(data.replaceAll('$N', String(i)), false);
    } else {
      s.send(data, input.binary);
    }
    const recent = this.sinceBarrier.get(s);
    if (!recent) return;
    recent.push(index);
    if (recent.length >= 16) {
      await s.barrier(10_000);
      recent.length = 0;
    }
  }

  /** "$TOKEN" and "$CID" become the worker's SSE member's (or its own native member's) values. */
  private async fill(text: string): Promise<string> {
    if (!text.includes('"$TOKEN"') && !text.includes('"$CID"')) return text;
    const info = await this.sseMember(0);
    return text.replaceAll('"$TOKEN"', JSON.stringify(info?.token ?? 'no-token')).replaceAll('"$CID"', JSON.stringify(info?.cid ?? 'c0'));
  }

  private async sseMember(room: number): Promise<{ token: string; cid: string; room: string } | undefined> {
    if (this.sse && !this.sse.closed && this.sseInfo) return this.sseInfo;
    this.sse?.close();
    const reader = new SseReader(this.run.server.http + this.run.tokens.fill(this.target(this.run.rooms[room], false)), (e) => {
      if (e.event === 'error' && /"code":"internal"/.test(e.data)) this.run.fault(`SSE error "internal": ${e.data.slice(0, 300)}`, [this.current]);
    });
    this.sse = reader;
    this.run.streams.add(reader);
    const hello = await reader.connected;
    if (!hello || typeof hello.token !== 'string') { this.sseInfo = undefined; return undefined; }
    this.sseInfo = { token: hello.token, cid: String(hello.cid), room: String(hello.room) };
    return this.sseInfo;
  }

  private async ssePost(index: number, input: SsePostInput): Promise<void> {
    const info = await this.sseMember(input.room);
    if (!info) return;
    let path = info.room;
    if (input.elsewhere) path = this.run.rooms.find((r) => r !== info.room) ?? '/fz-elsewhere';
    const body = typeof input.body === 'string'
      ? this.run.tokens.fill(input.body.replaceAll('"$TOKEN"', JSON.stringify(info.token)).replaceAll('"$CID"', JSON.stringify(info.cid)))
      : input.body;
    const headers: Record<string, string> = input.contentType ? { 'content-type': input.contentType } : {};
    // A request waits for its reply (up to its timeout, at most 60 s): the worker moves on after a
    // second and the answer is judged when it comes. Every one must come: the run ends by
    // checking that none is left open once every fuzz client has closed. Its own connection, so
    // a waiting POST holds no socket of the shared agent.
    const exchange = httpExchange(this.run.server.port, false, 'POST', path, headers, body, 70_000);
    const waiting = { index, path };
    this.run.outstanding.add(waiting);
    const late = exchange.then((a) => {
      this.run.outstanding.delete(waiting);
      this.judgeHttp(index, a.status, a.text, a.timedOut);
      return a;
    });
    const a = await Promise.race([late, new Promise<undefined>((r) => setTimeout(() => r(undefined), 1000))]);
    if (!a) return;
    if (input.elsewhere && a.status === 200 && typeof body === 'string' && body.includes(info.token) && !a.text.startsWith('{"ok":1}')) {
      this.run.finding('cross-room', `a token of ${info.room} was accepted in ${path}: ${a.text.slice(0, 200)}`, [index]);
    }
  }

  private async http(index: number, input: HttpInput): Promise<void> {
    const t = this.run.tokens;
    const headers = Object.fromEntries(Object.entries(input.headers).map(([k, v]) => [k, t.fill(v)]));
    // with room tokens on, most requests carry a good one, so the doors behind the check are reached too
    if (t.enabled && !headers.authorization && this.rng.chance(0.8)) headers.authorization = 'Bearer ' + t.token(this.rng.chance(0.9) ? 'ok' : 'read');
    const body = input.body === undefined ? undefined : typeof input.body === 'string' ? t.fill(input.body) : t.fillBytes(input.body);
    const a = await httpExchange(this.run.server.port, input.stream ? false : this.run.agent, input.method, t.fill(input.path), headers, body, 10_000, input.stream);
    if (a.status === -1) { this.run.clientRefused++; return; }
    this.judgeHttp(index, a.status, a.text, a.timedOut);
  }

  private judgeHttp(index: number, status: number, text: string, timedOut: boolean): void {
    if (timedOut) this.run.finding('hang', `no answer within the time limit (10 s; 70 s for an SSE request) to #${index}`, [index]);
    else if (status >= 500 && status !== 503) this.run.fault(`HTTP ${status}: ${text.slice(0, 300)}`, [index]);
  }

  private async raw(index: number, input: RawInput): Promise<void> {
    const a = await rawExchange(this.run.server.port, input.chunks.map((c) => this.run.tokens.fillBytes(c)), input.pauseMs, input.waitMs);
    if (/^HTTP\/1\.[01] 5(?!03)\d\d/m.test(a.text)) this.run.fault(`raw answer: ${a.text.slice(0, 300)}`, [index]);
  }

  private async wsRaw(index: number, input: WsRawInput): Promise<void> {
    const path = this.run.rooms[input.room];
    const handshake = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
      (input.native ? 'Sec-WebSocket-Protocol: multisocket.v1\r\n' : '') + '\r\n';
    let upgraded = false;
    const a = await rawExchange(this.run.server.port, input.frames, 0, input.waitMs, async (socket, received) => {
      socket.write(handshake);
      for (let i = 0; i < 100 && !received().includes('\r\n\r\n') && !socket.destroyed; i++) await new Promise((r) => setTimeout(r, 10));
      upgraded = received().startsWith('HTTP/1.1 101');
      if (!upgraded) socket.destroy();
    });
    if (/^HTTP\/1\.[01] 5(?!03)\d\d/.test(a.text)) this.run.fault(`upgrade answer: ${a.text.slice(0, 300)}`, [index]);
  }

  /** One TCP or IPC stream: the hello, the lines after it (at once, or once admitted), a round trip, maybe a half-close. */
  private async line(index: number, input: LineInput): Promise<void> {
    const run = this.run;
    const target: LineTarget = input.ipc && run.ipcPath ? { path: run.ipcPath } : { port: run.tcpPort! };
    const s = new LineStream(target, (what) => run.fault(what, [index]));
    run.lines.add(s);
    try {
      if (!(await s.opened)) return run.fault(`the line door refused a connection (${'port' in target ? 'TCP' : 'IPC'})`, [index]);
      const fill = (b: Buffer, cid: string, token: string) => {
        const t = run.tokens.fillBytes(b);
        return t.includes('"$CID"') || t.includes('"$TOKEN"') ? Buffer.from(t.toString('latin1').replaceAll('"$CID"', JSON.stringify(cid)).replaceAll('"$TOKEN"', JSON.stringify(token)), 'latin1') : t;
      };
      const lines = (cid: string, token: string) => Buffer.concat(input.lines.map((l) => fill(l, cid, token)));
      const ahead = this.sseInfo ?? { cid: 'c0', token: 'no-token' };
      const hello = input.hello ? run.tokens.fillBytes(input.hello) : Buffer.alloc(0);
      await writePieces(s, input.awaitConnect ? hello : Buffer.concat([hello, lines(ahead.cid, ahead.token)]), input.pieces, input.pauseMs);
      let admitted = !input.awaitConnect;
      if (input.awaitConnect && input.hello && input.lines.length > 0) {
        await s.until(() => s.messages.length > 0, 2000);
        const connect = s.messages[0];
        if (connect?.type === 'connect') {
          admitted = true;
          await writePieces(s, lines(String(connect.cid), String(connect.token)), input.pieces, input.pauseMs);
        }
      }
      if (input.barrier && admitted && !s.closed && !(await s.barrier(`fz-line-${index}`, 5000)) && process.env.FUZZ_DEBUG) {
        process.stdout.write(`line #${index}: no answer to the barrier (closed ${s.closed}); got: ${s.messages.map((m) => JSON.stringify(m).slice(0, 200)).join(' | ')}\n`);
      }
      if (input.halfClose) {
        s.socket.end();
        // the server must end its side too (a half-open stream would hold a slot for ever)
        if (!(await s.until(() => s.ended, 5000)) && !s.closed) run.fault(`a half-closed line stream was not ended by the server within 5 s`, [index]);
      } else {
        await sleep(input.waitMs);
      }
      const first = s.messages[0];
      const outcome = first?.type === 'error' ? `error ${String(first.code)}` : String(first?.type ?? 'nothing');
      run.outcomes.set('line ' + outcome, (run.outcomes.get('line ' + outcome) ?? 0) + 1);
      if (first && first.type !== 'connect' && first.type !== 'error') run.fault(`the first line from the line door is neither connect nor error: ${JSON.stringify(first).slice(0, 300)}`, [index]);
      if (first?.type === 'error' && s.messages.length > 1) run.fault(`lines after a refused hello: ${s.messages.slice(0, 3).map((m) => JSON.stringify(m).slice(0, 150)).join(' | ')}`, [index]);
    } finally {
      await s.close();
      run.lines.delete(s);
    }
  }

  /** One admin API request, judged also by its credential: a right one is never refused, a wrong one never admitted. */
  private async admin(index: number, input: AdminInput): Promise<void> {
    const run = this.run;
    const fill = (text: string) => run.tokens.fill(run.fillAdmin(text).replaceAll('"$CID"', JSON.stringify(this.sseInfo?.cid ?? 'c0')));
    const headers = Object.fromEntries(Object.entries(input.headers).map(([k, v]) => [k, fill(v)]));
    const target = fill(input.path);
    const body = input.body === undefined ? undefined : typeof input.body === 'string' ? fill(input.body) : input.body;
    const name = target.split('?')[0];
    // a drain stops the server: never with a credential that would be admitted (see doors/admin.ts)
    if (/drain/i.test(safeDecode(name)) && run.holdsAdminCredential([target, ...Object.values(headers), typeof body === 'string' ? body : ''])) {
      run.clientRefused++;
      return;
    }
    const a = await httpExchange(run.server.port, input.stream ? false : run.agent, input.method, target, headers, body, 10_000, input.stream);
    if (a.status === -1) { run.clientRefused++; return; }
    this.judgeHttp(index, a.status, a.text, a.timedOut);
    run.outcomes.set(`admin ${input.credential} ${a.status}`, (run.outcomes.get(`admin ${input.credential} ${a.status}`) ?? 0) + 1);
    const gated = input.method !== 'OPTIONS' && /^\/_\/(rooms(\/.*)?|admin\/events|drain|stats|metrics)$/.test(name);
    if (gated && (input.credential === 'bad' || input.credential === 'none') && a.status >= 200 && a.status < 300) {
      run.fault(`admin endpoint admitted a request without the right credential: ${input.method} ${name} → ${a.status} ${a.text.slice(0, 200)}`, [index]);
    }
    if ((gated || name === '/_/dashboard') && input.credential === 'good' && (a.status === 401 || a.status === 403)) {
      run.fault(`admin endpoint refused the right credential: ${input.method} ${name} → ${a.status} ${a.text.slice(0, 200)}`, [index]);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.gun?.close(), this.native?.close()]);
    this.sse?.close();
  }
}

class Run {
  readonly findings: Finding[] = [];
  readonly sockets = new Set<FuzzSocket>();
  readonly streams = new Set<SseReader>();
  clientRefused = 0;
  /** SSE POSTs not answered yet */
  readonly outstanding = new Set<{ index: number; path: string }>();
  /** owned rooms made by fuzz sockets (/_/new), which other fuzz connections join */
  readonly owned: string[] = [];
  readonly agent: http.Agent;
  /** line streams of inputs under way */
  readonly lines = new Set<LineStream>();
  tcpPort: number | undefined;
  ipcPath: string | undefined;
  /** how the line and admin doors' inputs were answered (FUZZ_DEBUG prints it: are the doors behind the checks reached?) */
  readonly outcomes = new Map<string, number>();

  constructor(readonly server: RunningServer, readonly rooms: string[], readonly seed: number, concurrency: number, readonly tokens: TokenMint, readonly adminToken: string) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  }

  /** "$ADMIN" the --admin-token secret, "$ADMIN_WRONG" a near miss of it, "$ADMIN_ALT" a room token with `admin` (room tokens on) or the secret. */
  fillAdmin(text: string): string {
    if (!text.includes('$ADMIN')) return text;
    const wrong = this.adminToken.slice(0, -1) + (this.adminToken.endsWith('0') ? '1' : '0');
    return text.replaceAll('$ADMIN_WRONG', wrong).replaceAll('$ADMIN_ALT', this.tokens.enabled ? this.tokens.token('admin') : this.adminToken).replaceAll('$ADMIN', this.adminToken);
  }

  /** Does any of `texts` carry a credential the admin API would admit? */
  holdsAdminCredential(texts: string[]): boolean {
    const good = [this.adminToken, ...(this.tokens.enabled ? [this.tokens.token('admin')] : [])];
    return texts.some((t) => good.some((g) => t.includes(g) || safeDecode(t).includes(g)));
  }

  finding(kind: Finding['kind'], message: string, inputs: number[]): void {
    if (this.findings.length < 50) this.findings.push({ kind, message, inputs: [...inputs] });
  }

  addOwned(room: string): void {
    this.owned.push(room);
    if (this.owned.length > 8) this.owned.shift();
  }

  fault(what: string, inputs: number[]): void {
    this.finding('fault', what, inputs);
  }
}

interface Canaries {
  gun: FuzzSocket;
  native: FuzzSocket;
  sse: SseReader;
  /** a TCP member, when the server has a TCP port (the line door) */
  tcp: LineStream | undefined;
  heard: string[];
  rooms: string[];
}

async function placeCanaries(server: RunningServer, tcpPort: number | undefined): Promise<Canaries> {
  const tag = randomBytes(8).toString('hex');
  const rooms = [`/canary-${tag}-gun`, `/canary-${tag}-ws`, `/canary-${tag}-sse`, ...(tcpPort !== undefined ? [`/canary-${tag}-tcp`] : [])];
  const heard: string[] = [];
  const gun = new FuzzSocket(server.ws + rooms[0], false, (w) => heard.push('gun canary: ' + w), `canary-${tag}-g`);
  const native = new FuzzSocket(server.ws + rooms[1], true, (w) => heard.push('native canary: ' + w), `canary-${tag}-n`);
  if (!(await gun.opened) || !(await native.opened)) throw new Error('canaries could not connect');
  // Everything after the greeting / connect message is something they should not have heard.
  let gunGreeted = false;
  gun.ws.on('message', (d: Buffer) => { if (gunGreeted) heard.push('gun canary heard: ' + d.toString('utf8').slice(0, 300)); gunGreeted = true; });
  let nativeConnected = false;
  native.ws.on('message', (d: Buffer) => { if (nativeConnected) heard.push('native canary heard: ' + d.toString('utf8').slice(0, 300)); nativeConnected = true; });
  const sse = new SseReader(server.http + rooms[2], (e) => heard.push(`SSE canary heard: ${e.event} ${e.data.slice(0, 300)}`));
  if (!(await sse.connected)) throw new Error('SSE canary could not connect');
  let tcp: LineStream | undefined;
  if (tcpPort !== undefined) {
    // Everything after its connect but the heartbeat's pings and the answers to its own probes.
    let tcpConnected = false;
    tcp = new LineStream({ port: tcpPort }, (w) => heard.push('TCP canary: ' + w), 2 ** 31 - 1, (m, text) => {
      if (!tcpConnected) { tcpConnected = m.type === 'connect'; if (!tcpConnected) heard.push('TCP canary refused: ' + text.slice(0, 300)); return; }
      if (m.type === 'ping' || (m.type === 'presence' && typeof m.ref === 'string' && m.ref.startsWith('canary-probe'))) return;
      heard.push('TCP canary heard: ' + text.slice(0, 300));
    });
    tcp.write(JSON.stringify({ type: 'hello', room: rooms[3] }) + '\n');
    if (!(await tcp.until(() => tcpConnected, 5000))) throw new Error('TCP canary could not connect');
  }
  return { gun, native, sse, tcp, heard, rooms };
}

/** `data` written in `pieces` about equal chunks, `pauseMs` apart (split inside lines, inside \r\n). */
async function writePieces(s: LineStream, data: Buffer, pieces: number, pauseMs: number): Promise<void> {
  const size = Math.ceil(data.length / Math.max(1, pieces));
  for (let at = 0; at < data.length && !s.closed; at += size) {
    if (at > 0 && pauseMs > 0) await sleep(pauseMs);
    s.write(data.subarray(at, at + size));
  }
}

function safeDecode(text: string): string {
  try { return decodeURIComponent(text); } catch { return text; }
}

async function getJson(server: RunningServer, path: string, timeoutMs: number, headers: Record<string, string> = {}): Promise<Record<string, any> | undefined> {
  const a = await httpExchange(server.port, false, 'GET', path, headers, undefined, timeoutMs);
  if (a.status !== 200) return undefined;
  try { return JSON.parse(a.text); } catch { return undefined; }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The TCP port of the line door, from the server's "listening" log line. */
function tcpPortOf(server: RunningServer): number {
  for (const line of server.logs) {
    try {
      const rec = JSON.parse(line);
      if (rec.msg === 'listening' && typeof rec.tcpPort === 'number') return rec.tcpPort;
    } catch { /* not JSON */ }
  }
  throw new Error('the server did not say which TCP port it listens on');
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzResult> {
  const log = opts.log ?? ((l: string) => process.stdout.write(l + '\n'));
  const doors = opts.doors ?? [...DOORS];
  const concurrency = opts.concurrency ?? 24;
  const batchSize = opts.batchSize ?? 1000;
  const started = Date.now();
  const deadline = opts.minutes !== undefined ? started + opts.minutes * 60_000 : Infinity;
  const rooms = fuzzRooms(opts.seed);
  const extra = opts.serverArgs ?? [];
  // The admin API is on (the admin door's credential), unless the caller chose the secret.
  const given = extra.indexOf('--admin-token');
  const adminToken = given >= 0 ? extra[given + 1] : randomBytes(24).toString('hex');
  const lineDoor = doors.includes('line');
  const tmp = lineDoor ? mkdtempSync(path.join(os.tmpdir(), 'ms-fuzz-')) : undefined;
  const ipcPath = tmp ? path.join(tmp, 'fz.sock') : undefined;
  const server = await startServer({ args: [...SERVER_ARGS, ...(given >= 0 ? [] : ['--admin-token', adminToken]), ...(ipcPath ? ['--tcp-port', '0', '--ipc', ipcPath] : []), ...extra] });
  let crashed = false;
  server.proc.once('exit', () => { crashed = true; });
  const tcpPort = lineDoor ? tcpPortOf(server) : undefined;
  const canaries = await placeCanaries(server, tcpPort);
  const tokens = TokenMint.fromServerArgs(extra);
  const run = new Run(server, rooms, opts.seed, concurrency, tokens, adminToken);
  run.tcpPort = tcpPort;
  run.ipcPath = ipcPath;
  const canaryCount = canaries.rooms.length;
  const workers = Array.from({ length: concurrency }, (_, i) => new Worker(i, run));
  const perDoor: Record<string, number> = {};
  const timeByDoor: Record<string, number> = {};
  let done = 0;
  let logSeen = server.logs.length;
  const checkLogs = (inputs: number[]) => {
    for (; logSeen < server.logs.length; logSeen++) {
      const line = server.logs[logSeen];
      if (/"level":"error"|unhandledRejection|uncaught|Error:|^\s+at /.test(line)) run.finding('error-log', `server logged: ${line.slice(0, 500)}`, inputs);
    }
  };

  const first = opts.only ?? 0;
  const total = opts.only !== undefined ? 1 : opts.count;
  try {
    for (let start = first; start < first + total && !crashed && Date.now() < deadline; start += batchSize) {
      const end = Math.min(start + batchSize, first + total);
      let next = start;
      await Promise.all(workers.map(async (w) => {
        while (!crashed && next < end) {
          const index = next++;
          const input = inputAt(opts.seed, index, rooms, doors);
          perDoor[input.door] = (perDoor[input.door] ?? 0) + 1;
          if (opts.only !== undefined) log(`input ${index}: ${describeInput(input, 100_000)}`);
          try {
            const t = Date.now();
            await w.execute(index, input);
            if (process.env.FUZZ_DEBUG) {
              timeByDoor[input.door] = (timeByDoor[input.door] ?? 0) + Date.now() - t;
              if (Date.now() - t > 1000) log(`slow ${Date.now() - t} ms: #${index} ${describeInput(input, 200)}`);
            }
          } catch (err) {
            log(`fuzzer error on input ${index}: ${(err as Error).stack}`);
          }
          done++;
        }
      }));
      const batch = Array.from({ length: end - start }, (_, i) => start + i);
      // oracles of the batch
      if (crashed || server.proc.exitCode !== null) {
        await sleep(100); // the rest of stderr
        const inFlight = workers.map((w) => w.current).filter((i) => i >= 0);
        run.finding('crash', `the server exited (code ${server.proc.exitCode}, signal ${server.proc.signalCode}); inputs in flight: ${inFlight.join(', ')}\n` +
          inFlight.map((i) => `  #${i}: ${describeInput(inputAt(opts.seed, i, rooms, doors))}`).join('\n') +
          `\nserver output:\n${server.logs.slice(-30).join('\n')}`, inFlight);
        break;
      }
      const t0 = Date.now();
      const health = await getJson(server, '/_/health', 3000);
      if (!health || health.status !== 'ok') run.finding('hang', `/_/health did not answer within 3 s after inputs ${start}..${end - 1}`, batch.slice(-50));
      else if (Date.now() - t0 > 1000) log(`note: /_/health took ${Date.now() - t0} ms after batch ${start}..${end - 1}`);
      checkLogs(batch.slice(-50));
      for (const h of canaries.heard.splice(0)) run.finding('cross-room', h, batch);
      const elapsed = (Date.now() - started) / 1000;
      if (process.env.FUZZ_DEBUG) log(`busy ms by door: ${JSON.stringify(timeByDoor)}`);
      log(`seed ${opts.seed}: ${done} inputs, ${Math.round(done / elapsed)}/s, ${run.sockets.size} sockets, ${run.findings.length} findings`);
      if (run.findings.some((f) => f.kind !== 'fault')) break;
    }

    // End: every fuzz client closes; the server must be back to the canaries alone.
    await Promise.all(workers.map((w) => w.close()));
    for (const s of run.streams) s.close();
    await Promise.all([...run.lines].map((s) => s.close()));
    run.agent.destroy();
    if (!crashed) {
      // /_/stats needs the admin credential (the run's --admin-token, or with room tokens on an admin token)
      const admin: Record<string, string> = { authorization: 'Bearer ' + (tokens.enabled ? tokens.token('admin') : adminToken) };
      for (const until = Date.now() + 5000; run.outstanding.size > 0 && Date.now() < until;) await sleep(50);
      if (run.outstanding.size > 0) {
        const open = [...run.outstanding];
        run.finding('hang', `${open.length} SSE POSTs still unanswered 5 s after every fuzz client closed (a request must be answered: reply, timeout or gone): ` +
          open.slice(0, 5).map((o) => `#${o.index} ${describeInput(inputAt(opts.seed, o.index, rooms, doors), 300)}`).join('; '), open.map((o) => o.index));
      }
      let stats = await getJson(server, '/_/stats', 3000, admin);
      for (const until = Date.now() + 5000; stats && stats.connections !== canaryCount && Date.now() < until; stats = await getJson(server, '/_/stats', 3000, admin)) await sleep(100);
      if (!stats) run.finding('hang', '/_/stats did not answer at the end', []);
      else if (stats.connections !== canaryCount) {
        const held = Object.entries(stats.rooms as Record<string, { peers: number; members: number }>).filter(([, r]) => r.peers + r.members > 0).map(([n, r]) => `${n} (${r.peers} GUN, ${r.members} native)`);
        run.finding('leak', `${stats.connections} connections counted after every fuzz client closed (${canaryCount} canaries); rooms with anyone in them: ${held.join(', ')}`, []);
      }
      // rooms: every fuzz room expires (--room-ttl 1)
      for (const until = Date.now() + 6000; stats && stats.totals.rooms !== canaryCount && Date.now() < until; stats = await getJson(server, '/_/stats', 3000, admin)) await sleep(200);
      if (stats && stats.totals.rooms !== canaryCount) run.finding('leak', `${stats.totals.rooms} rooms left after the room TTL (${canaryCount} canary rooms): ${Object.keys(stats.rooms).slice(0, 10).join(' ')}`, []);
      const rss = stats?.memory?.rss ?? 0;
      if (rss > (opts.maxRssBytes ?? 600 * 1024 * 1024)) run.finding('rss', `server RSS ${Math.round(rss / 1048576)} MB at the end`, []);
      // the canaries are still there and were never told anything
      for (const h of canaries.heard.splice(0)) run.finding('cross-room', h, []);
      const probes = await Promise.all([canaries.gun.barrier(3000), canaries.native.barrier(3000), canaries.tcp?.barrier('canary-probe', 3000) ?? true]);
      if (!probes.every(Boolean) || canaries.sse.closed) run.finding('cross-room', `a canary lost its connection (gun ${probes[0]}, native ${probes[1]}, tcp ${probes[2]}, sse open ${!canaries.sse.closed})`, []);
      checkLogs([]);
      if (server.proc.exitCode !== null) run.finding('crash', `the server exited at the end:\n${server.logs.slice(-30).join('\n')}`, []);
      return finish(stats?.memory?.rss ?? 0);
    }
    return finish(0);
  } finally {
    await Promise.all([canaries.gun.close(), canaries.native.close(), canaries.tcp?.close()]);
    canaries.sse.close();
    await server.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }

  function finish(rssBytes: number): FuzzResult {
    if (process.env.FUZZ_DEBUG) log(`outcomes: ${[...run.outcomes].sort().map(([k, n]) => `${k}: ${n}`).join(', ')}`);
    if (run.clientRefused) log(`(${run.clientRefused} inputs the HTTP client would not send)`);
    return { seed: opts.seed, inputs: done, perDoor, seconds: (Date.now() - started) / 1000, findings: run.findings, rssBytes };
  }
}
