// GUN's `##` reply hash: a Java-style 32-bit string hash of the reply's `put` serialized with keys
// sorted (integer-like keys first, as JS objects order them). Peers use it to drop duplicate replies.

export function stringHash(text: string, seed = 0): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) h = (((h << 5) - h) + text.charCodeAt(i)) | 0;
  return h;
}

const ARRAY_INDEX = /^(?:0|[1-9]\d{0,9})$/;

function isArrayIndex(key: string): boolean {
  return ARRAY_INDEX.test(key) && Number(key) < 4294967295;
}

/**
 * Order keys the way GUN's hashing sorts them: it copies keys in sorted order into a fresh object,
 * and JS then lists array-index keys first, ascending. Default sort = UTF-16 code unit order.
 */
export function canonicalKeyOrder(keys: string[]): string[] {
  const indexes: string[] = [];
  const names: string[] = [];
  for (const k of keys) (isArrayIndex(k) ? indexes : names).push(k);
  if (indexes.length === 0) return names.sort();
  indexes.sort((a, b) => Number(a) - Number(b));
  return indexes.concat(names.sort());
}
