// The engines the cluster tests (issue 11) run on, checked on their own: private redis-server and
// nats-server processes from test/helpers/engines.ts, driven through the real clients the server
// will use (ioredis, @nats-io/transport-node, @nats-io/jetstream) over loopback. Pub/sub round
// trips, a JetStream stream, an engine that hangs (SIGSTOP) or goes down and comes back on the same
// port while clients recover, stop() leaving no process or dir behind, the start retry when a port
// is taken, and scripts/ensure-engines.sh (dry run). Every wait is on a round trip or an event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { connect, type NatsConnection, type Status } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { ENSURE_ENGINES, pauseEngine, resumeEngine, startNats, startRedis, type RunningEngine } from './helpers/engines.js';
import { ROOT } from './helpers/server.js';

function isGone(pid: number): boolean {
  try { process.kill(pid, 0); return false; } catch (err) { return (err as NodeJS.ErrnoException).code === 'ESRCH'; }
}

async function assertStoppedClean(engine: RunningEngine, pids: number[]): Promise<void> {
  await engine.stop();
  for (const pid of pids) assert.ok(isGone(pid), `${engine.kind} pid ${pid} still exists after stop()`);
  assert.equal(existsSync(engine.dir), false, `${engine.dir} still exists after stop()`);
  await engine.stop(); // idempotent
}

/** Resolves on the connection's next status event of `type`. */
async function nextStatus(nc: NatsConnection, type: Status['type']): Promise<void> {
  for await (const s of nc.status()) if (s.type === type) return;
}

test('startRedis: pub/sub through ioredis on a private port; paused it hangs, resumed the subscriber recovers; down and up on the same port, it resubscribes', { timeout: 30_000 }, async (t) => {
  const engine = await startRedis();
  t.after(() => engine.stop());
  assert.notEqual(engine.port, 6379);
  assert.match(engine.url, /^redis:\/\/127\.0\.0\.1:\d+$/);
  const sub = new Redis(engine.url);
  const pub = new Redis(engine.url);
  // Once the command times out, the probe would otherwise resend it on its own.
  const probe = new Redis(engine.url, { commandTimeout: 500, maxRetriesPerRequest: 0 });
  const clients = [sub, pub, probe];
  // Refused reconnects while the engine is down are expected; ioredis retries them itself.
  for (const c of clients) c.on('error', () => {});
  t.after(() => { for (const c of clients) c.disconnect(); });
  const roundTrip = async (text: string) => {
    const got = once(sub, 'message');
    assert.equal(await pub.publish('room:a', text), 1, 'one subscriber hears it');
    assert.deepEqual(await got, ['room:a', text]);
  };

  await sub.subscribe('room:a');
  await roundTrip('hello');
  assert.equal(await probe.ping(), 'PONG');

  const pid = engine.pid;
  pauseEngine(engine);
  await assert.rejects(probe.ping(), /Command timed out/, 'a paused engine does not answer');
  resumeEngine(engine);
  await roundTrip('after the pause'); // same connections, nothing to redo

  const ready = new Promise((resolve) => sub.once('ready', resolve)); // not events.once: it rejects on 'error'
  await engine.down();
  assert.ok(isGone(pid), 'down() ended the process');
  await engine.up();
  assert.notEqual(engine.pid, pid);
  await ready;
  // ioredis resubscribes right after 'ready'; a PING on the same connection is answered after that,
  // and in the subscriber's form, so the SUBSCRIBE has taken effect.
  assert.deepEqual(await sub.ping(), ['pong', '']);
  await roundTrip('after the restart');

  for (const c of clients) c.disconnect();
  await assertStoppedClean(engine, [pid, engine.pid]);
});

test('startNats({ jetstream: true }): pub/sub and request/reply through the NATS client; a JetStream stream is created and survives a restart on the same port; clients reconnect and resubscribe', { timeout: 30_000 }, async (t) => {
  const engine = await startNats({ jetstream: true });
  t.after(() => engine.stop());
  assert.notEqual(engine.port, 4222);
  assert.match(engine.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
  const opts = { servers: engine.url, reconnectTimeWait: 50, reconnectJitter: 20, maxReconnectAttempts: -1 };
  const a = await connect(opts);
  const b = await connect(opts);
  t.after(async () => { await a.close(); await b.close(); });
  assert.match(a.info?.server_name ?? '', /^multisocket-test-/, 'our server answered, not a machine-wide one');

  const sub = a.subscribe('room.a.>');
  const messages = sub[Symbol.asyncIterator]();
  a.subscribe('svc.echo', { callback: (err, msg) => { if (!err) msg.respond(`echo ${msg.string()}`); } });
  await a.flush(); // the server has both subscriptions
  const roundTrip = async (text: string) => {
    b.publish('room.a.msg', text);
    const next = await messages.next();
    assert.equal(next.done, false);
    assert.equal(next.value.subject, 'room.a.msg');
    assert.equal(next.value.string(), text);
    assert.equal((await b.request('svc.echo', text, { timeout: 10_000 })).string(), `echo ${text}`);
  };
  await roundTrip('hello');

  const jsm = await jetstreamManager(a);
  const info = await jsm.streams.add({ name: 'ROOMS', subjects: ['rooms.>'] });
  assert.equal(info.config.name, 'ROOMS');
  const ack = await jetstream(b).publish('rooms.a.graph', JSON.stringify({ put: 1 }));
  assert.equal(ack.stream, 'ROOMS');
  assert.equal(ack.seq, 1);
  assert.ok(existsSync(path.join(engine.dir, 'jetstream')), 'the JetStream store is in the engine dir');

  const pid = engine.pid;
  const reconnected = Promise.all([nextStatus(a, 'reconnect'), nextStatus(b, 'reconnect')]);
  await engine.restart();
  assert.ok(isGone(pid), 'restart() ended the old process');
  assert.notEqual(engine.pid, pid);
  await reconnected;
  await a.flush(); // the client resent its SUBs first on reconnecting; the server has them now
  await roundTrip('after the restart');
  const kept = await jsm.streams.info('ROOMS');
  assert.equal(kept.state.messages, 1, 'the stream and its message are kept across the restart');
  const ack2 = await jetstream(b).publish('rooms.a.graph', JSON.stringify({ put: 2 }));
  assert.equal(ack2.seq, 2);

  await a.close(); await b.close();
  await assertStoppedClean(engine, [pid, engine.pid]);
});

test('startRedis and startNats run side by side, each on its own port; a start that loses its port retries on another', { timeout: 30_000 }, async (t) => {
  // A port someone else holds, handed to the engines as their first pick: the engine fails to bind,
  // exits, and the helper retries with a free port.
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.after(() => holder.close());
  const held = (holder.address() as net.AddressInfo).port;
  const [redis, nats] = await Promise.all([startRedis({ tryPorts: [held] }), startNats({}, { tryPorts: [held] })]);
  t.after(() => Promise.all([redis.stop(), nats.stop()]));
  assert.notEqual(redis.port, held);
  assert.notEqual(nats.port, held);
  assert.notEqual(redis.port, nats.port);
  assert.ok(redis.logs.some((l) => /address already in use/i.test(l)), redis.logs.join('\n'));
  assert.ok(nats.logs.some((l) => /address already in use/i.test(l)), nats.logs.join('\n'));

  const r = new Redis(redis.url);
  assert.equal(await r.ping(), 'PONG');
  r.disconnect();
  const n = await connect({ servers: nats.url });
  await n.flush();
  await n.close();

  const pids = [redis.pid, nats.pid];
  await Promise.all([redis.stop(), nats.stop()]);
  for (const pid of pids) assert.ok(isGone(pid), `pid ${pid} still exists`);
});

test('startRedis: a missing redis-server fails with a message naming scripts/ensure-engines.sh', async () => {
  const saved = process.env.REDIS_SERVER_BIN;
  process.env.REDIS_SERVER_BIN = '/nonexistent/redis-server';
  try {
    await assert.rejects(startRedis(), (err: Error) => err.message.includes(ENSURE_ENGINES));
  } finally {
    if (saved === undefined) delete process.env.REDIS_SERVER_BIN; else process.env.REDIS_SERVER_BIN = saved;
  }
});

test('scripts/ensure-engines.sh: nothing to do when both are there; installs only the missing ones with apt-get (dry run)', () => {
  const script = path.join(ROOT, ENSURE_ENGINES);
  const env = (over: Record<string, string>) => ({ ...process.env, ENSURE_ENGINES_DRY_RUN: '1', ...over });
  const present = spawnSync('bash', [script], { encoding: 'utf8', env: env({ REDIS_SERVER_BIN: process.execPath, NATS_SERVER_BIN: process.execPath }) });
  assert.equal(present.status, 0, present.stderr);
  assert.equal(present.stdout + present.stderr, '', 'silent when both are present');

  const asRootWithApt = process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v apt-get']).status === 0;
  const cases: [Record<string, string>, string][] = [
    [{ REDIS_SERVER_BIN: '/nonexistent/redis-server', NATS_SERVER_BIN: '/nonexistent/nats-server' }, 'redis-server nats-server'],
    [{ REDIS_SERVER_BIN: '/nonexistent/redis-server', NATS_SERVER_BIN: process.execPath }, 'redis-server'],
    [{ REDIS_SERVER_BIN: process.execPath, NATS_SERVER_BIN: '/nonexistent/nats-server' }, 'nats-server'],
  ];
  for (const [over, packages] of cases) {
    const missing = spawnSync('bash', [script], { encoding: 'utf8', env: env(over) });
    assert.equal(missing.status, 0, missing.stderr);
    assert.match(missing.stderr, new RegExp(`missing: ${packages};`));
    if (asRootWithApt) {
      assert.equal(missing.stdout,
        'ensure-engines: would run: apt-get -qq update\n' +
        `ensure-engines: would run: env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${packages}\n`);
    } else {
      assert.match(missing.stderr, /not running as root|apt-get is not available/);
    }
  }
});
