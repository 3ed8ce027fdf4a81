// The message GUN peers send most is a put: `{"#":id,"put":{soul:{"_":{"#":soul,">":{key:state}},key:value}}}`
// (alone, or a batch `[…]` of them), compact, as JSON.stringify writes it. This reads exactly that
// shape straight into the validated graph, without JSON.parse's object tree and validateGraph's
// second walk over it: at tens of thousands of puts a second those were the relay's largest cost
// (measured: ~25 % of a put's CPU in parse, another ~15 % in the garbage it left; bench/gun-put-path.ts).
//
// It is a fast path, never a second opinion: it answers only for text that JSON.parse followed
// by validateGraph would accept with exactly the same result (same souls, fields, values, states,
// in the same order), and null for everything else (whitespace, escapes it cannot copy, number
// or array-index keys, repeated keys, other message kinds, any invalid put), which then takes the
// general path with its error messages. test/gun-put-scan.test.ts holds both paths side by side.
import type { GraphUpdate, GunValue, NodeUpdate } from './types.js';

export interface ScannedPut {
  /** the message id (`#`) */
  id: string;
  /** the validated put graph, as validateGraph would give it */
  graph: GraphUpdate;
  /** this message's own JSON text: the frame, or its element of a batch */
  raw: string;
  /** the JSON text of its `put` value */
  putJson: string;
}

// The scanner's state: the text and the position. One scan at a time (the relay is synchronous).
let s = '';
let p = 0;

const QUOTE = 34, COMMA = 44, COLON = 58, LBRACE = 123, RBRACE = 125, LBRACKET = 91, RBRACKET = 93, BACKSLASH = 92;

/**
 * The puts of a frame when every message in it is a put of the fast shape, else null (then the
 * frame goes through parseFrame and the relay's general path, as before).
 */
export function scanPutFrame(text: string): ScannedPut[] | null {
  s = text;
  p = 0;
  let out: ScannedPut[] | null = null;
  const c = text.charCodeAt(0);
  if (c === LBRACE) {
    const m = message();
    if (m !== null && p === text.length) out = [m];
  } else if (c === LBRACKET) {
    p = 1;
    const list: ScannedPut[] = [];
    for (;;) {
      const m = message();
      if (m === null) break;
      list.push(m);
      const d = s.charCodeAt(p++);
      if (d === COMMA) continue;
      if (d === RBRACKET && p === text.length) out = list;
      break;
    }
  }
  s = '';
  return out;
}

/** `{"#":id,"put":graph}`, with at most an `ok` besides (GUN's hint on puts), keys in any order. */
function message(): ScannedPut | null {
  const start = p;
  if (s.charCodeAt(p) !== LBRACE) return null;
  p++;
  let id: string | undefined;
  let graph: GraphUpdate | undefined;
  let putStart = 0, putEnd = 0;
  let ok = false;
  for (;;) {
    const key = simpleString();
    if (key === null || s.charCodeAt(p++) !== COLON) return null;
    if (key === '#' && id === undefined) {
      id = simpleString() ?? undefined;
      if (id === undefined || id === '') return null; // no id: the general path makes one
    } else if (key === 'put' && graph === undefined) {
      putStart = p;
      const g = putGraph();
      if (g === null) return null;
      graph = g;
      putEnd = p;
    } else if (key === 'ok' && !ok) {
      ok = true;
      if (!skipValue(0)) return null;
    } else {
      return null;
    }
    const d = s.charCodeAt(p++);
    if (d === COMMA) continue;
    if (d !== RBRACE || id === undefined || graph === undefined) return null;
    return { id, graph, raw: start === 0 && p === s.length ? s : s.slice(start, p), putJson: s.slice(putStart, putEnd) };
  }
}

/** The put graph `{soul: node, …}`; null unless validateGraph would take it as it is. */
function putGraph(): GraphUpdate | null {
  if (s.charCodeAt(p++) !== LBRACE) return null;
  const graph: GraphUpdate = [];
  if (s.charCodeAt(p) === RBRACE) { p++; return graph; }
  for (;;) {
    const soul = simpleString();
    if (soul === null || soul === '' || isIndex(soul) || s.charCodeAt(p++) !== COLON) return null;
    for (let i = 0; i < graph.length; i++) if (graph[i].soul === soul) return null; // JSON.parse: last one wins
    const node = putNode(soul);
    if (node === null) return null;
    graph.push(node);
    const d = s.charCodeAt(p++);
    if (d === COMMA) continue;
    return d === RBRACE ? graph : null;
  }
}

// Scratch space for the node being read (scans are synchronous and one at a time): its field
// keys and values, and its states, reused so that a put allocates only what it returns.
const fieldKeys: string[] = [];
const fieldValues: GunValue[] = [];
const stateKeys: string[] = [];
const stateValues: number[] = [];
/** Most fields (and states) a node may have here; a bigger one takes the general path. */
const MAX_FIELDS = 64;

/** One node: its `_` (with `#` = soul and the `>` states) and its fields, in text order. */
function putNode(soul: string): NodeUpdate | null {
  if (s.charCodeAt(p++) !== LBRACE) return null;
  let sawMeta = false;
  fieldKeys.length = 0;
  fieldValues.length = 0;
  if (s.charCodeAt(p) !== RBRACE) {
    for (;;) {
      const key = simpleString();
      if (key === null || s.charCodeAt(p++) !== COLON) return null;
      if (key === '_') {
        if (sawMeta || !meta(soul)) return null;
        sawMeta = true;
      } else {
        // Object.keys lists array-index keys first: the order would differ from the text's.
        if (isIndex(key) || fieldKeys.length === MAX_FIELDS) return null;
        for (let i = 0; i < fieldKeys.length; i++) if (fieldKeys[i] === key) return null;
        const v = value();
        if (v === undefined) return null;
        fieldKeys.push(key);
        fieldValues.push(v);
      }
      const d = s.charCodeAt(p++);
      if (d === COMMA) continue;
      if (d !== RBRACE) return null;
      break;
    }
  } else {
    p++;
  }
  if (!sawMeta) return null;
  const n = fieldKeys.length;
  const fields: NodeUpdate['fields'] = new Array(n);
  for (let i = 0; i < n; i++) {
    const key = fieldKeys[i];
    // GUN writes the states in the fields' order as often as not: try the same place first.
    const j = i < stateKeys.length && stateKeys[i] === key ? i : stateKeys.indexOf(key);
    if (j === -1) return null; // validateGraph: "missing or non-numeric state"
    fields[i] = { key, value: fieldValues[i], state: stateValues[j] };
  }
  return { soul, fields };
}

/** `{"#":soul,">":{key:state,…}}`, other keys allowed (validateGraph ignores them); the states go to the scratch arrays. */
function meta(soul: string): boolean {
  if (s.charCodeAt(p++) !== LBRACE) return false;
  let sawStates = false;
  let sawSoul = false;
  if (s.charCodeAt(p) === RBRACE) return false;
  for (;;) {
    const key = simpleString();
    if (key === null || s.charCodeAt(p++) !== COLON) return false;
    if (key === '#') {
      if (sawSoul || simpleString() !== soul) return false;
      sawSoul = true;
    } else if (key === '>') {
      if (sawStates || !stateMap()) return false;
      sawStates = true;
    } else if (!skipValue(0)) {
      return false; // (any other key is ignored by validateGraph, so a repeat of one changes nothing)
    }
    const d = s.charCodeAt(p++);
    if (d === COMMA) continue;
    if (d !== RBRACE) return false;
    return sawSoul && sawStates;
  }
}

/** `{key:number,…}` into the scratch states: every state a finite number, no key twice. */
function stateMap(): boolean {
  if (s.charCodeAt(p++) !== LBRACE) return false;
  stateKeys.length = 0;
  stateValues.length = 0;
  if (s.charCodeAt(p) === RBRACE) { p++; return true; }
  for (;;) {
    const key = simpleString();
    if (key === null || s.charCodeAt(p++) !== COLON || stateKeys.length === MAX_FIELDS || stateKeys.indexOf(key) !== -1) return false;
    const n = number();
    if (n === null) return false;
    stateKeys.push(key);
    stateValues.push(n);
    const d = s.charCodeAt(p++);
    if (d === COMMA) continue;
    return d === RBRACE;
  }
}

/** A field value validateGraph takes (null, string, boolean, finite number, `{"#":soul}`), or undefined. */
function value(): GunValue | undefined {
  const c = s.charCodeAt(p);
  if (c === QUOTE) return simpleString() ?? undefined;
  if (c === LBRACE) {
    // a link: exactly {"#":"<non-empty soul>"}
    p++;
    if (simpleString() !== '#' || s.charCodeAt(p++) !== COLON) return undefined;
    const soul = simpleString();
    if (soul === null || soul === '' || s.charCodeAt(p++) !== RBRACE) return undefined;
    return { '#': soul };
  }
  if (c === 116 /* t */ && s.startsWith('true', p)) { p += 4; return true; }
  if (c === 102 /* f */ && s.startsWith('false', p)) { p += 5; return false; }
  if (c === 110 /* n */ && s.startsWith('null', p)) { p += 4; return null; }
  return number() ?? undefined;
}

/**
 * A string without escapes or control characters (else null: the general path decodes it). A
 * result of 13 or more characters is copied out of the frame (JSON.parse of its token makes a
 * flat copy): V8 would otherwise make it a slice that keeps the whole frame's text alive for as
 * long as the graph keeps the value (measured: ~1 KB per kept value of a 1 KB frame).
 */
function simpleString(): string | null {
  if (s.charCodeAt(p) !== QUOTE) return null;
  const start = ++p;
  for (;;) {
    const c = s.charCodeAt(p);
    if (c === QUOTE) break;
    if (c === BACKSLASH || c < 0x20 || c !== c) return null; // an escape, a control character, or the end (NaN)
    p++;
  }
  const end = p++;
  return end - start < 13 ? s.slice(start, end) : JSON.parse(s.slice(start - 1, p)) as string;
}

/** A JSON number (the grammar exactly), finite; else null. */
function number(): number | null {
  const start = p;
  let c = s.charCodeAt(p);
  if (c === 45 /* - */) c = s.charCodeAt(++p);
  if (c === 48 /* 0 */) c = s.charCodeAt(++p);
  else if (c >= 49 && c <= 57) { do c = s.charCodeAt(++p); while (c >= 48 && c <= 57); }
  else return null;
  if (c === 46 /* . */) {
    c = s.charCodeAt(++p);
    if (!(c >= 48 && c <= 57)) return null;
    do c = s.charCodeAt(++p); while (c >= 48 && c <= 57);
  }
  if (c === 101 || c === 69 /* e E */) {
    c = s.charCodeAt(++p);
    if (c === 43 || c === 45) c = s.charCodeAt(++p);
    if (!(c >= 48 && c <= 57)) return null;
    do c = s.charCodeAt(++p); while (c >= 48 && c <= 57);
  }
  const n = +s.slice(start, p);
  return Number.isFinite(n) ? n : null;
}

/** Steps over any compact JSON value (an `ok` hint, an unknown key of `_`), a few levels deep at most. */
function skipValue(depth: number): boolean {
  if (depth > 8) return false;
  const c = s.charCodeAt(p);
  if (c === QUOTE) return simpleString() !== null;
  if (c === LBRACE || c === LBRACKET) {
    const close = c === LBRACE ? RBRACE : RBRACKET;
    p++;
    if (s.charCodeAt(p) === close) { p++; return true; }
    for (;;) {
      if (close === RBRACE && (simpleString() === null || s.charCodeAt(p++) !== COLON)) return false;
      if (!skipValue(depth + 1)) return false;
      const d = s.charCodeAt(p++);
      if (d === COMMA) continue;
      return d === close;
    }
  }
  if (c === 116 && s.startsWith('true', p)) { p += 4; return true; }
  if (c === 102 && s.startsWith('false', p)) { p += 5; return true; }
  if (c === 110 && s.startsWith('null', p)) { p += 4; return true; }
  return number() !== null;
}

/** An array-index key (JavaScript lists those first in an object, whatever the text's order). */
function isIndex(key: string): boolean {
  const c = key.charCodeAt(0);
  if (!(c >= 48 && c <= 57)) return false;
  return /^(?:0|[1-9]\d{0,9})$/.test(key) && Number(key) < 4294967295;
}
