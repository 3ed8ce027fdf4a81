// Raw HTTP on a fresh TCP connection: malformed request lines and headers, bad lengths and
// chunking, pipelining, broken upgrade requests, and slowloris-ish partial requests that the
// fuzzer abandons after a bounded wait. One input is one connection.
import type { Rng } from '../rng.ts';
import { mutateText, oddString, pctEncode } from '../mutate.ts';
import { asText } from '../mutate.ts';
import { oddPath } from './http.ts';
import { tokenGarbage } from './native.ts';

export interface RawInput {
  door: 'raw';
  /** written one after another, `pauseMs` apart */
  chunks: Buffer[];
  pauseMs: number;
  /** how long to wait for the server after the last chunk before dropping the connection */
  waitMs: number;
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

function upgradeHeaders(rng: Rng): string[] {
  const h = ['Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${KEY}`, 'Sec-WebSocket-Version: 13'];
  if (rng.chance(0.5)) h.push('Sec-WebSocket-Protocol: ' + rng.pick(['multisocket.v1', 'multisocket.v1, multisocket.v1', 'x, multisocket.v1', '', ',,,', 'gun', 'x'.repeat(5000)]));
  switch (rng.int(0, 9)) {
    case 0: h.splice(2, 1); break; // no key
    case 1: h[2] = 'Sec-WebSocket-Key: ' + rng.pick(['', 'short', 'x'.repeat(100), '!!!!!!!!!!!!!!!!!!!!!!==']); break;
    case 2: h[3] = 'Sec-WebSocket-Version: ' + rng.pick(['8', '12', '', '13, 8', 'x']); break;
    case 3: h[1] = 'Connection: ' + rng.pick(['keep-alive', 'upgrade, keep-alive', '']); break;
    case 4: h[0] = 'Upgrade: ' + rng.pick(['WebSocket', 'h2c', 'websocket, x', '']); break;
    case 5: h.push('Sec-WebSocket-Extensions: ' + rng.pick(['permessage-deflate', 'permessage-deflate; client_max_window_bits=7', 'x;;;'])); break;
    case 6: h.push('Authorization: Bearer ' + asText(tokenGarbage(rng)).replace(/[\r\n]/g, '')); break;
  }
  return h;
}

function requestLine(rng: Rng, rooms: readonly string[]): string {
  const method = rng.weighted<string>([[10, 'GET'], [3, 'POST'], [1, 'PUT'], [1, rng.pick(['get', 'G ET', 'OPTIONS', 'CONNECT', 'PRI', '', 'X'.repeat(100)])]]);
  const target = rng.weighted<string>([
    [10, oddPath(rng, rooms) + (rng.chance(0.2) ? '?token=' + pctEncode(asText(tokenGarbage(rng))).slice(0, 200) : '')],
    [1, rng.pick(['*', 'http://a:99999/r', '//[x]/r', '/a b', '/\u0000', '/%', 'x', '', '/' + 'y'.repeat(20000)])],
  ]);
  const version = rng.weighted<string>([[12, 'HTTP/1.1'], [2, 'HTTP/1.0'], [1, rng.pick(['HTTP/2.0', 'HTTP/1.1x', 'HTTP/1', 'http/1.1', '', 'HTTP/9.9'])]]);
  return `${method} ${target} ${version}`.trimEnd();
}

function request(rng: Rng, rooms: readonly string[]): string {
  const lines = [requestLine(rng, rooms)];
  if (rng.chance(0.9)) lines.push('Host: ' + rng.pick(['127.0.0.1', 'x', '', '[::1]', 'a:99999']));
  let body = '';
  const kind = rng.int(0, 11);
  if (kind <= 2) lines.push(...upgradeHeaders(rng));
  else if (kind === 3) lines.push('Accept: text/event-stream');
  else if (kind <= 6) {
    body = JSON.stringify({ s: { _: { '#': 's', '>': { a: 1 } }, a: oddString(rng) }, ...(rng.chance(0.3) ? { token: tokenGarbage(rng) } : {}) });
    if (rng.chance(0.3)) { const m = mutateText(rng, body); body = typeof m === 'string' ? m : m.toString('latin1'); }
    lines.push('Content-Length: ' + rng.weighted<string>([[6, String(Buffer.byteLength(body))], [1, '-1'], [1, 'abc'], [1, String(Buffer.byteLength(body) + 50)], [1, '99999999999999999999'], [1, `${body.length}, ${body.length + 1}`]]));
    if (rng.chance(0.1)) lines.push('Transfer-Encoding: chunked');
  } else if (kind === 7) {
    lines.push('Transfer-Encoding: ' + rng.pick(['chunked', 'chunked, identity', 'gzip', 'x']));
    body = rng.pick(['5\r\nhello\r\n0\r\n\r\n', 'zz\r\nx\r\n', 'ffffffffffffffff\r\nx', '3\r\nabcdef\r\n0\r\n\r\n', '0\r\n\r\n']);
  } else if (kind === 8) {
    lines.push(rng.pick(['NoColonHere', ' leading: space', 'X: a\r\n folded', 'X-Nul: a\u0000b', 'X-Big: ' + 'h'.repeat(rng.int(8000, 20000)), 'Content-Length: 5', ': empty', 'X:\u00ff\u00fe']));
  } else if (kind === 9) {
    for (let i = rng.int(50, 300); i > 0; i--) lines.push(`X-${i}: ${rng.word()}`);
  }
  return lines.join('\r\n') + '\r\n\r\n' + body;
}

export function generateRaw(rng: Rng, rooms: readonly string[]): RawInput {
  const shape = rng.int(0, 9);
  let text: string;
  if (shape === 0) return { door: 'raw', chunks: [rng.bytes(rng.int(1, 300))], pauseMs: 0, waitMs: 100 };
  if (shape === 1) text = Array.from({ length: rng.int(2, 5) }, () => request(rng, rooms)).join(''); // pipelined
  else text = request(rng, rooms);
  const bytes = Buffer.from(text, rng.chance(0.9) ? 'utf8' : 'latin1');
  if (shape === 2 || shape === 3) {
    // slowloris-ish: a part of the request, a bounded wait, maybe a little more, then we leave
    const cut = rng.int(1, Math.max(1, bytes.length - 1));
    return { door: 'raw', chunks: [bytes.subarray(0, cut), ...(rng.chance(0.5) ? [bytes.subarray(cut, cut + rng.int(1, 10))] : [])], pauseMs: rng.int(10, 100), waitMs: rng.int(50, 250) };
  }
  if (shape === 4) {
    // split into tiny chunks
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += rng.int(1, 40)) chunks.push(bytes.subarray(i, i + 40));
    return { door: 'raw', chunks: chunks.slice(0, 50), pauseMs: 1, waitMs: 150 };
  }
  return { door: 'raw', chunks: [bytes], pauseMs: 0, waitMs: 200 };
}
