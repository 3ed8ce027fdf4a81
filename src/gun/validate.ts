// Checks a put's graph once, at the edge, and turns it into typed updates. Anything GUN itself
// would reject (or that would corrupt a graph) comes back as one readable reason.
import type { GraphUpdate, GunValue, NodeUpdate } from './types.js';

export type ValidationResult = { ok: true; graph: GraphUpdate } | { ok: false; err: string };

const hasOwn = Object.prototype.hasOwnProperty;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkValue(v: unknown): v is GunValue {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'object':
      if (v === null) return true;
      if (!isPlainObject(v)) return false;
      // a link: exactly one key "#" holding a soul
      { const keys = Object.keys(v); return keys.length === 1 && keys[0] === '#' && typeof v['#'] === 'string' && v['#'] !== ''; }
    default:
      return false;
  }
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'object') return v === null ? 'null' : 'an object';
  return typeof v;
}

export function validateGraph(put: unknown): ValidationResult {
  if (!isPlainObject(put)) return { ok: false, err: `put must be a graph object, got ${describe(put)}` };
  const graph: GraphUpdate = [];
  for (const soul of Object.keys(put)) {
    const node = put[soul];
    if (soul === '') return { ok: false, err: 'empty soul' };
    if (!isPlainObject(node)) return { ok: false, err: `node "${soul}" must be an object, got ${describe(node)}` };
    const meta = node._;
    if (!isPlainObject(meta)) return { ok: false, err: `node "${soul}" has no "_" metadata` };
    if (meta['#'] !== soul) return { ok: false, err: `soul mismatch: graph key "${soul}" but _.# is ${typeof meta['#'] === 'string' ? JSON.stringify(meta['#'].slice(0, 200)) : describe(meta['#'] ?? null)}` };
    const states = meta['>'];
    if (!isPlainObject(states)) return { ok: false, err: `node "${soul}" has no ">" states` };
    const update: NodeUpdate = { soul, fields: [] };
    for (const key of Object.keys(node)) {
      if (key === '_') continue;
      const value = node[key];
      if (!checkValue(value)) return { ok: false, err: `invalid value for "${soul}.${key}": ${describe(value)} (values are null, string, boolean, finite number or {"#":soul})` };
      const state = hasOwn.call(states, key) ? states[key] : undefined;
      if (typeof state !== 'number' || !Number.isFinite(state)) {
        return { ok: false, err: `missing or non-numeric state for "${soul}.${key}"` };
      }
      update.fields.push({ key, value, state });
    }
    graph.push(update);
  }
  return { ok: true, graph };
}
