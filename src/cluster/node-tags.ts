// Which live node a member token's tag (its first 8 hex characters, channels/cid.ts) names: used to
// forward an SSE POST to the member's node and to ask a member's node to hand it over.
import { nodeTokenTag } from '../channels/cid.js';
import type { ClusterNode } from './cluster-node.js';

/** node tag → node id of the live nodes, refreshed when a tag is not in it */
const tagsByCluster = new WeakMap<ClusterNode, Map<string, string>>();
const watched = new WeakSet<ClusterNode>();

/** The live node whose tag is `tag`, or undefined (gone, or no such node). */
export async function nodeOfTag(cluster: ClusterNode, tag: string): Promise<string | undefined> {
  if (!watched.has(cluster)) {
    watched.add(cluster);
    // A gone node's tag must not be found (a resume would wait for its answer for nothing).
    cluster.onNodeGone(() => tagsByCluster.delete(cluster));
  }
  let tags = tagsByCluster.get(cluster);
  if (!tags?.has(tag)) {
    tags = new Map((await cluster.nodes()).map((n) => [nodeTokenTag(n.id), n.id]));
    tagsByCluster.set(cluster, tags);
  }
  return tags.get(tag);
}
