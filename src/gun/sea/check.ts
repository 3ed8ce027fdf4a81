// The one entry point: does a validated put keep SEA's rules? Pure and synchronous, so puts stay
// in order and ordinary souls pay two indexOf scans per node. Fields are checked only where HAM
// would take them (sea.js runs on HAM's output too): a field HAM would ignore is neither checked
// nor stored nor passed on, and one equal to what is stored was checked when it was stored.
// A single failing field refuses the whole put, with the reason.
import type { GraphStore } from '../graph-store.js';
import type { GraphUpdate, NodeUpdate } from '../types.js';
import { checkCertificate, type FieldReader } from './certificate.js';
import { contentHashMatches } from './content-hash.js';
import { publicKeyOf } from './pub-keys.js';
import { parseSignedField, signedText, verifySignature } from './signature.js';
import { pubOfSoul, seaSpaceOf, type SeaSpace } from './soul-space.js';

/** What the check needs of a room's graph: HAM's verdict on a field, and a field's stored value. */
export type SeaGraphView = Pick<GraphStore, 'decide' | 'read'>;

export type SeaCheck =
  /** `graph` is set only when fields HAM would ignore were left out: store and relay that instead. */
  | { ok: true; graph?: GraphUpdate }
  | { ok: false; err: string };

const PASS: SeaCheck = Object.freeze({ ok: true });

/** A graph that holds nothing (a room that does not exist yet). */
export const EMPTY_GRAPH: SeaGraphView = {
  decide: (_soul, _key, _value, state, now) => (state > now ? 'defer' : 'accept'),
  read: () => undefined,
};

export function checkSeaWrite(update: GraphUpdate, graph: SeaGraphView, now: number): SeaCheck {
  let kept: GraphUpdate | undefined; // made only once a field is left out
  for (let n = 0; n < update.length; n++) {
    const node = update[n];
    const space = seaSpaceOf(node.soul);
    if (space === null) { kept?.push(node); continue; }
    let keptFields: NodeUpdate['fields'] | undefined;
    for (let i = 0; i < node.fields.length; i++) {
      const f = node.fields[i];
      const decision = graph.decide(node.soul, f.key, f.value, f.state, now);
      if (decision === 'ignore') { keptFields ??= node.fields.slice(0, i); continue; }
      if (decision !== 'same') {
        const why = checkField(space, node.soul, f.key, f.value, f.state, graph, now);
        if (why) return { ok: false, err: `SEA: ${why}` };
      }
      keptFields?.push(f);
    }
    if (keptFields === undefined) { kept?.push(node); continue; }
    kept ??= update.slice(0, n);
    if (keptFields.length > 0) kept.push({ soul: node.soul, fields: keptFields });
  }
  return kept ? { ok: true, graph: kept } : PASS;
}

/** '' when the field keeps the rules of its space, else why not (without the "SEA: " prefix). */
export function checkField(space: SeaSpace, soul: string, key: string, value: unknown, state: number, graph: SeaGraphView, now: number): string {
  switch (space.kind) {
    case 'aliases': {
      // {"alice": {"#":"~@alice"}}
      return linkOf(value) === '~@' + key ? '' : `${at(soul, key)} must be a link to "~@${cut(key)}" (alias not same)`;
    }
    case 'alias': {
      // {"~<pub>": {"#":"~<pub>"}}: sea.js wants only key = link; we also want a real public key there.
      if (linkOf(value) !== key) return `${at(soul, key)} must be a link to "${cut(key)}" (alias not same)`;
      const pub = key.slice(1);
      if (key.charCodeAt(0) !== 126 /* ~ */ || pubOfSoul(key) !== pub || !publicKeyOf(pub)) return `${at(soul, key)}: an alias lists "~" + a public key, not "${cut(key)}"`;
      return '';
    }
    case 'user':
      return checkUserField(space.pub, soul, key, value, state, graph, now);
    case 'hash':
      return contentHashMatches(key, value) ? '' : `content hash of ${at(soul, key)} does not match its value`;
  }
}

function checkUserField(pub: string, soul: string, key: string, value: unknown, state: number, graph: SeaGraphView, now: number): string {
  // user.create writes the account's pub unsigned: the one unsigned field, and it must be the pub.
  if (key === 'pub' && soul === '~' + pub) return value === pub ? '' : `${at(soul, key)} must be the account's public key (account not same)`;
  const signed = parseSignedField(value);
  if (!signed) return `${at(soul, key)} is not signed (want the string {":":value,"~":signature})`;
  // sea.js verifies against `"*" || owner`: a falsy "*" means the owner.
  const writer = signed.writer ? signed.writer : pub;
  if (typeof writer !== 'string') return `${at(soul, key)}: "*" must be the writer's public key`;
  const writerKey = publicKeyOf(writer);
  if (!writerKey) return `"${cut(writer)}" in ${at(soul, key)} is not a public key`;
  if (!verifySignature(writerKey, signedText(soul, key, signed.value, state), signed.sig)) return `signature did not match for ${at(soul, key)}`;
  if (writer === pub) return '';
  // Someone else's write: sea.js lets a "*" writer in without any certificate; not here.
  if (signed.cert === undefined) return `${at(soul, key)} is written by ${cut(writer)} without a certificate from the owner`;
  const why = checkCertificate({ soul, key, state, owner: pub, writer, cert: signed.cert, now }, reader(graph));
  return why ? `${why} (${at(soul, key)})` : '';
}

function reader(graph: SeaGraphView): FieldReader {
  return (soul, key) => graph.read(soul, { equals: key })?.[0]?.value;
}

function linkOf(v: unknown): string | undefined {
  return typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>)['#'] === 'string' ? (v as Record<string, string>)['#'] : undefined;
}

/** "soul.key" for messages, each part cut to a readable length. */
function at(soul: string, key: string): string {
  return `${cut(soul)}.${cut(key)}`;
}

function cut(s: string): string {
  return s.length > 120 ? s.slice(0, 117) + '...' : s;
}
