// GUN wire protocol rules (issue 2, section 3), checked with raw WebSocket clients against the real
// server process. Every test uses its own room(s) on one shared server, so tests cannot see each other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunningServer } from './helpers/server.js';
import { GunPeer, PeerPool, sharedGunServer, uid, node, fieldsOf, poll, sleep, type Msg } from './helpers/gun-wire.js';

let server: RunningServer;
let pool: PeerPool;

sharedGunServer((s, p) => { server = s; pool = p; });

const room = (name = 'room') => '/' + uid(name);

/** Connect n peers to one room. */
async function peers(n: number, r = room()): Promise<GunPeer[]> {
  return Promise.all(Array.from({ length: n }, () => pool.connect(r)));
}

/** Ask for one field and return `{value, state}`, or undefined when the reply does not hold it. */
async function fieldOf(p: GunPeer, soul: string, field: string): Promise<{ value: unknown; state: unknown } | undefined> {
  const reply = await p.ask({ '#': soul, '.': field });
  const n = reply.put?.[soul];
  if (!n || !Object.hasOwn(n, field)) return undefined;
  return { value: n[field], state: n._?.['>']?.[field] };
}

const isPutOf = (id: string) => (m: Msg) => m['#'] === id && m.put !== undefined;

// ---------------------------------------------------------------------------------------------
// DAM

test('DAM: greeting, handshake reply answered with nothing, bare "?" answered, never relayed', async () => {
  const [a, b] = await peers(2);
  const g = a.greeting!;
  assert.equal(typeof g['#'], 'string', `greeting has a string "#": ${JSON.stringify(g)}`);
  assert.ok(g['#'].length > 0);
  assert.equal(g.dam, '?');
  assert.ok(typeof g.pid === 'string' && g.pid.length > 0, `greeting has a pid: ${JSON.stringify(g)}`);
  assert.equal(b.serverPid, a.serverPid, 'one server, one pid');

  const x = uid('dam-x');
  const y = uid('dam-y');
  const hi = uid('dam-hi');
  const odd = uid('dam-odd');
  a.send({ '#': x, dam: '?', pid: 'mine', '@': g['#'] }); // reply to the greeting: needs no answer
  a.send({ '#': hi, dam: 'hi' }); // needs nothing
  a.send({ '#': odd, dam: 'zzz', extra: 1 }); // unknown dam: only dup-tracked
  a.send({ '#': y, dam: '?', pid: 'p' }); // a greeting without "@": answered
  const r = await a.waitFor((m) => m['@'] === y, 2000, 'answer to bare dam "?"');
  assert.equal(r.dam, '?');
  assert.equal(r.pid, a.serverPid, 'answer carries the server pid');

  await a.expectNone((m) => m !== g && m !== r && (m.dam !== undefined || [x, hi, odd].includes(m['@'])), 300,
    'answer to a DAM message that needs none');
  await b.expectNone((m) => m !== b.greeting && (m.dam !== undefined || [x, y, hi, odd].includes(m['#'])), 0,
    'relayed DAM message');
});

test('non-JSON frame gets {"dam":"!","err"} and the connection stays usable', async () => {
  const [a, b] = await peers(2);
  a.send('this is not json');
  const e = await a.waitFor((m) => m.dam === '!', 2000, 'dam "!" error');
  assert.equal(typeof e.err, 'string');
  assert.ok(e.err.length > 0);
  a.send('{"#":"broken", "put": ');
  await a.waitUntil(() => a.all((m) => m.dam === '!').length >= 2, 2000, 'second dam "!" error');
  assert.ok(a.isOpen, 'connection still open');
  const ack = await a.putAck({ ok1: node('ok1', { name: 'still works' }) });
  assert.equal(ack.ok, 1, JSON.stringify(ack));
  const got = await fieldOf(a, 'ok1', 'name');
  assert.equal(got?.value, 'still works');
  await b.expectNone((m) => m.dam === '!', 0, 'error sent to another peer');
});

// ---------------------------------------------------------------------------------------------
// Puts

test('put: acked to the sender only, forwarded unchanged to every other peer, never echoed, never in another room', async () => {
  const r = room();
  const [a, b, c] = await peers(3, r);
  const d = await pool.connect(room('other'));
  const id = uid('p1');
  const put = { jack: { _: { '#': 'jack', '>': { name: 1 } }, name: 'Jack' } };
  a.send({ '#': id, put });
  const ack = await a.waitFor((m) => m['@'] === id, 2000, 'ack');
  assert.equal(ack.ok, 1, `ack: ${JSON.stringify(ack)}`);
  assert.equal(ack.err, undefined);
  assert.ok(typeof ack['#'] === 'string' && ack['#'].length > 0, `ack has its own "#": ${JSON.stringify(ack)}`);
  assert.notEqual(ack['#'], id);
  for (const p of [b, c]) {
    const f = await p.waitFor(isPutOf(id), 2000, 'forwarded put');
    assert.deepEqual(f.put, put);
  }
  await a.expectNone(isPutOf(id), 300, 'echo of own put');
  assert.equal(a.all((m) => m['@'] === id).length, 1, 'exactly one ack');
  for (const p of [b, c]) await p.expectNone((m) => m['@'] === id, 0, 'ack sent to a non-sender');
  await d.expectNone((m) => m['#'] === id || m['@'] === id || m.put !== undefined, 0, 'message from another room');
});

test('put: unknown message fields pass through to other peers', async () => {
  const [a, b] = await peers(2);
  const id = uid('pt');
  a.send({ '#': id, put: { s: node('s', { v: 1 }) }, FOO: 1, ok: { '@': 9, '/': 1 } });
  const f = await b.waitFor(isPutOf(id));
  assert.equal(f.FOO, 1, `forwarded: ${JSON.stringify(f)}`);
});

test('invalid puts: err ack, not stored, not relayed', async (t) => {
  const [a, b] = await peers(2);
  type Case = { name: string; soul?: string; frame: (id: string, soul: string) => string };
  const msg = (id: string, put: unknown) => JSON.stringify({ '#': id, put });
  const cases: Case[] = [
    { name: 'missing ">" state for a field', frame: (id, s) => msg(id, { [s]: { _: { '#': s, '>': { other: 1 } }, name: 'x' } }) },
    { name: 'no ">" at all', frame: (id, s) => msg(id, { [s]: { _: { '#': s }, name: 'x' } }) },
    { name: 'node without "_"', frame: (id, s) => msg(id, { [s]: { name: 'x' } }) },
    { name: 'non-numeric state (string)', frame: (id, s) => msg(id, { [s]: { _: { '#': s, '>': { name: '1' } }, name: 'x' } }) },
    { name: 'non-numeric state (null)', frame: (id, s) => msg(id, { [s]: { _: { '#': s, '>': { name: null } }, name: 'x' } }) },
    { name: 'array value', frame: (id, s) => msg(id, { [s]: node(s, { name: [1, 2] }) }) },
    { name: 'nested object value', frame: (id, s) => msg(id, { [s]: node(s, { name: { a: 1 } }) }) },
    { name: 'link with extra keys', frame: (id, s) => msg(id, { [s]: node(s, { name: { '#': 'x', y: 1 } }) }) },
    { name: 'link to a non-string soul', frame: (id, s) => msg(id, { [s]: node(s, { name: { '#': 5 } }) }) },
    { name: 'soul mismatch (_.# differs from graph key)', frame: (id, s) => msg(id, { [s]: { _: { '#': s + '-other', '>': { name: 1 } }, name: 'x' } }) },
    { name: 'non-finite number value (1e999 parses to Infinity)', frame: (id, s) => `{"#":"${id}","put":{"${s}":{"_":{"#":"${s}",">":{"n":1}},"n":1e999}}}` },
    { name: 'negative non-finite number value (-1e999)', frame: (id, s) => `{"#":"${id}","put":{"${s}":{"_":{"#":"${s}",">":{"n":1}},"n":-1e999}}}` },
    { name: 'node is not an object', frame: (id, s) => msg(id, { [s]: 'just a string' }) },
    { name: 'put is a string', soul: '', frame: (id) => msg(id, 'hello') },
    { name: 'put is a number', soul: '', frame: (id) => msg(id, 42) },
    { name: 'put is an array', frame: (id, s) => msg(id, [{ [s]: node(s, { name: 'x' }) }]) },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      const id = uid('bad');
      const soul = c.soul ?? uid('soul');
      a.send(c.frame(id, soul));
      const reply = await a.waitFor((m) => m['@'] === id, 2000, `reply to invalid put (${c.name})`);
      assert.equal(typeof reply.err, 'string', `expected an err ack, got ${JSON.stringify(reply)}`);
      assert.ok(reply.err.length > 0);
      assert.ok(!reply.ok, `err ack must not say ok: ${JSON.stringify(reply)}`);
      if (soul) {
        const got = await a.ask({ '#': soul });
        assert.equal(got.put, undefined, `stored anyway: ${JSON.stringify(got)}`);
      }
      await b.expectNone((m) => m['#'] === id || m['@'] === id, 100, 'relayed invalid put');
    });
  }
});

test('invalid put: one bad node makes the whole put invalid (nothing of it stored)', async () => {
  const [a, b] = await peers(2);
  const id = uid('mixed');
  a.put({ good: node('good', { name: 'ok' }), bad: node('bad', { name: [1] }) }, id);
  const reply = await a.waitFor((m) => m['@'] === id);
  assert.equal(typeof reply.err, 'string', JSON.stringify(reply));
  const got = await a.ask({ '#': 'good' });
  assert.equal(got.put, undefined, `part of an invalid put was stored: ${JSON.stringify(got)}`);
  await b.expectNone((m) => m['#'] === id, 100, 'relayed invalid put');
});

test('valid values: null, string, boolean, finite numbers and links are accepted and returned as sent', async () => {
  const [a] = await peers(1);
  const fields = { n: null, s: 'str', e: '', t: true, f: false, z: 0, neg: -1.5, big: 1e300, link: { '#': 'other' } };
  const ack = await a.putAck({ vals: node('vals', fields) });
  assert.equal(ack.ok, 1, JSON.stringify(ack));
  const got = await a.ask({ '#': 'vals' });
  assert.deepEqual(got.put?.vals, node('vals', fields));
});

// ---------------------------------------------------------------------------------------------
// Gets

test('get: whole node, one field, lex prefix / range / exact, not-found', async (t) => {
  const [a] = await peers(1);
  const fields = { name: 'Jack', nap: 'zz', nick: 'J', age: 30, gone: null, link: { '#': 'jill' }, zed: true };
  const states: Record<string, number> = {};
  Object.keys(fields).forEach((k, i) => { states[k] = 1000 + i + 0.5; });
  const jack = node('jack', fields, states);
  assert.equal((await a.putAck({ jack })).ok, 1);

  const only = (reply: Msg, keys: string[]) => {
    const n = reply.put?.jack;
    assert.ok(n, `reply has no jack: ${JSON.stringify(reply)}`);
    assert.equal(n._?.['#'], 'jack');
    assert.deepEqual(fieldsOf(n), [...keys].sort(), `fields of ${JSON.stringify(reply)}`);
    for (const k of keys) {
      assert.deepEqual(n[k], jack[k], `value of ${k}`);
      assert.equal(n._['>'][k], states[k], `state of ${k}`);
    }
    assert.deepEqual(Object.keys(n._['>']).sort(), [...keys].sort(), 'states only for the returned fields');
  };

  await t.test('whole node, with "##"', async () => {
    const r = await a.ask({ '#': 'jack' });
    assert.deepEqual(r.put, { jack }, JSON.stringify(r));
    assert.equal(typeof r['##'], 'number', `reply carries "##": ${JSON.stringify(r)}`);
  });
  await t.test('one field', async () => only(await a.ask({ '#': 'jack', '.': 'name' }), ['name']));
  await t.test('lex prefix {"*":"na"}', async () => only(await a.ask({ '#': 'jack', '.': { '*': 'na' } }), ['name', 'nap']));
  await t.test('lex range {">":"age","<":"nap"} is inclusive', async () =>
    only(await a.ask({ '#': 'jack', '.': { '>': 'age', '<': 'nap' } }), ['age', 'gone', 'link', 'name', 'nap']));
  await t.test('lex exact {"=":"name"}', async () => only(await a.ask({ '#': 'jack', '.': { '=': 'name' } }), ['name']));
  await t.test('missing soul: explicit {"@":id} with no put, at once', async () => {
    const t0 = Date.now();
    const r = await a.ask({ '#': uid('nobody') }, 1000);
    assert.equal(r.put, undefined, JSON.stringify(r));
    assert.ok(Date.now() - t0 < 1000);
  });
  await t.test('missing field of an existing soul: a reply without that field', async () => {
    const r = await a.ask({ '#': 'jack', '.': 'nope' }, 1000);
    assert.ok(!r.put?.jack || !Object.hasOwn(r.put.jack, 'nope'), JSON.stringify(r));
  });
});

test('get with "%": the reply is limited by approximate bytes, always at least one field', async (t) => {
  const [a] = await peers(1);
  const fields: Record<string, string> = {};
  for (let i = 0; i < 20; i++) fields[`f${String(i).padStart(2, '0')}`] = String(i % 10).repeat(200);
  assert.equal((await a.putAck({ wide: node('wide', fields) })).ok, 1);

  const collect = async (lex: Msg) => {
    const id = a.get(lex);
    await a.waitFor((m) => m['@'] === id);
    await sleep(300); // any further chunks
    const got = new Set<string>();
    for (const m of a.all((m) => m['@'] === id)) for (const f of fieldsOf(m.put?.wide)) got.add(f);
    return got;
  };
  await t.test('whole-node get with "%":500', async () => {
    const got = await collect({ '#': 'wide', '%': 500 });
    assert.ok(got.size >= 1, 'at least one field');
    assert.ok(got.size < 20, `limited: got ${got.size} of 20 fields (each ~200 bytes) for "%":500`);
  });
  await t.test('"%":1 still returns one field', async () => {
    const got = await collect({ '#': 'wide', '%': 1 });
    assert.ok(got.size >= 1, 'at least one field');
    assert.ok(got.size < 20, `limited: got ${got.size} of 20 fields`);
  });
  await t.test('lex prefix with "%":500', async () => {
    const got = await collect({ '#': 'wide', '.': { '*': 'f' }, '%': 500 });
    assert.ok(got.size >= 1 && got.size < 20, `got ${got.size} of 20 fields`);
  });
});

test('get of a node with 500 fields: several chunk replies that together hold every field', async () => {
  const [a] = await peers(1);
  const fields: Record<string, string> = {};
  for (let i = 0; i < 500; i++) fields[`k${i}`] = `value-${i}`;
  const big = node('big', fields, 7);
  assert.equal((await a.putAck({ big })).ok, 1);
  const id = a.get({ '#': 'big' });
  const seen = new Map<string, unknown>();
  let count = 0;
  await a.waitUntil(() => {
    const replies = a.all((m) => m['@'] === id);
    for (const m of replies.slice(count)) {
      const n = m.put?.big;
      for (const f of fieldsOf(n)) { seen.set(f, n[f]); assert.equal(n._['>'][f], 7, `state of ${f}`); }
    }
    count = replies.length;
    return seen.size >= 500;
  }, 3000, 'all 500 fields');
  await sleep(200); // stragglers
  const chunks = a.all((m) => m['@'] === id);
  assert.ok(chunks.length > 1, `expected several chunks, got ${chunks.length}`);
  for (const [f, v] of Object.entries(fields)) assert.equal(seen.get(f), v);
  chunks.forEach((c, i) => {
    assert.equal(c.put?.big?._?.['#'], 'big', `chunk ${i} is a node of big`);
    if (i < chunks.length - 1) assert.ok(c['%'] !== undefined, `chunk ${i} of ${chunks.length} has no "%": ${JSON.stringify(c).slice(0, 200)}`);
    else assert.equal(c['%'], undefined, 'the last chunk has no "%"');
  });
});

test('gets are forwarded to the other peers; their replies go to the asker only', async () => {
  const [a, b, c] = await peers(3);
  const gid = uid('g1');
  const soul = uid('remote');
  a.send({ '#': gid, get: { '#': soul } });
  const fb = await b.waitFor((m) => m['#'] === gid && m.get !== undefined, 2000, 'forwarded get');
  assert.deepEqual(fb.get, { '#': soul });
  await c.waitFor((m) => m['#'] === gid && m.get !== undefined, 2000, 'forwarded get (third peer)');
  await a.expectNone((m) => m['#'] === gid && m.get !== undefined, 0, 'get echoed to the asker');

  const rid = uid('r1');
  const data = { [soul]: node(soul, { name: 'from b' }) };
  b.send({ '#': rid, '@': gid, put: data });
  const got = await a.waitFor((m) => m['@'] === gid && m.put?.[soul] !== undefined, 2000, "b's reply routed to the asker");
  assert.deepEqual(got.put, data);
  await c.expectNone((m) => m['@'] === gid || m['#'] === rid, 300, 'reply routed to a third peer');
  await b.expectNone((m) => m['#'] === rid, 0, 'reply echoed to its sender');
});

test('batch frame [put, get] is processed in order: the get sees the put', async () => {
  const [a, b] = await peers(2);
  const p1 = uid('bp');
  const p2 = uid('bp');
  const g = uid('bg');
  a.send([
    { '#': p1, put: { batch: node('batch', { name: 'one' }, 1) } },
    { '#': p2, put: { batch: node('batch', { name: 'two' }, 2) } },
    { '#': g, get: { '#': 'batch' } },
  ]);
  const r = await a.waitFor((m) => m['@'] === g && m.put !== undefined, 2000, 'get reply with data');
  assert.equal(r.put.batch.name, 'two');
  assert.equal((await a.waitFor((m) => m['@'] === p1)).ok, 1);
  assert.equal((await a.waitFor((m) => m['@'] === p2)).ok, 1);
  await b.waitFor(isPutOf(p1));
  await b.waitFor(isPutOf(p2));
});

test('dedup: the same "#" is processed and relayed once, even from another peer of the room', async (t) => {
  const [a, b, c] = await peers(3);
  await t.test('twice from the same peer, in two frames and in one batch', async () => {
    const id = uid('d1');
    const m = { '#': id, put: { dup: node('dup', { name: 'once' }) } };
    a.send(m);
    a.send(m);
    a.send([m, m]);
    await b.waitFor(isPutOf(id));
    await sleep(300);
    assert.equal(b.all(isPutOf(id)).length, 1, 'relayed once');
    assert.equal(a.all((x) => x['@'] === id).length, 1, 'one ack');
    c.send(m); // same id from another peer of the room
    await c.expectNone((x) => x['@'] === id, 300, 'ack for a duplicate');
    assert.equal(b.all(isPutOf(id)).length, 1, 'the duplicate from another peer was relayed');
    assert.equal(c.all(isPutOf(id)).length, 1, 'c got the original relay once');
  });
  await t.test('a duplicate "#" with other content is not processed', async () => {
    const id = uid('d2');
    a.send({ '#': id, put: { dup2: node('dup2', { name: 'First' }, 1) } });
    await a.waitFor((x) => x['@'] === id);
    c.send({ '#': id, put: { dup2: node('dup2', { name: 'Second' }, 2) } });
    const got = await fieldOf(c, 'dup2', 'name');
    assert.deepEqual(got, { value: 'First', state: 1 });
  });
  await t.test('a get with a seen "#" is answered once', async () => {
    const id = uid('dg');
    a.send({ '#': id, get: { '#': 'dup2' } });
    a.send({ '#': id, get: { '#': 'dup2' } });
    await a.waitFor((x) => x['@'] === id);
    await sleep(300);
    assert.equal(a.all((x) => x['@'] === id).length, 1, 'answered more than once');
  });
});

// ---------------------------------------------------------------------------------------------
// HAM

test('HAM: greater state wins, lower state is ignored', async () => {
  const [a, b, c] = await peers(3);
  const s = uid('ham');
  assert.equal((await a.putAck({ [s]: node(s, { name: 'Jack' }, 10) })).ok, 1);
  const pb = b.put({ [s]: node(s, { name: 'Jill' }, 20) });
  assert.deepEqual(await fieldOf(b, s, 'name'), { value: 'Jill', state: 20 });
  const relayed = await c.waitFor(isPutOf(pb));
  assert.equal(relayed.put[s].name, 'Jill');
  await a.waitFor(isPutOf(pb));

  a.put({ [s]: node(s, { name: 'Old' }, 5) });
  assert.deepEqual(await fieldOf(a, s, 'name'), { value: 'Jill', state: 20 }, 'lower state ignored');
  assert.deepEqual(await fieldOf(b, s, 'name'), { value: 'Jill', state: 20 });
  // per field: a lower state on one field does not block a greater one on another
  a.put({ [s]: node(s, { name: 'Older', age: 3 }, { name: 1, age: 30 }) });
  assert.deepEqual(await fieldOf(a, s, 'name'), { value: 'Jill', state: 20 });
  assert.deepEqual(await fieldOf(a, s, 'age'), { value: 3, state: 30 });
});

test('HAM: equal state, the lexically greater JSON value wins', async () => {
  const [a, b, c] = await peers(3);
  const s = uid('eq');
  assert.equal((await a.putAck({ [s]: node(s, { name: 'Jack' }, 100) })).ok, 1);
  const pz = b.put({ [s]: node(s, { name: 'Zzz' }, 100) });
  assert.deepEqual(await fieldOf(b, s, 'name'), { value: 'Zzz', state: 100 }, '"Zzz" beats "Jack"');
  assert.equal((await c.waitFor(isPutOf(pz))).put[s].name, 'Zzz');

  a.put({ [s]: node(s, { name: 'Aaa' }, 100) });
  assert.deepEqual(await fieldOf(a, s, 'name'), { value: 'Zzz', state: 100 }, '"Aaa" loses to "Zzz"');

  b.put({ [s]: node(s, { name: 5 }, 100) });
  assert.deepEqual(await fieldOf(b, s, 'name'), { value: 5, state: 100 }, '5 beats "Zzz" (`5` > `"`)');

  a.put({ [s]: node(s, { name: 5 }, 100) });
  assert.deepEqual(await fieldOf(a, s, 'name'), { value: 5, state: 100 }, 'equal value: no change');
  a.put({ [s]: node(s, { name: 'Zzzz' }, 100) });
  assert.deepEqual(await fieldOf(a, s, 'name'), { value: 5, state: 100 }, 'a string never beats a number');

  // link > true > null > false at equal state
  a.put({ [s]: node(s, { f: true }, 7) });
  assert.deepEqual(await fieldOf(a, s, 'f'), { value: true, state: 7 });
  b.put({ [s]: node(s, { f: null }, 7) });
  assert.deepEqual(await fieldOf(b, s, 'f'), { value: true, state: 7 }, 'null loses to true');
  b.put({ [s]: node(s, { f: { '#': 'x' } }, 7) });
  assert.deepEqual(await fieldOf(b, s, 'f'), { value: { '#': 'x' }, state: 7 }, 'a link beats true');
});

test('HAM: a future state is forwarded at once but visible via get only when due', async () => {
  const [a, b, c] = await peers(3);
  const s = uid('future');
  assert.equal((await a.putAck({ [s]: node(s, { name: 'Now' }, Date.now() - 1000) })).ok, 1);
  const t0 = Date.now();
  const due = t0 + 1500;
  const pf = a.put({ [s]: node(s, { name: 'Later' }, due) });
  const fb = await b.waitFor(isPutOf(pf), 500, 'future put forwarded at once');
  assert.equal(fb.put[s].name, 'Later');
  await c.waitFor(isPutOf(pf), 500, 'future put forwarded at once');
  assert.equal((await fieldOf(a, s, 'name'))?.value, 'Now', 'future value not visible yet');
  assert.equal((await fieldOf(b, s, 'name'))?.value, 'Now', 'future value not visible yet (other peer)');

  const seenAt = await poll(async () => ((await fieldOf(a, s, 'name'))?.value === 'Later' ? Date.now() : 0), 4000, 100, 'future value to become visible');
  const elapsed = seenAt - t0;
  assert.ok(elapsed >= 1300, `visible after ${elapsed} ms, before it was due (1500 ms)`);
  assert.ok(elapsed <= 3000, `visible only after ${elapsed} ms`);
  assert.deepEqual(await fieldOf(c, s, 'name'), { value: 'Later', state: due });
});

test('every valid put is acked, also when HAM ignores it (lower state, equal state that loses, same value)', async () => {
  const [a] = await peers(1);
  const s = uid('acks');
  assert.equal((await a.putAck({ [s]: node(s, { name: 'Jack' }, 10) })).ok, 1);
  for (const [v, st] of [['Old', 5], ['Aaa', 10], ['Jack', 10]] as const) {
    const ack = await a.putAck({ [s]: node(s, { name: v }, st) }, 1000);
    assert.ok(ack.ok && ack.err === undefined, `put ${v}@${st}: ${JSON.stringify(ack)}`);
  }
});

test('a valid put that loses under HAM is still relayed to the other peers, as GUN relays it', async () => {
  const [a, b] = await peers(2);
  const s = uid('lose');
  await a.putAck({ [s]: node(s, { name: 'Jack' }, 10) });
  const id = uid('old');
  a.send({ '#': id, put: { [s]: node(s, { name: 'Old' }, 5) } });
  const relayed = await b.waitFor((m) => m['#'] === id);
  assert.equal(relayed.put[s].name, 'Old');
  assert.deepEqual(await fieldOf(a, s, 'name'), { value: 'Jack', state: 10 });
});
