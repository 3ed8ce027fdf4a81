// The `multisocket` command as a user runs it: flags, environment, TLS, privilege drop, npm start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import WebSocket from 'ws';
import { CLI, ROOT, startServer, lines } from './helpers/server.ts';

const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 10_000 });

test('--help and --version', () => {
  const help = run(['--help']);
  assert.equal(help.status, 0);
  for (const flag of ['--port', '--host', '--ssl-key', '--ssl-cert', '--room-ttl', '--max-rooms', '--max-peers-per-room', '--max-message-bytes', '--uid', '--gid', '--log-level', 'MULTISOCKET_ROOM_TTL']) {
    assert.ok(help.stdout.includes(flag), flag);
  }
  const version = run(['-V']);
  assert.equal(version.status, 0);
  assert.equal(version.stdout.trim(), JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')).version);
});

test('bad flags and unreadable key files exit non-zero with one clear line', () => {
  for (const [args, env, pattern] of [
    [['--bogus'], {}, /Unknown option '--bogus'/],
    [['--port', 'x'], {}, /--port: expected a whole number/],
    [['--ssl-key', '/no/such/key.pem', '--ssl-cert', '/no/such/cert.pem'], {}, /cannot read TLS key file \/no\/such\/key.pem: ENOENT/],
    [[], { MULTISOCKET_ROOM_TTL: 'forever' }, /MULTISOCKET_ROOM_TTL/],
    [[], { SSL: 'true' }, /SSLKEY/],
    [['--jwt-secret', 'short'], {}, /--jwt-secret: a JWT secret needs at least 32 bytes/],
    [['--jwt-public-key', '/no/such/key.pem'], {}, /--jwt-public-key: cannot read a PEM public key from \/no\/such\/key.pem: ENOENT/],
    [['--public-rooms', '/lobby'], {}, /--public-rooms needs --jwt-secret/],
    [['--jwt-secret', 'x'.repeat(40), '--public-rooms', 'lobby'], {}, /--public-rooms: a room glob starts with "\/"/],
    [['--allowed-origins', 'example.com'], {}, /--allowed-origins: expected \* or origins/],
    [['--trust-proxy', 'maybe'], {}, /--trust-proxy: expected a number of proxies/],
    [['--max-connections=-1'], {}, /--max-connections: expected a whole number/],
    [['--max-connections', '-1'], {}, /argument is ambiguous\. Did you forget/],
    [[], { MULTISOCKET_DRAIN_TIMEOUT: 'soon' }, /MULTISOCKET_DRAIN_TIMEOUT: expected seconds/],
    [['--admin-token', 'short'], {}, /--admin-token: an admin token needs at least 16 bytes/],
  ] as Array<[string[], Record<string, string>, RegExp]>) {
    const r = run(args, env);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('a port already in use exits non-zero with one line', async () => {
  const blocker = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => blocker.once('listening', r));
  const port = (blocker.address() as net.AddressInfo).port;
  const r = run(['--host', '127.0.0.1', '--port', String(port)]);
  blocker.close();
  assert.equal(r.status, 1);
  assert.match(r.stderr, /EADDRINUSE/);
});

const tlsEnv = { SSL: 'true', SSLKEY: `${ROOT}/test/fixtures/tls/key.pem`, SSLCERT: `${ROOT}/test/fixtures/tls/cert.pem` };
const ca = readFileSync(`${ROOT}/test/fixtures/tls/cert.pem`);

test('SSL=true SSLKEY SSLCERT serves HTTPS and WSS', async (t) => {
  const server = await startServer({ env: tlsEnv });
  t.after(() => server.stop());
  assert.match(server.logs.join('\n'), /"url":"https:/);
  const health = await new Promise<string>((resolve, reject) => {
    https.get(`https://127.0.0.1:${server.port}/_/health`, { ca, servername: 'localhost' }, (res) => {
      let body = ''; res.on('data', (c) => (body += c)); res.on('end', () => resolve(body));
    }).on('error', reject);
  });
  assert.equal(JSON.parse(health).status, 'ok');
  const ws = new WebSocket(`wss://127.0.0.1:${server.port}/tls-room`, { ca, servername: 'localhost' } as WebSocket.ClientOptions);
  const greeting = await new Promise<string>((resolve, reject) => { ws.once('message', (d) => resolve(d.toString())); ws.once('error', reject); });
  assert.equal(JSON.parse(greeting).dam, '?');
  ws.close();
});

test('--ssl-key/--ssl-cert flags serve HTTPS; SSL=false really means plain HTTP', async (t) => {
  const secure = await startServer({ args: ['--ssl-key', tlsEnv.SSLKEY, '--ssl-cert', tlsEnv.SSLCERT] });
  t.after(() => secure.stop());
  assert.match(secure.logs.join('\n'), /"tls":true/);
  const plain = await startServer({ env: { ...tlsEnv, SSL: 'false' } });
  t.after(() => plain.stop());
  const res = await fetch(`${plain.http}/_/health`);
  assert.equal(res.status, 200);
});

test('--uid/--gid drop privileges after binding', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async (t) => {
  const server = await startServer({ args: ['--uid', '65534', '--gid', '65534'] });
  t.after(() => server.stop());
  const status = readFileSync(`/proc/${server.proc.pid}/status`, 'utf8');
  assert.match(status, /^Uid:\s+65534\s/m);
  assert.match(status, /^Gid:\s+65534\s/m);
  assert.equal((await fetch(`${server.http}/_/health`)).status, 200);
});

test('npm start runs the server on PORT and HOST, and SIGTERM stops it with exit 0', async () => {
  // find a free port below the ephemeral range
  const port = 20000 + Math.floor(Math.random() * 10000);
  const proc = spawn('npm', ['start', '--silent'], { cwd: ROOT, env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', npm_config_loglevel: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('npm start did not listen:\n' + out.join('\n'))), 30_000);
      const onLine = (l: string) => { out.push(l); if (l.includes('"msg":"listening"')) { clearTimeout(timer); resolve(); } };
      lines(proc.stdout!, onLine);
      lines(proc.stderr!, onLine);
      proc.once('exit', (c) => { clearTimeout(timer); reject(new Error(`npm start exited ${c}:\n${out.join('\n')}`)); });
    });
    const listening = JSON.parse(out.find((l) => l.includes('"msg":"listening"'))!);
    assert.equal(listening.port, port);
    assert.equal(listening.host, '127.0.0.1');
    assert.equal((await fetch(`http://127.0.0.1:${port}/_/health`)).status, 200);
  } finally {
    proc.kill('SIGTERM');
  }
  const code = await new Promise((r) => proc.once('exit', r));
  assert.equal(code, 0);
});

test('the listening line is printed at every log level but silent (it is how a supervisor learns the port)', async (t) => {
  const server = await startServer({ args: ['--log-level', 'warn'] });
  t.after(() => server.stop());
  assert.ok(server.port > 0);
});
