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

/** EVALSHA; on NOSCRIPT, EVAL (which caches it there). */
export async function runScript(redis: Redis, s: Script, keys: string[], args: (string | number | Buffer)[]): Promise<unknown> {
  try {
    return await redis.callBuffer('EVALSHA', s.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
    return await redis.callBuffer('EVAL', s.text, keys.length, ...keys, ...args);
  }
}
