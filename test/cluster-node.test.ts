// A node of a cluster as an operator sees it (issue 11, "Fixed points"): the flags and their
// one-line errors, an unreachable engine at start, GET /_/nodes, /_/health's broker, a node that
// dies or stops dropping out of /_/nodes, and --workers. Every engine case runs on Redis and NATS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { CLI, ROOT, startServer } from './helpers/server.ts';
import { ENGINE_KINDS, startCluster, startEngine } from './helpers/cluster.ts';

const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [CLI, '--host', '127.0.0.1', '--port', '0', ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20_000 });

interface NodesAnswer { self: string; nodes: { id: string; startedAt: number; lastSeen: number; rooms: number; connections: number }[] }

async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: (await res.json()) as T };
}

/** Polls `check` (each poll a round trip to the server) until it holds, at most `ms`. */
async function eventually(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function closedPort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('cluster flags: bad values exit 2 with one clear line', () => {
  for (const [args, env, pattern] of [
    [['--broker', 'kafka://x:1'], {}, /--broker: expected memory, redis:\/\//],
    [['--broker', 'redis://h:1/x'], {}, /--broker: a Redis URL's path is a database number/],
    [[], { MULTISOCKET_BROKER: 'nats://h:1/x' }, /MULTISOCKET_BROKER: a NATS URL has no path/],
    [['--node-id', 'a.b'], {}, /--node-id: a node id is 1 to 64 characters/],
    [['--broker', 'redis://127.0.0.1:1', '--cluster-key', 'short'], {}, /--cluster-key: a cluster key needs at least 16 bytes/],
    [['--cluster-key', 'x'.repeat(20)], {}, /--cluster-key needs --broker/],
    [['--workers', '2'], {}, /--workers 2 needs --broker/],
    [['--workers', '0', '--broker', 'redis://127.0.0.1:1'], {}, /--workers: expected a whole number from 1 to 256/],
  ] as Array<[string[], Record<string, string>, RegExp]>) {
    const r = run(args, env);
    assert.equal(r.status, 2, args.join(' ') + '\n' + r.stderr);
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('an unreachable engine at start: exit 1 with one line naming it (Redis, NATS, and with --workers)', async () => {
  const port = await closedPort();
  for (const [url, extra] of [[`redis://127.0.0.1:${port}`, []], [`nats://127.0.0.1:${port}`, []], [`redis://127.0.0.1:${port}`, ['--workers', '2']]] as const) {
    const r = run(['--broker', url, ...extra, '--log-level', 'silent']);
    assert.equal(r.status, 1, url + '\n' + r.stderr);
    const errLines = r.stderr.trim().split('\n');
    assert.match(errLines[0], new RegExp(`cannot use the (redis|nats) broker at ${url.replace(/[/.]/g, '\\$&')}`));
    if (extra.length === 0) assert.equal(errLines.length, 1, r.stderr);
  }
});

test('the memory broker: /_/nodes lists this process alone; /_/health says memory, up', async () => {
  const server = await startServer();
  try {
    const nodes = await getJson<NodesAnswer>(`${server.http}/_/nodes`);
    assert.equal(nodes.status, 200);
    assert.equal(nodes.body.nodes.length, 1);
    assert.equal(nodes.body.nodes[0].id, nodes.body.self);
    const health = await getJson<{ broker: unknown }>(`${server.http}/_/health`);
    assert.deepEqual(health.body.broker, { kind: 'memory', state: 'up' });
  } finally {
    await server.stop();
  }
});

for (const kind of ENGINE_KINDS) {
  test(`${kind}: /_/nodes lists the live nodes; a stopped node leaves at once, a killed one within 10 s; /_/health follows the engine`, async () => {
    const cluster = await startCluster(kind, { nodes: 3 });
    try {
      const [a, b, c] = cluster.nodes;
      await eventually('every node sees three', 5000, async () => (await getJson<NodesAnswer>(`${a.http}/_/nodes`)).body.nodes.length === 3);
      const answer = (await getJson<NodesAnswer>(`${b.http}/_/nodes`)).body;
      assert.equal(answer.self, cluster.ids[1]);
      assert.deepEqual(answer.nodes.map((n) => n.id).sort(), [...cluster.ids].sort());
      for (const n of answer.nodes) {
        assert.equal(typeof n.startedAt, 'number');
        assert.ok(n.lastSeen >= n.startedAt, JSON.stringify(n));
        assert.equal(typeof n.rooms, 'number');
        assert.equal(typeof n.connections, 'number');
      }
      const health = await getJson<{ broker: unknown }>(`${a.http}/_/health`);
      assert.deepEqual(health.body.broker, { kind, state: 'up' });

      assert.equal(await c.stop('SIGTERM'), 0);
      await eventually('a stopped node is gone at once', 2000, async () => (await getJson<NodesAnswer>(`${a.http}/_/nodes`)).body.nodes.length === 2);

      const killedAt = Date.now();
      b.proc.kill('SIGKILL');
      await eventually('a killed node is gone within 10 s', 10_000, async () => (await getJson<NodesAnswer>(`${a.http}/_/nodes`)).body.nodes.length === 1);
      assert.ok(Date.now() - killedAt <= 10_000);

      await cluster.engine.down();
      await eventually('health says the broker is down', 15_000, async () => (await getJson<{ broker: { state: string } }>(`${a.http}/_/health`)).body.broker.state === 'down');
      await cluster.engine.up();
      await eventually('health says the broker is up again', 15_000, async () => (await getJson<{ broker: { state: string } }>(`${a.http}/_/health`)).body.broker.state === 'up');
    } finally {
      await cluster.stop();
    }
  });
}

test('--workers 2 on Redis: two nodes share one port, /_/nodes lists both, SIGTERM stops all with exit 0', async () => {
  const engine = await startEngine('redis');
  try {
    const server = await startServer({ args: ['--broker', engine.url, '--workers', '2', '--node-id', 'wk'] });
    try {
      await eventually('both workers in /_/nodes', 5000, async () => {
        const ids = (await getJson<NodesAnswer>(`${server.http}/_/nodes`)).body.nodes.map((n) => n.id).sort();
        return JSON.stringify(ids) === JSON.stringify(['wk-w1', 'wk-w2']);
      });
    } finally {
      assert.equal(await server.stop('SIGTERM'), 0);
    }
  } finally {
    await engine.stop();
  }
});
