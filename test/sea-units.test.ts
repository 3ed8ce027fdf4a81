// SEA verification, tested without sockets: which space a soul is in, signatures (made here by
// node:crypto and by real SEA from gun 0.2020.1241), certificates, content hashes, the key cache,
// and checkSeaWrite against a graph store (HAM decides what gets checked).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { seaSpaceOf, pubOfSoul } from '../src/gun/sea/soul-space.ts';
import { parseSignedField, signedText, verifySignature } from '../src/gun/sea/signature.ts';
import { publicKeyOf, cachedKeyCount, clearKeyCache, MAX_CACHED_KEYS } from '../src/gun/sea/pub-keys.ts';
import { checkCertificate, textMatch } from '../src/gun/sea/certificate.ts';
import { contentHashMatches } from '../src/gun/sea/content-hash.ts';
import { checkSeaWrite, EMPTY_GRAPH } from '../src/gun/sea/check.ts';
import { MemoryGraphStore } from '../src/gun/graph-store.ts';
import type { GraphUpdate, GunValue } from '../src/gun/types.ts';
import { rawPair, seaSign, signedField } from './helpers/sea-keys.ts';

// Real SEA (WebCrypto in Node 20). It prints a welcome banner on load and a warning on every
// certify: keep them off the TAP stream.
interface SeaPair { pub: string; priv: string; epub: string; epriv: string }
interface Sea {
  pair(): Promise<SeaPair>;
  sign(data: unknown, pair: SeaPair, cb?: null, opt?: { raw?: 1 }): Promise<{ m: unknown; s: string }>;
  certify(who: unknown, policy: unknown, authority: SeaPair, cb?: null, opt?: { expiry?: number; block?: unknown }): Promise<string>;
  work(data: unknown, pair: null, cb: null, opt: { name: string; encode?: string }): Promise<string>;
}
function quietly<T>(f: () => T): T {
  const log = console.log;
  console.log = () => {};
  try { return f(); } finally { console.log = log; }
}
const SEA: Sea = quietly(() => {
  const sea = createRequire(import.meta.url)('gun/sea') as Sea;
  const certify = sea.certify;
  return { ...sea, pair: sea.pair, sign: sea.sign, work: sea.work, certify: (...a) => quietly(() => certify(...a)) };
});

const NOW = Date.now();

/** A field as a SEA client writes it: SEA.sign of GUN's packed put, stored as {":":value,"~":sig}. */
async function seaField(pair: SeaPair, soul: string, key: string, value: unknown, state: number, extra: Record<string, unknown> = {}): Promise<string> {
  const signed = await SEA.sign({ '#': soul, '.': key, ':': value, '>': state }, pair, null, { raw: 1 });
  return JSON.stringify({ ':': value, '~': signed.s, ...extra });
}

const put = (soul: string, fields: Record<string, GunValue>, state = NOW - 1000): GraphUpdate =>
  [{ soul, fields: Object.entries(fields).map(([key, value]) => ({ key, value, state })) }];

function refused(update: GraphUpdate, store = new MemoryGraphStore(), now = NOW): string {
  const r = checkSeaWrite(update, store, now);
  assert.equal(r.ok, false, `expected a refusal of ${JSON.stringify(update).slice(0, 300)}`);
  return (r as { err: string }).err;
}

function passes(update: GraphUpdate, store = new MemoryGraphStore(), now = NOW): void {
  const r = checkSeaWrite(update, store, now);
  assert.ok(r.ok, `expected to pass: ${(r as { err?: string }).err}`);
}

test('soul spaces: the order and rules of sea.js check()', () => {
  assert.equal(seaSpaceOf('jack'), null);
  assert.equal(seaSpaceOf('chat/1'), null);
  assert.equal(seaSpaceOf('~abc'), null); // one part: no pub
  assert.deepEqual(seaSpaceOf('~@'), { kind: 'aliases' });
  assert.deepEqual(seaSpaceOf('~@alice'), { kind: 'alias', alias: 'alice' });
  assert.deepEqual(seaSpaceOf('~@alice#x'), { kind: 'alias', alias: 'alice#x' });
  assert.deepEqual(seaSpaceOf('~x.y'), { kind: 'user', pub: 'x.y' });
  assert.deepEqual(seaSpaceOf('~x.y/inbox'), { kind: 'user', pub: 'x.y' });
  assert.deepEqual(seaSpaceOf('~x.y.z'), { kind: 'user', pub: 'x.y' });
  assert.deepEqual(seaSpaceOf('app~x.y'), { kind: 'user', pub: 'x.y' });
  assert.deepEqual(seaSpaceOf('~x.y#h'), { kind: 'user', pub: 'x.y' }); // pub before hash
  assert.deepEqual(seaSpaceOf('x~@alice'), { kind: 'user', pub: '.alice' }); // no key can sign for it
  assert.deepEqual(seaSpaceOf('#'), { kind: 'hash' });
  assert.deepEqual(seaSpaceOf('docs#'), { kind: 'hash' });
  assert.deepEqual(seaSpaceOf('x#y~z'), { kind: 'hash' });
  assert.deepEqual(seaSpaceOf('~abc#'), { kind: 'user', pub: 'abc.' }); // two parts, one empty
  assert.equal(pubOfSoul('~~x.y'), undefined); // empty text between the first two "~"
  assert.equal(pubOfSoul('a~x-1_2.y~z.w'), 'x-1_2.y');
});

test('textMatch is gun.js String.match', () => {
  assert.ok(textMatch('inbox', 'inbox'));
  assert.ok(!textMatch('inbox/x', 'inbox'));
  assert.ok(textMatch('inbox/x', { '*': 'inbox' }));
  assert.ok(!textMatch('outbox', { '*': 'inbox' }));
  assert.ok(textMatch('b', { '>': 'a', '<': 'c' }));
  assert.ok(!textMatch('d', { '>': 'a', '<': 'c' }));
  assert.ok(textMatch('zzz', { '>': 'a' }));
  assert.ok(textMatch('a', { '<': 'c' }));
  assert.ok(!textMatch('x', { '=': 'y', '*': 'x' }));
  assert.ok(!textMatch('x', { '*': '' })); // an empty prefix matches nothing in gun.js
  assert.ok(!textMatch('x', undefined));
  assert.ok(!textMatch(5, 'x'));
});

test('signatures: node:crypto and real SEA agree; value, key and state are all covered', async () => {
  const nc = rawPair();
  const key = publicKeyOf(nc.pub)!;
  const text = signedText('~' + nc.pub, 'profile', 'hello', NOW);
  assert.equal(text, JSON.stringify({ '#': '~' + nc.pub, '.': 'profile', ':': 'hello', '>': NOW }));
  const sig = seaSign(nc.priv, text);
  assert.ok(verifySignature(key, text, sig));
  assert.ok(!verifySignature(key, signedText('~' + nc.pub, 'profile', 'hacked', NOW), sig));
  assert.ok(!verifySignature(key, signedText('~' + nc.pub, 'name', 'hello', NOW), sig));
  assert.ok(!verifySignature(key, signedText('~' + nc.pub, 'profile', 'hello', NOW + 1), sig));
  assert.ok(!verifySignature(key, text, sig.slice(4)));
  assert.ok(!verifySignature(key, text, 'not base64 at all'));
  // sea.js leaves ">" out of the signed text when the state is 0
  assert.equal(signedText('s', 'k', 1, 0), '{"#":"s",".":"k",":":1}');

  const pair = await SEA.pair();
  const soul = '~' + pair.pub;
  const stored = await seaField(pair, soul, 'profile', { '#': soul + '/profile' }, NOW);
  const f = parseSignedField(stored)!;
  assert.deepEqual(f.value, { '#': soul + '/profile' });
  assert.ok(verifySignature(publicKeyOf(pair.pub)!, signedText(soul, 'profile', f.value, NOW), f.sig));
  assert.equal(parseSignedField('hello'), null);
  assert.equal(parseSignedField('{":":1}'), null);
  assert.equal(parseSignedField(5), null);
});

test('public keys: imports are cached, bad ones too, and the cache is bounded', () => {
  clearKeyCache();
  const nc = rawPair();
  const k = publicKeyOf(nc.pub);
  assert.ok(k);
  assert.equal(publicKeyOf(nc.pub), k, 'second lookup is the cached object');
  assert.equal(publicKeyOf('evilpub.evil'), null);
  assert.equal(publicKeyOf('nodot'), null);
  assert.equal(cachedKeyCount(), 3);
  for (let i = 0; i < MAX_CACHED_KEYS + 5; i++) publicKeyOf(`bad${i}.x`);
  assert.equal(cachedKeyCount(), MAX_CACHED_KEYS);
  assert.ok(publicKeyOf(nc.pub), 'evicted keys are imported again');
});

test('content hashes: base64 as SEA.work gives it, or hex', async () => {
  const h = await SEA.work('hello world', null, null, { name: 'SHA-256' });
  assert.ok(contentHashMatches(h, 'hello world'));
  assert.ok(contentHashMatches('prefix#' + h, 'hello world'));
  const hex = createHash('sha256').update('hello world').digest('hex');
  assert.ok(contentHashMatches(hex, 'hello world'));
  assert.ok(contentHashMatches(hex.toUpperCase(), 'hello world'));
  assert.ok(!contentHashMatches(h, 'hello world!'));
  assert.ok(contentHashMatches(createHash('sha256').update('5').digest('base64'), 5)); // non-strings: their JSON
  passes(put('#', { [h]: 'hello world' }));
  assert.match(refused(put('#', { [h]: 'forged' })), /^SEA: content hash of #\..* does not match its value$/);
  assert.match(refused(put('docs#', { abc: 'x' })), /content hash/);
});

test('user space: real SEA writes pass; forgeries are refused with the reason', async () => {
  const alice = await SEA.pair();
  const soul = '~' + alice.pub;
  const state = NOW - 1000;
  const profile = await seaField(alice, soul, 'profile', 'Alice', state);
  passes(put(soul, { pub: alice.pub, profile }, state));
  passes(put(soul + '/inbox', { x: await seaField(alice, soul + '/inbox', 'x', 1, state) }, state));

  assert.equal(refused(put(soul, { profile: 'hacked' })), `SEA: ${soul}.profile is not signed (want the string {":":value,"~":signature})`);
  const tampered = JSON.stringify({ ...JSON.parse(profile), ':': 'hacked' });
  assert.equal(refused(put(soul, { profile: tampered }, state)), `SEA: signature did not match for ${soul}.profile`);
  assert.match(refused(put(soul, { name: profile }, state)), /signature did not match/, 'a genuine signature under another key');
  assert.match(refused(put(soul, { profile }, state + 1)), /signature did not match/, 'a genuine signature replayed with another state');
  assert.match(refused(put(soul, { pub: 'someone.else' })), /must be the account's public key/);
  assert.match(refused(put(soul + '/x', { pub: alice.pub })), /not signed/, 'only ~pub.pub may be unsigned');
  // Signed by someone else entirely
  const mallory = rawPair();
  assert.match(refused(put(soul, { profile: signedField(mallory.priv, soul, 'profile', 'x', state) }, state)), /signature did not match/);
  // A "*" writer without a certificate: sea.js lets it in, we do not.
  const starred = signedField(mallory.priv, soul, 'profile', 'x', state, { '*': mallory.pub });
  assert.equal(refused(put(soul, { profile: starred }, state)), `SEA: ${soul}.profile is written by ${mallory.pub} without a certificate from the owner`);
  assert.match(refused(put(soul, { profile: signedField(mallory.priv, soul, 'profile', 'x', state, { '*': 5 }) }, state)), /"\*" must be the writer's public key/);
  assert.match(refused(put('~evil.pub', { a: signedField(mallory.priv, '~evil.pub', 'a', 1, state) }, state)), /"evil.pub" in ~evil.pub.a is not a public key/);
  // ordinary souls are untouched
  passes(put('jack', { name: 'anything' }));
  assert.equal(checkSeaWrite(put('jack', { name: 'x' }), EMPTY_GRAPH, NOW).ok, true);
});

test('aliases: ~@ holds links to ~@<alias>; ~@<alias> holds links "~<pub>" to themselves', () => {
  const nc = rawPair();
  passes(put('~@', { alice: { '#': '~@alice' } }));
  assert.match(refused(put('~@', { alice: { '#': '~@bob' } })), /^SEA: ~@\.alice must be a link to "~@alice" \(alias not same\)$/);
  assert.match(refused(put('~@', { alice: null })), /alias not same/);
  passes(put('~@alice', { ['~' + nc.pub]: { '#': '~' + nc.pub } }));
  assert.match(refused(put('~@alice', { ['~' + nc.pub]: { '#': '~someone.else' } })), /alias not same/);
  assert.match(refused(put('~@alice', { ['~' + nc.pub]: 'x' })), /alias not same/);
  // a link to itself, but no public key: GUN's relay takes it, we do not
  assert.match(refused(put('~@alice', { '~evilpub.evil': { '#': '~evilpub.evil' } })), /an alias lists "~" \+ a public key, not "~evilpub.evil"/);
  assert.match(refused(put('~@alice', { jack: { '#': 'jack' } })), /an alias lists "~" \+ a public key/);
});

test('certificates: allowed, outside the policy, expired, not by the owner, blocked', async () => {
  const [alice, bob, carol] = await Promise.all([SEA.pair(), SEA.pair(), SEA.pair()]);
  const A = '~' + alice.pub;
  const inbox = A + '/inbox';
  const state = NOW - 1000;
  const parse = (c: string) => JSON.parse(c.slice(3)) as unknown;
  const cert = parse(await SEA.certify(bob.pub, { '*': 'inbox', '+': '*' }, alice));
  const write = async (soul: string, key: string, value: unknown, c: unknown, by = bob, st = state) =>
    put(soul, { [key]: await seaField(by, soul, key, value, st, { '*': by.pub, '+': c }) }, st);

  passes(await write(inbox, bob.pub, 'hi alice', cert));
  passes(await write(A, 'inbox', { '#': inbox }, cert), undefined); // the link into the inbox: empty path
  assert.match(refused(await write(inbox, 'not-bob', 'hi', cert)), /^SEA: path "inbox" or key "not-bob" must contain the writer's pub \(~.*\/inbox\.not-bob\)$/);
  assert.match(refused(await write(A + '/profile', bob.pub, 'x', cert)), /certificate does not allow writing "profile\//);
  assert.match(refused(await write(inbox, carol.pub, 'x', cert, carol)), /certificate does not name the writer/);
  // signed by bob himself, not by the owner
  const selfMade = parse(await SEA.certify(bob.pub, { '*': 'inbox' }, bob));
  assert.match(refused(await write(inbox, bob.pub, 'x', selfMade)), /certificate is not signed by the owner/);
  const tampered = { ...(cert as Record<string, unknown>), m: { c: '*', w: { '*': '' } } };
  assert.match(refused(await write(inbox, bob.pub, 'x', tampered)), /certificate is not signed by the owner/);
  assert.match(refused(await write(inbox, bob.pub, 'x', 'SEA{nonsense')), /certificate is malformed/);

  // expiry: by the put's state and by the server's clock
  const shortLived = parse(await SEA.certify([bob.pub], { '*': 'inbox' }, alice, null, { expiry: NOW + 60_000 }));
  passes(await write(inbox, bob.pub, 'x', shortLived));
  assert.match(refused(await write(inbox, bob.pub, 'x', shortLived, bob, NOW + 120_000)), /certificate expired at/);
  assert.match(refused(await write(inbox, bob.pub, 'x', shortLived), new MemoryGraphStore(), NOW + 120_000), /certificate expired at/);

  // certificants: "*", and an array holding the writer (sea.js only finds "*" in it)
  const anyone = parse(await SEA.certify('*', { '*': 'inbox' }, alice));
  passes(await write(inbox, carol.pub, 'x', anyone, carol));
  const both = parse(await SEA.certify([bob.pub, carol.pub], { '*': 'inbox' }, alice));
  passes(await write(inbox, carol.pub, 'x', both, carol));

  // a write block in the owner's space, read from the room's graph
  const blocking = parse(await SEA.certify('*', { '*': 'inbox' }, alice, null, { block: 'blocked' }));
  const store = new MemoryGraphStore();
  passes(await write(inbox, bob.pub, 'x', blocking), store);
  const blockSoul = A + '/blocked';
  store.merge([
    { soul: A, fields: [{ key: 'blocked', value: await seaField(alice, A, 'blocked', { '#': blockSoul }, state), state }] },
    { soul: blockSoul, fields: [{ key: bob.pub, value: await seaField(alice, blockSoul, bob.pub, true, state), state }] },
  ], NOW);
  assert.match(refused(await write(inbox, bob.pub, 'x', blocking), store), /is on the certificate's write block/);
  passes(await write(inbox, carol.pub, 'x', blocking, carol), store);
});

test('checkCertificate: policy shapes of SEA.certify', async () => {
  const [alice, bob] = await Promise.all([SEA.pair(), SEA.pair()]);
  const parse = (c: string) => JSON.parse(c.slice(3)) as unknown;
  const check = async (policy: unknown, soul: string, key: string) => checkCertificate(
    { soul, key, state: NOW, owner: alice.pub, writer: bob.pub, cert: parse(await SEA.certify(bob.pub, policy, alice)), now: NOW },
    () => undefined);
  const A = '~' + alice.pub;
  assert.equal(await check('inbox', A, 'inbox'), '');
  assert.match(await check('inbox', A + '/inbox', 'x'), /does not allow/);
  assert.equal(await check({ '#': 'inbox', '.': { '*': 'msg' } }, A + '/inbox', 'msg1'), '');
  assert.match(await check({ '#': 'inbox', '.': { '*': 'msg' } }, A + '/inbox', 'other'), /does not allow/);
  assert.equal(await check(['profile', { '*': 'inbox' }], A + '/inbox', 'x'), '');
  assert.equal(await check({ '#': { '*': 'chat' } }, A + '/chat/2024', 'x'), '');
});

test('HAM first: ignored fields are not checked and are left out; equal ones pass unchecked', async () => {
  const alice = await SEA.pair();
  const soul = '~' + alice.pub;
  const store = new MemoryGraphStore();
  const state = NOW - 1000;
  const good = await seaField(alice, soul, 'profile', 'Alice', state);
  store.merge(put(soul, { profile: good }, state), NOW);

  // older state: HAM would ignore it, so it is not verified, and the checked graph leaves it out
  const r = checkSeaWrite([
    { soul, fields: [{ key: 'profile', value: 'forged but old', state: state - 1 }] },
    { soul: 'jack', fields: [{ key: 'name', value: 'Jack', state }] },
  ], store, NOW);
  assert.deepEqual(r, { ok: true, graph: [{ soul: 'jack', fields: [{ key: 'name', value: 'Jack', state }] }] });
  // the same value and state as stored: nothing to verify, nothing left out
  assert.deepEqual(checkSeaWrite(put(soul, { profile: good }, state), store, NOW), { ok: true });
  // equal state, lexically smaller value: HAM ignores it
  assert.deepEqual(checkSeaWrite(put(soul, { profile: 'A' }, state), store, NOW), { ok: true, graph: [] });
  // equal state, greater value: HAM would take it, so it is verified (and fails)
  assert.match(refused(put(soul, { profile: '{zzz' }, state), store), /not signed/);
  // a future state is deferred by HAM but relayed at once: verified now
  assert.match(refused(put(soul, { profile: 'x' }, NOW + 60_000), store), /not signed/);
  // a stored forged value (never through this check) is not re-verified when sent again unchanged
  store.merge(put(soul, { other: 'unsigned' }, state), NOW);
  assert.deepEqual(checkSeaWrite(put(soul, { other: 'unsigned' }, state), store, NOW), { ok: true });
});

test('graph store decide(): what merge would do, without doing it', () => {
  const store = new MemoryGraphStore();
  store.merge(put('s', { a: 'x' }, 10), NOW);
  assert.equal(store.decide('s', 'a', 'x', 10, NOW), 'same');
  assert.equal(store.decide('s', 'a', 'y', 10, NOW), 'accept'); // "y" > "x"
  assert.equal(store.decide('s', 'a', 'a', 10, NOW), 'ignore');
  assert.equal(store.decide('s', 'a', 'x', 9, NOW), 'ignore');
  assert.equal(store.decide('s', 'a', 'x', 11, NOW), 'accept');
  assert.equal(store.decide('s', 'b', 'x', NOW + 1, NOW), 'defer');
  assert.equal(store.decide('t', 'b', 'x', 1, NOW), 'accept');
  assert.equal(store.read('s')!.length, 1, 'decide changes nothing');
});
