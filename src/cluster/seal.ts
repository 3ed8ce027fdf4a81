// Sealing of what nodes exchange or store in the engine (Redis, NATS): AES-256-GCM under the
// cluster key, bound to what the payload is for, so the engine never sees room data in plaintext
// and a node with another key can neither read nor inject.
//
// Sealed frame (version 1), 33 bytes of overhead:
//   offset 0       1 byte    version = 0x01 (AES-256-GCM, key and key id as in cluster-key.ts)
//   offset 1       4 bytes   key id of the sealing key (clear, non-secret)
//   offset 5      12 bytes   nonce (random start + per-seal increment, see ClusterKey)
//   offset 17      n bytes   ciphertext (same length as the plaintext)
//   offset 17+n   16 bytes   GCM tag
// AAD = bytes 0..4 (version and key id) + UTF-8 of JSON.stringify([context.kind, context.room ?? null]).
// The context is not in the frame: the receiver supplies the one it expects (the subject or key it
// read from), so a payload sealed for one room or kind of message does not open as another. GCM
// cannot tell a changed byte from another context: both are 'not-authentic'. Replaying the same
// payload into the same context is not prevented here; callers dedup by their own ids and seqs.
//
// No-key mode: a cluster run without --cluster-key passes `null` as the key and gets a plain frame,
//   offset 0   1 byte    version = 0x00 (plain)
//   offset 1   n bytes   plaintext
// with no confidentiality, integrity or context binding: the engine and its network are trusted.
// We frame instead of passing bytes through so that callers keep one code path (seal → engine →
// open) whatever the configuration, and so that a node whose --cluster-key setting differs from the
// others' is told so ('not-sealed', 'needs-key') instead of reading garbage or being injected into.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { KEY_ID_BYTES, NONCE_BYTES, type ClusterKey } from './cluster-key.js';

export const SEALED_V1 = 0x01;
export const PLAIN_V1 = 0x00;
export const TAG_BYTES = 16;
const KEY_ID_AT = 1;
const NONCE_AT = KEY_ID_AT + KEY_ID_BYTES;
export const SEALED_HEADER_BYTES = NONCE_AT + NONCE_BYTES;
export const SEALED_OVERHEAD = SEALED_HEADER_BYTES + TAG_BYTES;
const CIPHER = 'aes-256-gcm';

/** What a payload is for: `kind` of message ('pub', 'graph', 'presence'...) and, when it has one, its room. */
export interface SealContext {
  readonly kind: string;
  readonly room?: string;
}

/** Why a payload did not open. Every failure is one of these; `open` never throws. */
export type OpenFailure = 'truncated' | 'unknown-version' | 'other-key' | 'not-authentic' | 'not-sealed' | 'needs-key';

/** One line per reason, for the log line of a dropped payload. */
export const OPEN_FAILURE_TEXT: Readonly<Record<OpenFailure, string>> = {
  'truncated': 'too short to be a frame',
  'unknown-version': 'unknown frame version (a newer node, or not ours)',
  'other-key': 'sealed with another cluster key',
  'not-authentic': 'does not authenticate: altered, or sealed for another room or kind of message',
  'not-sealed': 'not sealed (from a node without --cluster-key)',
  'needs-key': 'sealed, but this node has no --cluster-key',
};
export const OPEN_FAILURES = Object.keys(OPEN_FAILURE_TEXT) as OpenFailure[];

export type Opened = { readonly ok: true; readonly plaintext: Uint8Array } | { readonly ok: false; readonly reason: OpenFailure };

/** The frame for `plaintext` meant for `context`: sealed under `key`, or plain when key is null. */
export function seal(key: ClusterKey | null, context: SealContext, plaintext: Uint8Array): Buffer {
  if (key === null) {
    const frame = Buffer.allocUnsafe(1 + plaintext.length);
    frame[0] = PLAIN_V1;
    frame.set(plaintext, 1);
    return frame;
  }
  const frame = Buffer.allocUnsafe(SEALED_OVERHEAD + plaintext.length);
  frame[0] = SEALED_V1;
  key.keyId.copy(frame, KEY_ID_AT);
  key.writeNextNonce(frame, NONCE_AT);
  const cipher = createCipheriv(CIPHER, key.cipherKey, frame.subarray(NONCE_AT, SEALED_HEADER_BYTES), { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData(frame, context));
  cipher.update(plaintext).copy(frame, SEALED_HEADER_BYTES);
  cipher.final();
  cipher.getAuthTag().copy(frame, SEALED_HEADER_BYTES + plaintext.length);
  return frame;
}

/** The plaintext of a frame made by `seal` for the same context, or undefined. */
export function open(key: ClusterKey | null, context: SealContext, frame: Uint8Array): Uint8Array | undefined {
  const opened = openOrWhy(key, context, frame);
  return opened.ok ? opened.plaintext : undefined;
}

/**
 * `open` that says why it failed. The plaintext of a plain frame shares memory with `frame`; that
 * of a sealed frame is a new buffer.
 */
export function openOrWhy(key: ClusterKey | null, context: SealContext, frame: Uint8Array): Opened {
  if (frame.length < 1) return failed('truncated');
  const version = frame[0];
  if (version === PLAIN_V1) return key === null ? { ok: true, plaintext: frame.subarray(1) } : failed('not-sealed');
  if (version !== SEALED_V1) return failed('unknown-version');
  if (frame.length < SEALED_OVERHEAD) return failed('truncated');
  if (key === null) return failed('needs-key');
  const bytes = Buffer.from(frame.buffer, frame.byteOffset, frame.length);
  if (!key.keyId.equals(bytes.subarray(KEY_ID_AT, NONCE_AT))) return failed('other-key');
  const tagAt = bytes.length - TAG_BYTES;
  try {
    const decipher = createDecipheriv(CIPHER, key.cipherKey, bytes.subarray(NONCE_AT, SEALED_HEADER_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData(bytes, context));
    decipher.setAuthTag(bytes.subarray(tagAt));
    const plaintext = decipher.update(bytes.subarray(SEALED_HEADER_BYTES, tagAt));
    decipher.final();
    return { ok: true, plaintext };
  } catch {
    return failed('not-authentic');
  }
}

const FAILED = Object.fromEntries(OPEN_FAILURES.map((reason) => [reason, Object.freeze({ ok: false, reason })])) as Record<OpenFailure, Opened>;
const failed = (reason: OpenFailure): Opened => FAILED[reason];

/** Version and key id (authenticated, so they cannot be swapped) followed by the context. */
function associatedData(frame: Buffer, context: SealContext): Buffer {
  // JSON of an array of strings is unambiguous ("a","b/c" vs "a/b","c") and keeps lone surrogates
  // distinct, where joining UTF-8 bytes would not.
  const contextText = JSON.stringify([context.kind, context.room ?? null]);
  const aad = Buffer.allocUnsafe(NONCE_AT + Buffer.byteLength(contextText));
  frame.copy(aad, 0, 0, NONCE_AT);
  aad.write(contextText, NONCE_AT, 'utf8');
  return aad;
}
