// --max-peers-per-room counts GUN peers cluster-wide (docs/cluster.md, "Native membership and
// calls": each node's count of GUN peers travels with its roster), on Redis and on NATS: with a
// limit of 2, a GUN peer on A and one on B fill the room, a third on C is refused 503 room_full;
// once one leaves, C's door opens again (waited for by polling the door, a round trip each).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINE_KINDS, startCluster, type RunningCluster } from './helpers/cluster.js';
import { GunPeer, poll, tryUpgrade, uid } from './helpers/gun-wire.js';

const ARGS = ['--max-peers-per-room', '2', '--resume-grace', '0'];

for (const kind of ENGINE_KINDS) {
  describe(`GUN peers counted across 3 nodes: ${kind}`, () => {
    let cluster: RunningCluster;
    const peers: GunPeer[] = [];
    before(async () => { cluster = await startCluster(kind, { nodes: 3, args: ARGS }); });
    after(async () => {
      await Promise.all(peers.map((p) => p.close().catch(() => {})));
      await cluster?.stop();
    });

    const door = async (node: number, room: string): Promise<{ status: number; code?: string }> => {
      const res = await fetch(`${cluster.nodes[node].http}/_/door?room=${encodeURIComponent(room)}`);
      const body = await res.json().catch(() => ({})) as { error?: { code?: string } };
      return { status: res.status, code: body.error?.code };
    };

    test(`${kind}: a GUN peer on A and one on B fill a room of 2; the third, on C, is refused room_full; one leaves, C admits`, async () => {
      const room = '/' + uid('gc');
      const [a, b, c] = cluster.nodes;
      peers.push(await GunPeer.connect(a.ws, room));
      const onB = await GunPeer.connect(b.ws, room);
      peers.push(onB);
      // C does not have the room yet: it joins the cluster's roster (every node's snapshot, with its
      // GUN count) before admitting, so the refusal needs no wait.
      const refused = await tryUpgrade(c.ws + room);
      assert.equal(refused.kind, 'rejected', 'the third GUN peer is refused');
      if (refused.kind === 'rejected') {
        assert.equal(refused.statusCode, 503);
        assert.match(refused.body, /room_full/);
      }
      assert.deepEqual(await door(2, room), { status: 503, code: 'room_full' }, 'C\'s door says the room is full');
      assert.deepEqual(await door(0, room), { status: 503, code: 'room_full' }, 'A\'s door says the room is full');
      // B's peer leaves: B's count (an r.gun change) reaches C one bus trip later.
      const left = Date.now();
      await onB.close();
      await poll(async () => (await door(2, room)).status === 204 || undefined, 5000, 20, 'C\'s door to open');
      console.log(`${kind}: C's door opened ${Date.now() - left} ms after B's peer left`);
      peers.push(await GunPeer.connect(c.ws, room));
      // Full again (A and C): B's door says so once C's count reached B.
      await poll(async () => (await door(1, room)).code === 'room_full' || undefined, 5000, 20, 'B\'s door to say room_full');
    });
  });
}
