// SEA key pairs and signed field values made with node:crypto alone: what a SEA client writes,
// for forging (or genuinely signing) writes over raw sockets and in unit tests.
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { signedText } from '../../src/gun/sea/signature.ts';

export interface RawPair { pub: string; priv: KeyObject }

/** A P-256 key pair; `pub` in SEA's "x.y" form (base64url JWK coordinates). */
export function rawPair(): RawPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  return { pub: `${jwk.x}.${jwk.y}`, priv: privateKey };
}

/** SEA.sign's signature of `text`: ECDSA P-256 over SHA-256 of its SHA-256, base64 raw r||s. */
export function seaSign(priv: KeyObject, text: string): string {
  return sign('sha256', createHash('sha256').update(text).digest(), { key: priv, dsaEncoding: 'ieee-p1363' }).toString('base64');
}

/** The stored string of a signed field, `{":":value,"~":sig}` plus `extra` (e.g. "*" and "+"). */
export function signedField(priv: KeyObject, soul: string, key: string, value: unknown, state: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ ':': value, '~': seaSign(priv, signedText(soul, key, value, state)), ...extra });
}
