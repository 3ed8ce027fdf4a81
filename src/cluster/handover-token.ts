// What the old node of a member being handed over (member-handover.ts) compares and bounds: the
// token never travels between nodes, its SHA-256 does, compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';

/** At most this many bytes of missed frames travel in one hand-over (NATS's max_payload is 1 MiB by default). */
export const HANDOVER_MAX_BYTES = 768 * 1024;

export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex hashes. */
export function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1'));
}
