// One room, every transport (issue 13 §4): a member over WebSocket, SSE + POST, TCP, the unix
// socket and in process (server.connect), all through the SDK, in the same room at once; each
// pattern of the Go multisocket library works across all of them: presence and join/leave,
// publish with topics, direct send (to a destination), request/reply round-robin (to one,
// fairly), push/pull (exactly once) and bus (everyone to everyone, in order per sender).
// The server runs in this process (in-process members need it here) and listens on 127.0.0.1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { MultisocketServer } from '../src/server/server.ts';
import { makeConfig } from '../src/config.ts';
import { silentLogger } from '../src/log.ts';
import { connect, type Room } from '../src/client/index.ts';
import type { DataMessage } from '../src/client/types.ts';
import { FAST, next, opened, uid, until } from './helpers/client.ts';

const KINDS = ['websocket', 'sse', 'tcp', 'ipc', 'inproc'] as const;
type Kind = typeof KINDS[number];

let server: MultisocketServer;
let dir: string;
let urls: { http: string; ws: string; tcp: string; ipc: string };
const open = new Set<Room>();

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ms-mixed-'));
  const ipcPath = path.join(dir, 'ms.sock');
  server = new MultisocketServer(makeConfig({ host: '127.0.0.1', port: 0, tcpPort: 0, tcpHost: '127.0.0.1', ipcPath, resumeGraceMs: 200 }), silentLogger);
  const addr: AddressInfo = await server.listen();
  const tcp = server.lineAddresses.tcp!;
  urls = { http: `http://127.0.0.1:${addr.port}`, ws: `ws://127.0.0.1:${addr.port}`, tcp: `tcp://127.0.0.1:${tcp.port}`, ipc: `ipc://${ipcPath}` };
});
after(async () => {
  await Promise.all([...open].map((r) => r.close()));
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A member of `room` over `kind`. */
function member(kind: Kind, room: string): Room {
  let r: Room;
  switch (kind) {
    case 'websocket': r = connect(urls.ws + room, { ...FAST }); break;
    case 'sse': r = connect(urls.http + room, { ...FAST, transport: 'sse' }); break;
    case 'tcp': r = connect(urls.tcp + room, { ...FAST }); break;
    case 'ipc': r = connect(`${urls.ipc}?room=${encodeURIComponent(room)}`, { ...FAST }); break;
    case 'inproc': r = server.connect(room); break;
  }
  open.add(r);
  r.on('closed', () => open.delete(r));
  return r;
}

/** One member per transport, all connected. */
async function everyTransport(room: string): Promise<Map<Kind, Room>> {
  const members = new Map(KINDS.map((k) => [k, member(k, room)] as const));
  await opened(...members.values());
  return members;
}

async function closeAll(members: Iterable<Room>): Promise<void> {
  await Promise.all([...members].map((m) => m.close()));
}

test('presence and join/leave: each transport sees every other; a leave reaches all', async () => {
  const room = uid('mixed-presence');
  const members = await everyTransport(room);
  try {
    const cids = new Map([...members].map(([k, m]) => [k, m.cid!]));
    assert.equal(new Set(cids.values()).size, KINDS.length, 'distinct cids');
    for (const [kind, m] of members) {
      const seen = await m.presence();
      assert.deepEqual([...seen].sort(), [...cids.values()].sort(), `${kind}'s presence`);
    }
    // The TCP member leaves: everyone else hears it.
    const leaving = cids.get('tcp')!;
    const heard = [...members].filter(([k]) => k !== 'tcp').map(([, m]) => next(m, 'leave', (l) => l.cid === leaving));
    await members.get('tcp')!.close();
    await Promise.all(heard);
    const ws = members.get('websocket')!;
    await until(() => !ws.members.includes(leaving), 'the roster without the TCP member');
  } finally {
    await closeAll(members.values());
  }
});

test('publish with topics: each transport publishes to its topic; subscribers of "t.*" on every transport get the others\', a non-matching subscription gets none', async () => {
  const room = uid('mixed-topics');
  const members = await everyTransport(room);
  const got = new Map<Kind, DataMessage[]>();
  const unrelated: DataMessage[] = [];
  try {
    for (const [kind, m] of members) {
      const log: DataMessage[] = [];
      got.set(kind, log);
      m.subscribe('t.*', (_d, msg) => log.push(msg));
    }
    members.get('inproc')!.subscribe('other', (_d, msg) => unrelated.push(msg));
    // Subscriptions are acked by a round trip: presence after them orders the publishes behind.
    await Promise.all([...members.values()].map((m) => m.presence()));
    await Promise.all([...members].map(([kind, m]) => m.publish({ by: kind }, { topic: `t.${kind}` })));
    for (const [kind, log] of got) {
      await until(() => log.length >= KINDS.length - 1, `${kind} to get the others' publications`);
      assert.deepEqual(log.map((x) => (x.data as { by: string }).by).sort(), KINDS.filter((k) => k !== kind).sort(), kind);
      assert.ok(log.every((x) => x.topic === `t.${(x.data as { by: string }).by}`));
    }
    assert.equal(unrelated.length, 0);
  } finally {
    await closeAll(members.values());
  }
});

test('direct send: each transport sends to the next one in a ring; each gets exactly its predecessor\'s message', async () => {
  const room = uid('mixed-send');
  const members = await everyTransport(room);
  const direct = new Map<Kind, DataMessage[]>();
  try {
    for (const [kind, m] of members) {
      const log: DataMessage[] = [];
      direct.set(kind, log);
      m.on('message', (msg) => { if (msg.kind === 'direct') log.push(msg); });
    }
    await Promise.all(KINDS.map((kind, i) => {
      const to = members.get(KINDS[(i + 1) % KINDS.length])!.cid!;
      return members.get(kind)!.send(to, { from: kind });
    }));
    for (const [i, kind] of KINDS.entries()) {
      const prev = KINDS[(i + KINDS.length - 1) % KINDS.length];
      await until(() => direct.get(kind)!.length >= 1, `${kind}'s direct message`);
      assert.deepEqual(direct.get(kind)!.map((d) => d.data), [{ from: prev }], kind);
      assert.equal(direct.get(kind)![0].from, members.get(prev)!.cid);
    }
  } finally {
    await closeAll(members.values());
  }
});

test('request/reply: requests without `to` go round-robin over servers on every transport (fairly); with `to`, to that one; every transport asks', async () => {
  const room = uid('mixed-reqrep');
  const members = await everyTransport(room);
  const asker = member('websocket', room);
  try {
    await opened(asker);
    for (const [kind, m] of members) m.serve((data: number) => ({ by: kind, twice: data * 2 }));
    // serve is announced with the next write: a presence round trip from each makes sure it was.
    await Promise.all([...members.values()].map((m) => m.presence()));
    const counts = new Map<string, number>();
    for (let i = 0; i < KINDS.length * 6; i++) {
      const r = await asker.request<{ by: string; twice: number }>(i, { timeout: 5000 });
      assert.equal(r.twice, i * 2);
      counts.set(r.by, (counts.get(r.by) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries([...counts].sort()), Object.fromEntries(KINDS.map((k) => [k, 6]).sort()), 'each server answered its share');
    for (const [kind, m] of members) {
      const r = await asker.request<{ by: string }>(1, { to: m.cid!, timeout: 5000 });
      assert.equal(r.by, kind, `to ${kind}`);
    }
    // Each transport as the asker, to a server on the next transport.
    for (const [i, kind] of KINDS.entries()) {
      const target = KINDS[(i + 1) % KINDS.length];
      const r = await members.get(kind)!.request<{ by: string }>(3, { to: members.get(target)!.cid!, timeout: 5000 });
      assert.equal(r.by, target, `${kind} → ${target}`);
    }
  } finally {
    await closeAll([...members.values(), asker]);
  }
});

test('push/pull: pullers on every transport take 60 jobs pushed from every transport, each exactly once', async () => {
  const room = uid('mixed-jobs');
  const members = await everyTransport(room);
  const pushers = KINDS.map((k) => member(k, room));
  try {
    await opened(...pushers);
    const handled = new Map<string, string[]>(); // job data → pullers
    for (const [kind, m] of members) {
      m.pull((data: string) => {
        handled.set(data, [...(handled.get(data) ?? []), kind]);
        return kind;
      });
    }
    await Promise.all([...members.values()].map((m) => m.presence()));
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => pushers[i % pushers.length].push(`job-${i}`)));
    assert.equal(handled.size, 60);
    for (const [data, by] of handled) assert.equal(by.length, 1, `${data} handled once, not by ${by.join(', ')}`);
    const byPuller = new Set(results.map((r) => r.data as string));
    assert.ok(results.every((r) => r.status === 'done' && r.attempts === 1));
    assert.ok(byPuller.size >= 2, `jobs spread over pullers (${[...byPuller].join(', ')})`);
  } finally {
    await closeAll([...members.values(), ...pushers]);
  }
});

test('bus: every transport publishes 20 messages; each member gets all the others\', in each sender\'s order', async () => {
  const room = uid('mixed-bus');
  const members = await everyTransport(room);
  const got = new Map<Kind, DataMessage[]>();
  try {
    for (const [kind, m] of members) {
      const log: DataMessage[] = [];
      got.set(kind, log);
      m.on('message', (msg) => { if (msg.kind === 'publish') log.push(msg); });
    }
    await Promise.all([...members].map(async ([kind, m]) => {
      for (let i = 0; i < 20; i++) await m.publish({ by: kind, i });
    }));
    for (const [kind, log] of got) {
      await until(() => log.length >= (KINDS.length - 1) * 20, `${kind} to get every other member's 20`, 8000);
      for (const sender of KINDS) {
        const seq = log.filter((x) => (x.data as { by: string }).by === sender).map((x) => (x.data as { i: number }).i);
        if (sender === kind) assert.deepEqual(seq, [], `${kind} does not get its own (echo off)`);
        else assert.deepEqual(seq, Array.from({ length: 20 }, (_, i) => i), `${kind} gets ${sender}'s in order`);
      }
    }
  } finally {
    await closeAll(members.values());
  }
});
