// Certificates (sea.js `SEA.certify`, checked in `check.pub`): the owner of a user's space signs
// `{c: certificants, w: write policy, e?: expiry, wb?: write block, …}`, and someone else's write
// into that space carries it as `"+"` next to the writer's pub `"*"`. A certificate lets the write
// in when it is signed by the space's owner, is not expired, names the writer, has a write policy
// entry matching the path, and the writer is not on the certificate's write block.
// Where sea.js has bugs, the intended rule is implemented (docs/gun-protocol.md, "SEA verification").
import { publicKeyOf } from './pub-keys.js';
import { verifySignature } from './signature.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads one field of the room's graph as stored (for the write block). */
export type FieldReader = (soul: string, key: string) => unknown;

export interface CertifiedWrite {
  soul: string;
  key: string;
  state: number;
  /** the space's owner, who must have signed the certificate */
  owner: string;
  /** who signed the write */
  writer: string;
  cert: unknown;
  /** the server's clock */
  now: number;
}

/** '' when the certificate lets the write in, else why not. */
export function checkCertificate(w: CertifiedWrite, read: FieldReader): string {
  const cert = w.cert;
  if (!isObj(cert) || cert.m === undefined || typeof cert.s !== 'string') return 'certificate is malformed (want {"m":…,"s":…})';
  // SEA.verify hashes m as it is when a string, else its JSON.
  let body: unknown = cert.m;
  let text: string;
  if (typeof body === 'string') {
    text = body;
    try { body = JSON.parse(body.startsWith('SEA{') ? body.slice(3) : body); } catch { return 'certificate is malformed (m is not JSON)'; }
  } else {
    text = JSON.stringify(body);
  }
  const ownerKey = publicKeyOf(w.owner);
  if (!ownerKey || !verifySignature(ownerKey, text, cert.s)) return `certificate is not signed by the owner ${w.owner}`;
  if (!isObj(body)) return 'certificate is malformed (m is not an object)';

  if (body.e !== undefined) {
    const expiry = parseFloat(String(body.e));
    if (!Number.isFinite(expiry)) return 'certificate expiry is not a number';
    if (w.state > expiry || w.now > expiry) return `certificate expired at ${expiry}`;
  }
  // sea.js: `data.c === certificant || data.c.indexOf('*' || certificant) > -1`, which tests for
  // "*" only. Intended, and done here: "*", the writer, or an array holding either.
  const c = body.c;
  const named = c === '*' || c === w.writer || (Array.isArray(c) && (c.includes(w.writer) || c.includes('*')));
  if (!named) return `certificate does not name the writer ${w.writer}`;
  if (!body.w) return 'certificate grants no write';

  // The policy is matched against the soul after its first "/" and the key, as in sea.js.
  const slash = w.soul.indexOf('/');
  const path = slash === -1 ? '' : w.soul.slice(slash + 1);
  const policies = Array.isArray(body.w) ? body.w : typeof body.w === 'object' || typeof body.w === 'string' ? [body.w] : [];
  for (const lex of policies) {
    if (!policyMatches(lex, path, w.key)) continue;
    // The first matching entry decides, as in sea.js.
    const plus = (lex as Obj)['+'];
    if (plus) {
      if (typeof plus !== 'string' && !Array.isArray(plus)) return 'certificate policy is malformed ("+" must be a string or an array)';
      // "+":"*" forces the writer's pub into the path or the key (sea.js skips this for an empty path).
      if (plus.indexOf('*') > -1 && path && !path.includes(w.writer) && !w.key.includes(w.writer)) {
        return `path "${path}" or key "${w.key}" must contain the writer's pub`;
      }
    }
    if (body.wb && (typeof body.wb === 'string' || (isObj(body.wb) && body.wb['#']))) {
      if (isBlocked(body.wb, w.owner, w.writer, read)) return `writer ${w.writer} is on the certificate's write block`;
    }
    return '';
  }
  return `certificate does not allow writing "${path ? path + '/' + w.key : w.key}"`;
}

/** One write policy entry against path and key, exactly as sea.js `check.pub` tests it. */
function policyMatches(lex: unknown, path: string, key: string): boolean {
  if (lex === null || lex === undefined) return false; // sea.js throws here; nothing is allowed
  const soulLex = (lex as Obj)['#'];
  const keyLex = (lex as Obj)['.'];
  return (textMatch(path, soulLex) && textMatch(key, keyLex))
    || (!keyLex && textMatch(path, soulLex))
    || (!soulLex && textMatch(key, keyLex))
    || textMatch(path ? path + '/' + key : key, soulLex || lex);
}

/**
 * gun.js `String.match(t, o)`, line for line: `o` a string is `{"=":o}`; "=" exact, "*" prefix,
 * ">"/"<" inclusive bounds. The casts keep JavaScript's own comparison semantics, as in gun.js.
 */
export function textMatch(t: unknown, o: unknown): boolean {
  if (typeof t !== 'string') return false;
  const lex: Obj = typeof o === 'string' ? { '=': o } : (o || {}) as Obj;
  const eq = lex['='], star = lex['*'], gt = lex['>'], lt = lex['<'];
  if (t === (eq || star || gt || lt)) return true;
  if (eq !== undefined) return false;
  const prefix = star || gt;
  if (t.slice(0, ((prefix || '') as string).length) === prefix) return true;
  if (star !== undefined) return false;
  if (gt !== undefined && lt !== undefined) return t >= (gt as string) && t <= (lt as string);
  if (gt !== undefined && t >= (gt as string)) return true;
  if (lt !== undefined && t <= (lt as string)) return true;
  return false;
}

/**
 * The write block, read from the room's graph as sea.js reads it from GUN's:
 * `gun.get(wb).get(writer)` when wb is a soul ("~…" or {"#":soul}), else
 * `gun.get('~'+owner).get(wb).get(writer)`; the writer is blocked when that is 1 or true.
 */
function isBlocked(wb: unknown, owner: string, writer: string, read: FieldReader): boolean {
  let soul: string | undefined;
  if (typeof wb === 'string') {
    soul = wb.startsWith('~') ? wb : linkOf(unpack(read('~' + owner, wb)));
  } else if (isObj(wb) && typeof wb['#'] === 'string') {
    soul = wb['#'];
  }
  if (soul === undefined) return false;
  const v = unpack(read(soul, writer));
  return v === 1 || v === true;
}

/** A stored value as GUN shows it to readers: a signed SEA value's `":"`, else itself. */
function unpack(stored: unknown): unknown {
  if (typeof stored === 'string' && stored.charCodeAt(0) === 123 /* { */) {
    try {
      const o = JSON.parse(stored) as unknown;
      if (isObj(o) && o[':'] !== undefined) return o[':'];
    } catch { /* a plain string */ }
  }
  return stored;
}

function linkOf(v: unknown): string | undefined {
  return isObj(v) && typeof v['#'] === 'string' ? v['#'] : undefined;
}
