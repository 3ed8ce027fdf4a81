// SEA's signed field values. A field of a user's space is stored as the string
// `{":":value,"~":signature}` (plus `"*":writer` and `"+":certificate` when someone else wrote it
// under a certificate). The signature is what sea.js `SEA.sign` makes: ECDSA P-256 with SHA-256,
// as raw r||s in base64, over the bytes of SHA-256(text), where text is the JSON of
// `{"#":soul,".":key,":":value,">":state}` (SEA.opt.pack, that key order). WebCrypto hashes its
// input once more, hence sha256 over the digest here.
import { createHash, verify, type KeyObject } from 'node:crypto';

/** A field value parsed as a signed SEA value, or null when it is not one. */
export interface SignedField {
  /** the value that was signed (`":"`) */
  value: unknown;
  /** the signature (`"~"`) */
  sig: string;
  /** `"*"`: who signed, when not the owner of the space */
  writer: unknown;
  /** `"+"`: the certificate that lets `writer` write here */
  cert: unknown;
}

/** `{":":…,"~":"<signature>"}` as a string, or null (sea.js treats anything else as unsigned). */
export function parseSignedField(stored: unknown): SignedField | null {
  if (typeof stored !== 'string' || stored.charCodeAt(0) !== 123 /* { */) return null;
  let parsed: unknown;
  try { parsed = JSON.parse(stored); } catch { return null; }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  const o = parsed as Record<string, unknown>;
  if (o[':'] === undefined || typeof o['~'] !== 'string' || o['~'] === '') return null;
  return { value: o[':'], sig: o['~'], writer: o['*'], cert: o['+'] };
}

/**
 * The text a field's signature covers. sea.js takes the state as `put['>'] || state of the node`,
 * which is undefined for a state of 0, and JSON.stringify then leaves `">"` out.
 */
export function signedText(soul: string, key: string, value: unknown, state: number): string {
  return JSON.stringify(state ? { '#': soul, '.': key, ':': value, '>': state } : { '#': soul, '.': key, ':': value });
}

/** True when `sig` (base64 raw r||s) is `key`'s signature of `text`, the way SEA.verify checks it. */
export function verifySignature(key: KeyObject, text: string, sig: string): boolean {
  const raw = Buffer.from(sig, 'base64');
  if (raw.length !== 64) return false;
  const digest = createHash('sha256').update(text).digest();
  try {
    return verify('sha256', digest, { key, dsaEncoding: 'ieee-p1363' }, raw);
  } catch {
    return false;
  }
}
