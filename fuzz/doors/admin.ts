// The admin API (docs/operations.md "Admin API", "Dashboard"): /_/rooms with its query parameters,
// /_/rooms/<room> and its publish / kick / DELETE, /_/dashboard with its log-in, /_/admin/events,
// POST /_/drain, and /_/stats and /_/metrics (behind the same credential once one is configured).
// Inputs carry the right credential ("$ADMIN", or a room token with `admin` when room tokens are
// on), a wrong one, or none; garbage and huge bodies; bad query parameters; odd methods.
//
// Two rules keep the run's oracles meaningful:
//   - an input names only the run's fuzz rooms or made-up paths, never a canary's room (whose name
//     holds 16 random hex digits no input can know): a DELETE or kick of a canary would be an
//     admitted "leak". The canaries then still prove nothing else crossed rooms.
//   - POST /_/drain never carries a right credential (a drain stops the server): the generator
//     gives it only wrong ones, and the worker checks again before sending (fuzzer.ts).
import type { Rng } from '../rng.ts';
import { anyJson, asText, mutateText, nested, oddString, pctEncode } from '../mutate.ts';
import { oddPath } from './http.ts';
import { tokenGarbage } from './native.ts';

/** How the input presents itself: `good` must be admitted, `bad` and `none` must not be;
 *  `unsure`: a right credential in a mangled header (the answer is not judged). */
export type Credential = 'good' | 'bad' | 'none' | 'unsure';

export interface AdminInput {
  door: 'admin';
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  credential: Credential;
  /** an event stream: read its first bytes, then drop the connection */
  stream?: boolean;
}

const enc = pctEncode;

function roomName(rng: Rng, rooms: readonly string[]): string {
  return rng.weighted<string>([[10, rng.pick(rooms)], [2, oddPath(rng, rooms)], [1, '/'], [1, rng.pick(['/_/new', '/_/health', '/x/..', '/%zz', '//a', '/a%2Fb', '/' + 'r'.repeat(rng.int(300, 3000))])]]);
}

function roomsQuery(rng: Rng, rooms: readonly string[]): string {
  const parts: string[] = [];
  for (let i = rng.int(0, 4); i > 0; i--) {
    switch (rng.int(0, 5)) {
      case 0: parts.push('sort=' + rng.weighted<string>([[4, rng.pick(['name', 'members', 'rate', 'bytes'])], [1, enc(oddString(rng, 40))], [1, '']])); break;
      case 1: parts.push('limit=' + rng.pick(['1', '50', '1000', '1001', '0', '-1', 'x', '1e3', '9999999999', '', '01', ' 5', '1.5'])); break;
      case 2: parts.push('cursor=' + rng.pick(['0', '50', '1000000000', '-1', 'x', '', '99999999999999999999', enc(oddString(rng, 40))])); break;
      case 3: parts.push('q=' + enc(rng.weighted<string>([[3, rng.pick(rooms).slice(0, rng.int(0, 8))], [1, 'fz'], [2, oddString(rng, 100)], [1, '%'], [1, '*']]))); break;
      case 4: parts.push('room=' + enc(roomName(rng, rooms))); break;
      default: parts.push(rng.pick(['', '&', '=', 'sort', 'limit=&limit=5', 'room=&room=/a', '%zz=1']));
    }
  }
  return parts.length ? '?' + parts.join('&') : '';
}

function publishBody(rng: Rng): unknown {
  return rng.weighted<unknown>([
    [5, { data: anyJson(rng, 3), ...(rng.chance(0.4) ? { topic: rng.chance(0.8) ? rng.pick(['t', 'news.eu', 'chat']) : anyJson(rng, 1) } : {}) }],
    [1, { topic: 't' }],
    [1, anyJson(rng, 2)],
  ]);
}

function kickBody(rng: Rng): unknown {
  const who = (): unknown => rng.weighted<unknown>([[4, '$CID'], [2, 'c' + rng.word(6, 10)], [1, oddString(rng, 80)], [1, anyJson(rng, 1)]]);
  return rng.weighted<unknown>([
    [5, { cid: who(), ...(rng.chance(0.3) ? { reason: rng.chance(0.7) ? rng.word() : rng.chance(0.5) ? 'r'.repeat(rng.pick([256, 257, 5000])) : anyJson(rng, 1) } : {}) }],
    [2, { peer: rng.chance(0.7) ? rng.word(8, 12) : anyJson(rng, 1) }],
    [1, { cid: who(), peer: rng.word() }],
    [1, anyJson(rng, 2)],
  ]);
}

function body(rng: Rng, value: unknown): string | Buffer {
  return rng.weighted<() => string | Buffer>([
    [10, () => JSON.stringify(value) ?? ''],
    [4, () => mutateText(rng, JSON.stringify(value) ?? '{}')],
    [1, () => ''],
    [1, () => rng.bytes(rng.int(1, 300))],
    // over --max-message-bytes + 4096 (262144 + 4096 in the fuzz server), or just under
    [1, () => JSON.stringify({ data: 'x'.repeat(rng.pick([266_000, 266_300, 400_000])) })],
    [1, () => `{"data":${nested(rng.pick([999, 1001, 6000]), '1', rng)}}`],
  ])();
}

function credentialFor(rng: Rng, allowGood: boolean): { credential: Credential; token?: string } {
  const c = rng.weighted<Credential>([[allowGood ? 7 : 0, 'good'], [2, 'bad'], [1, 'none']]);
  if (c === 'none') return { credential: c };
  // "$ADMIN_ALT": a room token with `admin` when room tokens are on, else the secret again
  if (c === 'good') return { credential: c, token: rng.chance(0.85) ? '$ADMIN' : '$ADMIN_ALT' };
  // wrong: a near miss of the secret, another secret, a room token without admin, garbage
  const token = rng.weighted<string>([[3, '$ADMIN_WRONG'], [2, rng.word(16, 40)], [2, '$JWT_' + rng.pick(['ok', 'read', 'write', 'expired', 'badsig', 'other'])], [2, asText(tokenGarbage(rng)).replaceAll('$JWT_admin', '$JWT_read').replace(/[^\x21-\x7e]/g, 'x').slice(0, 3000)]]);
  return { credential: c, token };
}

export function generateAdmin(rng: Rng, rooms: readonly string[]): AdminInput {
  const kind = rng.weighted<string>([[6, 'list'], [5, 'room'], [4, 'publish'], [3, 'kick'], [2, 'delete'], [2, 'dashboard'], [1, 'login'], [2, 'events'], [1, 'drain'], [1, 'stats'], [1, 'odd']]);
  const { credential, token } = credentialFor(rng, kind !== 'drain');
  const input: AdminInput = { door: 'admin', method: 'GET', path: '/_/rooms', headers: {}, credential };
  const byQuery = rng.chance(0.2);
  const room = roomName(rng, rooms);
  const roomPath = (action = '') => byQuery ? `/_/rooms${action}?room=${enc(room)}` : `/_/rooms${room === '/' ? '' : room}${action}`;
  switch (kind) {
    case 'list': input.path = '/_/rooms' + roomsQuery(rng, rooms); break;
    case 'room': input.method = rng.pick(['GET', 'GET', 'HEAD']); input.path = roomPath(); break;
    case 'publish': input.method = 'POST'; input.path = roomPath('/publish'); input.body = body(rng, publishBody(rng)); break;
    case 'kick': input.method = 'POST'; input.path = roomPath('/kick'); input.body = body(rng, kickBody(rng)); break;
    case 'delete': input.method = 'DELETE'; input.path = roomPath(); break;
    case 'dashboard':
      input.method = rng.pick(['GET', 'GET', 'HEAD']);
      input.path = '/_/dashboard' + rng.pick(['', '/', '/app.js', '/app.css', '/logout', '/x', '/login', '/../rooms']);
      break;
    case 'login': {
      input.method = 'POST';
      input.path = '/_/dashboard/login';
      if (rng.chance(0.7)) input.headers.origin = rng.pick(['http://127.0.0.1', 'http://evil.example', 'null']);
      const json = rng.chance(0.4);
      input.headers['content-type'] = json ? 'application/json' : 'application/x-www-form-urlencoded';
      const t = token ?? '';
      input.body = rng.chance(0.85) ? (json ? JSON.stringify({ token: t }) : 'token=' + enc(t)) : body(rng, anyJson(rng, 2));
      break;
    }
    case 'events': input.path = '/_/admin/events' + (rng.chance(0.2) ? '?' + rng.pick(['token=x', 'room=/a', 'x=' + 'y'.repeat(3000)]) : ''); input.stream = true; if (rng.chance(0.8)) input.headers.accept = 'text/event-stream'; break;
    case 'drain': input.method = rng.chance(0.9) ? 'POST' : rng.pick(['GET', 'PUT', 'DELETE']); input.path = '/_/drain'; if (rng.chance(0.3)) input.body = body(rng, anyJson(rng, 1)); break;
    case 'stats': input.path = rng.pick(['/_/stats', '/_/metrics']); break;
    default: // odd methods and spellings on the admin paths
      input.method = rng.pick(['PUT', 'PATCH', 'TRACE', 'FOO', 'OPTIONS', 'DELETE', 'POST', 'PROPFIND']);
      input.path = rng.pick(['/_/rooms', roomPath(), roomPath('/' + rng.pick(['publish', 'kick', 'close', 'x', ''])), '/_/rooms//' + rng.word(), '/_/ROOMS', '/_/rooms/%zz', '/_/rooms/..', '/_/dashboard', '/_/admin/events', '/_/admin']);
      if (input.method === 'OPTIONS' && rng.chance(0.7)) { input.headers.origin = 'http://127.0.0.1'; input.headers['access-control-request-method'] = rng.pick(['POST', 'DELETE', 'GET']); }
      if (rng.chance(0.5)) input.body = body(rng, anyJson(rng, 2));
  }
  if (token !== undefined && kind !== 'login') {
    // the credential as Bearer (the API's way), or as ?token= (the dashboard's; the API's too)
    if (rng.chance(0.85) || input.path.includes('token=')) { // (a second ?token= would not be the one read)
      const mangled = rng.chance(0.05);
      input.headers.authorization = (mangled ? rng.pick(['bearer ', 'Basic ', 'Bearer  ', '']) : 'Bearer ') + token;
      if (mangled && input.credential === 'good') input.credential = 'unsure';
    }
    else input.path += (input.path.includes('?') ? '&' : '?') + 'token=' + (token.startsWith('$') ? token : enc(token)); // placeholders are filled in as they are
  }
  if (input.body !== undefined && !input.headers['content-type'] && rng.chance(0.7)) input.headers['content-type'] = rng.pick(['application/json', 'text/plain', 'application/x-www-form-urlencoded']);
  return input;
}
