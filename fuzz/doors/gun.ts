// GUN wire frames (docs/gun-protocol.md): valid-looking puts, gets, batches, replies, DAM, the
// legacy envelope and SEA-looking forgeries into `~pub`, `~@alias` and `#hash` souls, then
// often damaged by a mutation. One input is one WebSocket frame on a GUN peer's connection.
import type { Rng } from '../rng.ts';
import { anyJson, mutateText, nested, oddString, PROTO_KEYS, setOwn } from '../mutate.ts';

export interface WsFrameInput {
  door: 'gun' | 'native';
  /** which of the run's fuzz rooms the worker's connection is in */
  room: number;
  data: string | Buffer;
  /** sent as a binary frame (otherwise text, even when `data` is not UTF-8) */
  binary: boolean;
  /** a flood: the frame this many times at once, "$N" in it replaced by 0, 1, 2, … */
  repeat?: number;
}

const PUB = 'dUmMyPuBkEy_0123456789abcdefABCDEF-_xyzXYZ.aAbBcCdDeEfFgGhHiIjJkKlLmMnNoOpP';

function soul(rng: Rng): string {
  switch (rng.int(0, 9)) {
    case 0: return '~' + PUB;
    case 1: return '~' + rng.word(40, 90) + '.' + rng.word(40, 90);
    case 2: return '~@' + rng.pick(['alice', 'bob', oddString(rng, 40)]);
    case 3: return '#' + rng.word(43, 44);
    case 4: return '#' + rng.word(10, 44) + '<' + rng.word(1, 8);
    case 5: return '~' + PUB + '/' + rng.word();
    case 6: return rng.pick(PROTO_KEYS);
    case 7: return oddString(rng, 80) || 's';
    default: return rng.pick(['jack', 'jill', 'list', 'users', 'a/b', 'chat']) + (rng.chance(0.5) ? '' : rng.int(0, 5));
  }
}

function value(rng: Rng): unknown {
  switch (rng.int(0, 11)) {
    case 0: return { '#': soul(rng) };
    case 1: return 'SEA' + JSON.stringify({ m: anyJson(rng, 1), s: rng.word(40, 88) });
    case 2: return 'SEA{"m":' + JSON.stringify(rng.word()) + ',"s":"' + rng.word(86, 88) + '"}';
    case 3: return { '#': soul(rng), x: 1 }; // not a link
    case 4: return anyJson(rng, 2); // arrays and objects are invalid values
    case 5: return rng.pick([null, true, false, 0, -1, 1e308]);
    default: return oddString(rng);
  }
}

function state(rng: Rng): unknown {
  const now = Date.now();
  return rng.weighted<unknown>([
    [10, now - rng.int(0, 100_000)],
    [3, now + rng.int(1000, 100_000)], // future: deferred
    [2, rng.pick([0, -1, 1, 1e300, -1e300, 2 ** 53, 0.5])],
    [1, rng.pick(['1', null, {}, [], true])],
  ]);
}

function node(rng: Rng, s: string): Record<string, unknown> {
  const states: Record<string, unknown> = {};
  const n: Record<string, unknown> = { _: { '#': rng.chance(0.95) ? s : soul(rng), '>': states } };
  for (let i = rng.int(0, 5); i > 0; i--) {
    const key = rng.weighted([[6, rng.word()], [1, rng.pick(PROTO_KEYS)], [1, oddString(rng, 40)], [1, rng.pick(['pub', 'epub', 'alias', 'auth'])]]);
    setOwn(n, key, value(rng));
    if (rng.chance(0.93)) setOwn(states, key, state(rng));
  }
  if (rng.chance(0.05)) states[rng.word()] = state(rng); // a state without a field
  if (rng.chance(0.03)) delete (n._ as Record<string, unknown>)['>'];
  if (rng.chance(0.02)) n._ = anyJson(rng, 1);
  return n;
}

function put(rng: Rng): Record<string, unknown> {
  const graph: Record<string, unknown> = {};
  for (let i = rng.int(1, 3); i > 0; i--) { const s = soul(rng); setOwn(graph, s, node(rng, s)); }
  const msg: Record<string, unknown> = { '#': id(rng), put: graph };
  if (rng.chance(0.1)) msg.err = oddString(rng);
  if (rng.chance(0.05)) msg.ok = anyJson(rng, 1);
  return msg;
}

function lex(rng: Rng): unknown {
  return rng.weighted<unknown>([
    [3, rng.word()],
    [2, { '=': rng.word() }],
    [2, { '*': rng.word(0, 3) }],
    [2, { '>': rng.word(0, 2), '<': rng.word(0, 2), '-': rng.chance(0.5) ? 1 : undefined }],
    [1, anyJson(rng, 2)],
  ]);
}

function get(rng: Rng): Record<string, unknown> {
  const g: Record<string, unknown> = { '#': soul(rng) };
  if (rng.chance(0.5)) g['.'] = lex(rng);
  if (rng.chance(0.2)) g['%'] = rng.pick([1, 10, 1000, 0, -1, 'lots', 1e308]);
  if (rng.chance(0.1)) g['-'] = 1;
  if (rng.chance(0.05)) g['#'] = anyJson(rng, 1);
  const msg: Record<string, unknown> = { '#': id(rng), get: g };
  if (rng.chance(0.1)) msg['##'] = rng.pick([123, -817890972, 'x']);
  return msg;
}

function id(rng: Rng): unknown {
  return rng.weighted<unknown>([[20, rng.word(6, 12)], [1, ''], [1, anyJson(rng, 1)], [1, rng.pick(PROTO_KEYS)]]);
}

function message(rng: Rng): unknown {
  return rng.weighted<() => unknown>([
    [8, () => put(rng)],
    [5, () => get(rng)],
    [2, () => ({ '#': id(rng), '@': rng.word(6, 12), put: rng.chance(0.5) ? put(rng).put : undefined, ok: rng.chance(0.3) ? 1 : undefined })],
    [1, () => ({ '#': id(rng), dam: rng.pick(['?', '!', 'hi', 'mob', 'opt', oddString(rng)]), pid: rng.chance(0.7) ? rng.word(8, 12) : undefined, '@': rng.chance(0.3) ? rng.word() : undefined })],
    [2, () => envelope(rng)],
    [1, () => ({ '#': id(rng), [rng.pick([rng.word(), ...PROTO_KEYS])]: anyJson(rng, 2) })], // unknown kinds pass through
    [1, () => anyJson(rng, 3)],
  ])();
}

function envelope(rng: Rng): Record<string, unknown> {
  const env: Record<string, unknown> = { headers: rng.chance(0.8) ? { 'ws-rid': rng.word() } : anyJson(rng, 1) };
  if (rng.chance(0.9)) env.url = rng.chance(0.9) ? { pathname: '/' + (rng.chance(0.7) ? soul(rng) : oddString(rng)), query: rng.chance(0.3) ? { '#': soul(rng) } : undefined } : anyJson(rng, 1);
  if (rng.chance(0.5)) env.body = rng.weighted<unknown>([[3, put(rng).put], [2, (() => { const s = soul(rng); return node(rng, s); })()], [1, { '#': soul(rng) }], [1, anyJson(rng, 2)]]);
  return env;
}

/** What a fuzz peer answers to a get the server forwarded to it: data, garbage, or an error. */
export function answerGet(rng: Rng, askId: string, get: unknown): string {
  const soulAsked = typeof get === 'object' && get !== null && typeof (get as Record<string, unknown>)['#'] === 'string' ? (get as Record<string, string>)['#'] : soul(rng);
  const answer: Record<string, unknown> = { '#': rng.word(6, 12), '@': askId };
  rng.weighted<() => void>([
    [6, () => { const g: Record<string, unknown> = {}; setOwn(g, soulAsked, node(rng, soulAsked)); answer.put = g; }],
    [2, () => { answer.put = put(rng).put; }],
    [1, () => { answer.err = oddString(rng); }],
    [1, () => { answer.put = anyJson(rng, 3); }],
    [1, () => { answer['##'] = rng.int(-1e9, 1e9); answer.put = {}; }],
  ])();
  if (rng.chance(0.1)) answer['%'] = rng.word();
  const text = JSON.stringify(answer);
  const m = rng.chance(0.2) ? mutateText(rng, text) : text;
  return typeof m === 'string' ? m : m.toString('utf8');
}

export function generateGunFrame(rng: Rng, rooms: number): WsFrameInput {
  const room = rng.int(0, rooms - 1);
  const shape = rng.weighted<() => string | Buffer>([
    [10, () => JSON.stringify(message(rng))],
    [3, () => JSON.stringify(Array.from({ length: rng.int(0, 6) }, () => message(rng)))],
    [7, () => mutateText(rng, JSON.stringify(message(rng)))],
    [1, () => `{"#":"${rng.word()}","put":{"s":{"_":{"#":"s",">":{"x":1}},"x":${nested(rng.pick([999, 1001, 6000]), '1', rng)}}}}`],
    [1, () => rng.pick(['[]', '[[]]', '{}', 'null', '', ' ', '"x"', '1e309', '[{}]', '[null]'])],
  ])();
  if (rng.chance(0.005)) {
    const s = soul(rng);
    return { door: 'gun', room, data: `{"#":"fl$N-${rng.word()}","put":{${JSON.stringify(s)}:{"_":{"#":${JSON.stringify(s)},">":{"k$N":${Date.now()}}},"k$N":$N}}}`, binary: false, repeat: rng.int(500, 4000) };
  }
  return { door: 'gun', room, data: shape, binary: rng.chance(0.02) };
}
