// SEA public keys ("x.y": the base64url JWK coordinates of a P-256 point) as node:crypto
// KeyObjects. Importing one costs about as much as verifying a signature (~60 µs), and a room's
// writes come from few keys, so imports are kept in a bounded LRU, shared by all rooms (a key is
// the same key everywhere). Strings that are no P-256 point are cached too, as null.
import { createPublicKey, type KeyObject } from 'node:crypto';

export const MAX_CACHED_KEYS = 10_000;

const keyByPub = new Map<string, KeyObject | null>();

/** The key a pub names, or null when it names no P-256 point. */
export function publicKeyOf(pub: string): KeyObject | null {
  let key = keyByPub.get(pub);
  if (key !== undefined) {
    // Map keeps insertion order: re-inserting makes this the most recently used.
    keyByPub.delete(pub);
    keyByPub.set(pub, key);
    return key;
  }
  key = importPub(pub);
  if (keyByPub.size >= MAX_CACHED_KEYS) keyByPub.delete(keyByPub.keys().next().value as string);
  keyByPub.set(pub, key);
  return key;
}

/** How many keys are cached (for tests and the micro-benchmark). */
export function cachedKeyCount(): number {
  return keyByPub.size;
}

export function clearKeyCache(): void {
  keyByPub.clear();
}

function importPub(pub: string): KeyObject | null {
  // sea.js S.jwk: pub.split('.') gives x and y; anything after a second "." is ignored there too.
  const parts = pub.split('.');
  if (parts.length < 2 || !parts[0] || !parts[1]) return null;
  try {
    return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: parts[0], y: parts[1] }, format: 'jwk' });
  } catch {
    return null; // not on the curve, wrong length, not base64url
  }
}
