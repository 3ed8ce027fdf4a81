// GUN's data model as it crosses the wire (see docs/gun-protocol.md).

/** A field value: null (deleted), a string, a boolean, a finite number, or a link to another node. */
export type GunValue = null | string | boolean | number | { '#': string };

/** A validated node: its soul, and for every field its value and HAM state. */
export interface NodeUpdate {
  soul: string;
  fields: Array<{ key: string; value: GunValue; state: number }>;
}

/** A validated put graph, in the order the souls appeared. */
export type GraphUpdate = NodeUpdate[];

/** One parsed wire message. Fields are unknown until the handler for its kind checks them. */
export interface GunMessage {
  '#'?: unknown;
  '@'?: unknown;
  '##'?: unknown;
  get?: unknown;
  put?: unknown;
  dam?: unknown;
  [field: string]: unknown;
}
