// Mutations shared by the doors: odd values to put where a field is expected, and damage done to
// a message's JSON text (bit flips, truncation, huge numbers, deep nesting, long strings,
// unicode, prototype keys, duplicate keys).
import type { Rng } from './rng.ts';

export const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];

export const NUMBERS = [0, -0, 1, -1, 0.5, 1e21, -1e21, 1.7976931348623157e308, 5e-324, 2 ** 53, 2 ** 53 + 2, -(2 ** 63), 2 ** 64, 2 ** 31, -(2 ** 31), 4294967296];
/** Number spellings JSON.stringify cannot make: 1e309 parses to Infinity. */
export const NUMBER_TEXTS = ['1e309', '-1e309', '1e-400', '123456789012345678901234567890', '-0.0', '0e0', '1E+2', '9007199254740993'];

export const UNICODE = ['é', '日本語', '😀', '\u0000', '\u001f', '\u007f', '\u2028', '\u2029', '\ufeff', '\ud800', '\udfff', '\u202e', 'a\u0301', '\uffff', '\\', '"', '\n'];

/** A string of odd content and length (up to `max` characters). */
export function oddString(rng: Rng, max = 300): string {
  switch (rng.int(0, 7)) {
    case 0: return '';
    case 1: return rng.word();
    case 2: return rng.pick(UNICODE).repeat(rng.int(1, 4));
    case 3: return 'x'.repeat(rng.int(100, max));
    case 4: return rng.pick(PROTO_KEYS);
    case 5: return Array.from({ length: rng.int(1, 12) }, () => rng.pick(UNICODE) + rng.word(0, 2)).join('');
    case 6: return rng.pick(['*', '#', '.', '>', '<', '~', '@', '/', '%', '$', '..', '_', 'null', 'true', '[object Object]']);
    default: return rng.word(1, 20);
  }
}

/** Any JSON value, at most `depth` levels. */
export function anyJson(rng: Rng, depth = 3): unknown {
  const kind = rng.int(0, depth > 0 ? 9 : 5);
  switch (kind) {
    case 0: return null;
    case 1: return rng.chance(0.5);
    case 2: return rng.pick(NUMBERS);
    case 3: return rng.int(-1000, 1000);
    case 4: case 5: return oddString(rng);
    case 6: case 7: return Array.from({ length: rng.int(0, 4) }, () => anyJson(rng, depth - 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(0, 4); i > 0; i--) setOwn(o, rng.chance(0.2) ? rng.pick(PROTO_KEYS) : rng.word(), anyJson(rng, depth - 1));
      return o;
    }
  }
}

export function nested(depth: number, inner = '1', rng?: Rng): string {
  if (rng?.chance(0.5)) return '{"a":'.repeat(depth) + inner + '}'.repeat(depth);
  return '['.repeat(depth) + inner + ']'.repeat(depth);
}

/** Damage a message's JSON text in one of many ways (sometimes several). */
export function mutateText(rng: Rng, text: string): string | Buffer {
  const rounds = rng.chance(0.8) ? 1 : rng.int(2, 4);
  let out: string | Buffer = text;
  for (let r = 0; r < rounds; r++) out = mutateOnce(rng, typeof out === 'string' ? out : out.toString('latin1'));
  return out;
}

function mutateOnce(rng: Rng, text: string): string | Buffer {
  const at = rng.int(0, text.length);
  switch (rng.int(0, 13)) {
    case 0: { // bit flips (may make invalid UTF-8: returned as bytes)
      const b = Buffer.from(text);
      for (let i = rng.int(1, 4); i > 0 && b.length; i--) b[rng.int(0, b.length - 1)] ^= 1 << rng.int(0, 7);
      return b;
    }
    case 1: return text.slice(0, at); // truncation
    case 2: return text.slice(0, at) + text.slice(rng.int(at, text.length)); // cut a piece out
    case 3: return text.replace(/-?\d+(\.\d+)?/, () => rng.pick(NUMBER_TEXTS)); // huge numbers
    case 4: { // deep nesting around a value, right at, above or far above the limit
      const depth = rng.pick([999, 1000, 1001, 3000, 6000, 20000]);
      return text.replace(/:(\s*)("[^"]*"|-?\d+|true|false|null)/, () => ':' + nested(depth, '1', rng));
    }
    case 5: { // long strings, some right at --max-message-bytes (262144 in the fuzz server)
      const n = rng.chance(0.2) ? 262144 - text.length + rng.int(-20, 20) : rng.int(1000, 70000);
      return text.replace(/"[^"]*"/, () => JSON.stringify('x'.repeat(Math.max(0, n))));
    }
    case 6: return text.slice(0, at) + rng.pick(UNICODE) + text.slice(at); // raw unicode / control chars
    case 7: return text.replace(/"[^"]*"/, () => JSON.stringify(oddString(rng)));
    case 8: { // prototype keys at the first object
      const key = rng.pick(PROTO_KEYS);
      return text.replace('{', () => `{${JSON.stringify(key)}:${rng.pick(['{"polluted":1}', '1', 'null', '"x"', '[]'])},`);
    }
    case 9: { // duplicate keys: repeat the first member with another value
      const m = /\{("[^"]*"):/.exec(text);
      if (!m) return text + '}';
      return text.replace(m[0], () => `{${m[1]}:${JSON.stringify(anyJson(rng, 1))},${m[1]}:`);
    }
    case 10: return text.slice(0, at) + rng.pick(['{', '}', '[', ']', ',', ':', '"', '\\', 'nul', '\\u', '\\ud800', ' ']) + text.slice(at);
    case 11: return text + rng.pick(['', ' ', 'x', '{}', '\u0000', ',{}']);
    case 12: return text.replace(/"[^"]*"/, () => rng.pick(['null', '0', '[]', '{}', 'true', '"\\u0000"', '"\\ud800"']));
    default: return rng.bytes(rng.int(1, 64));
  }
}

/** %-encoding that also takes lone surrogates (encodeURIComponent throws on them). */
export function pctEncode(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return [...Buffer.from(s)].map((b) => '%' + b.toString(16).padStart(2, '0')).join('');
  }
}

/** `o[key] = v` as an own, enumerable property, also for "__proto__" (which JSON then carries). */
export function setOwn(o: Record<string, unknown>, key: string, v: unknown): void {
  Object.defineProperty(o, key, { value: v, enumerable: true, writable: true, configurable: true });
}

/** Any value as text: strings as they are, everything else as JSON. */
export function asText(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v) ?? 'undefined';
}
