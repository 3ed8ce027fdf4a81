// SEA end to end against the built server: real GUN+SEA clients (child processes, see
// test/helpers/gun-clients.ts) create a user, log in, write signed data and certified data into
// another user's space, and a second process logs in and reads it back; every kind of forgery
// is sent through every door (WebSocket put, legacy HTTP POST, legacy envelope) and refused,
// stored nowhere and relayed to no one. Users are few (user.create runs PBKDF2) and reused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { GunPeer, uid, type Msg } from './helpers/gun-wire.ts';
import { Session, NO_ACK_MS, isAck, isOnce, type ClientEvent, type GunClient } from './helpers/gun-clients.ts';
import { rawPair, signedField } from './helpers/sea-keys.ts';

const is = (event: string, id: string) => (e: ClientEvent) => e.event === event && e.id === id;

/** A node `{_:{#,>},…}` with one state for every field. */
const node = (soul: string, fields: Record<string, unknown>, state: number): Msg => ({
  _: { '#': soul, '>': Object.fromEntries(Object.keys(fields).map((k) => [k, state])) }, ...fields,
});

async function ackOk(c: GunClient, id: string): Promise<void> {
  const ack = await c.waitFor(`ack of ${id}`, isAck(id), NO_ACK_MS + 2_000);
  assert.equal(ack.err, null, `${id} was refused: ${JSON.stringify(ack)}`);
}

test('SEA: real users write and read back; every forgery is refused at every door', async (t) => {
  const s = new Session(t);
  const server = await s.startServer();
  const ROOM = '/sea-room';
  const url = server.http + ROOM;

  // Alice: a real account (alias + password). Bob: a real client logged in with a bare key pair.
  const [alice, bob] = await Promise.all([s.connected('alice', url), s.connected('bob', url)]);
  alice.send({ op: 'create', alias: 'alice', pass: 'alice-password-1', id: 'create' });
  bob.send({ op: 'auth', pair: true, id: 'auth' });
  const created = await alice.waitFor('user.create', is('created', 'create'));
  assert.equal(created.err, null, `create failed: ${JSON.stringify(created)}`);
  alice.send({ op: 'auth', alias: 'alice', pass: 'alice-password-1', id: 'auth' });
  const [aliceAuth, bobAuth] = await Promise.all([alice.waitFor('alice auth', is('authed', 'auth')), bob.waitFor('bob auth', is('authed', 'auth'))]);
  assert.equal(aliceAuth.err, null);
  const A = aliceAuth.pub as string;
  const bobPub = bobAuth.pub as string;
  const soul = '~' + A;

  alice.send({ op: 'uput', path: ['profile'], value: 'Alice', id: 'profile' });
  alice.send({ op: 'uput', path: ['about', 'city'], value: 'Paris', id: 'city' });
  // Certificates by Alice: Bob may write into her inbox under his pub; a raw writer likewise, and
  // once more with a certificate that expired a minute ago.
  const raw = rawPair();
  alice.send({ op: 'certify', who: bobPub, policy: { '*': 'inbox', '+': '*' }, id: 'cert-bob' });
  alice.send({ op: 'certify', who: raw.pub, policy: { '*': 'inbox', '+': '*' }, id: 'cert-raw' });
  alice.send({ op: 'certify', who: raw.pub, policy: { '*': 'inbox' }, expiry: Date.now() - 60_000, id: 'cert-old' });
  await Promise.all([ackOk(alice, 'profile'), ackOk(alice, 'city')]);
  const [certBob, certRaw, certOld] = (await Promise.all(['cert-bob', 'cert-raw', 'cert-old'].map((id) => alice.waitFor(id, is('cert', id)))))
    .map((e) => e.cert as string);
  bob.send({ op: 'uput', owner: A, path: ['inbox', bobPub], value: 'hi alice', cert: certBob, id: 'letter' });
  await ackOk(bob, 'letter');

  // Raw peers: a forger and a spy that must see no forged put.
  const forger = await GunPeer.connect(server.ws, ROOM);
  const spy = await GunPeer.connect(server.ws, ROOM);
  t.after(() => Promise.all([forger.close(), spy.close()]));
  const genuine = (await forger.ask({ '#': soul, '.': 'profile' })).put[soul];
  const profile = genuine.profile as string;
  const profileState = genuine._['>'].profile as number;
  assert.equal(JSON.parse(profile)[':'], 'Alice');

  // A genuine write by the raw writer under its certificate passes over a raw socket too.
  const inbox = soul + '/inbox';
  const now = Date.now();
  const certified = (cert: string, k: string, value: unknown, state: number, on = inbox) =>
    signedField(raw.priv, on, k, value, state, { '*': raw.pub, '+': JSON.parse(cert.slice(3)) });
  const rawLetter = await forger.putAck({ [inbox]: node(inbox, { [raw.pub]: certified(certRaw, raw.pub, 'raw hello', now) }, now) });
  assert.equal(rawLetter.ok, 1, `certified raw write refused: ${JSON.stringify(rawLetter)}`);

  const hashOfX = createHash('sha256').update('x').digest('base64');
  const forgeries: Array<[string, Msg, RegExp]> = [
    ['unsigned value', { [soul]: node(soul, { profile: 'hacked' }, now + 1) }, /^SEA: ~.*\.profile is not signed/],
    ['tampered value', { [soul]: node(soul, { profile: JSON.stringify({ ...JSON.parse(profile), ':': 'FORGED' }) }, profileState) }, /^SEA: signature did not match for ~.*\.profile$/],
    ['signature replayed with another state', { [soul]: node(soul, { profile }, profileState + 1) }, /^SEA: signature did not match/],
    ['genuine signature under another key', { [soul]: node(soul, { nickname: profile }, profileState) }, /^SEA: signature did not match/],
    ['unsigned entry in ~@alice', { '~@alice': node('~@alice', { '~evilpub.evil': { '#': '~evilpub.evil' } }, now) }, /^SEA: ~@alice\.~evilpub\.evil: an alias lists "~" \+ a public key/],
    ['~@ entry that is not its own alias', { '~@': node('~@', { alice: { '#': '~@mallory' } }, now) }, /alias not same/],
    ['"*" writer without a certificate', { [soul]: node(soul, { profile: signedField(raw.priv, soul, 'profile', 'FORGED', now, { '*': raw.pub }) }, now) }, /without a certificate from the owner/],
    ['certificate outside its policy', { [soul]: node(soul, { profile: certified(certRaw, 'profile', 'FORGED', now, soul) }, now) }, /certificate does not allow writing "profile"/],
    // (a later state than the raw letter's: at an equal one HAM would ignore "FORGED" < "raw hello" unchecked)
    ['expired certificate', { [inbox]: node(inbox, { [raw.pub]: certified(certOld, raw.pub, 'FORGED', now + 1) }, now + 1) }, /certificate expired at/],
    ['certificate for someone else', { [inbox]: node(inbox, { [raw.pub]: certified(certBob, raw.pub, 'FORGED', now + 1) }, now + 1) }, /certificate does not name the writer/],
    ['content hash of another value', { '#': node('#', { [hashOfX]: 'FORGED' }, now) }, /^SEA: content hash of #\..* does not match its value$/],
  ];

  for (const [what, graph, reason] of forgeries) {
    // WebSocket: err ack
    const ack = await forger.putAck(graph);
    assert.match(String(ack.err), reason, `${what} over WebSocket: ${JSON.stringify(ack)}`);
    assert.equal(ack.ok, undefined, `${what} over WebSocket was also acked ok`);
    // legacy HTTP POST: 403 with the error body
    const res = await fetch(url, { method: 'POST', body: JSON.stringify(graph), signal: AbortSignal.timeout(3000) });
    const body = await res.json() as Msg;
    assert.equal(res.status, 403, `${what} over HTTP: ${res.status} ${JSON.stringify(body)}`);
    assert.equal(body.error?.code, 'sea_rejected');
    assert.match(body.err, reason, `${what} over HTTP`);
    // legacy envelope: status 403 in the reply
    const rid = uid('ws-rid');
    forger.send({ url: { pathname: '/' }, headers: { 'ws-rid': rid }, body: graph });
    const reply = await forger.waitFor((m) => m.headers?.['ws-rid'] === rid, 2000, `envelope reply to ${what}`);
    assert.equal(reply.status, 403, `${what} over the envelope: ${JSON.stringify(reply)}`);
    assert.equal(reply.body?.error?.code, 'sea_rejected');
    assert.match(reply.body.err, reason, `${what} over the envelope`);
  }

  // In one batch, a forgery is refused and the ordinary put next to it is not.
  const [bad, ok] = [uid('bad'), uid('ok')];
  forger.send([{ '#': bad, put: forgeries[0][1] }, { '#': ok, put: { jack: node('jack', { name: 'Jack' }, now) } }]);
  assert.match(String((await forger.waitFor((m) => m['@'] === bad)).err), /^SEA:/);
  assert.equal((await forger.waitFor((m) => m['@'] === ok)).ok, 1);

  // Nothing forged was stored...
  const after = (await forger.ask({ '#': soul, '.': 'profile' })).put[soul];
  assert.equal(after.profile, profile);
  assert.equal(after._['>'].profile, profileState);
  const aliases = (await forger.ask({ '#': '~@alice' })).put['~@alice'];
  assert.deepEqual(Object.keys(aliases).filter((k) => k !== '_'), [soul]);
  assert.equal((await forger.ask({ '#': '#', '.': hashOfX }))['put'], undefined);
  // ...nor relayed: the spy got the ordinary puts (the batch's and the certified raw letter) only.
  await spy.waitFor((m) => m['#'] === ok, 2000, 'the batch\'s ordinary put');
  const relayed = spy.messages.filter((m) => m.put !== undefined).map((m) => Object.keys(m.put).join(','));
  assert.deepEqual(relayed, [inbox, 'jack'], `puts the spy saw: ${JSON.stringify(relayed)}`);

  // A second process logs in as Alice (reading her account from the server) and reads her data.
  const reader = await s.connected('alice-again', url);
  reader.send({ op: 'auth', alias: 'alice', pass: 'alice-password-1', id: 'auth' });
  const readerAuth = await reader.waitFor('second login', is('authed', 'auth'));
  assert.equal(readerAuth.err, null);
  assert.equal(readerAuth.pub, A);
  reader.send({ op: 'uonce', path: ['profile'], id: 'profile', wait: 1000 });
  reader.send({ op: 'uonce', path: ['about', 'city'], id: 'city', wait: 1000 });
  reader.send({ op: 'uonce', path: ['inbox', bobPub], id: 'letter', wait: 1000 });
  reader.send({ op: 'uonce', path: ['inbox', raw.pub], id: 'raw-letter', wait: 1000 });
  const [p, c, l, r] = await Promise.all(['profile', 'city', 'letter', 'raw-letter'].map((id) => reader.waitFor(id, isOnce(id))));
  assert.equal(p.value, 'Alice');
  assert.equal(c.value, 'Paris');
  assert.equal(l.value, 'hi alice');
  assert.equal(r.value, 'raw hello');
});

test('SEA on get replies and relays: a forged reply is neither merged nor routed; unchecked fields are not relayed', async (t) => {
  const s = new Session(t);
  const server = await s.startServer();
  const ROOM = '/sea-replies';
  const [asker, holder, spy] = await Promise.all([GunPeer.connect(server.ws, ROOM), GunPeer.connect(server.ws, ROOM), GunPeer.connect(server.ws, ROOM)]);
  t.after(() => Promise.all([asker.close(), holder.close(), spy.close()]));
  const owner = rawPair();
  const soul = '~' + owner.pub;
  const state = Date.now() - 10_000;

  // The server has nothing; the get goes on to the holder, whose forged answer is dropped.
  const forgedGet = asker.get({ '#': soul });
  await asker.waitFor((m) => m['@'] === forgedGet && m.put === undefined, 2000, 'explicit not-found');
  const ask1 = await holder.waitFor((m) => m['#'] === forgedGet && m.get !== undefined);
  holder.send({ '#': uid('r'), '@': ask1['#'], put: { [soul]: node(soul, { name: 'FORGED' }, state) } });
  // A genuine answer to a second get is routed; it also shows the forged one would have come first.
  const goodGet = asker.get({ '#': soul, '.': 'bio' });
  const ask2 = await holder.waitFor((m) => m['#'] === goodGet && m.get !== undefined);
  const bio = signedField(owner.priv, soul, 'bio', 'genuine', state);
  holder.send({ '#': uid('r'), '@': ask2['#'], put: { [soul]: node(soul, { bio }, state) } });
  const routed = await asker.waitFor((m) => m['@'] === goodGet && m.put !== undefined, 2000, 'the genuine reply');
  assert.equal(routed.put[soul].bio, bio);
  assert.equal(asker.messages.filter((m) => m['@'] === forgedGet && m.put !== undefined).length, 0, 'forged reply routed');
  const stored = (await spy.ask({ '#': soul })).put[soul];
  assert.deepEqual(Object.keys(stored).filter((k) => k !== '_'), ['bio'], 'only the genuine reply was merged');

  // A put holding a stale (older) field of a SEA soul next to an ordinary one: HAM would ignore
  // the stale field, so it is not verified, not stored and left out of what is relayed.
  const mixed = uid('mixed');
  asker.send({ '#': mixed, put: { [soul]: node(soul, { bio: 'stale and unsigned' }, state - 1), jill: node('jill', { name: 'Jill' }, state) } });
  assert.equal((await asker.waitFor((m) => m['@'] === mixed)).ok, 1);
  const relayed = await spy.waitFor((m) => m['#'] === mixed, 2000, 'the relayed put');
  assert.deepEqual(relayed.put, { jill: node('jill', { name: 'Jill' }, state) });
  // A forged HTTP write into a room that does not exist is refused before the room is made.
  const res = await fetch(`${server.http}/sea-nowhere`, { method: 'POST', body: JSON.stringify({ [soul]: node(soul, { bio: 'FORGED' }, state) }), signal: AbortSignal.timeout(3000) });
  assert.equal(res.status, 403);
  const stats = await (await fetch(`${server.http}/_/stats`, { signal: AbortSignal.timeout(3000) })).json() as { rooms: Record<string, unknown> };
  assert.ok(!('/sea-nowhere' in stats.rooms), `a refused write created its room: ${Object.keys(stats.rooms).join(', ')}`);

  // The common path relays the text unchanged.
  const plain = uid('plain');
  const text = `{"#":"${plain}","put":{"jack":{"_":{"#":"jack",">":{"a":1}},"a":1}},"extra":true}`;
  asker.send(text);
  await spy.waitFor((m) => m['#'] === plain);
  assert.ok(spy.frames.includes(text), 'relayed verbatim');
});
