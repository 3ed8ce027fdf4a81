// Logs (docs/operations.md "Logs"): pino's JSON lines in today's shape, `--log-format pretty`, one
// line per refused upgrade and per close for a protocol reason (room, cid, code), throttled per
// kind, and nothing per message above debug. Real server in a child process, real sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import WebSocket from 'ws';
import { CLI, ROOT, lines, startServer, type RunningServer } from './helpers/server.ts';
import { prettyLine } from '../src/log-pretty.ts';
import { LogThrottle } from '../src/log-throttle.ts';
import { createLogger } from '../src/log.ts';
import { startEngine } from './helpers/cluster.ts';
import { SignJWT } from 'jose';

const GOOD = 'http://good.example';
const SUBPROTOCOL = 'multisocket.v1';

type Rec = Record<string, unknown>;
const records = (server: RunningServer): Rec[] => server.logs.flatMap((l) => { try { return [JSON.parse(l) as Rec]; } catch { return []; } });

async function waitFor<T>(find: () => T | undefined, label: string, logs: string[], timeoutMs = 4000): Promise<T> {
  for (const end = Date.now() + timeoutMs; Date.now() < end;) {
    const found = find();
    if (found !== undefined) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`${label}; log:\n${logs.slice(-15).join('\n')}`);
}

/** An upgrade the server answers with an HTTP error: resolves with the status. */
function refusedUpgrade(url: string, opts: WebSocket.ClientOptions & { protocols?: string[] } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts.protocols ?? [], opts);
    ws.once('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); res.resume(); ws.terminate(); });
    ws.once('open', () => { ws.close(); reject(new Error(`upgrade to ${url} was accepted`)); });
    ws.once('error', () => {}); // the unexpected response above settles it
  });
}

/** A native member: resolves once its `connect` arrived, with the socket and its cid. */
async function member(url: string): Promise<{ ws: WebSocket; cid: string; frames: Rec[] }> {
  const ws = new WebSocket(url, [SUBPROTOCOL], { origin: GOOD });
  const frames: Rec[] = [];
  ws.on('message', (d) => frames.push(JSON.parse(String(d)) as Rec));
  const [first] = await once(ws, 'message');
  const connect = JSON.parse(String(first)) as Rec;
  assert.equal(connect.type, 'connect');
  return { ws, cid: connect.cid as string, frames };
}

test('json: refused upgrades and a 1009 close are one line each, with room, cid, address and code; floods are throttled; messages are not logged', async (t) => {
  const server = await startServer({ args: ['--log-format', 'json', '--allowed-origins', GOOD, '--max-message-bytes', '1024'] });
  t.after(() => server.stop());

  // today's shape: level as a label, ISO time, msg, no pid/hostname
  const listening = records(server).find((r) => r.msg === 'listening')!;
  assert.equal(listening.level, 'info');
  assert.match(String(listening.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(listening.pid, undefined);
  assert.equal(listening.hostname, undefined);

  // a page from another origin: 403, one info line
  assert.equal(await refusedUpgrade(`${server.ws}/team/a`, { origin: 'http://evil.example' }), 403);
  const origin = await waitFor(() => records(server).find((r) => r.msg === 'upgrade refused' && r.reason === 'origin_forbidden'), 'origin refusal logged', server.logs);
  assert.deepEqual(
    { level: origin.level, room: origin.room, address: origin.address, status: origin.status, origin: origin.origin },
    { level: 'info', room: '/team/a', address: '127.0.0.1', status: 403, origin: 'http://evil.example' },
  );

  // a path that is not a room: 400 bad_path, logged with the path (there is no room)
  assert.equal(await refusedUpgrade(`${server.ws}/a/%ZZ`, { origin: GOOD }), 400);
  const badPath = await waitFor(() => records(server).find((r) => r.msg === 'upgrade refused' && r.reason === 'bad_path'), 'bad_path refusal logged', server.logs);
  assert.equal(badPath.path, '/a/%ZZ');
  assert.equal(badPath.address, '127.0.0.1');

  // a flood of one reason: refused every time, logged once per 10 s (the next line counts the rest)
  for (let i = 0; i < 20; i++) assert.equal(await refusedUpgrade(`${server.ws}/team/a`, { origin: 'http://evil.example' }), 403);
  // barrier: a refusal of another reason is logged after all of them were handled
  assert.equal(await refusedUpgrade(`${server.ws}/_/nothing`, { origin: GOOD }), 404);
  await waitFor(() => records(server).find((r) => r.msg === 'upgrade refused' && r.reason === 'not_found'), 'not_found refusal logged', server.logs);
  assert.equal(records(server).filter((r) => r.reason === 'origin_forbidden').length, 1, 'the flood was throttled');

  // messages are not logged above debug: 50 publishes, then a round trip
  const a = await member(`${server.ws}/team/chat`);
  const before = server.logs.length;
  for (let i = 0; i < 50; i++) a.ws.send(JSON.stringify({ type: 'publish', data: `m${i}` }));
  a.ws.send(JSON.stringify({ type: 'presence', ref: 1 }));
  await waitFor(() => a.frames.find((f) => f.ref === 1), 'presence answered', server.logs);
  assert.deepEqual(server.logs.slice(before), [], 'no line for ordinary messages');

  // a frame over --max-message-bytes: ws closes with 1009; one line with room, cid and code
  const [code] = await Promise.all([once(a.ws, 'close').then(([c]) => c as number), Promise.resolve(a.ws.send('x'.repeat(4096)))]);
  assert.equal(code, 1009);
  const closed = await waitFor(() => records(server).find((r) => r.msg === 'connection closed'), 'the 1009 close logged', server.logs);
  assert.deepEqual(
    { level: closed.level, code: closed.code, room: closed.room, cid: closed.cid, address: closed.address, reason: closed.reason },
    { level: 'info', code: 1009, room: '/team/chat', cid: a.cid, address: '127.0.0.1', reason: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' },
  );
  // the metric counts the code the server closed with (ws itself reports 1006: it reads no reply)
  const metrics = await (await fetch(`${server.http}/_/metrics`)).text();
  assert.match(metrics, /multisocket_closes_total\{code="1009"\} 1\b/);

  // a member that leaves by itself is no protocol close: no line
  const b = await member(`${server.ws}/team/chat`);
  b.ws.close(1000);
  await once(b.ws, 'close');
  assert.equal(await refusedUpgrade(`${server.ws}/team/a`, { protocols: ['multisocket.v0'], origin: GOOD }), 400); // barrier
  await waitFor(() => records(server).find((r) => r.reason === 'unsupported_subprotocol'), 'subprotocol refusal logged', server.logs);
  assert.equal(records(server).filter((r) => r.msg === 'connection closed').length, 1);
  assert.ok(!server.logs.some((l) => /"level":"error"/.test(l)), server.logs.join('\n'));
});

test('a token that expires on an open connection: close 4001, one line with room and cid', async (t) => {
  const secret = 'logs-test-secret-0123456789abcdef-0123';
  const server = await startServer({ args: ['--log-format', 'json'], env: { MULTISOCKET_JWT_SECRET: secret } });
  t.after(() => server.stop());
  const exp = Math.floor(Date.now() / 1000) + 2; // JWT exp is in whole seconds: 1-2 s from now
  const token = await new SignJWT({ rooms: ['/team/*'] }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp).sign(new TextEncoder().encode(secret));
  const m = await member(`${server.ws}/team/expiring?token=${encodeURIComponent(token)}`);
  const [code] = await once(m.ws, 'close');
  assert.equal(code, 4001);
  const line = await waitFor(() => records(server).find((r) => r.msg === 'connection closed'), 'the 4001 close logged', server.logs);
  assert.deepEqual({ code: line.code, reason: line.reason, room: line.room, cid: line.cid }, { code: 4001, reason: 'token_expired', room: '/team/expiring', cid: m.cid });
  assert.ok(!server.logs.some((l) => l.includes(token)), 'the token is not logged');
});

test('admin actions (a kick, POST /_/drain) are one info line each: action, room, cid, address', async (t) => {
  const server = await startServer({ args: ['--log-format', 'json', '--admin-loopback'] });
  t.after(() => server.stop());
  // a kick (src/admin/): one line with room and cid; its close (4003) is the action's, not a protocol close
  const m = await member(`${server.ws}/team/kicked`);
  const kick = await fetch(`${server.http}/_/rooms/team/kicked/kick`, { method: 'POST', body: JSON.stringify({ cid: m.cid }), headers: { 'Content-Type': 'application/json' }, signal: AbortSignal.timeout(5000) });
  assert.equal(kick.status, 200, await kick.text());
  await once(m.ws, 'close');
  const kicked = await waitFor(() => records(server).find((r) => r.msg === 'admin action' && r.action === 'kick'), 'the kick logged', server.logs);
  assert.deepEqual({ room: kicked.room, cid: kicked.cid }, { room: '/team/kicked', cid: m.cid });

  const exited = once(server.proc, 'exit');
  const res = await fetch(`${server.http}/_/drain`, { method: 'POST', signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 202);
  const line = await waitFor(() => records(server).find((r) => r.msg === 'admin action' && r.action === 'drain'), 'the drain logged', server.logs);
  assert.equal(records(server).filter((r) => r.msg === 'connection closed').length, 0, 'a kick is no protocol close');
  assert.deepEqual({ level: line.level, action: line.action, address: line.address }, { level: 'info', action: 'drain', address: '127.0.0.1' });
  const [code] = await exited;
  assert.equal(code, 0);
});

test('pretty: one readable line per event, with the same fields', async (t) => {
  const proc = spawn(process.execPath, [CLI, '--host', '127.0.0.1', '--port', '0', '--log-format', 'pretty', '--allowed-origins', GOOD], {
    cwd: ROOT, env: { ...process.env, MULTISOCKET_LOG_LEVEL: 'info', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => { proc.kill('SIGKILL'); });
  const logs: string[] = [];
  lines(proc.stdout!, (l) => logs.push(l));
  lines(proc.stderr!, (l) => logs.push(l));
  const port = await waitFor(() => {
    const m = logs.map((l) => /^\d\d:\d\d:\d\d\.\d{3} INFO  listening port=(\d+) host=127\.0\.0\.1 /.exec(l)).find(Boolean);
    return m ? Number(m[1]) : undefined;
  }, 'the pretty listening line', logs, 10_000);
  assert.equal(await refusedUpgrade(`ws://127.0.0.1:${port}/team/a`, { origin: 'http://evil.example' }), 403);
  const line = await waitFor(() => logs.find((l) => l.includes('upgrade refused')), 'the pretty refusal line', logs);
  assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} INFO  upgrade refused reason=origin_forbidden status=403 room=\/team\/a address=127\.0\.0\.1 origin=http:\/\/evil\.example$/);
  assert.ok(!logs.some((l) => l.startsWith('{')), 'no JSON line in pretty format');

  // MULTISOCKET_LOG_FORMAT does the same; a wrong value is a one-line config error
  const bad = spawn(process.execPath, [CLI], { cwd: ROOT, env: { ...process.env, MULTISOCKET_LOG_FORMAT: 'xml' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  bad.stderr!.on('data', (d) => { err += d; });
  const [exit] = await once(bad, 'exit');
  assert.equal(exit, 2);
  assert.match(err, /MULTISOCKET_LOG_FORMAT: expected one of json\|pretty, got "xml"/);
});

test('--workers 2: every line of a worker carries its node id (once); the primary\'s lines do not', async (t) => {
  const engine = await startEngine('redis');
  t.after(() => engine.stop());
  const server = await startServer({ args: ['--broker', engine.url, '--workers', '2', '--node-id', 'lg', '--allowed-origins', GOOD] });
  t.after(() => server.stop());
  const workerLines = records(server).filter((r) => r.msg === 'worker listening');
  assert.deepEqual(workerLines.map((r) => r.node).sort(), ['lg-w1', 'lg-w2']);
  for (const l of server.logs.filter((x) => x.includes('worker listening'))) assert.equal(l.split('"node":').length, 2, `one node key: ${l}`);
  assert.equal(records(server).find((r) => r.msg === 'listening')!.node, undefined, 'the primary serves nothing and has no node id');
  assert.equal(await refusedUpgrade(`${server.ws}/team/a`, { origin: 'http://evil.example' }), 403);
  const refused = await waitFor(() => records(server).find((r) => r.msg === 'upgrade refused'), 'a worker logged the refusal', server.logs);
  assert.match(String(refused.node), /^lg-w[12]$/);
});

test('prettyLine: key=value, quoted when needed, stacks below; not-JSON passes through', () => {
  const json = JSON.stringify({ level: 'warn', time: '2026-12-04T23:01:46.315Z', room: '/a b', n: 3, ok: true, err: 'Error: x\n    at f', msg: 'upgrade refused' }) + '\n';
  assert.equal(prettyLine(json), '23:01:46.315 WARN  upgrade refused room="/a b" n=3 ok=true\n    err: Error: x\n        at f\n');
  assert.ok(prettyLine(json, true).startsWith('23:01:46.315 \x1b[33mWARN \x1b[0m upgrade refused'));
  assert.equal(prettyLine('not json\n'), 'not json\n');
});

test('LogThrottle: first at once, then one per interval with the count in between, per kind', () => {
  const th = new LogThrottle(1000);
  assert.equal(th.take('a', 0), 0);
  assert.equal(th.take('a', 10), undefined);
  assert.equal(th.take('a', 20), undefined);
  assert.equal(th.take('b', 30), 0);
  assert.equal(th.take('a', 1000), 2);
  assert.equal(th.take('a', 1500), undefined);
  assert.equal(th.take('a', 2000), 1);
});

test('createLogger: level label, fields, bindings, silent; the old (level, write) form still works', () => {
  const out: string[] = [];
  const log = createLogger('info', { write: (l) => out.push(l), bindings: { node: 'n1-w2' } });
  log.debug('hidden');
  log.info('shown', { room: '/r', cid: 'c1' });
  assert.equal(out.length, 1);
  const rec = JSON.parse(out[0]) as Rec;
  assert.deepEqual({ ...rec, time: undefined }, { level: 'info', time: undefined, node: 'n1-w2', room: '/r', cid: 'c1', msg: 'shown' });
  const old: string[] = [];
  createLogger('warn', (l) => old.push(l)).warn('w');
  assert.equal((JSON.parse(old[0]) as Rec).level, 'warn');
  const none: string[] = [];
  createLogger('silent', (l) => none.push(l)).error('e');
  assert.deepEqual(none, []);
});
