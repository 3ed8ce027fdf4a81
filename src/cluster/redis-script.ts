// A Lua script for Redis, run by its SHA (EVALSHA) and sent whole only when the server does not
// have it yet (a fresh or flushed server, another shard of a cluster): the few atomic steps of the
// Redis seams (room streams, GUN log) are each one script.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface Script {
  text: string;
  sha: string;
}

export const script = (text: string): Script => ({ text, sha: createHash('sha1').update(text).digest('hex') });

// Order: commands on one connection run in the order sent, and callers rely on it (one node's
// appends to a room keep their call order). "EVALSHA, and EVAL again on NOSCRIPT" alone breaks it:
// on a fresh server the first calls fail and are re-sent behind the calls that followed them,
// which by then succeed (seen: a publisher's first ten messages numbered after its next twenty).
// So a script this connection has not sent since it (re)connected goes as EVAL, which loads it
// before anything queued behind it runs; NOSCRIPT remains only for a SCRIPT FLUSH meanwhile.
const sent = new WeakMap<Redis, Set<string>>();

function sentOn(redis: Redis): Set<string> {
  let shas = sent.get(redis);
  if (!shas) {
    const fresh = new Set<string>();
    shas = fresh;
    sent.set(redis, fresh);
    redis.on('ready', () => fresh.clear()); // a reconnect may be to a server that lost its scripts
  }
  return shas;
}

/** EVALSHA once this connection has sent the script; EVAL before that, and on NOSCRIPT. */
export async function runScript(redis: Redis, s: Script, keys: string[], args: (string | number | Buffer)[]): Promise<unknown> {
  const shas = sentOn(redis);
  if (!shas.has(s.sha)) {
    shas.add(s.sha);
    return await redis.callBuffer('EVAL', s.text, keys.length, ...keys, ...args);
  }
  try {
    return await redis.callBuffer('EVALSHA', s.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
    return await redis.callBuffer('EVAL', s.text, keys.length, ...keys, ...args);
  }
}
