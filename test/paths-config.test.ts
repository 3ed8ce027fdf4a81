// Room naming and configuration parsing: pure functions, no sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { roomFromUrl } from '../src/rooms/room-path.ts';
import { parseConfig, ConfigError, DEFAULTS } from '../src/config.ts';
import { queryParams } from '../src/server/query-params.ts';

test('room paths: normalization rules', () => {
  const room = (u: string) => { const r = roomFromUrl(u); assert.ok(r.ok, u); return r.room; };
  assert.equal(room('/room-a'), '/room-a');
  assert.equal(room('/room-a/'), '/room-a');
  assert.equal(room('//room-a//'), '/room-a');
  assert.equal(room('/room-a?x=1'), '/room-a');
  assert.equal(room('/Room-A'), '/Room-A'); // case is kept
  assert.equal(room('/a/b'), '/a/b');
  assert.equal(room('/caf%C3%A9'), '/café');
  assert.equal(room('/caf%c3%a9'), '/café');
  assert.equal(room('/'), '/');
  assert.equal(room(''), '/');
  assert.equal(room('/gun'), '/gun');
  const r = roomFromUrl('/_/health');
  assert.ok(r.ok && r.reserved);
  assert.ok(roomFromUrl('/__x').ok && !(roomFromUrl('/__x') as { reserved: boolean }).reserved);
});

test('room paths: refused spellings', () => {
  for (const u of ['/%zz', '/a/%2F/b', '/a/../b', '/./a', '/a%00']) {
    const r = roomFromUrl(u);
    assert.equal(r.ok, false, u);
    if (!r.ok) assert.equal(r.status, 400);
  }
  for (const u of ['http://a:99999/r', '*', 'x/y']) {
    const r = roomFromUrl(u);
    assert.ok(!r.ok && r.status === 400 && /must be a path/.test(r.error), u);
  }
  const long = roomFromUrl('/' + 'x'.repeat(600));
  assert.ok(!long.ok && long.status === 414);
});

test('query parameters of raw request targets, including ones new URL() cannot parse', () => {
  const q = (u: string) => Object.fromEntries(queryParams(u));
  assert.deepEqual(q('//?since=3&topics=a,b'), { since: '3', topics: 'a,b' });
  assert.deepEqual(q('//[x]/r?jsonp=cb'), { jsonp: 'cb' });
  assert.deepEqual(q('/r?%23=s%20x&*=p'), { '#': 's x', '*': 'p' });
  assert.deepEqual(q('/r?a=1#b=2'), { a: '1' });
  assert.deepEqual(q('/r#x?a=1'), {});
  assert.deepEqual(q('////'), {});
  assert.deepEqual(q('/r?'), {});
});

const run = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const a = parseConfig(argv, env);
  assert.equal(a.kind, 'run');
  return (a as { config: import('../src/config.ts').Config }).config;
};

test('config: defaults', () => {
  const c = run([]);
  assert.equal(c.port, 8765);
  assert.equal(c.roomTtlMs, 300_000);
  assert.equal(c.tls, undefined);
  assert.equal(c.maxMessageBytes, DEFAULTS.maxMessageBytes);
});

test('config: flags beat MULTISOCKET_ env, which beats PORT/HOST', () => {
  assert.equal(run([], { PORT: '1234' }).port, 1234);
  assert.equal(run([], { PORT: '1234', MULTISOCKET_PORT: '2345' }).port, 2345);
  assert.equal(run(['-p', '3456'], { PORT: '1234', MULTISOCKET_PORT: '2345' }).port, 3456);
  assert.equal(run([], { HOST: '127.0.0.2' }).host, '127.0.0.2');
  assert.equal(run([], { MULTISOCKET_ROOM_TTL: '1.5' }).roomTtlMs, 1500);
  assert.equal(run(['--room-ttl', '2']).roomTtlMs, 2000);
  assert.equal(run([], { MULTISOCKET_MAX_PEERS_PER_ROOM: '7' }).maxPeersPerRoom, 7);
  assert.equal(run(['--log-level', 'warn']).logLevel, 'warn');
  assert.equal(run([]).historyBytes, 8 * 1024 * 1024);
  assert.equal(run([], { MULTISOCKET_HISTORY_BYTES: '1000' }).historyBytes, 1000);
  assert.equal(run(['--history-bytes', '0'], { MULTISOCKET_HISTORY_BYTES: '1000' }).historyBytes, 0);
});

test('config: TLS from flags and from the seed variables; SSL=false means off', () => {
  const key = 'test/fixtures/tls/key.pem', cert = 'test/fixtures/tls/cert.pem';
  assert.ok(run(['--ssl-key', key, '--ssl-cert', cert]).tls);
  assert.ok(run([], { SSL: 'true', SSLKEY: key, SSLCERT: cert }).tls);
  assert.equal(run([], { SSL: 'false', SSLKEY: key, SSLCERT: cert }).tls, undefined);
  assert.equal(run([], { SSL: '' }).tls, undefined);
});

test('config: bad input is one clear error', () => {
  const bad: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['--nope'], {}, /Unknown option/],
    [['--port', 'abc'], {}, /--port/],
    [['--port', '70000'], {}, /--port/],
    [[], { PORT: '-1' }, /PORT/],
    [['--room-ttl', 'soon'], {}, /--room-ttl/],
    [['--history-bytes', '8M'], {}, /--history-bytes/],
    [['--log-level', 'loud'], {}, /--log-level/],
    [['--ssl-key', 'test/fixtures/tls/key.pem'], {}, /both/],
    [['--ssl-key', '/nonexistent.pem', '--ssl-cert', '/nonexistent.pem'], {}, /cannot read TLS key file/],
    [[], { SSL: 'true' }, /SSLKEY/],
    [[], { SSL: 'maybe' }, /SSL/],
    [['extra'], {}, /positional/],
  ];
  for (const [argv, env, msg] of bad) {
    assert.throws(() => parseConfig(argv, env), (e: unknown) => e instanceof ConfigError && msg.test(e.message) && !e.message.includes('\n'), argv.join(' ') + JSON.stringify(env));
  }
});

test('config: help and version', () => {
  assert.equal(parseConfig(['-h'], {}).kind, 'help');
  assert.equal(parseConfig(['-V'], {}).kind, 'version');
});
