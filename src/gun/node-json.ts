// Serializes reply chunks of a node straight to JSON text with keys in canonical order, so the
// text is both what goes on the wire and what the `##` hash is computed over (no second pass).
import type { FieldEntry } from './graph-store.js';
import { stringHash } from './hash.js';
import type { GraphUpdate } from './types.js';

export interface PutChunk { json: string; hash: number }

const q = JSON.stringify;

/** `{"<soul>":{...fields and "_" in canonical order...}}` for one slice of fields. */
export function nodePutJson(soul: string, fields: FieldEntry[]): string {
  return '{' + q(soul) + ':' + nodeJson(soul, fields) + '}';
}

/** A put graph `{soul: node, ...}` as JSON text, nodes in update order. */
export function graphJson(update: GraphUpdate): string {
  let out = '';
  for (let i = 0; i < update.length; i++) out += (i ? ',' : '') + q(update[i].soul) + ':' + nodeJson(update[i].soul, update[i].fields);
  return '{' + out + '}';
}

/** One node as GUN writes it: `{"_":{"#":soul,">":{...}},field:value,...}`, keys in canonical order. */
export function nodeJson(soul: string, fields: FieldEntry[]): string {
  let states = '';
  for (let i = 0; i < fields.length; i++) states += (i ? ',' : '') + q(fields[i].key) + ':' + q(fields[i].state);
  const meta = '"_":{"#":' + q(soul) + ',">":{' + states + '}}';
  // "_" sorts among the non-index keys by code unit; fields are already in canonical order.
  let body = '';
  let metaDone = false;
  for (const f of fields) {
    if (!metaDone && !isIndexLike(f.key) && f.key > '_') { body += (body ? ',' : '') + meta; metaDone = true; }
    body += (body ? ',' : '') + q(f.key) + ':' + q(f.value);
  }
  if (!metaDone) body += (body ? ',' : '') + meta;
  return '{' + body + '}';
}

function isIndexLike(key: string): boolean {
  return /^(?:0|[1-9]\d{0,9})$/.test(key) && Number(key) < 4294967295;
}

/** Split a node's fields into reply chunks bounded by field count and bytes. */
export function chunkNode(soul: string, fields: FieldEntry[], maxFields = 256, maxBytes = 64 * 1024): PutChunk[] {
  const chunks: PutChunk[] = [];
  let start = 0;
  let bytes = 0;
  const emit = (end: number) => {
    const json = nodePutJson(soul, fields.slice(start, end));
    chunks.push({ json, hash: stringHash(json) });
    start = end;
    bytes = 0;
  };
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    const size = f.key.length + (typeof f.value === 'string' ? f.value.length : 16) + 24;
    if (i > start && (i - start >= maxFields || bytes + size > maxBytes)) emit(i);
    bytes += size;
  }
  if (start < fields.length || chunks.length === 0) emit(fields.length);
  return chunks;
}

/** Keep fields until about `limitBytes` of values have been taken (GUN's "%"); at least one. */
export function limitByBytes(fields: FieldEntry[], limitBytes: number): FieldEntry[] {
  let used = 0;
  for (let i = 0; i < fields.length; i++) {
    const v = fields[i].value;
    used += typeof v === 'string' ? v.length : 9;
    if (used >= limitBytes) return fields.slice(0, i + 1);
  }
  return fields;
}
