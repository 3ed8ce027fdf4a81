// The put scanner (src/gun/put-scan.ts) is a fast path: for every text it either answers exactly
// what JSON.parse + validateGraph give, or null. Checked here side by side on the shapes GUN
// sends, on edge cases, and on thousands of mutated frames (seeded, so a failure repeats).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scanPutFrame } from '../src/gun/put-scan.ts';
import { parseFrame } from '../src/gun/wire.ts';
import { validateGraph } from '../src/gun/validate.ts';
import type { GunMessage } from '../src/gun/types.ts';

/** What the general path makes of `text`, when every message is a put the scanner may take (else null). */
function general(text: string): Array<{ id: string; graph: unknown; msg: GunMessage }> | null {
  const frame = parseFrame(text);
  if (!frame.ok || frame.messages.length === 0) return null;
  const out = [];
  for (const msg of frame.messages) {
    const keys = Object.keys(msg);
    if (keys.some((k) => k !== '#' && k !== 'put' && k !== 'ok') || typeof msg['#'] !== 'string' || msg['#'] === '' || msg.put === undefined) return null;
    const v = validateGraph(msg.put);
    if (!v.ok) return null;
    out.push({ id: msg['#'], graph: v.graph, msg });
  }
  return out;
}

/** The scanner agrees with the general path: the same puts, or it declines. */
function agrees(text: string): 'scanned' | 'declined' {
  const fast = scanPutFrame(text);
  const slow = general(text);
  if (fast === null) return 'declined';
  assert.ok(slow !== null, `scanner took what the general path refuses: ${text}`);
  assert.equal(fast.length, slow.length, text);
  for (let i = 0; i < fast.length; i++) {
    assert.equal(fast[i].id, slow[i].id, text);
    assert.deepStrictEqual(fast[i].graph, slow[i].graph, text);
    assert.deepStrictEqual(JSON.parse(fast[i].raw), slow[i].msg, text);
    assert.deepStrictEqual(JSON.parse(fast[i].putJson), slow[i].msg.put, text);
  }
  if (!text.startsWith('[')) assert.equal(fast[0].raw, text);
  return 'scanned';
}

const FANOUT = '{"#":"abcdefghi","put":{"bench":{"_":{"#":"bench",">":{"k12":1796428016360.002}},"k12":"1796428016360002"}}}';
const SET_LINK = '{"#":"3vgF1F2E0","ok":{"/":0,"@":9},"put":{"chat-1":{"_":{"#":"chat-1",">":{"mx9mpdi9B7mh7TMTLuN9":1796427758241.002}},"mx9mpdi9B7mh7TMTLuN9":{"#":"mx9mpdi9B7mh7TMTLuN9"}}}}';
const SET_NODE = '[{"#":"vUAxHxQHy","put":{"mx9mpdi9B7mh7TMTLuN9":{"_":{"#":"mx9mpdi9B7mh7TMTLuN9",">":{"at":1796427758241.001,"from":1796427758241.001,"text":1796427758241.001}},"at":1796427758241,"from":"alice","text":"hello"}}}]';
const PROFILE = '{"#":"QyIqcTRGQ","put":{"profile-7":{"_":{"#":"profile-7",">":{"name":1796427758739,"status":1796427758739}},"name":"bob","status":"hi"}}}';

test('put scanner: the frames GUN 0.2020.1241 sends are scanned, with the general path\'s result', () => {
  for (const text of [FANOUT, SET_LINK, SET_NODE, PROFILE, `[${FANOUT},${PROFILE}]`]) assert.equal(agrees(text), 'scanned', text);
  const [node] = scanPutFrame(SET_NODE)!;
  assert.equal(node.raw, SET_NODE.slice(1, -1)); // a batch element is relayed as its own text
});

test('put scanner: values of every kind, empty graphs and nodes, extra keys in "_"', () => {
  const cases = [
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{"a":1,"b":2,"c":3,"d":4,"e":-0.5e-3}},"a":null,"b":true,"c":false,"d":{"#":"t"},"e":-12.5E+2}}}',
    '{"#":"a","put":{}}',
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{}}}}}',
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{"x":1},"extra":[1,{"y":null}]}}}}', // a state without a field is ignored
    '{"put":{"s":{"_":{">":{"k":1},"#":"s"},"k":"v"}},"#":"id"}', // keys in any order
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{"__proto__":1}},"__proto__":"p"}}}',
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{"k":1}},"k":"\u00e9\u{1F600}"}}}',
    '{"#":"a","put":{"s":{"k":"v","j":2,"_":{"#":"s",">":{"j":7,"k":1}}}}}', // "_" last, states in another order
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{"k":1}},"k":"v"},"t":{"_":{"#":"t",">":{"k":2,"m":3}},"m":"w","k":"x"}}}', // each node its own states
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{"k":1},"x":1,"x":2}}}}', // a repeated key "_" ignores anyway
  ];
  for (const text of cases) assert.equal(agrees(text), 'scanned', text);
});

test('put scanner: declines what it cannot copy exactly, and every invalid put', () => {
  const declined = [
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{"k":1}},"k":"a\\"b"}}}', // an escape
    '{"#":"a", "put":{}}', // whitespace
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{"1":1,"b":1}},"b":1,"1":2}}}', // index keys go first in JS
    '{"#":"a","put":{"1":{"_":{"#":"1",">":{}}}}}',
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{"k":1}},"k":1,"k":2}}}', // a repeated key
    '{"#":"a","#":"b","put":{}}',
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{"k":1,"k":2}},"k":1}}}',
    '{"#":"","put":{}}', // no id: the general path makes one
    '{"put":{}}',
    '{"#":"a","@":"b","put":{}}', // a reply
    '{"#":"a","get":{"#":"s"}}',
    '{"#":"a","put":{"s":{"_":{"#":"t",">":{}}}}}', // soul mismatch
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{}},"k":1}}}', // no state
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{"k":"1"}},"k":1}}}', // a string state
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{"k":1e999}},"k":1}}}', // not finite
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{"k":1}},"k":[1]}}}', // an array value
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{"k":1}},"k":{"#":""}}}}', // an empty link
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{"k":1}},"k":{"#":"t","x":1}}}}',
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{"k":1}},"k":01}}}',
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{"k":1.}},"k":1}}}',
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{"k":1}},"k":1}}}x',
    '[]',
    '{"#":"a","put":{"s":{"_":{"#":"s","#":"s",">":{}}}}}',
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{},">":{}}}}}',
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{"k":1}},"_":{"#":"s",">":{"k":1}},"k":1}}}',
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{"k":1}},"k":1},"s":{"_":{"#":"s",">":{"k":2}},"k":2}}}', // a repeated soul
    `{"#":"a","put":{"s":{"_":{"#":"s",">":{${Array.from({ length: 65 }, (_, i) => `"f${i}":1`).join(',')}}},${Array.from({ length: 65 }, (_, i) => `"f${i}":${i}`).join(',')}}}}`, // a big node: the general path (valid there)
    `[${FANOUT},{"#":"b","get":{"#":"s"}}]`, // a batch with anything else: all of it the general way
    '{"#":"a","put":{"s":{"_":{"#":"s",">":{"k":1}},"k":"\u0001"}}}'.replace('\u0001', String.fromCharCode(1)),
  ];
  for (const text of declined) assert.equal(agrees(text), 'declined', text);
});

/** A small seeded generator (mulberry32): the mutations repeat from run to run. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('put scanner: 20,000 mutated frames: it scans only what the general path takes, with the same result', () => {
  const rand = rng(14);
  const pieces = ['"', '{', '}', '[', ']', ',', ':', '\\', '#', '_', '>', '0', '1', '-', '.', 'e', 'k', 'a', ' ', 'true', 'null', '"#"', '"_"', '">"', '{"#":"x"}', '1e400'];
  const bases = [FANOUT, SET_LINK, SET_NODE, PROFILE, `[${FANOUT},${PROFILE}]`];
  let scanned = 0, declined = 0;
  for (let i = 0; i < 20_000; i++) {
    let text = bases[i % bases.length];
    const edits = 1 + Math.floor(rand() * 3);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rand() * (text.length + 1));
      const kind = rand();
      const piece = pieces[Math.floor(rand() * pieces.length)];
      if (kind < 0.4) text = text.slice(0, at) + text.slice(at + 1);
      else if (kind < 0.7) text = text.slice(0, at) + piece + text.slice(at);
      else text = text.slice(0, at) + piece + text.slice(at + piece.length);
    }
    if (agrees(text) === 'scanned') scanned++;
    else declined++;
  }
  // Both sides of the fast path are exercised, not just one.
  assert.ok(scanned > 1000 && declined > 1000, `scanned ${scanned}, declined ${declined}`);
});
