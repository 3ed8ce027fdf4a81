// Topic patterns as the server matches them (docs/protocol.md §3): a pattern ending in `*` is a
// prefix wildcard (`news.*` matches `news.eu`, `*` matches every topic); any other is exact.

export function topicMatches(pattern: string, topic: string): boolean {
  return pattern.endsWith('*') ? topic.startsWith(pattern.slice(0, -1)) : pattern === topic;
}

/** Topics are 1–256 characters. */
export function isValidTopic(topic: unknown): topic is string {
  return typeof topic === 'string' && topic.length >= 1 && topic.length <= 256;
}
