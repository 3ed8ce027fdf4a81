// TCP and unix-socket members (docs/protocol.md "TCP and IPC"): newline-delimited JSON whose first
// line is a hello. Hellos valid and not (bad and reserved rooms, wrong types, huge fields, room
// tokens, damage), then native messages one per line — the native door's own generator and
// mutations — split at random places, with \r\n, over-long lines, binary garbage, streams that
// never say hello and streams half-closed by the client. One input is one connection.
import type { Rng } from '../rng.ts';
import { anyJson, mutateText, nested, oddString, PROTO_KEYS, setOwn } from '../mutate.ts';
import { oddPath } from './http.ts';
import { generateNativeFrame, tokenGarbage } from './native.ts';

/** --max-message-bytes of the fuzz server (fuzzer.ts SERVER_ARGS): the line bound. */
const MAX_LINE = 262144;

export interface LineInput {
  door: 'line';
  /** over the unix socket rather than TCP (when the run has one) */
  ipc: boolean;
  /** the first line's bytes, with its line ending (or none: a partial hello); undefined: no hello at all */
  hello?: Buffer;
  /** wait for the server's answer to the hello before writing `lines` (else they follow at once) */
  awaitConnect: boolean;
  /** what follows the hello, already joined with line endings */
  lines: Buffer[];
  /** the whole written stream is cut into this many chunks, `pauseMs` apart */
  pieces: number;
  pauseMs: number;
  /** end our side of the stream after writing (a half-close), then wait for the server's end */
  halfClose: boolean;
  /** ask for presence at the end and wait for it (every line before it was handled) */
  barrier: boolean;
  waitMs: number;
}

function helloRoom(rng: Rng, rooms: readonly string[]): unknown {
  return rng.weighted<unknown>([
    [14, rng.pick(rooms)],
    [2, '/_/new'],
    [3, oddPath(rng, rooms)],
    [1, rng.pick(['/_/health', '/_/stats', '/_/rooms', '/_/drain', '/_/', '/_', '', '/', 'chat', '/a/../b', '/a?x=1', '/a#x', '/%zz', '/%00', '/' + 'r'.repeat(rng.int(200, 5000))])],
    [1, anyJson(rng, 1)],
  ]);
}

/** A hello object: mostly right, with each field sometimes wrong in type or size. */
export function helloMessage(rng: Rng, rooms: readonly string[]): Record<string, unknown> {
  const h: Record<string, unknown> = {};
  h.type = rng.weighted<unknown>([[30, 'hello'], [1, 'Hello'], [1, 'publish'], [1, anyJson(rng, 1)]]);
  if (rng.chance(0.98)) h.room = helloRoom(rng, rooms);
  const set = (key: string, p: number, v: () => unknown) => { if (rng.chance(p)) h[key] = v(); };
  // with room tokens on (fuzz/tokens.ts fills $JWT_*), most hellos carry a good one
  set('token', 0.5, () => rng.weighted<unknown>([[6, '$JWT_ok'], [1, '$JWT_read'], [1, '$JWT_write'], [2, tokenGarbage(rng)]]));
  set('resume', 0.08, () => rng.weighted<unknown>([[3, rng.word(32, 32)], [1, oddString(rng, 80)], [1, anyJson(rng, 1)]]));
  set('seen', 0.05, () => rng.pick<unknown>([0, 5, '7', -1, 1e309, 'x', null, [], 999999999999999]));
  set('since', 0.15, () => rng.pick<unknown>([0, 1, 5, 40, '3', -1, 1e6, 1.5, 'x', {}, 1e309]));
  set('epoch', 0.1, () => rng.chance(0.7) ? rng.word() : anyJson(rng, 1));
  set('topics', 0.15, () => rng.weighted<unknown>([[3, ['t', 'news.*']], [1, 'a,b'], [1, ['a,b']], [1, Array.from({ length: rng.int(0, 300) }, () => rng.word())], [1, ['x'.repeat(300)]], [1, anyJson(rng, 2)]]));
  set('info', 0.2, () => rng.weighted<unknown>([[4, { name: rng.word() }], [2, anyJson(rng, 3)], [1, 'x'.repeat(rng.int(1000, 5000))], [1, nested(rng.pick([50, 999, 1001]))]]));
  if (rng.chance(0.05)) setOwn(h, rng.pick(PROTO_KEYS), anyJson(rng, 1));
  if (rng.chance(0.03)) h[rng.word()] = 'x'.repeat(rng.int(10_000, 100_000));
  return h;
}

function helloLine(rng: Rng, rooms: readonly string[]): Buffer {
  const text = rng.weighted<() => string | Buffer>([
    // a plain right hello, so that most streams get in and their lines reach the member's door
    [14, () => JSON.stringify({ type: 'hello', room: rng.pick(rooms), token: '$JWT_ok', ...(rng.chance(0.2) ? { since: 0, topics: ['t'] } : {}) })],
    [14, () => JSON.stringify(helloMessage(rng, rooms))],
    [5, () => mutateText(rng, JSON.stringify(helloMessage(rng, rooms)))],
    [1, () => `{"type":"hello","room":"${rng.pick(rooms)}","info":${nested(rng.pick([999, 1000, 1001, 6000]), '1', rng)}}`],
    [1, () => rng.pick(['', 'null', '[]', '"hello"', '{}', '{"type":"hello"}', '[{"type":"hello","room":"/a"}]', 'hello /a'])],
    [1, () => rng.bytes(rng.int(1, 200))],
    [1, () => JSON.stringify({ type: 'hello', room: rng.pick(rooms), info: 'x'.repeat(MAX_LINE + rng.int(-40, 40)) })],
  ])();
  return Buffer.concat([Buffer.isBuffer(text) ? text : Buffer.from(text), Buffer.from(ending(rng))]);
}

function ending(rng: Rng): string {
  return rng.weighted([[10, '\n'], [3, '\r\n'], [1, '\n\n'], [1, '\r\n\r\n\n'], [1, '\r\r\n']]);
}

/** One line after the hello: a native message (the native door's generator, with its damage), or line-level trouble. */
function memberLine(rng: Rng, rooms: readonly string[]): Buffer {
  const kind = rng.weighted<string>([[20, 'native'], [1, 'ping'], [1, 'long'], [1, 'garbage'], [1, 'blank']]);
  switch (kind) {
    case 'ping': return Buffer.from(rng.pick(['{"type":"ping"}', '{"type":"pong"}', '{"type":"ping","x":1}']) + ending(rng));
    case 'long': {
      // right at the bound, just over it, or a line that never ends
      const n = MAX_LINE + rng.pick([-2, -1, 0, 1, 2, 50_000]);
      const body = `{"type":"publish","data":"${'x'.repeat(Math.max(0, n - 29))}"}`;
      return Buffer.from(rng.chance(0.8) ? body + ending(rng) : body);
    }
    case 'garbage': return rng.bytes(rng.int(1, 500));
    case 'blank': return Buffer.from(rng.pick(['\n', '\r\n', '   \n', '\r\n\n\n']));
    default: {
      const frame = generateNativeFrame(rng, rooms.length);
      if (frame.repeat) {
        const out: string[] = [];
        for (let i = 0; i < Math.min(frame.repeat, 2000); i++) out.push(String(frame.data).replaceAll('$N', String(i)));
        return Buffer.from(out.join('\n') + '\n');
      }
      const data = Buffer.isBuffer(frame.data) ? frame.data : Buffer.from(frame.data);
      return Buffer.concat([data, Buffer.from(ending(rng))]);
    }
  }
}

export function generateLine(rng: Rng, rooms: readonly string[]): LineInput {
  const shape = rng.weighted<string>([[14, 'member'], [2, 'nohello'], [2, 'partial'], [2, 'hello-only']]);
  const input: LineInput = {
    door: 'line', ipc: rng.chance(0.3), awaitConnect: rng.chance(0.6), lines: [], pieces: 1, pauseMs: 0,
    halfClose: rng.chance(0.1), barrier: false, waitMs: rng.int(5, 60),
  };
  if (shape === 'nohello') {
    // connect and say nothing, or a few bytes of something without a newline
    if (rng.chance(0.5)) input.hello = Buffer.from(rng.pick(['{"type":"hel', '{"type":"hello","room":"' + rng.pick(rooms) + '"}', ' ', '\r']));
    return input;
  }
  const hello = helloLine(rng, rooms);
  if (shape === 'partial') {
    input.hello = hello.subarray(0, rng.int(0, Math.max(0, hello.length - 2)));
    input.pieces = rng.int(1, 4);
    input.pauseMs = rng.int(1, 30);
    return input;
  }
  input.hello = hello;
  if (shape === 'member') {
    for (let i = rng.weighted([[6, 1], [3, rng.int(2, 6)], [1, rng.int(7, 30)]]); i > 0; i--) input.lines.push(memberLine(rng, rooms));
    input.barrier = !input.halfClose && rng.chance(0.7);
  }
  // split anywhere: inside the hello, inside a line, between \r and \n
  if (rng.chance(0.3)) { input.pieces = rng.int(2, 12); input.pauseMs = rng.int(0, 10); }
  return input;
}
