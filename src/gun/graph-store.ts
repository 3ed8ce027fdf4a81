// A room's graph. The interface is the seam for other stores; the in-memory one is the default.
// Every write goes through HAM here, so all doors into a room (WebSocket, HTTP, ...) agree.
import { ham, type HamDecision } from './ham.js';
import { canonicalKeyOrder } from './hash.js';
import { matchesKey, type KeyQuery } from './lex.js';
import type { GraphUpdate, GunValue } from './types.js';
import { KeyIndex } from './key-index.js';

export interface FieldEntry { key: string; value: GunValue; state: number }
export interface DeferredWrite { soul: string; key: string; value: GunValue; state: number }

/** HAM's verdict on one field write; 'same': that value is stored with that state already. */
export type WriteDecision = HamDecision | 'same';

export type MergeOutcome =
  | { ok: true; changed: number; deferred: DeferredWrite[] }
  | { ok: false; err: string };

export interface GraphStore {
  readonly nodeCount: number;
  /** Approximate bytes held, for limits and stats. */
  readonly approxBytes: number;
  /** HAM-merge a validated update. All-or-nothing when the size cap would be passed. */
  merge(update: GraphUpdate, now: number): MergeOutcome;
  /**
   * Why `merge` would refuse `update` now (its size cap), or '' — without merging. A cluster node
   * asks before it logs a put (docs/cluster.md: --max-room-bytes is checked against the node's own copy).
   */
  wouldRefuse?(update: GraphUpdate, now: number): string;
  /** What `merge` would do with one field now, without doing it. */
  decide(soul: string, key: string, value: GunValue, state: number, now: number): WriteDecision;
  /** The node's fields matching `query` in canonical key order, or undefined if the node is unknown. */
  read(soul: string, query?: KeyQuery): FieldEntry[] | undefined;
  /** Souls that start with `prefix` ('' = all), in insertion order. */
  souls(prefix: string): Iterable<string>;
  clear(): void;
}

// A node's fields live in parallel arrays indexed by a key -> slot map: no object per field, and
// states sit unboxed in a double array. A room may hold millions of fields, and every object per
// field is one more thing each GC has to copy or mark (it showed as latency tails under load).
interface StoredNode {
  slots: KeyIndex;
  values: GunValue[];
  states: number[];
  /** canonical key order, rebuilt lazily after a new key appears */
  order?: string[];
}

const newNode = (): StoredNode => ({ slots: new KeyIndex(), values: [], states: [] });

// Close to what V8 really holds (measured: a bench-shaped field is ~150 bytes of heap), so that
// --max-room-bytes bounds memory rather than payload: Map entry + field record + key string.
const NODE_OVERHEAD = 160;
const FIELD_OVERHEAD = 96;

function valueBytes(v: GunValue): number {
  if (typeof v === 'string') return v.length + 16;
  if (v !== null && typeof v === 'object') return v['#'].length + 48;
  return 8;
}

const NO_DEFERRED: DeferredWrite[] = [];
Object.freeze(NO_DEFERRED);

/**
 * The most `update` can add to a store's byte count: every node and field new. A field that
 * replaces one adds less (the new value's bytes minus the old's); one HAM ignores or defers, nothing.
 */
function mostBytes(update: GraphUpdate): number {
  let most = 0;
  for (let n = 0; n < update.length; n++) {
    const { soul, fields } = update[n];
    most += NODE_OVERHEAD + soul.length * 2;
    for (let i = 0; i < fields.length; i++) most += FIELD_OVERHEAD + fields[i].key.length + 16 + valueBytes(fields[i].value);
  }
  return most;
}

export class MemoryGraphStore implements GraphStore {
  private readonly nodes = new Map<string, StoredNode>();
  private bytes = 0;

  constructor(private readonly maxBytes = Infinity) {}

  get nodeCount(): number { return this.nodes.size; }
  get approxBytes(): number { return this.bytes; }

  merge(update: GraphUpdate, now: number): MergeOutcome {
    // Far from the cap (the common case) the put cannot pass it, whatever HAM decides: applied in
    // one pass, one key lookup per field and no plan. Near it, plan first (pure), then apply, so
    // a put that would pass the cap changes nothing.
    if (this.bytes + mostBytes(update) <= this.maxBytes) return this.apply(update, now);
    const plan = this.plan(update, now);
    if (plan.err) return { ok: false, err: plan.err };
    const { accepted, deferred, newNodes } = plan;
    // Nodes named by the update exist afterwards even when empty, as in GUN.
    if (newNodes > 0) {
      for (const { soul } of update) {
        if (!this.nodes.has(soul)) { this.nodes.set(soul, newNode()); this.bytes += NODE_OVERHEAD + soul.length * 2; }
      }
    }
    for (const a of accepted) {
      const node = this.nodes.get(a.soul)!;
      const slot = node.slots.get(a.key);
      if (slot !== undefined) { node.values[slot] = a.value; node.states[slot] = a.state; }
      else { node.slots.add(a.key, node.values.length); node.values.push(a.value); node.states.push(a.state); node.order = undefined; }
      this.bytes += a.delta;
    }
    return { ok: true, changed: accepted.length + newNodes, deferred };
  }

  /** merge() in one pass; only when the put cannot pass the cap (see mostBytes). */
  private apply(update: GraphUpdate, now: number): MergeOutcome {
    let deferred: DeferredWrite[] | undefined;
    let changed = 0;
    for (let n = 0; n < update.length; n++) {
      const { soul, fields } = update[n];
      let node = this.nodes.get(soul);
      // Nodes named by the update exist afterwards even when empty, as in GUN.
      if (!node) { this.nodes.set(soul, (node = newNode())); this.bytes += NODE_OVERHEAD + soul.length * 2; changed++; }
      for (let i = 0; i < fields.length; i++) {
        const f = fields[i];
        const slot = node.slots.get(f.key);
        const current = slot === undefined ? undefined : node.values[slot];
        const decision = ham(f.state, f.value, slot === undefined ? -Infinity : node.states[slot], current, now);
        if (decision === 'defer') { (deferred ??= []).push({ soul, key: f.key, value: f.value, state: f.state }); continue; }
        if (decision === 'ignore') continue;
        changed++;
        if (slot !== undefined) {
          this.bytes += valueBytes(f.value) - valueBytes(current!);
          node.values[slot] = f.value; node.states[slot] = f.state;
        } else {
          this.bytes += FIELD_OVERHEAD + f.key.length + 16 + valueBytes(f.value);
          node.slots.add(f.key, node.values.length); node.values.push(f.value); node.states.push(f.state); node.order = undefined;
        }
      }
    }
    return { ok: true, changed, deferred: deferred ?? NO_DEFERRED };
  }

  wouldRefuse(update: GraphUpdate, now: number): string {
    return this.plan(update, now).err;
  }

  private plan(update: GraphUpdate, now: number) {
    const accepted: Array<{ soul: string; key: string; value: GunValue; state: number; delta: number }> = [];
    const deferred: DeferredWrite[] = [];
    let delta = 0;
    let newNodes = 0;
    for (const { soul, fields } of update) {
      const node = this.nodes.get(soul);
      if (!node) { delta += NODE_OVERHEAD + soul.length * 2; newNodes++; }
      for (const f of fields) {
        const slot = node?.slots.get(f.key);
        const current = slot === undefined ? undefined : node!.values[slot];
        const decision = ham(f.state, f.value, slot === undefined ? -Infinity : node!.states[slot], current, now);
        if (decision === 'defer') { deferred.push({ soul, key: f.key, value: f.value, state: f.state }); continue; }
        if (decision === 'ignore') continue;
        const d = slot !== undefined ? valueBytes(f.value) - valueBytes(current!) : FIELD_OVERHEAD + f.key.length + 16 + valueBytes(f.value);
        accepted.push({ soul, key: f.key, value: f.value, state: f.state, delta: d });
        delta += d;
      }
    }
    const err = delta > 0 && this.bytes + delta > this.maxBytes ? `room graph is full (limit ${this.maxBytes} bytes)` : '';
    return { accepted, deferred, newNodes, err };
  }

  decide(soul: string, key: string, value: GunValue, state: number, now: number): WriteDecision {
    const node = this.nodes.get(soul);
    const slot = node?.slots.get(key);
    if (slot === undefined) return state > now ? 'defer' : 'accept';
    const currentState = node!.states[slot];
    const current = node!.values[slot];
    const decision = ham(state, value, currentState, current, now);
    if (decision === 'ignore' && state === currentState && (value === current || JSON.stringify(value) === JSON.stringify(current))) return 'same';
    return decision;
  }

  read(soul: string, query?: KeyQuery): FieldEntry[] | undefined {
    const node = this.nodes.get(soul);
    if (!node) return undefined;
    const out: FieldEntry[] = [];
    if (query?.equals !== undefined) {
      const slot = node.slots.get(query.equals);
      if (slot !== undefined && matchesKey(query.equals, query)) out.push({ key: query.equals, value: node.values[slot], state: node.states[slot] });
      return out;
    }
    const order = node.order ??= canonicalKeyOrder([...node.slots.keys()]);
    for (const key of order) {
      if (query && !matchesKey(key, query)) continue;
      const slot = node.slots.get(key)!;
      out.push({ key, value: node.values[slot], state: node.states[slot] });
    }
    return out;
  }

  *souls(prefix: string): Iterable<string> {
    for (const soul of this.nodes.keys()) if (soul.startsWith(prefix)) yield soul;
  }

  clear(): void {
    this.nodes.clear();
    this.bytes = 0;
  }
}
