// Issue 11, "Fixed points": with --cluster-key the engine never sees room data in plaintext, and a
// node with another key can neither read nor inject. Every kind of traffic a room makes goes
// through the engine here — a GUN put, a native publish, send, request/reply, push/pull — while a
// spy records everything the engine carries (Redis: MONITOR, every command with its arguments;
// NATS: a subscription to every subject); no marker the clients wrote may appear in it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { connect as natsConnect } from '@nats-io/transport-node';
import { ENGINE_KINDS, startCluster, startNode, type RunningCluster } from './helpers/cluster.ts';
import { uid, WsMember, type Msg } from './helpers/native.ts';
import { GunPeer, node as gunNode } from './helpers/gun-wire.ts';
import type { EngineKind } from './helpers/engines.ts';

interface Spy { seen: Buffer[]; stop(): Promise<void> }

async function spyOn(kind: EngineKind, url: string): Promise<Spy> {
  const seen: Buffer[] = [];
  if (kind === 'redis') {
    const client = new Redis(url);
    const monitor = await client.monitor();
    monitor.on('monitor', (_time: string, args: unknown[]) => {
      for (const a of args) seen.push(Buffer.isBuffer(a) ? a : Buffer.from(String(a)));
    });
    return { seen, async stop() { monitor.disconnect(); client.disconnect(); } };
  }
  const nc = await natsConnect({ servers: url });
  nc.subscribe('>', { callback: (_err, msg) => { seen.push(Buffer.from(msg.subject)); seen.push(Buffer.from(msg.data)); } });
  await nc.flush();
  return { seen, async stop() { await nc.close(); } };
}

function leaks(spy: Spy, markers: string[]): string[] {
  const all = Buffer.concat(spy.seen);
  return markers.filter((m) => all.includes(m));
}

const isMessage = (data: string) => (m: Msg) => m.type === 'message' && JSON.stringify(m.data).includes(data);

for (const kind of ENGINE_KINDS) {
  test(`${kind}: with a cluster key the engine carries no room data in plaintext; a node with another key reads and injects nothing`, async () => {
    const cluster: RunningCluster = await startCluster(kind, { nodes: 2 });
    let spy: Spy | undefined;
    const closers: (() => Promise<unknown>)[] = [];
    try {
      const [a, b] = cluster.nodes;
      spy = await spyOn(kind, cluster.engine.url);
      const room = '/' + uid('sealed');
      const marker = (what: string) => `PLAINTEXT-${what}-${Math.random().toString(36).slice(2)}`;
      const markers = { pub: marker('pub'), send: marker('send'), req: marker('req'), rep: marker('rep'), job: marker('job'), gun: marker('gun') };

      const onA = await WsMember.connect(a.ws, room);
      const onB = await WsMember.connect(b.ws, room);
      closers.push(() => onA.close(), () => onB.close());
      await onA.waitFor((m) => m.type === 'join' && m.cid === onB.cid, 5000, 'B joining in A\'s view');

      // publish A → B
      onA.send({ type: 'publish', data: markers.pub });
      await onB.waitFor(isMessage(markers.pub), 5000, 'the publication on B');
      // send A → B
      onA.send({ type: 'send', to: onB.cid, data: markers.send });
      await onB.waitFor(isMessage(markers.send), 5000, 'the direct message on B');
      // request A → B, reply B → A
      onA.send({ type: 'request', id: 1, to: onB.cid, data: markers.req, timeout: 5000 });
      const req = await onB.waitFor((m) => m.type === 'request' && m.data === markers.req, 5000, 'the request on B');
      onB.send({ type: 'reply', id: req.id, data: markers.rep });
      await onA.waitFor((m) => m.type === 'reply' && m.data === markers.rep, 5000, 'the reply on A');
      // push A → pull B
      onB.send({ type: 'pull', ack: true });
      onA.send({ type: 'push', data: markers.job });
      const job = await onB.waitFor((m) => m.type === 'message' && m.kind === 'push' && m.data === markers.job, 8000, 'the job on B');
      onB.send({ type: 'ack', job: job.job });
      // GUN put through A, seen by a peer on B
      const gunRoom = '/' + uid('sealed-gun');
      const peerB = await GunPeer.connect(b.ws, gunRoom);
      const peerA = await GunPeer.connect(a.ws, gunRoom);
      closers.push(() => peerA.close(), () => peerB.close());
      const soul = uid('soul');
      await peerA.putAck({ [soul]: gunNode(soul, { text: markers.gun }) }, 5000);
      await peerB.waitFor((m) => m.put !== undefined && JSON.stringify(m.put).includes(markers.gun), 5000, 'the put on B');

      assert.ok(spy.seen.length > 0, 'the spy saw the engine traffic');
      assert.deepEqual(leaks(spy, Object.values(markers)), [], 'markers found in the engine\'s traffic');

      // A node with another key: it joins the engine but opens nothing of the others, and the
      // others drop what it sends (logged and counted).
      const intruder = await startNode(cluster.engine, `${cluster.ids[0]}-x`, { key: 'another-cluster-key-0123456789' });
      closers.push(() => intruder.stop());
      const onX = await WsMember.connect(intruder.ws, room);
      closers.push(() => onX.close());
      const seenByX = marker('after');
      onA.send({ type: 'publish', data: seenByX });
      await onB.waitFor(isMessage(seenByX), 5000, 'a publication after the intruder came');
      onX.send({ type: 'publish', data: marker('injected'), ack: true });
      const injected = marker('injected2');
      onX.send({ type: 'publish', data: injected });
      // B hears A's next publication, so anything X's would have arrived before it, in order from the engine.
      const last = marker('last');
      onA.send({ type: 'publish', data: last });
      await onB.waitFor(isMessage(last), 5000, 'the last publication');
      assert.equal(onB.messages.some(isMessage(injected)), false, 'B got a publication from a node with another key');
      assert.equal(onX.messages.some(isMessage(seenByX)), false, 'the node with another key read a publication');
    } finally {
      for (const close of closers.reverse()) await close().catch(() => {});
      await spy?.stop();
      await cluster.stop();
    }
  });
}
