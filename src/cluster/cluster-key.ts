// The cluster key: what `--cluster-key <secret>` turns into. Nodes that share the secret derive
// the same AES-256-GCM key and the same key id; the secret itself is not kept.
//
// Derivation (HKDF-SHA256, RFC 5869; changing any of these strings makes a new, incompatible key):
//   key   = HKDF(secret, salt = CLUSTER_KEY_SALT, info = CLUSTER_KEY_INFO,    32 bytes)
//   keyId = HKDF(secret, salt = CLUSTER_KEY_SALT, info = CLUSTER_KEY_ID_INFO,  4 bytes)
// HKDF outputs under different info strings are independent, so the key id (sent in clear in every
// sealed payload, shown in logs) says nothing about the key. It only lets a node tell "sealed with
// another key" from "corrupted". HKDF does not stretch: the secret must be random, not a password
// (e.g. `openssl rand -base64 32`); the 16-byte minimum is about length, it cannot check entropy.
import { createSecretKey, hkdfSync, randomFillSync, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';

export const MIN_CLUSTER_SECRET_BYTES = 16;
/** Fixed and public: a salt only has to be the same on every node (RFC 5869 §3.1). */
export const CLUSTER_KEY_SALT = 'multisocket cluster salt';
export const CLUSTER_KEY_INFO = 'multisocket cluster seal v1 aes-256-gcm key';
export const CLUSTER_KEY_ID_INFO = 'multisocket cluster seal v1 key id';
export const KEY_ID_BYTES = 4;
export const NONCE_BYTES = 12;

export class ClusterKeyError extends Error {
  readonly code = 'ERR_CLUSTER_KEY_TOO_SHORT';
}

export class ClusterKey {
  /** The AES-256-GCM key. A KeyObject: printing it does not print the bytes. */
  readonly cipherKey: KeyObject;
  /** Non-secret fingerprint, written into every sealed payload. */
  readonly keyId: Buffer;
  /** keyId as 8 hex digits, for logs and /_/nodes. */
  readonly keyIdHex: string;
  // Nonces are a random 96-bit start incremented per seal (the nonce construction of TLS 1.3:
  // a random IV combined with a sequence number). They never repeat within one ClusterKey, and two
  // processes collide only if their ranges overlap (~2^-96 per pair for realistic counts), where
  // fresh random nonces would reach GCM's 2^32-messages-per-key birthday bound in about five days
  // at 10,000 cross-node messages per second on a cluster that never changes its key.
  readonly #nonce = randomFillSync(Buffer.alloc(NONCE_BYTES));

  private constructor(cipherKey: KeyObject, keyId: Buffer) {
    this.cipherKey = cipherKey;
    this.keyId = keyId;
    this.keyIdHex = keyId.toString('hex');
  }

  /**
   * Derive the key from `--cluster-key`. A string is taken as UTF-8. Throws a ClusterKeyError with
   * a one-line message when the secret is shorter than MIN_CLUSTER_SECRET_BYTES.
   */
  static fromSecret(secret: string | Uint8Array): ClusterKey {
    const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
    if (bytes.length < MIN_CLUSTER_SECRET_BYTES) {
      throw new ClusterKeyError(`a cluster key needs at least ${MIN_CLUSTER_SECRET_BYTES} bytes (got ${bytes.length}); e.g. openssl rand -base64 32`);
    }
    const key = Buffer.from(hkdfSync('sha256', bytes, CLUSTER_KEY_SALT, CLUSTER_KEY_INFO, 32));
    const keyId = Buffer.from(hkdfSync('sha256', bytes, CLUSTER_KEY_SALT, CLUSTER_KEY_ID_INFO, KEY_ID_BYTES));
    const cipherKey = createSecretKey(key);
    key.fill(0);
    return new ClusterKey(cipherKey, keyId);
  }

  /** Write the next nonce at target[offset..offset+12). */
  writeNextNonce(target: Buffer, offset: number): void {
    this.#nonce.copy(target, offset);
    incrementNonce(this.#nonce);
  }

  toJSON(): { keyId: string } {
    return { keyId: this.keyIdHex };
  }

  [inspect.custom](): string {
    return `ClusterKey { keyId: '${this.keyIdHex}' }`;
  }
}

/** Add one to a big-endian counter in place (all ones wraps to all zeros). */
export function incrementNonce(nonce: Uint8Array): void {
  for (let i = nonce.length - 1; i >= 0; i--) {
    nonce[i] = (nonce[i] + 1) & 0xff;
    if (nonce[i] !== 0) return;
  }
}
