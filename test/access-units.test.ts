// Unit tests of the access pieces (no sockets): room globs, perms claims, token verification
// outcomes, client addresses behind proxies, origin matching, per-address limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { roomMatcher, compileRoomGlob } from '../src/access/room-glob.ts';
import { ALL_PERMS, DEFAULT_PERMS, Perm, permNames, permsFromClaim, READ_GROUP, WRITE_GROUP } from '../src/access/permissions.ts';
import { TokenVerifier } from '../src/access/token-verifier.ts';
import { RoomAccess } from '../src/access/room-access.ts';
import { isRefusal, type AccessRefusal, type Principal } from '../src/access/principal.ts';
import { clientAddress, limitKey } from '../src/server/client-address.ts';
import { OriginPolicy } from '../src/server/origin-policy.ts';
import { ConnectionLimits } from '../src/server/connection-limits.ts';
import { redactToken, requestToken } from '../src/server/request-token.ts';
import { queryParams } from '../src/server/query-params.ts';
const queryParam = (url: string, name: string) => queryParams(url).get(name);

const SECRET = new TextEncoder().encode('a-test-secret-that-is-long-enough-32+');
const sign = (claims: Record<string, unknown>, exp: string | number | undefined = '1h', key: Uint8Array = SECRET) => {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (exp !== undefined) jwt = jwt.setExpirationTime(exp);
  return jwt.sign(key);
};
const refusal = (v: Principal | AccessRefusal): AccessRefusal => { assert.ok(isRefusal(v), `expected a refusal, got ${JSON.stringify(v)}`); return v; };
const principal = (v: Principal | AccessRefusal): Principal => { assert.ok(!isRefusal(v), `expected a principal, got ${JSON.stringify(v)}`); return v; };

test('room globs: * within a segment, ** across segments, the rest literal', () => {
  const m = roomMatcher(['/team/*', '/org/**', '/exact.room', '/a+b']);
  assert.ok(m('/team/a'));
  assert.ok(!m('/team/a/b'), '* stays in one segment');
  assert.ok(!m('/team'), '/team/* needs a segment');
  assert.ok(m('/org/x'));
  assert.ok(m('/org/x/y/z'));
  assert.ok(!m('/org'));
  assert.ok(m('/exact.room'));
  assert.ok(!m('/exactXroom'), '"." is literal');
  assert.ok(m('/a+b'));
  assert.ok(roomMatcher(['/**'])('/'), '/** matches every room, / included');
  assert.ok(roomMatcher(['/**'])('/ünïcode/ 空'));
  assert.ok(!roomMatcher([])('/x'));
  assert.throws(() => compileRoomGlob('team/*'), /starts with "\/"/);
});

test('perms claim: names, groups, defaults, malformed', () => {
  assert.equal(permsFromClaim(undefined), DEFAULT_PERMS);
  assert.equal(permsFromClaim(['read']), READ_GROUP);
  assert.equal(permsFromClaim('write'), WRITE_GROUP);
  assert.equal(permsFromClaim(['admin']), ALL_PERMS);
  assert.equal(permsFromClaim(['publish', 'subscribe']), Perm.PUBLISH | Perm.SUBSCRIBE);
  assert.equal(permsFromClaim(['fly', 'publish']), Perm.PUBLISH, 'unknown names grant nothing');
  assert.equal(permsFromClaim([]), 0);
  assert.equal(permsFromClaim([1]), null);
  assert.equal(permsFromClaim({ read: true }), null);
  assert.equal(permsFromClaim(['__proto__', 'constructor']), 0, 'prototype names are not permissions');
  assert.ok(!(READ_GROUP & Perm.PUBLISH) && !(WRITE_GROUP & Perm.SUBSCRIBE), 'the groups do not overlap');
  assert.deepEqual(permNames(READ_GROUP), ['read', 'subscribe', 'serve', 'pull', 'presence']);
  assert.deepEqual(permNames(ALL_PERMS), ['admin']);
});

test('token verifier: good, expired, not yet valid, bad signature, wrong algorithm, malformed claims', async () => {
  const v = new TokenVerifier({ secret: SECRET });
  const good = principal(await v.verify(await sign({ sub: 'alice', rooms: ['/team/*'], perms: ['read'] })));
  assert.equal(good.user, 'alice');
  assert.equal(good.perms, READ_GROUP);
  assert.ok(good.rooms!('/team/x') && !good.rooms!('/other'));
  assert.ok(good.expiresAt! > Date.now());

  assert.equal(refusal(await v.verify(await sign({}, Math.floor(Date.now() / 1000) - 60))).code, 'token_expired');
  const early = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setNotBefore('1h').sign(SECRET);
  assert.match(refusal(await v.verify(early)).message, /not valid yet/);
  const forged = await sign({ sub: 'alice' }, '1h', new TextEncoder().encode('another-secret-that-is-long-enough-32'));
  assert.equal(refusal(await v.verify(forged)).code, 'token_invalid');
  // alg "none" and a token signed with the public key as an HMAC secret are classic forgeries.
  const none = Buffer.from('{"alg":"none"}').toString('base64url') + '.' + Buffer.from('{"sub":"x"}').toString('base64url') + '.';
  assert.equal(refusal(await v.verify(none)).code, 'token_invalid');
  assert.equal(refusal(await v.verify('garbage')).code, 'token_invalid');
  assert.equal(refusal(await v.verify('a.b.c')).code, 'token_invalid');
  assert.equal(refusal(await v.verify('x'.repeat(9000))).code, 'token_invalid');
  assert.match(refusal(await v.verify(await sign({ rooms: 'team' }))).message, /rooms/);
  assert.match(refusal(await v.verify(await sign({ perms: 'x'.length }))).message, /perms/);
  assert.match(refusal(await v.verify(await sign({ sub: 7 }))).message, /sub/);
  // A second look at a good token is served from the cache and still checks expiry.
  const short = await sign({ sub: 'bob' }, Math.floor(Date.now() / 1000) + 1);
  principal(await v.verify(short));
  assert.equal(refusal(await v.verify(short, Date.now() + 10_000)).code, 'token_expired');
});

test('token verifier: asymmetric keys pick their algorithm; HS256 with the public key is refused', async () => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const v = new TokenVerifier({ publicKey: { key: publicKey, algorithms: ['ES256'] } });
  const es = await new SignJWT({ sub: 'carol' }).setProtectedHeader({ alg: 'ES256' }).setExpirationTime('1h').sign(privateKey);
  assert.equal(principal(await v.verify(es)).user, 'carol');
  const hs = await new SignJWT({ sub: 'mallory' }).setProtectedHeader({ alg: 'HS256' }).sign(new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })));
  assert.equal(refusal(await v.verify(hs)).code, 'token_invalid');
});

test('room access: off, public rooms, token required, other rooms, refresh rules, admin', async () => {
  const open = new RoomAccess({ publicRooms: [] });
  assert.equal(open.enabled, false);
  assert.equal(principal(await open.admit('/x', undefined)).perms, ALL_PERMS);

  const access = new RoomAccess({ keys: { secret: SECRET }, publicRooms: ['/lobby/**'] });
  assert.equal(principal(await access.admit('/lobby/a', undefined)).perms, DEFAULT_PERMS);
  const none = refusal(await access.admit('/x', undefined));
  assert.deepEqual([none.status, none.code], [401, 'token_required']);
  const team = await sign({ sub: 'alice', rooms: ['/team/*'] });
  const other = refusal(await access.admit('/elsewhere', team));
  assert.deepEqual([other.status, other.code], [403, 'forbidden']);
  const alice = principal(await access.admit('/team/a', team));
  assert.equal(principal(await access.refresh('/team/a', await sign({ sub: 'alice', rooms: ['/team/*'], perms: ['read'] }), alice)).perms, READ_GROUP);
  assert.equal(refusal(await access.refresh('/team/a', await sign({ sub: 'bob' }), alice)).code, 'forbidden');
  assert.equal(refusal(await access.refresh('/team/a', await sign({ sub: 'alice', rooms: ['/b'] }), alice)).code, 'forbidden');
  assert.equal(refusal(await access.admin(undefined)).status, 401);
  assert.equal(refusal(await access.admin(team)).status, 403);
  principal(await access.admin(await sign({ perms: ['admin'] })));
});

const req = (remoteAddress: string, headers: Record<string, string> = {}) => ({ socket: { remoteAddress }, headers }) as unknown as IncomingMessage;

test('client address: socket address unless --trust-proxy, then counted from the right', () => {
  assert.equal(clientAddress(req('::ffff:10.0.0.1', { 'x-forwarded-for': '6.6.6.6' }), 0), '10.0.0.1', 'no trust: the header is ignored');
  assert.equal(clientAddress(req('10.0.0.1', { 'x-forwarded-for': '6.6.6.6, 1.2.3.4' }), 1), '1.2.3.4', 'one proxy: its entry, not the spoofable left one');
  assert.equal(clientAddress(req('10.0.0.1', { 'x-forwarded-for': '6.6.6.6, 1.2.3.4, 10.0.0.2' }), 2), '1.2.3.4');
  assert.equal(clientAddress(req('10.0.0.1', { 'x-forwarded-for': '1.2.3.4' }), 3), '10.0.0.1', 'fewer entries than proxies: the socket');
  assert.equal(clientAddress(req('10.0.0.1', { forwarded: 'for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711"' }), 1), '2001:db8:cafe::17');
  assert.equal(clientAddress(req('10.0.0.1'), 1), '10.0.0.1');
  assert.equal(limitKey('1.2.3.4'), '1.2.3.4');
  assert.equal(limitKey('2001:db8:0:1:aaaa::1'), '2001:db8:0:1::/64');
  assert.equal(limitKey('2001:db8::1'), limitKey('2001:0db8:0000:0000:ffff::2'), 'one /64, however it is written');
});

test('origin policy: any, exact, subdomain wildcard, no Origin header', () => {
  const any = new OriginPolicy(['*']);
  assert.ok(any.allows('https://evil.example'));
  assert.deepEqual(any.corsHeaders('https://x'), { 'Access-Control-Allow-Origin': '*' });
  const p = new OriginPolicy(['https://app.example.com', 'https://*.example.org']);
  assert.ok(p.allows(undefined), 'no Origin: not a browser page');
  assert.ok(p.allows('https://app.example.com'));
  assert.ok(p.allows('HTTPS://APP.EXAMPLE.COM'));
  assert.ok(!p.allows('https://app.example.com.evil.io'));
  assert.ok(!p.allows('http://app.example.com'), 'scheme matters');
  assert.ok(p.allows('https://a.example.org'));
  assert.ok(p.allows('https://a.b.example.org'));
  assert.ok(!p.allows('https://example.org'), '*. needs a subdomain');
  assert.ok(!p.allows('https://evilexample.org'));
  assert.ok(!p.allows('null'));
  assert.deepEqual(p.corsHeaders('https://a.example.org'), { 'Access-Control-Allow-Origin': 'https://a.example.org', Vary: 'Origin' });
  assert.deepEqual(new OriginPolicy(['https://one.example']).corsHeaders(undefined), { 'Access-Control-Allow-Origin': 'https://one.example', Vary: 'Origin' });
});

test('connection limits: total, per address, connect rate, rooms per minute, released on close', () => {
  const l = new ConnectionLimits({ maxConnections: 3, maxConnectionsPerIp: 2, connectRatePerIp: 0, newRoomsPerIp: 2 });
  try {
    assert.equal(l.open('1.1.1.1'), null);
    assert.equal(l.open('1.1.1.1'), null);
    assert.equal(l.open('1.1.1.1')?.code, 'too_many_connections_from_address');
    assert.equal(l.open('2.2.2.2'), null);
    assert.equal(l.open('3.3.3.3')?.code, 'too_many_connections');
    l.close('1.1.1.1');
    assert.equal(l.open('1.1.1.1'), null);
    const t0 = 1_000_000;
    assert.ok(l.mayCreateRoom('9.9.9.9', t0) && l.mayCreateRoom('9.9.9.9', t0));
    assert.ok(!l.mayCreateRoom('9.9.9.9', t0));
    assert.ok(l.mayCreateRoom('9.9.9.9', t0 + 30_000), 'the budget refills over the minute');
    assert.equal(l.roomsRefused, 1);
  } finally { l.stop(); }
  const r = new ConnectionLimits({ maxConnections: 0, maxConnectionsPerIp: 0, connectRatePerIp: 2, newRoomsPerIp: 0 });
  try {
    const t0 = 5_000_000;
    assert.equal(r.open('1.1.1.1', t0), null);
    assert.equal(r.open('1.1.1.1', t0), null);
    assert.equal(r.open('1.1.1.1', t0)?.code, 'connect_rate_limited');
    assert.equal(r.open('1.1.1.1', t0 + 600), null, 'refilled after half a second');
  } finally { r.stop(); }
});

test('request token: Bearer header first, then ?token=; raw paths never throw; logs redact it', () => {
  assert.equal(queryParam('//x?token=a%20b', 'token'), 'a b');
  assert.equal(queryParam('//', 'token'), null);
  assert.equal(queryParam('/r?x=1#token=no', 'token'), null);
  assert.equal(requestToken({ headers: { authorization: 'Bearer abc' }, url: '/r?token=q' } as unknown as IncomingMessage), 'abc');
  assert.equal(requestToken({ headers: {}, url: '/r?token=q' } as unknown as IncomingMessage), 'q');
  assert.equal(requestToken({ headers: { authorization: 'Basic x' }, url: '/r' } as unknown as IncomingMessage), undefined);
  assert.equal(redactToken('/r?a=1&token=secret&b=2'), '/r?a=1&token=…&b=2');
});
