// The room history (src/channels/history.ts) and its byte ring, unit by unit: the bounds by count,
// bytes and age, gaps, replay order and frames, against a plain-array model of the same rules.
// The end-to-end behaviour (since=, Last-Event-ID, gaps over real sockets) is in
// native-limits.test.ts, native-resume.test.ts and client-sdk.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { History } from '../src/channels/history.ts';
import { ByteRing } from '../src/channels/byte-ring.ts';
import { OutFrame } from '../src/transports/out-frame.ts';

/** A publish as the hub frames it. */
function publish(h: History, data: string, topic?: string): OutFrame {
  const seq = h.nextSeq();
  const frame = new OutFrame(JSON.stringify({ type: 'message', kind: 'publish', from: 'a', data, seq }), 'message', seq);
  h.add(frame, topic);
  return frame;
}

test('count bound: the last n are kept, older ones are a gap; replay is in seq order', () => {
  const h = new History(3, 60_000);
  const sent = ['a', 'b', 'c', 'd', 'e'].map((d) => publish(h, d));
  const r = h.since(0);
  assert.deepEqual(r.gap, { from: 1, to: 2 });
  assert.deepEqual(r.entries.map((e) => e.seq), [3, 4, 5]);
  assert.deepEqual(r.entries.map((e) => e.frame.text), sent.slice(2).map((f) => f.text));
  assert.deepEqual(h.since(3).entries.map((e) => e.seq), [4, 5]);
  assert.equal(h.since(3).gap, undefined);
  assert.deepEqual(h.since(5), { entries: [] });
  assert.deepEqual(h.since(9), { entries: [] });
});

test('a replayed frame carries the bytes sent live, its SSE form, and is not counted as a new message', () => {
  const h = new History(10, 60_000);
  const live = publish(h, 'héllo ✓', 'news');
  const [e] = h.since(0).entries;
  assert.ok(e.frame !== live, 'a new frame over a copy');
  assert.deepEqual(e.frame.ws, live.ws);
  assert.equal(e.frame.text, live.text);
  assert.equal(e.frame.sse.toString(), live.sse.toString());
  assert.deepEqual(e.frame.line, live.line, 'TCP and IPC members get the same line');
  assert.deepEqual(e.frame.object, JSON.parse(live.text), 'in-process members get the message object');
  assert.equal(e.frame.id, 1);
  assert.equal(e.frame.event, 'message');
  assert.equal(e.frame.counted, true);
  assert.equal(e.topic, 'news');
});

test('bytes bound counts the JSON; a message over it is not kept and takes everything older along (a gap)', () => {
  const one = JSON.stringify({ type: 'message', kind: 'publish', from: 'a', data: 'x'.repeat(100), seq: 1 }).length;
  const h = new History(1000, 60_000, one * 3);
  for (let i = 0; i < 5; i++) publish(h, 'x'.repeat(100));
  assert.equal(h.size, 3);
  assert.equal(h.keptBytes(), one * 3);
  publish(h, 'y'.repeat(one * 3));
  assert.equal(h.size, 0);
  assert.equal(h.keptBytes(), 0);
  const r = h.since(4);
  assert.deepEqual(r, { gap: { from: 5, to: 6 }, entries: [] });
  publish(h, 'z');
  assert.deepEqual(h.since(4).gap, { from: 5, to: 6 });
  assert.deepEqual(h.since(4).entries.map((e) => e.seq), [7]);
});

test('age bound: expired messages are dropped on add, on since and on keptBytes', () => {
  let now = 1000;
  const h = new History(100, 500, Infinity, () => now);
  publish(h, 'a');
  now = 1300;
  publish(h, 'b');
  now = 1600;
  assert.deepEqual(h.since(0).entries.map((e) => e.seq), [2]);
  assert.deepEqual(h.since(0).gap, { from: 1, to: 1 });
  now = 1900;
  assert.equal(h.keptBytes(), 0);
  assert.deepEqual(h.since(0), { gap: { from: 1, to: 2 }, entries: [] });
  assert.equal(h.lastSeq, 2);
});

test('size 0 keeps nothing but still numbers', () => {
  const h = new History(0, 60_000);
  publish(h, 'a');
  publish(h, 'b');
  assert.equal(h.lastSeq, 2);
  assert.deepEqual(h.since(0), { gap: { from: 1, to: 2 }, entries: [] });
});

test('random sizes, bounds and clock against a plain-array model: the same kept run, bytes and replay', () => {
  let seed = 42;
  const rand = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
  for (const [maxEntries, maxBytes] of [[5, Infinity], [50, 4000], [1000, 300_000], [7, 70_000]] as const) {
    let now = 0;
    const h = new History(maxEntries, 1000, maxBytes, () => now);
    let model: Array<{ seq: number; at: number; text: string; bytes: number; topic?: string }> = [];
    let bytes = 0;
    for (let i = 0; i < 3000; i++) {
      now += rand(20);
      // mostly small frames, some with a 16-bit and a few with a 64-bit length header
      const size = rand(100) < 90 ? rand(120) : rand(100) < 90 ? 126 + rand(2000) : 65_536 + rand(1000);
      const topic = rand(3) === 0 ? `t${rand(5)}` : undefined;
      const frame = publish(h, 'é'.repeat(size >> 1), topic);
      const b = Buffer.byteLength(frame.text);
      if (b > maxBytes) { model = []; bytes = 0; } else {
        model.push({ seq: frame.id!, at: now, text: frame.text, bytes: b, topic });
        bytes += b;
        while (model.length > maxEntries || bytes > maxBytes) bytes -= model.shift()!.bytes;
      }
      model = model.filter((e) => e.at >= now - 1000);
      bytes = model.reduce((s, e) => s + e.bytes, 0);
      if (i % 37 === 0 || i > 2990) {
        const since = Math.max(0, h.lastSeq - rand(maxEntries + 5));
        const r = h.since(since);
        const want = model.filter((e) => e.seq > since);
        const firstKept = model.length ? model[0].seq : h.lastSeq + 1;
        assert.deepEqual(r.gap, since < h.lastSeq && firstKept > since + 1 ? { from: since + 1, to: firstKept - 1 } : undefined, `gap at ${i}`);
        assert.deepEqual(r.entries.map((e) => [e.seq, e.frame.text, e.topic]), want.map((e) => [e.seq, e.text, e.topic]), `entries at ${i}`);
        assert.equal(h.keptBytes(), bytes);
        assert.equal(h.size, model.length);
      }
    }
  }
});

test('byte ring: wraps, grows, shrinks and gives its buffer back when empty', () => {
  const ring = new ByteRing();
  const model: number[] = [];
  let next = 0;
  let seed = 7;
  const rand = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
  for (let i = 0; i < 2000; i++) {
    const n = rand(700);
    const chunk = Uint8Array.from({ length: n }, () => next++ & 0xff);
    ring.push(chunk);
    model.push(...chunk);
    const drop = rand(Math.floor(model.length * (i < 1000 ? 0.6 : 1.2)) + 1);
    const d = Math.min(drop, model.length);
    ring.drop(d);
    model.splice(0, d);
    assert.equal(ring.length, model.length);
    const out = new Uint8Array(model.length);
    ring.read(0, model.length, out, 0);
    assert.deepEqual(Array.from(out), model, `content at ${i}`);
    assert.ok(ring.capacity === 0 || ring.capacity <= Math.max(1024, model.length * 4), `capacity ${ring.capacity} for ${model.length} bytes`);
  }
  ring.drop(ring.length);
  assert.equal(ring.capacity, 0);
});
