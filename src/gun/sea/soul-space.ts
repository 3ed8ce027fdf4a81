// Which of SEA's protected spaces a soul belongs to, by the dispatch in sea.js `check()` (gun
// 0.2020.1241), in its order:
//   "~@"             the list of aliases                        {alias: {"#":"~@"+alias}}
//   "~@<alias>"      the public keys that claim an alias       {"~"+pub: {"#":"~"+pub}}
//   "…~<x>.<y>…"     a user's space: the text after the FIRST "~" starts with two word parts
//                    (`~x.y`, `~x.y/inbox`, even `app~x.y`); the pub is "x.y"
//   "…#…"            content-addressed data: the key names the SHA-256 of the value
// Every other soul is ordinary and is not looked at again.

export type SeaSpace =
  | { readonly kind: 'aliases' }
  | { readonly kind: 'alias'; readonly alias: string }
  | { readonly kind: 'user'; readonly pub: string }
  | { readonly kind: 'hash' };

const ALIASES: SeaSpace = Object.freeze({ kind: 'aliases' });
const HASH: SeaSpace = Object.freeze({ kind: 'hash' });
const TILDE = 126; // '~'
const AT = 64; // '@'

/** The space `soul` belongs to, or null for an ordinary soul (the common case: two indexOf scans). */
export function seaSpaceOf(soul: string): SeaSpace | null {
  if (soul.indexOf('~') === -1) return soul.indexOf('#') === -1 ? null : HASH;
  if (soul.charCodeAt(0) === TILDE && soul.charCodeAt(1) === AT) {
    return soul.length === 2 ? ALIASES : { kind: 'alias', alias: soul.slice(2) };
  }
  const pub = pubOfSoul(soul);
  if (pub !== undefined) return { kind: 'user', pub };
  return soul.indexOf('#') === -1 ? null : HASH;
}

// sea.js `pubcut`: anything that is not a word character, "_" or "-"
const PUB_CUT = /[^\w-]/;

/**
 * sea.js `SEA.opt.pub`: the text between the first and the second "~", cut at every character
 * outside [A-Za-z0-9_-]; its first two parts joined by "." are the pub. (sea.js also refuses a
 * first part starting with "@", which that cut can never produce.)
 */
export function pubOfSoul(soul: string): string | undefined {
  const start = soul.indexOf('~');
  if (start === -1) return undefined;
  const end = soul.indexOf('~', start + 1);
  const text = end === -1 ? soul.slice(start + 1) : soul.slice(start + 1, end);
  if (text === '') return undefined;
  const parts = text.split(PUB_CUT);
  if (parts.length < 2) return undefined;
  return parts[0] + '.' + parts[1];
}
