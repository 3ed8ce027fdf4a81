// GUN's legacy HTTP/JSONP door (docs/gun-legacy.md) and plain HTTP on every kind of path: reads
// by key, soul and prefix, JSONP callbacks and `$` puts, POST/PUT graphs and key associations,
// odd methods and spellings, `?token=` / `Authorization: Bearer` garbage, server endpoints, and
// event streams opened and dropped at once. One input is one request on a keep-alive agent.
import type { Rng } from '../rng.ts';
import { anyJson, mutateText, nested, oddString, pctEncode, PROTO_KEYS, UNICODE } from '../mutate.ts';
import { asText } from '../mutate.ts';
import { tokenGarbage } from './native.ts';

export interface HttpInput {
  door: 'http';
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** an event stream: read its first bytes, then drop the connection */
  stream?: boolean;
}

const enc = pctEncode;

/** A path segment as a client might spell it, valid or not. */
function segment(rng: Rng): string {
  return rng.weighted<string>([
    [8, rng.word()],
    [2, enc(rng.pick(UNICODE) + rng.word(0, 3))],
    [1, rng.pick(['%zz', '%', '%2F', '%2f', '..', '.', '%2e%2e', '%00', '%C3', '~', '%7E@' + rng.word(), '#x', '[x]', '@', ':', 'a:99999'])],
    [1, 'x'.repeat(rng.int(100, 700))],
    [1, enc(rng.pick(PROTO_KEYS))],
    [1, ''],
  ]);
}

export function oddPath(rng: Rng, rooms: readonly string[]): string {
  const base = rng.weighted<string>([
    [10, rng.pick(rooms)],
    [2, rng.pick(['', '/', '//', '////', '/_/new', '/_/health', '/_/stats', '/_/', '/_/x', '/gun', '//[x]/r', 'http://a:99999/r', '*'])],
    [3, '/' + Array.from({ length: rng.int(1, 4) }, () => segment(rng)).join(rng.chance(0.9) ? '/' : '//')],
  ]);
  let path = base;
  if (rng.chance(0.5)) path += '/' + segment(rng);
  if (rng.chance(0.1)) path += '/';
  return path.startsWith('/') || path.startsWith('http') || path === '*' ? path || '/' : '/' + path;
}

function graphBody(rng: Rng): unknown {
  const soul = rng.weighted<string>([[5, rng.pick(['jack', 'jill', 'list'])], [1, '~' + rng.word(40, 88)], [1, '#' + rng.word(43, 44)], [1, rng.pick(PROTO_KEYS)], [1, oddString(rng, 60) || 's']]);
  const key = rng.chance(0.8) ? rng.word() : rng.pick(PROTO_KEYS);
  const node = { _: { '#': soul, '>': { [key]: rng.chance(0.9) ? Date.now() - rng.int(0, 1e6) : anyJson(rng, 1) } }, [key]: rng.chance(0.85) ? oddString(rng) : anyJson(rng, 2) };
  return rng.weighted<unknown>([[4, { [soul]: node }], [3, node], [2, { '#': soul }], [1, anyJson(rng, 3)]]);
}

function query(rng: Rng): string {
  const parts: string[] = [];
  const add = (k: string, v: string) => parts.push(`${k}=${v}`);
  for (let i = rng.int(0, 3); i > 0; i--) {
    switch (rng.int(0, 10)) {
      case 0: add('%23', enc(rng.pick(['jack', 'jill', '*', '', '~' + rng.word(), oddString(rng, 40)]))); break;
      case 1: add('*', enc(rng.word(0, 3))); break;
      case 2: add('%25', rng.pick(['1', '100', '0', '-1', 'x', '1e309'])); break;
      case 3: add('jsonp', rng.weighted([[4, 'cb'], [2, 'a.b.c'], [2, enc(oddString(rng, 80))], [1, 'alert(1)//'], [1, 'a'.repeat(65)]])); break;
      case 4: add('$', enc(rng.chance(0.8) ? JSON.stringify(graphBody(rng)) : rng.chance(0.5) ? nested(rng.pick([999, 1001, 2000])) : oddString(rng))); break;
      case 5: add('token', enc(asText(tokenGarbage(rng)))); break;
      case 6: add('since', rng.pick(['0', '5', '-1', '1e309', 'x', '999999999999999999999'])); break;
      case 7: add('topics', enc(rng.pick(['a,b', ',,,', '*', 'x'.repeat(300), oddString(rng)]))); break;
      case 8: add('epoch', enc(oddString(rng, 100))); break;
      case 9: add(enc(oddString(rng, 20)), enc(oddString(rng, 20))); break;
      default: parts.push(rng.pick(['', '&', '=', '==', '%', '%zz=1', 'a=%E0%A4%A']));
    }
  }
  return parts.length ? '?' + parts.join('&') : rng.chance(0.05) ? '?' : '';
}

export function generateHttp(rng: Rng, rooms: readonly string[]): HttpInput {
  const method = rng.weighted<string>([[10, 'GET'], [8, 'POST'], [2, 'PUT'], [1, 'HEAD'], [1, 'OPTIONS'], [1, rng.pick(['DELETE', 'PATCH', 'TRACE', 'FOO', 'PROPFIND', 'CONNECTX'])]]);
  const headers: Record<string, string> = {};
  if (rng.chance(0.1)) headers.authorization = 'Bearer ' + asText(tokenGarbage(rng)).replace(/[^\x21-\x7e]/g, 'x').slice(0, 4000);
  if (rng.chance(0.05)) headers.origin = rng.pick(['http://evil.example', 'null', 'http://127.0.0.1']);
  if (rng.chance(0.05)) headers['access-control-request-headers'] = rng.word();
  if (rng.chance(0.03)) headers['last-event-id'] = rng.pick(['5', '-1', 'x', '99999999999999999999']);
  const path = oddPath(rng, rooms) + query(rng);
  const input: HttpInput = { door: 'http', method, path, headers };
  if (method === 'GET' && rng.chance(0.12)) { headers.accept = 'text/event-stream'; input.stream = true; }
  if (method === 'POST' || method === 'PUT' || rng.chance(0.03)) {
    let body: string | Buffer = JSON.stringify(graphBody(rng));
    if (rng.chance(0.35)) body = mutateText(rng, body);
    if (rng.chance(0.03)) body = nested(rng.pick([1001, 6000]), '1', rng);
    input.body = body;
    if (rng.chance(0.7)) headers['content-type'] = rng.pick(['application/json', 'text/plain', 'application/x-www-form-urlencoded']);
  }
  return input;
}
