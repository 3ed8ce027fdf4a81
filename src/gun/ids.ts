// Message ids for what the server itself says. GUN peers dedup by id for ~9 s, so ids only need
// to be unique per process run: a random prefix plus a counter is cheaper than random strings.
import { randomBytes } from 'node:crypto';

export type IdGenerator = () => string;

export function createIdGenerator(): IdGenerator {
  const prefix = randomBytes(6).toString('base64url').slice(0, 5);
  let n = 0;
  return () => prefix + (n++).toString(36);
}

/** This server's DAM peer id, sent in the `{"dam":"?"}` greeting. */
export function createPeerId(): string {
  return randomBytes(9).toString('base64url').slice(0, 12);
}
