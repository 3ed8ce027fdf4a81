// Content-addressed data (`gun.get('#').get(hash).put(value)`, any soul with "#" that is not a
// user's space): sea.js `check.hash` takes the text after the key's last "#" and wants it to be
// the SHA-256 of the value (the value itself when a string, else its JSON), in base64 as
// `SEA.work(value, null, null, {name:'SHA-256'})` gives it, or in hex.
import { createHash } from 'node:crypto';

const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;

export function contentHashMatches(key: string, value: unknown): boolean {
  const claimed = key.slice(key.lastIndexOf('#') + 1);
  const digest = createHash('sha256').update(typeof value === 'string' ? value : JSON.stringify(value)).digest();
  if (claimed === digest.toString('base64')) return true;
  return HEX_SHA256.test(claimed) && claimed.toLowerCase() === digest.toString('hex');
}
