// The pure parts of the line transports, without sockets: splitting a byte stream into lines with
// a bound (transports/line-reader.ts), reading a hello (server/line-door.ts), and the SDK's hello
// and URLs (client/transport-line.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineReader, type NextLine } from '../src/transports/line-reader.ts';
import { parseHello } from '../src/server/line-door.ts';
import { helloLine, isLineUrl, lineRoom } from '../src/client/transport-line.ts';
import { attemptUrl, roomKey } from '../src/client/room-url.ts';

function drain(r: LineReader): Array<string | 'need_more' | 'too_long'> {
  const out: Array<string | 'need_more' | 'too_long'> = [];
  for (let i = 0; i < 100; i++) {
    const next: NextLine = r.next();
    out.push(typeof next === 'string' ? next : next.toString('utf8'));
    if (next === 'need_more' || next === 'too_long') return out;
  }
  throw new Error('no end');
}

test('LineReader: lines across chunks, \\r\\n, empty lines skipped', () => {
  const r = new LineReader(100);
  r.push(Buffer.from('{"a":1}\n{"b"'));
  assert.deepEqual(drain(r), ['{"a":1}', 'need_more']);
  r.push(Buffer.from(':2}\r\n\n\r\n{"c":3}\n'));
  assert.deepEqual(drain(r), ['{"b":2}', '{"c":3}', 'need_more']);
  r.push(Buffer.from('é'.repeat(3))); // a multi-byte character split over chunks is joined as bytes
  assert.deepEqual(drain(r), ['need_more']);
  r.push(Buffer.from('\n'));
  assert.deepEqual(drain(r), ['ééé', 'need_more']);
});

test('LineReader: a line over the bound is too_long as soon as it passes it, ended or not; at the bound it is taken', () => {
  const r = new LineReader(10);
  r.push(Buffer.from('0123456789\n'));
  assert.deepEqual(drain(r), ['0123456789', 'need_more']);
  r.push(Buffer.from('0123456789\r\n')); // the \r does not count
  assert.deepEqual(drain(r), ['0123456789', 'need_more']);
  r.push(Buffer.from('01234567890\n'));
  assert.deepEqual(drain(r), ['too_long']);
  const open = new LineReader(10);
  open.push(Buffer.from('012345'));
  assert.deepEqual(drain(open), ['need_more']);
  open.push(Buffer.from('678901234'));
  assert.deepEqual(drain(open), ['too_long']);
  assert.ok(open.heldBytes <= 16);
});

test('parseHello: the room, token and the WebSocket query\'s join options; refusals with the door\'s codes', () => {
  const ok = parseHello(JSON.stringify({ type: 'hello', room: '/chat/a%20b', token: 't', resume: 'ab'.repeat(8), seen: 3, since: 41, epoch: 'E', topics: ['x', 'y'], info: { name: 'ann' } }), 1024);
  assert.ok(!('refused' in ok));
  assert.equal(ok.room, '/chat/a b');
  assert.equal(ok.token, 't');
  assert.deepEqual(ok.options, { resume: 'ab'.repeat(8), seen: 3, since: 41, epoch: 'E', topics: ['x', 'y'], info: { name: 'ann' } });
  const code = (v: unknown, max = 1024) => { const r = parseHello(typeof v === 'string' ? v : JSON.stringify(v), max); return 'refused' in r ? r.refused : 'ok'; };
  assert.equal(code('nope'), 'bad_message');
  assert.equal(code({ type: 'publish' }), 'bad_message');
  assert.equal(code([{ type: 'hello', room: '/x' }]), 'bad_message');
  assert.equal(code({ type: 'hello' }), 'bad_path');
  assert.equal(code({ type: 'hello', room: 'chat' }), 'bad_path');
  assert.equal(code({ type: 'hello', room: '/x?y=1' }), 'bad_path');
  assert.equal(code({ type: 'hello', room: '/_/rooms' }), 'not_found');
  assert.equal(code({ type: 'hello', room: '/_/new' }), 'ok');
  assert.equal(code({ type: 'hello', room: '/x', token: 5 }), 'bad_request');
  assert.equal(code({ type: 'hello', room: '/x', topics: ['a,b'] }), 'bad_request');
  assert.equal(code({ type: 'hello', room: '/x', resume: 'short' }), 'bad_request');
  assert.equal(code({ type: 'hello', room: '/x', info: 'x'.repeat(20) }, 16), 'too_large');
  assert.equal(code({ type: 'hello', room: '/x', topics: 'a,b' }), 'ok');
});

test('SDK: line URLs, the hello made from an attempt\'s query, and the resume key of an ipc room', () => {
  const tcp = new URL('tcp://127.0.0.1:8766/chat');
  const ipc = new URL('ipc:///run/ms.sock?room=/chat');
  assert.ok(isLineUrl(tcp) && isLineUrl(ipc) && isLineUrl(new URL('tls://h:1/r')) && isLineUrl(new URL('tcp+tls://h:1/r')));
  assert.ok(!isLineUrl(new URL('ws://h/r')));
  assert.equal(lineRoom(tcp), '/chat');
  assert.equal(lineRoom(ipc), '/chat');
  const attempt = attemptUrl(ipc, { token: 'T', resume: 'abc', seen: 2, since: 7, epoch: 'E', topics: ['a', 'b'], info: '{"n":1}' });
  assert.deepEqual(JSON.parse(helloLine(attempt)), { type: 'hello', room: '/chat', token: 'T', resume: 'abc', seen: 2, since: 7, epoch: 'E', topics: ['a', 'b'], info: { n: 1 } });
  assert.ok(helloLine(attempt).endsWith('}\n'));
  assert.notEqual(roomKey(ipc), roomKey(new URL('ipc:///run/ms.sock?room=/other')));
});
