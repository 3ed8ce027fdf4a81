// The SDK's types (issue 10): the README's snippets pass `strict` tsc, and the pure parts the
// SDK is built from: error codes from the one table, byte sizes, the SSE parser, parsing the new
// server messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './helpers/server.js';
import { MultisocketError, parseServerFrame } from '../src/client/index.ts';
import { SseParser, type SseEvent } from '../src/client/sse-parser.ts';
import { postEnvelopeBytes, utf8Length } from '../src/client/size.ts';

test('the README snippets (serve(async ({a, b}) => a + b), request<T>, subscribe<T>, pull<T>) pass strict tsc', async () => {
  const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
  const args = ['--strict', '--noEmit', '--skipLibCheck', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext',
    '--allowImportingTsExtensions', '--types', 'node', path.join(ROOT, 'test/types/client-snippets.ts')];
  const { stdout } = await promisify(execFile)(process.execPath, [tsc, ...args], { cwd: ROOT }).catch((err: { stdout: string }) => ({ stdout: err.stdout }));
  assert.equal(stdout.trim(), '', 'no type errors');
});

test('unit: MultisocketError codes come from the table; a member\'s own code is handler_error with appCode', () => {
  assert.equal(new MultisocketError('timeout').code, 'timeout');
  assert.equal(new MultisocketError('http_502').code, 'http_502');
  const own = new MultisocketError('out_of_stock', 'none left');
  assert.deepEqual([own.code, own.appCode, own.message], ['handler_error', 'out_of_stock', 'none left']);
  assert.deepEqual(own.toInfo(), { code: 'out_of_stock', message: 'none left' }, 'a handler rethrowing it passes the member\'s code on');
  const fromReply = MultisocketError.from({ code: 'no_responder' });
  assert.deepEqual([fromReply.code, fromReply.appCode], ['no_responder', undefined]);
});

test('unit: UTF-8 sizes without encoding, and the SSE POST envelope', () => {
  for (const s of ['', 'abc', 'é', '€', '😀', 'a😀b€é', '\ud800x']) assert.equal(utf8Length(s), Buffer.byteLength(s), JSON.stringify(s));
  const token = '0123456789abcdef0123456789abcdef';
  const json = '{"type":"publish","data":1}';
  assert.equal(utf8Length(`{"token":${JSON.stringify(token)},${json.slice(1)}`), utf8Length(json) + postEnvelopeBytes(token));
});

test('unit: the SSE parser takes events split anywhere, CRLF and CR line ends, comments and multi-line data', () => {
  const stream = 'retry: 2000\r\n\r\n: ping\nevent: connect\ndata: {"a":\ndata: 1}\n\nid: 7\r\nevent: message\r\ndata: x\r\r\ndata:y\n\n';
  for (const size of [1, 2, 3, 7, stream.length]) {
    const out: SseEvent[] = [];
    const p = new SseParser((ev) => out.push(ev));
    for (let i = 0; i < stream.length; i += size) p.push(stream.slice(i, i + size));
    assert.deepEqual(out, [
      { event: 'connect', data: '{"a":\n1}' },
      { event: 'message', data: 'x', id: '7' },
      { event: 'message', data: 'y', id: '7' },
    ], `chunks of ${size}`);
  }
});

test('unit: the new server messages parse (ack, job, connect resumed/info/infos/limits, join info, presence infos/ref, message job/attempt, gap reset)', () => {
  const frame = JSON.stringify([
    { type: 'ack', ref: 'w1', seq: 4 },
    { type: 'ack', ref: 'w2', job: 'j1' },
    { type: 'job', ref: 'w2', job: 'j1', status: 'done', from: 'c2', data: 7, attempts: 1 },
    { type: 'job', ref: 'w3', job: 'j2', status: 'failed', error: { code: 'job_failed', message: 'm' }, attempts: 5 },
    { type: 'job', ref: 'w4', job: 'j3', status: 'weird' },
    { type: 'connect', room: '/r', cid: 'c1', token: 't', resumed: true, owner: 'c1', members: ['c1'], seq: 0, info: { n: 1 }, infos: { c1: { n: 1 } }, limits: { maxMessageBytes: 100, bogus: 1, maxInfoBytes: 'x' } },
    { type: 'join', cid: 'c2', info: 'bob' },
    { type: 'presence', members: ['c1'], owner: 'c1', infos: { c1: 1 }, ref: 'p1' },
    { type: 'message', kind: 'push', from: 'c2', data: 1, job: 'j4', attempt: 2 },
    { type: 'gap', from: 1, to: 0, reset: true },
  ]);
  assert.deepEqual(parseServerFrame(frame), [
    { type: 'ack', ref: 'w1', seq: 4 },
    { type: 'ack', ref: 'w2', job: 'j1' },
    { type: 'job', ref: 'w2', job: 'j1', status: 'done', from: 'c2', data: 7, attempts: 1 },
    { type: 'job', ref: 'w3', job: 'j2', status: 'failed', error: { code: 'job_failed', message: 'm' }, attempts: 5 },
    { type: 'connect', room: '/r', cid: 'c1', token: 't', resumed: true, owner: 'c1', members: ['c1'], seq: 0, info: { n: 1 }, infos: { c1: { n: 1 } }, limits: { maxMessageBytes: 100 } },
    { type: 'join', cid: 'c2', info: 'bob' },
    { type: 'presence', members: ['c1'], owner: 'c1', infos: { c1: 1 }, ref: 'p1' },
    { type: 'message', kind: 'push', from: 'c2', data: 1, job: 'j4', attempt: 2 },
    { type: 'gap', from: 1, to: 0, reset: true },
  ]);
});
