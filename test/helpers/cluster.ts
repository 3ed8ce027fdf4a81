// A cluster for the tests (issue 11): a private engine (redis-server, or nats-server with
// JetStream) and N nodes started the way the README starts one (node dist/cli.js), each with
// --broker <engine url>, its own --node-id and the shared --cluster-key. Every suite that runs on
// a cluster runs the same cases on Redis and on NATS: `for (const kind of ENGINE_KINDS)`.
import { startNats, startRedis, type EngineKind, type RunningEngine } from './engines.js';
import { startServer, type RunningServer, type StartOptions } from './server.js';

export const ENGINE_KINDS: EngineKind[] = ['redis', 'nats'];
export const CLUSTER_KEY = 'test-cluster-key-0123456789abcdef';

export interface RunningCluster {
  engine: RunningEngine;
  nodes: RunningServer[];
  /** node ids, in the order of `nodes` */
  ids: string[];
  /** Start one more node on the same engine (its id: `n<index>` unless given). */
  addNode(opts?: NodeOptions): Promise<RunningServer>;
  /** Stop every node (SIGTERM) and the engine. */
  stop(): Promise<void>;
}

export interface NodeOptions extends StartOptions {
  id?: string;
  /** another cluster key (the wrong-key tests), or null for none */
  key?: string | null;
}

export interface ClusterOptions {
  nodes?: number;
  /** extra CLI args for every node */
  args?: string[];
  env?: Record<string, string>;
}

let clusterCounter = 0;

export function startEngine(kind: EngineKind): Promise<RunningEngine> {
  return kind === 'redis' ? startRedis() : startNats({ jetstream: true });
}

/** A node of the cluster on `engine`. */
export function startNode(engine: RunningEngine, id: string, opts: NodeOptions = {}): Promise<RunningServer> {
  const key = opts.key === undefined ? CLUSTER_KEY : opts.key;
  return startServer({
    ...opts,
    args: ['--broker', engine.url, '--node-id', id, ...(key === null ? [] : ['--cluster-key', key]), ...(opts.args ?? [])],
  });
}

export async function startCluster(kind: EngineKind, opts: ClusterOptions = {}): Promise<RunningCluster> {
  const engine = await startEngine(kind);
  const prefix = `t${process.pid.toString(36)}${(++clusterCounter).toString(36)}`;
  const nodes: RunningServer[] = [];
  const ids: string[] = [];
  const cluster: RunningCluster = {
    engine, nodes, ids,
    async addNode(nodeOpts: NodeOptions = {}) {
      const id = nodeOpts.id ?? `${prefix}-n${nodes.length}`;
      const node = await startNode(engine, id, { env: opts.env, ...nodeOpts, args: [...(opts.args ?? []), ...(nodeOpts.args ?? [])] });
      nodes.push(node);
      ids.push(id);
      return node;
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
      await engine.stop();
    },
  };
  try {
    for (let i = 0; i < (opts.nodes ?? 3); i++) await cluster.addNode();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
