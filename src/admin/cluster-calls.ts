// The admin API across a cluster: ask some or every live node one question and gather their
// answers (scatter/gather over the bus's node inboxes). Each node answers from its own rooms only;
// admin/admin-api.ts merges. A node that does not answer within ADMIN_CALL_WAIT_MS is reported as
// `missing` rather than failing the call: an operator still sees the rest of the cluster.
import type { ClusterNode } from '../cluster/cluster-node.js';
import type { BusMessage } from '../cluster/cluster-bus.js';
import { busCall, encode } from '../cluster/roster-wire.js';

export const ADMIN_KINDS = { ask: 'a.ask', answer: 'a.ans' } as const;
export const ADMIN_CALL_WAIT_MS = 2000;

/** What a node answers one op with (JSON), or throws: the error travels back as its message. */
export type AdminOpHandler = (op: string, args: Record<string, unknown>) => Promise<unknown>;

export interface Gathered<T> {
  answers: { node: string; result: T }[];
  /** nodes that failed or did not answer in time */
  missing: { node: string; error: string }[];
}

interface Waiting {
  expected: Set<string>;
  answers: { node: string; result: unknown }[];
  missing: { node: string; error: string }[];
  done: () => void;
}

export class ClusterCalls {
  private readonly waiting = new Map<number, Waiting>();
  private counter = 0;

  constructor(private readonly cluster: ClusterNode, private readonly handle: AdminOpHandler) {
    cluster.onNode(ADMIN_KINDS.ask, (m) => this.onAsk(m));
    cluster.onNode(ADMIN_KINDS.answer, (m) => this.onAnswer(m));
  }

  /** Ask every live node (this one answers directly). */
  async all<T>(op: string, args: Record<string, unknown>): Promise<Gathered<T>> {
    const nodes = (await this.cluster.nodes()).map((n) => n.id);
    if (!nodes.includes(this.cluster.nodeId)) nodes.push(this.cluster.nodeId);
    return this.some<T>(nodes, op, args);
  }

  /** Ask these nodes. */
  some<T>(nodes: string[], op: string, args: Record<string, unknown>): Promise<Gathered<T>> {
    const q = ++this.counter;
    const w: Waiting = { expected: new Set(nodes), answers: [], missing: [], done: () => {} };
    const finished = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        for (const node of w.expected) w.missing.push({ node, error: `no answer within ${ADMIN_CALL_WAIT_MS} ms` });
        w.expected.clear();
        resolve();
      }, ADMIN_CALL_WAIT_MS);
      w.done = () => { clearTimeout(timer); resolve(); };
    });
    this.waiting.set(q, w);
    for (const node of nodes) {
      if (node === this.cluster.nodeId) {
        this.handle(op, args).then((result) => this.settle(q, node, { result }), (err: unknown) => this.settle(q, node, { error: messageOf(err) }));
      } else {
        busCall(() => this.cluster.bus.toNode(node, ADMIN_KINDS.ask, encode({ q, op, args })))
          .catch((err: unknown) => this.settle(q, node, { error: `not sent: ${messageOf(err)}` }));
      }
    }
    return finished.then(() => {
      this.waiting.delete(q);
      return { answers: w.answers as { node: string; result: T }[], missing: w.missing };
    });
  }

  private settle(q: number, node: string, answer: { result?: unknown; error?: string }): void {
    const w = this.waiting.get(q);
    if (!w || !w.expected.delete(node)) return;
    if (answer.error !== undefined) w.missing.push({ node, error: answer.error });
    else w.answers.push({ node, result: answer.result });
    if (w.expected.size === 0) w.done();
  }

  private onAsk(m: BusMessage): void {
    const ask = parse(m.payload) as { q?: unknown; op?: unknown; args?: unknown } | undefined;
    if (!ask || typeof ask.q !== 'number' || typeof ask.op !== 'string' || typeof ask.args !== 'object' || ask.args === null) return;
    const reply = (body: { result?: unknown; error?: string }) => busCall(() => this.cluster.bus.toNode(m.from, ADMIN_KINDS.answer, encode({ q: ask.q, ...body })))
      .catch((err: unknown) => this.cluster.log.warn('admin answer not sent', { to: m.from, op: ask.op, err: messageOf(err) }));
    this.handle(ask.op, ask.args as Record<string, unknown>).then((result) => reply({ result }), (err: unknown) => reply({ error: messageOf(err) }));
  }

  private onAnswer(m: BusMessage): void {
    const a = parse(m.payload) as { q?: unknown; result?: unknown; error?: unknown } | undefined;
    if (!a || typeof a.q !== 'number') return;
    this.settle(a.q, m.from, typeof a.error === 'string' ? { error: a.error } : { result: a.result });
  }
}

function parse(payload: Uint8Array): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function messageOf(err: unknown): string {
  return (err as Error)?.message ?? String(err);
}
