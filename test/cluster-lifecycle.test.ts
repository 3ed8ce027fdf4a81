// A room's engine state ends with the room (docs/cluster.md, "Work queue", "Room lifecycle"), on
// Redis and on NATS: with a 2 s --room-ttl, jobs pushed into a room nobody pulls from are gone from
// the engine once every node has freed the room (queue TTL = room TTL + margin), while a room
// still held by a node keeps its queue; a new room of the same name starts with an empty queue.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { ENGINE_KINDS, startCluster, type RunningCluster } from './helpers/cluster.js';
import { MemberPool, short, uid, type Msg, type WsMember } from './helpers/native.js';
import { poll } from './helpers/gun-wire.js';
import type { EngineKind } from './helpers/engines.js';

const ARGS = ['--room-ttl', '2', '--resume-grace', '0', '--job-ack-wait', '1'];
const isJob = (data: unknown) => (m: Msg) => m.type === 'message' && m.kind === 'push' && JSON.stringify(m.data) === JSON.stringify(data);

/** Send, then a presence round trip: the node has handled everything before it. */
async function act(m: WsMember, msg: Msg | Msg[]): Promise<void> {
  const n = m.count((x) => x.type === 'presence');
  m.send(msg);
  m.send({ type: 'presence' });
  await m.waitUntil(() => m.count((x) => x.type === 'presence') > n, 3000, `presence after ${short(msg)}`);
}

/** How many of a room's queue objects the engine still holds (Redis: keys; NATS: messages + the consumer). */
type Probe = { holds(room: string): Promise<number>; close(): Promise<void> };

async function probe(kind: EngineKind, url: string): Promise<Probe> {
  if (kind === 'redis') {
    const redis = new Redis(url);
    return {
      holds: async (room) => Number(await redis.exists(`ms:{${room}}:q`, `ms:{${room}}:qb`)),
      close: async () => { redis.disconnect(); },
    };
  }
  const nc = await connect({ servers: url });
  const jsm = await jetstreamManager(nc);
  return {
    holds: async (room) => {
      const token = createHash('sha256').update(room).digest('base64url');
      const info = await jsm.streams.info('MS_Q', { subjects_filter: `ms.q.${token}` });
      const messages = Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
      const consumer = await jsm.consumers.info('MS_Q', `q_${token}`).then(() => 1, () => 0);
      return messages + consumer;
    },
    close: () => nc.close(),
  };
}

for (const kind of ENGINE_KINDS) {
  describe(`room lifecycle across 2 nodes: ${kind}`, () => {
    let cluster: RunningCluster;
    let pools: MemberPool[];
    let engine: Probe;
    before(async () => {
      cluster = await startCluster(kind, { nodes: 2, args: ARGS });
      pools = cluster.nodes.map((n) => new MemberPool(n.ws, n.http));
      engine = await probe(kind, cluster.engine.url);
    });
    after(async () => {
      await Promise.all((pools ?? []).map((p) => p.closeAll()));
      await engine?.close();
      await cluster?.stop();
    });

    test(`${kind}: a freed room's queue leaves the engine (TTL + margin) while a held room keeps its own; the same name starts empty`, async () => {
      const freed = '/' + uid('lf'); // a room's name is its path
      const held = '/' + uid('lh');
      // Jobs nobody pulls, in both rooms, each room on both nodes; `held` keeps a member on B.
      const pusher = await pools[0].ws(freed);
      const other = await pools[1].ws(freed);
      const heldPusher = await pools[0].ws(held);
      const keeper = await pools[1].ws(held);
      for (let i = 0; i < 3; i++) await act(pusher, { type: 'push', data: { old: i } });
      for (let i = 0; i < 3; i++) await act(heldPusher, { type: 'push', data: { kept: i } });
      assert.ok(await engine.holds(freed) > 0, 'the queue is in the engine while the room is held');
      // Everyone leaves `freed`, and A's member leaves `held`: A frees both 2 s later, B `freed`
      // too; Redis: the queue outlives the last touch by the queue TTL (4 s); NATS: the last node
      // to free the room drops it.
      const left = Date.now();
      await Promise.all([pusher.close(), other.close(), heldPusher.close()]);
      await poll(async () => (await engine.holds(freed)) === 0 || undefined, 20_000, 200, 'the freed room\'s queue to leave the engine');
      const gone = Date.now() - left;
      await poll(async () => {
        const stats = await (await fetch(`${cluster.nodes[0].http}/_/stats`)).json() as { rooms: Record<string, unknown> };
        return stats.rooms[held] === undefined || undefined;
      }, 10_000, 100, 'node A to free the held room');
      assert.ok(await engine.holds(held) > 0, `the held room keeps its queue (${gone} ms after the other room was left)`);
      assert.ok(keeper.closeInfo === undefined, 'the keeper is still in the held room');
      console.log(`${kind}: the freed room's queue left the engine ${gone} ms after its last member`);

      // The held room's jobs are all still there, oldest first (A freed its copy: it did not drop them).
      const pullHeld = await pools[0].ws(held);
      await act(pullHeld, { type: 'pull', prefetch: 3 });
      for (let i = 0; i < 3; i++) await pullHeld.waitFor(isJob({ kept: i }), 5000, `held job ${i}`);

      // A room of the freed name: its first job is a new one (the queue is oldest first).
      const again = await pools[0].ws(freed);
      const puller = await pools[1].ws(freed);
      await act(puller, { type: 'pull' });
      await act(again, { type: 'push', data: 'fresh' });
      const first = await puller.waitFor((m) => m.type === 'message' && m.kind === 'push', 5000, 'the first job of the new room');
      assert.deepEqual(first.data, 'fresh', `the new room starts with an empty queue: ${short(first)}`);
    });
  });
}
