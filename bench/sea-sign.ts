// SEA-signed puts for the load generator, made with node:crypto alone: a P-256 key pair whose pub
// is SEA's "x.y" (base64url JWK coordinates), and field values `{":":value,"~":signature}` where
// the signature is ECDSA P-256 over SHA-256 of the SHA-256 of
// `{"#":soul,".":key,":":value,">":state}` (what sea.js SEA.sign makes, raw r||s in base64).
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

export interface SeaSigner { pub: string; priv: KeyObject }

export function seaSigner(): SeaSigner {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  return { pub: `${jwk.x}.${jwk.y}`, priv: privateKey };
}

/** SEA.sign's signature of `text` (also what signs a certificate's body). */
export function seaSign(signer: SeaSigner, text: string): string {
  return sign('sha256', createHash('sha256').update(text).digest(), { key: signer.priv, dsaEncoding: 'ieee-p1363' }).toString('base64');
}

/** The stored string of the field `soul.key` = value at `state`, signed by `signer`. */
export function seaSignedValue(signer: SeaSigner, soul: string, key: string, value: string, state: number): string {
  const sig = seaSign(signer, JSON.stringify({ '#': soul, '.': key, ':': value, '>': state }));
  return JSON.stringify({ ':': value, '~': sig });
}
