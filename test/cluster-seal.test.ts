// Unit tests of the cluster sealing (no engine, no sockets): the cluster key, sealed and plain
// frames, every way a frame can fail to open, and node ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { randomBytes } from 'node:crypto';
import { ClusterKey, ClusterKeyError, incrementNonce, KEY_ID_BYTES, MIN_CLUSTER_SECRET_BYTES } from '../src/cluster/cluster-key.ts';
import { open, openOrWhy, OPEN_FAILURE_TEXT, PLAIN_V1, seal, SEALED_HEADER_BYTES, SEALED_OVERHEAD, SEALED_V1, TAG_BYTES, type OpenFailure, type SealContext } from '../src/cluster/seal.ts';
import { defaultNodeId, MAX_NODE_ID_LENGTH, validNodeId } from '../src/cluster/node-id.ts';

const SECRET = 'a-cluster-secret-for-the-tests-32b';
const key = ClusterKey.fromSecret(SECRET);
const PUB: SealContext = { kind: 'pub', room: '/chat' };
const text = (s: string) => new TextEncoder().encode(s);
const why = (k: ClusterKey | null, context: SealContext, frame: Uint8Array): OpenFailure | 'ok' => {
  const opened = openOrWhy(k, context, frame);
  return opened.ok ? 'ok' : opened.reason;
};
/** Same bytes, whatever the view type (Buffer or Uint8Array). */
const assertBytes = (actual: Uint8Array | undefined, expected: Uint8Array, message?: string) => {
  assert.ok(actual, message ?? 'did not open');
  assert.equal(Buffer.from(actual.buffer, actual.byteOffset, actual.length).toString('hex'), Buffer.from(expected).toString('hex'), message);
};
const flipBit = (frame: Uint8Array, bit: number) => {
  const copy = Buffer.from(frame);
  copy[bit >> 3] ^= 1 << (bit & 7);
  return copy;
};

test('cluster key: same secret, same key; string and bytes agree; secret kept out of sight', () => {
  const again = ClusterKey.fromSecret(Buffer.from(SECRET, 'utf8'));
  assert.equal(again.keyIdHex, key.keyIdHex);
  assert.equal(key.keyId.length, KEY_ID_BYTES);
  assert.match(key.keyIdHex, /^[0-9a-f]{8}$/);
  assertBytes(open(again, PUB, seal(key, PUB, text('hi'))), text('hi'), 'a node with the same secret opens it');
  assert.notEqual(ClusterKey.fromSecret(SECRET + '!').keyIdHex, key.keyIdHex);
  for (const shown of [inspect(key), JSON.stringify(key), inspect(key.cipherKey)]) {
    assert.ok(!shown.includes(SECRET) && !shown.includes(key.cipherKey.export().toString('hex')), shown);
  }
  assert.equal(JSON.stringify(key), `{"keyId":"${key.keyIdHex}"}`);
  assert.equal(key.cipherKey.symmetricKeySize, 32);
  assert.ok(!key.cipherKey.export().subarray(0, KEY_ID_BYTES).equals(key.keyId), 'the key id is not the start of the key');
});

test('cluster key: a secret shorter than 16 bytes is refused with one clear line', () => {
  for (const short of ['', 'short', 'x'.repeat(MIN_CLUSTER_SECRET_BYTES - 1), new Uint8Array(15)]) {
    assert.throws(() => ClusterKey.fromSecret(short), (err: unknown) => {
      assert.ok(err instanceof ClusterKeyError);
      assert.equal(err.code, 'ERR_CLUSTER_KEY_TOO_SHORT');
      assert.match(err.message, /^a cluster key needs at least 16 bytes \(got \d+\); e\.g\. openssl rand -base64 32$/);
      return true;
    });
  }
  assert.ok(ClusterKey.fromSecret('x'.repeat(16)));
  assert.ok(ClusterKey.fromSecret('ééééééééé'), '9 characters, 18 bytes: counted in UTF-8 bytes');
});

test('seal/open: round trip, with the byte layout of version 1', () => {
  const plaintext = text('{"t":"publish","data":"hello"}');
  const frame = seal(key, PUB, plaintext);
  assert.equal(frame.length, SEALED_OVERHEAD + plaintext.length);
  assert.equal(SEALED_OVERHEAD, 1 + 4 + 12 + 16);
  assert.equal(frame[0], SEALED_V1);
  assertBytes(frame.subarray(1, 5), key.keyId);
  assertBytes(open(key, PUB, frame), plaintext);
  assert.equal(openOrWhy(key, PUB, frame).ok, true);
  const roomless: SealContext = { kind: 'heartbeat' };
  assertBytes(open(key, roomless, seal(key, roomless, plaintext)), plaintext);
  const inMiddle = Buffer.concat([Buffer.alloc(7), frame]).subarray(7);
  assertBytes(open(key, PUB, inMiddle), plaintext, 'a frame that is a view into a larger buffer');
});

test('seal/open: empty and 1 MiB payloads', () => {
  const empty = seal(key, PUB, new Uint8Array(0));
  assert.equal(empty.length, SEALED_OVERHEAD);
  assertBytes(open(key, PUB, empty), new Uint8Array(0));
  assert.equal(why(key, { kind: 'pub', room: '/other' }, empty), 'not-authentic', 'an empty payload is still bound to its room');
  const big = randomBytes(1 << 20);
  const frame = seal(key, PUB, big);
  assert.equal(frame.length, big.length + SEALED_OVERHEAD);
  assert.ok(Buffer.from(open(key, PUB, frame)!).equals(big));
  assert.equal(why(key, PUB, flipBit(frame, 8 * (SEALED_HEADER_BYTES + 500_000))), 'not-authentic');
});

test('seal/open: another key fails and is recognised as another key', () => {
  const other = ClusterKey.fromSecret('another-secret-of-another-cluster');
  const frame = seal(other, PUB, text('from the other cluster'));
  assert.equal(open(key, PUB, frame), undefined);
  assert.equal(why(key, PUB, frame), 'other-key');
  // A forged key id does not help: the key id is authenticated, and the key still differs.
  const relabelled = Buffer.from(frame);
  key.keyId.copy(relabelled, 1);
  assert.equal(why(key, PUB, relabelled), 'not-authentic');
});

test('seal/open: every single-bit flip anywhere fails, with the reason of the part it hits', () => {
  const frame = seal(key, PUB, text('x'.repeat(64)));
  const reasons = new Map<string, number>();
  for (let bit = 0; bit < frame.length * 8; bit++) {
    const reason = why(key, PUB, flipBit(frame, bit));
    assert.notEqual(reason, 'ok', `bit ${bit}`);
    const byte = bit >> 3;
    const expected = byte === 0 ? (frame[0] ^ (1 << (bit & 7))) === PLAIN_V1 ? 'not-sealed' : 'unknown-version' : byte < 5 ? 'other-key' : 'not-authentic';
    assert.equal(reason, expected, `bit ${bit}`);
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(reasons), { 'not-sealed': 1, 'unknown-version': 7, 'other-key': 32, 'not-authentic': (frame.length - 5) * 8 });
});

test('seal/open: truncation and extension fail', () => {
  const frame = seal(key, PUB, text('some payload to cut short'));
  for (let length = 0; length < frame.length; length++) {
    const reason = why(key, PUB, frame.subarray(0, length));
    assert.equal(reason, length === 0 || length < SEALED_OVERHEAD ? 'truncated' : 'not-authentic', `length ${length}`);
  }
  assert.equal(why(key, PUB, Buffer.concat([frame, Buffer.from([0])])), 'not-authentic');
  assert.equal(why(key, PUB, frame.subarray(0, frame.length - TAG_BYTES)), 'not-authentic', 'tag cut off: the last 16 bytes taken as the tag');
});

test('seal/open: another room or kind of message fails (the context is bound as AAD)', () => {
  const frame = seal(key, PUB, text('for /chat only'));
  const others: SealContext[] = [
    { kind: 'pub', room: '/chat2' },
    { kind: 'pub', room: '/Chat' },
    { kind: 'pub', room: '/chat/' },
    { kind: 'pub' },
    { kind: 'send', room: '/chat' },
    { kind: 'Pub', room: '/chat' },
    { kind: 'pub", "/chat', room: '' },
    { kind: '', room: '/chat' },
  ];
  for (const context of others) assert.equal(why(key, context, frame), 'not-authentic', JSON.stringify(context));
  assert.equal(why(key, { room: '/chat', kind: 'pub' }, frame), 'ok', 'field order in the object does not matter');
  // Lone surrogates stay distinct (UTF-8 encoding alone would turn both into U+FFFD).
  const surrogate = seal(key, { kind: 'pub', room: '/\uD800' }, text('x'));
  assert.equal(why(key, { kind: 'pub', room: '/\uDBFF' }, surrogate), 'not-authentic');
  assert.equal(why(key, { kind: 'pub', room: '/\uD800' }, surrogate), 'ok');
});

test('seal: nonces differ across 10,000 seals, also between two keys from one secret', () => {
  const nonces = new Set<string>();
  const plaintext = text('same plaintext every time');
  const frames = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    const frame = seal(key, PUB, plaintext);
    nonces.add(frame.subarray(5, 17).toString('hex'));
    frames.add(frame.toString('hex'));
  }
  const twin = ClusterKey.fromSecret(SECRET);
  for (let i = 0; i < 10_000; i++) nonces.add(seal(twin, PUB, plaintext).subarray(5, 17).toString('hex'));
  assert.equal(nonces.size, 20_000);
  assert.equal(frames.size, 10_000, 'the same plaintext never gives the same frame');
});

test('nonce counter: increments with carry, and wraps', () => {
  const n = Buffer.from('0000000000000000000000ff', 'hex');
  incrementNonce(n);
  assert.equal(n.toString('hex'), '000000000000000000000100');
  const top = Buffer.from('00ffffffffffffffffffffff', 'hex');
  incrementNonce(top);
  assert.equal(top.toString('hex'), '010000000000000000000000');
  const all = Buffer.alloc(12, 0xff);
  incrementNonce(all);
  assert.equal(all.toString('hex'), '0'.repeat(24));
});

test('seal: the sealed bytes never contain the plaintext', () => {
  const plaintext = text('MULTISOCKET-PLAINTEXT-MARKER-' + 'abcdefghijklmnopqrstuvwxyz0123456789'.slice(0, 35));
  assert.equal(plaintext.length, 64);
  const needles = [plaintext, plaintext.subarray(0, 8), plaintext.subarray(28, 36), plaintext.subarray(56)];
  for (let i = 0; i < 1000; i++) {
    const frame = seal(key, PUB, plaintext);
    for (const needle of needles) assert.equal(frame.indexOf(needle), -1, `frame ${i} holds ${Buffer.from(needle).toString()}`);
    assert.equal(frame.indexOf(Buffer.from('/chat')), -1, 'nor the room');
  }
});

test('plain frames (no --cluster-key): one code path, and a mixed cluster is told so', () => {
  const plaintext = text('{"t":"publish"}');
  const plain = seal(null, PUB, plaintext);
  assert.equal(plain[0], PLAIN_V1);
  assert.equal(plain.length, 1 + plaintext.length);
  assertBytes(open(null, PUB, plain), plaintext);
  assertBytes(open(null, PUB, seal(null, PUB, new Uint8Array(0))), new Uint8Array(0));
  assert.equal(why(key, PUB, plain), 'not-sealed', 'a keyed node refuses what a keyless node injects');
  assert.equal(why(null, PUB, seal(key, PUB, plaintext)), 'needs-key', 'a keyless node cannot read sealed frames');
  assert.equal(why(null, PUB, new Uint8Array(0)), 'truncated');
  assert.equal(why(null, PUB, Buffer.from([0x7b, 0x22])), 'unknown-version', 'unframed JSON is not taken as plain');
});

test('open never throws, and every failure has a log text', () => {
  const inputs: Uint8Array[] = [new Uint8Array(0), new Uint8Array(1), new Uint8Array(SEALED_OVERHEAD), Buffer.from([SEALED_V1]), randomBytes(100)];
  for (let i = 0; i < 200; i++) inputs.push(Buffer.concat([Buffer.from([SEALED_V1]), key.keyId, randomBytes(i)]));
  for (const input of inputs) for (const k of [key, null]) assert.doesNotThrow(() => openOrWhy(k, PUB, input));
  for (const input of inputs.slice(5)) assert.equal(open(key, PUB, input), undefined);
  for (const reason of Object.keys(OPEN_FAILURE_TEXT)) assert.ok(!OPEN_FAILURE_TEXT[reason as OpenFailure].includes('\n'));
});

test('node ids: default ones are valid, unique and readable; user ones are checked', () => {
  const ids = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = defaultNodeId();
    assert.ok(validNodeId(id), id);
    assert.match(id, new RegExp(`-${process.pid}-[0-9a-f]{8}$`));
    ids.add(id);
  }
  assert.equal(ids.size, 1000);
  for (const host of ['web-1.example.com', 'ünïcode host', '...', '', 'x'.repeat(300), 'a.b*c>d e']) {
    const id = defaultNodeId(host);
    assert.ok(validNodeId(id), `${host} → ${id}`);
    assert.ok(id.length <= MAX_NODE_ID_LENGTH);
  }
  assert.match(defaultNodeId('web-1.example.com'), /^web-1-example-com-\d+-[0-9a-f]{8}$/);
  assert.match(defaultNodeId('...'), /^node-\d+-/);
  for (const good of ['a', 'node-1', 'A_b-9', 'x'.repeat(MAX_NODE_ID_LENGTH)]) assert.ok(validNodeId(good), good);
  for (const bad of ['', 'a.b', 'a b', 'a*', 'a>', 'ü', 'x'.repeat(MAX_NODE_ID_LENGTH + 1), 'a\n', 'a:b', 'a/b']) assert.ok(!validNodeId(bad), JSON.stringify(bad));
});
