// End-to-end tests with real GUN clients (gun 0.2020.1241) against the built server (dist/cli.js).
// Each GUN peer runs in its own child process (test/fixtures/gun-client.cjs, driven through
// test/helpers/gun-clients.ts) because GUN never exits on its own and patches globals; the test
// drives it with JSON lines on stdin and asserts on the JSON events it prints. Every wait has a hard timeout, and every child and server is
// killed in t.after, so a failure never hangs the run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunningServer } from './helpers/server.js';
import { NO_ACK_MS, Session, isAck, isOnce, type ClientEvent, type GunClient } from './helpers/gun-clients.js';

test('Jack/Jill: peers sync inside a room and nothing crosses rooms', async (t) => {
  const s = new Session(t);
  const server = await s.startServer();
  const roomA = `${server.http}/room-a`;
  const roomB = `${server.http}/room-b`;

  const [a1, a2, sub, jill] = await Promise.all([
    s.connected('a1', roomA), s.connected('a2', roomA), s.connected('a-sub', roomA), s.connected('b-jill', roomB),
  ]);
  sub.send({ op: 'on', key: 'jack' });
  a1.send({ op: 'on', key: 'jack' });
  a2.send({ op: 'on', key: 'jack' });
  a1.send({ op: 'on', key: 'jill' }); // leak probe: jill lives in room-b only
  jill.send({ op: 'on', key: 'jack' }); // leak probe: jack lives in room-a only

  a1.send({ op: 'put', key: 'jack', value: { name: 'Jack' }, id: 'name' });
  a2.send({ op: 'put', key: 'jack', value: { age: 30 }, id: 'age' });
  jill.send({ op: 'put', key: 'jill', value: { name: 'Jill' }, id: 'jill' });

  const jackComplete = (e: ClientEvent) => e.event === 'saw' && e.key === 'jack'
    && (e.value as Record<string, unknown> | null)?.name === 'Jack' && (e.value as Record<string, unknown> | null)?.age === 30;
  await Promise.all([
    sub.waitFor('subscriber sees both writers merged into jack', jackComplete),
    a1.waitFor("a1 sees a2's age on jack", jackComplete),
    a2.waitFor("a2 sees a1's name on jack", jackComplete),
  ]);

  // Fresh peers read what the server holds for each room.
  const [lateA, lateB] = await Promise.all([s.connected('late-a', roomA), s.connected('late-b', roomB)]);
  lateA.send({ op: 'once', key: 'jack', id: 'jack', wait: 1000 });
  lateA.send({ op: 'once', key: 'jill', id: 'jill', wait: 1000 });
  lateB.send({ op: 'once', key: 'jill', id: 'jill', wait: 1000 });
  lateB.send({ op: 'once', key: 'jack', id: 'jack', wait: 1000 });
  const [aJack, aJill, bJill, bJack] = await Promise.all([
    lateA.waitFor('late room-a reader gets jack', isOnce('jack')),
    lateA.waitFor('late room-a reader asks for jill', isOnce('jill')),
    lateB.waitFor('late room-b reader gets jill', isOnce('jill')),
    lateB.waitFor('late room-b reader asks for jack', isOnce('jack')),
  ]);
  // The probes were subscribed before any put; by now every in-room peer has had its data for a
  // while (the late readers took a full client start-up), so a leaked put would have arrived.
  const leaks = [
    aJill.value !== null && `room-a late reader got jill from room-b: ${JSON.stringify(aJill)}`,
    bJack.value !== null && `room-b late reader got jack from room-a: ${JSON.stringify(bJack)}`,
    ...a1.saw('jill').map((e) => `room-a probe on jill fired: ${JSON.stringify(e)}`),
    ...jill.saw('jack').map((e) => `room-b probe on jack fired: ${JSON.stringify(e)}`),
  ].filter(Boolean);
  assert.deepEqual(leaks, [], 'data crossed rooms');
  assert.deepEqual(aJack.value, { name: 'Jack', age: 30 }, 'room-a holds jack');
  assert.deepEqual(bJill.value, { name: 'Jill' }, 'room-b holds jill');
});

test('put callbacks are acked by the server, without error, long before GUN\'s 9 s "No ACK yet"', async (t) => {
  const s = new Session(t);
  const server = await s.startServer();
  const writer = await s.connected('writer', `${server.http}/room-acks`);

  writer.send({ op: 'put', key: 'jack', value: { name: 'Jack' }, id: 'simple' });
  writer.send({ op: 'put', key: 'jack', field: 'age', value: 31, id: 'field' });
  writer.send({ op: 'put', key: 'jill', value: { name: 'Jill', pet: { name: 'Cat' } }, id: 'nested' });
  writer.send({ op: 'set', key: 'chat', value: { text: 'hello' }, id: 'set' });

  for (const id of ['simple', 'field', 'nested', 'set']) {
    // Wait past GUN's own deadline so a missing ack shows up as GUN's "No ACK yet" error.
    const ack = await writer.waitFor(`ack for put "${id}"`, isAck(id), NO_ACK_MS + 2_000);
    assert.equal(ack.err, null, `put "${id}" was acked with an error: ${JSON.stringify(ack)}`);
    assert.ok(ack.ok, `put "${id}" ack carries no ok: ${JSON.stringify(ack)}`);
    assert.ok((ack.ms as number) < 3_000, `put "${id}" ack took ${ack.ms} ms`);
  }
});

test('late joiner: a fresh peer reads from server memory after the writer is gone', async (t) => {
  const s = new Session(t);
  const server = await s.startServer();
  const room = `${server.http}/room-late`;

  const writer = await s.connected('writer', room);
  writer.send({ op: 'put', key: 'profile', value: { name: 'Late', visits: 3, admin: false }, id: 'p' });
  // The ack (error or not: that is the previous test's business) means the server has the put.
  await writer.waitFor('ack for the put', isAck('p'), NO_ACK_MS + 2_000);
  await writer.kill();

  const reader = await s.connected('reader', room);
  reader.send({ op: 'once', key: 'profile', id: 'node', wait: 1000 });
  reader.send({ op: 'once', key: 'profile', field: 'name', id: 'field', wait: 1000 });
  reader.send({ op: 'once', key: 'nobody', id: 'missing', wait: 1000 });
  const [node, field, missing] = await Promise.all([
    reader.waitFor('whole node from server memory', isOnce('node')),
    reader.waitFor('one field from server memory', isOnce('field')),
    reader.waitFor('answer for a soul nobody wrote', isOnce('missing')),
  ]);
  assert.deepEqual(node.value, { name: 'Late', visits: 3, admin: false });
  assert.equal(field.value, 'Late');
  // `once` always waits out `wait` after a not-found (explicit or not), so only the value is checked.
  assert.equal(missing.value, null);
});

test('a .set() chat list written by two peers is read in full with .map().on()', async (t) => {
  const s = new Session(t);
  const server = await s.startServer();
  const room = `${server.http}/room-chat`;

  const [alice, bob, live] = await Promise.all([
    s.connected('alice', room), s.connected('bob', room), s.connected('live-reader', room),
  ]);
  live.send({ op: 'map', key: 'chat' });

  const expected: string[] = [];
  for (let i = 0; i < 3; i++) {
    for (const [who, peer] of [['alice', alice], ['bob', bob]] as const) {
      const text = `${who}-${i}`;
      expected.push(text);
      peer.send({ op: 'set', key: 'chat', value: { text, from: who }, id: text });
    }
  }
  expected.sort();

  const texts = (c: GunClient) => [...new Set(c.events
    .filter((e) => e.event === 'item' && e.key === 'chat')
    .map((e) => (e.value as Record<string, unknown> | null)?.text)
    .filter((x): x is string => typeof x === 'string'))].sort();
  const hasAll = (c: GunClient) => () => expected.every((x) => texts(c).includes(x));

  await live.waitUntil('all 6 chat items live', hasAll(live));

  const late = await s.connected('late-reader', room);
  late.send({ op: 'map', key: 'chat' });
  await late.waitUntil('all 6 chat items from server memory', hasAll(late));

  assert.deepEqual(texts(live), expected);
  assert.deepEqual(texts(late), expected);
  for (const c of [live, late]) {
    const item = c.events.find((e) => e.event === 'item' && (e.value as Record<string, unknown> | null)?.text === 'bob-1');
    assert.deepEqual(item?.value, { text: 'bob-1', from: 'bob' });
  }
});

/** Start the server on a random fixed port in 20000–32000, trying another on EADDRINUSE. */
async function startOnRandomPort(s: Session): Promise<RunningServer> {
  for (let attempt = 0; ; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      return await s.startServer({ port });
    } catch (err) {
      if (attempt < 9 && /EADDRINUSE/.test(String(err))) continue;
      throw err;
    }
  }
}

/** Restart on the port just freed; only someone else grabbing it meanwhile makes this retry. */
async function restartOnSamePort(s: Session, port: number): Promise<RunningServer> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      return await s.startServer({ port });
    } catch (err) {
      if (Date.now() < deadline && /EADDRINUSE/.test(String(err))) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      throw err;
    }
  }
}

test('browser-core peer (gun/gun + ws) reconnects after a restart on the same port and resyncs', async (t) => {
  const s = new Session(t);
  const first = await startOnRandomPort(s);
  const room = `${first.http}/room-restart`;

  const browser = await s.connected('browser-core', room, 'core');
  browser.send({ op: 'on', key: 'news' });
  browser.send({ op: 'put', key: 'notes', value: { owner: 'browser', count: 5 }, id: 'notes' });
  await browser.waitFor('ack for its put before the restart', isAck('notes'), NO_ACK_MS + 2_000);

  // Restart. The server keeps no data across restarts by design; the browser peer keeps its own.
  await first.stop();
  await browser.waitFor('disconnect (bye)', (e) => e.event === 'bye');
  const second = await restartOnSamePort(s, first.port);
  assert.equal(second.port, first.port);
  await browser.waitUntil('reconnect (second hi)', () => browser.events.filter((e) => e.event === 'hi').length >= 2, 12_000);

  // (a) A put made after the restart reaches the browser peer through its re-sent subscription.
  const writer = await s.connected('writer', room);
  writer.send({ op: 'put', key: 'news', value: { headline: 'after restart' }, id: 'news' });
  const news = await browser.waitFor('news put after the restart', (e) => e.event === 'saw' && e.key === 'news'
    && (e.value as Record<string, unknown> | null)?.headline === 'after restart');
  assert.deepEqual(news.value, { headline: 'after restart' });

  // (b) A new peer gets the browser peer's data: the restarted server has none, so it must forward
  // the get to the browser peer and route its answer back.
  const reader = await s.connected('reader', room);
  reader.send({ op: 'once', key: 'notes', id: 'notes', wait: 3000 });
  const notes = await reader.waitFor('notes held only by the browser peer', isOnce('notes'));
  assert.deepEqual(notes.value, { owner: 'browser', count: 5 });
});
