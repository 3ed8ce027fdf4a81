// Lexical key queries on a node's fields, as GUN puts them in a get's "." (see docs/gun-protocol.md).

export interface KeyQuery {
  /** exact key */
  equals?: string;
  /** key prefix */
  prefix?: string;
  /** inclusive lower and upper bounds */
  from?: string;
  to?: string;
}

/** Turn a get's "." into a query; undefined means every field. Throws on shapes GUN never sends. */
export function parseKeyQuery(dot: unknown): KeyQuery | undefined {
  if (dot === undefined || dot === null) return undefined;
  if (typeof dot === 'string') return { equals: dot };
  if (typeof dot !== 'object' || Array.isArray(dot)) throw new Error('"." must be a key or a lex object');
  const lex = dot as Record<string, unknown>;
  const q: KeyQuery = {};
  for (const [field, name] of [['=', 'equals'], ['*', 'prefix'], ['>', 'from'], ['<', 'to']] as const) {
    const v = lex[field];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw new Error(`lex "${field}" must be a string`);
    q[name] = v;
  }
  return q;
}

export function matchesKey(key: string, q: KeyQuery): boolean {
  if (q.equals !== undefined && key !== q.equals) return false;
  if (q.prefix !== undefined && !key.startsWith(q.prefix)) return false;
  if (q.from !== undefined && key < q.from) return false;
  if (q.to !== undefined && key > q.to) return false;
  return true;
}
