// Native protocol messages (docs/protocol.md §3) of every type, right and wrong shapes, batches,
// token garbage (`{"type":"auth","token":…}`), then often damaged by a mutation. One input is
// one frame on a `multisocket.v1` WebSocket. The placeholders "$CID" (a live member of the
// worker's room: itself or its SSE member) and "$TOKEN" (its SSE member's token) are filled in
// when the input is sent.
import type { Rng } from '../rng.ts';
import { anyJson, mutateText, nested, oddString, PROTO_KEYS, setOwn } from '../mutate.ts';
import type { WsFrameInput } from './gun.ts';
import { JWT_KINDS } from '../tokens.ts';

export const TYPES = ['publish', 'send', 'subscribe', 'unsubscribe', 'request', 'reply', 'serve', 'unserve', 'push', 'pull', 'unpull', 'presence', 'ack', 'nack', 'leave'] as const;

/** A job id: the server's are "j" + base 36; most guesses name no job this member holds. */
function jobId(rng: Rng): unknown {
  return rng.weighted<unknown>([[5, 'j' + rng.int(1, 300).toString(36)], [2, oddString(rng)], [1, 'x'.repeat(129)], [1, anyJson(rng, 1)]]);
}

export function tokenGarbage(rng: Rng): unknown {
  return rng.weighted<unknown>([
    [4, '$TOKEN'],
    [4, '$JWT_' + rng.pick(JWT_KINDS)],
    [3, rng.word(32, 32)],
    [2, oddString(rng, 200)],
    [1, 'x'.repeat(rng.int(1000, 20000))],
    [1, anyJson(rng, 1)],
    [1, 'Bearer ' + rng.word(10, 40)],
    [1, 'eyJhbGciOiJub25lIn0.' + Buffer.from(JSON.stringify({ room: '*', sub: rng.word() })).toString('base64url') + '.'],
  ]);
}

function topic(rng: Rng): unknown {
  return rng.weighted<unknown>([[6, rng.pick(['chat', 'news.eu', 'news.us', 'a', 't'])], [3, rng.pick(['*', 'news.*', 'chat*'])], [2, oddString(rng, 300)], [1, 'x'.repeat(257)], [1, anyJson(rng, 1)]]);
}

function target(rng: Rng): unknown {
  return rng.weighted<unknown>([[6, '$CID'], [2, 'c' + rng.word(6, 10)], [1, oddString(rng)], [1, anyJson(rng, 1)]]);
}

export function nativeMessage(rng: Rng): Record<string, unknown> {
  const type = rng.weighted<unknown>([[30, rng.pick(TYPES)], [2, 'auth'], [1, oddString(rng)], [1, anyJson(rng, 1)], [1, undefined]]);
  const m: Record<string, unknown> = {};
  if (type !== undefined) m.type = type;
  const set = (key: string, p: number, v: () => unknown) => { if (rng.chance(p)) m[key] = v(); };
  set('data', 0.7, () => anyJson(rng, 3));
  set('ref', 0.3, () => rng.chance(0.8) ? rng.word() : anyJson(rng, 1));
  switch (type) {
    case 'publish': set('topic', 0.4, () => topic(rng)); set('echo', 0.3, () => rng.pick([true, false, 1, 'yes'])); set('ack', 0.3, () => rng.pick([true, false, 'yes'])); break;
    case 'send': set('to', 0.9, () => target(rng)); set('cid', 0.1, () => target(rng)); set('ack', 0.3, () => rng.pick([true, 1])); break;
    case 'push': set('ack', 0.5, () => rng.pick([true, false, null])); break;
    case 'pull':
      set('prefetch', 0.5, () => rng.pick([1, 2, 10, 1000, 1001, 0, -1, 1.5, '3', 1e309 as number]));
      set('ack', 0.4, () => rng.pick([true, false, 0, 'no']));
      break;
    case 'ack': case 'nack':
      set('job', 0.9, () => jobId(rng));
      set('error', 0.3, () => rng.chance(0.6) ? { code: oddString(rng), message: oddString(rng, 2000) } : anyJson(rng, 1));
      break;
    case 'subscribe': case 'unsubscribe': set('topic', 0.95, () => topic(rng)); break;
    case 'request':
      set('id', 0.9, () => rng.weighted<unknown>([[5, rng.int(0, 1e6)], [3, rng.word()], [1, 'x'.repeat(129)], [1, anyJson(rng, 1)]]));
      set('to', 0.5, () => target(rng));
      set('timeout', 0.5, () => rng.pick([1, 10, 100, 60000, 1e12, 0, -5, 'soon', 1e309 as number]));
      break;
    case 'reply':
      set('id', 0.9, () => rng.weighted<unknown>([[3, 'r' + rng.int(1, 200).toString(36)], [2, rng.int(0, 100)], [1, anyJson(rng, 1)]]));
      set('error', 0.3, () => rng.chance(0.6) ? { code: oddString(rng), message: oddString(rng, 2000) } : anyJson(rng, 1));
      break;
    case 'auth': set('token', 0.9, () => tokenGarbage(rng)); break;
  }
  set('token', 0.05, () => tokenGarbage(rng));
  if (rng.chance(0.05)) setOwn(m, rng.pick(PROTO_KEYS), anyJson(rng, 1));
  return m;
}

export function generateNativeFrame(rng: Rng, rooms: number): WsFrameInput {
  const room = rng.int(0, rooms - 1);
  const data = rng.weighted<() => string | Buffer>([
    [12, () => JSON.stringify(nativeMessage(rng))],
    [3, () => JSON.stringify(Array.from({ length: rng.int(0, 8) }, () => nativeMessage(rng)))],
    [8, () => mutateText(rng, JSON.stringify(nativeMessage(rng)))],
    [1, () => `{"type":"publish","data":${nested(rng.pick([998, 999, 1000, 1001, 6000]), '1', rng)}}`],
    [1, () => rng.pick(['', 'null', '[]', '[[]]', '1', '"publish"', '{"type":"publish","data":1e309}', 'x'.repeat(rng.int(1, 5000))])],
  ])();
  if (rng.chance(0.005)) {
    const frame = rng.pick(['{"type":"publish","data":$N}', '{"type":"publish","topic":"t","data":"$N"}', '{"type":"presence"}', '{"type":"request","id":$N,"to":"$CID","timeout":50}', '{"type":"push","data":$N}', '[{"type":"publish","data":$N},{"type":"publish","data":$N}]']);
    return { door: 'native', room, data: frame, binary: false, repeat: rng.int(500, 4000) };
  }
  return { door: 'native', room, data, binary: rng.chance(0.02) };
}
