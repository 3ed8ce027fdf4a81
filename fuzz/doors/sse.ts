// SSE members' upstream: POST /<room> with a JSON body holding a token (the worker's real one,
// another room's, or garbage) and a native message, moshpit's shorthand, or damage of both. A
// real token posted to another room must be refused: the fuzzer checks that answer itself.
import type { Rng } from '../rng.ts';
import { anyJson, mutateText } from '../mutate.ts';
import { nativeMessage, tokenGarbage } from './native.ts';

export interface SsePostInput {
  door: 'sse';
  room: number;
  /** post to the SSE member's own room, or to another fuzz room ("$TOKEN" must then be refused) */
  elsewhere: boolean;
  body: string | Buffer;
  contentType?: string;
}

export function generateSsePost(rng: Rng, rooms: number): SsePostInput {
  const msg: Record<string, unknown> = rng.chance(0.85) ? nativeMessage(rng) : { data: anyJson(rng, 2), ...(rng.chance(0.3) ? { cid: '$CID' } : {}) };
  msg.token = rng.chance(0.75) ? '$TOKEN' : tokenGarbage(rng);
  let body: string | Buffer = JSON.stringify(msg);
  if (rng.chance(0.3)) body = mutateText(rng, body);
  return {
    door: 'sse',
    room: rng.int(0, rooms - 1),
    elsewhere: rng.chance(0.08),
    body,
    contentType: rng.pick([undefined, 'application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']),
  };
}
