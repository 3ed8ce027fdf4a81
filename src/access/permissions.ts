// What a connection may do in its room, as bits: checked on every message, so a check is one AND.
// The names are the `perms` claim of a room token (docs/security.md). `read` and `write` are GUN's
// permissions and also stand for the native receive-side and send-side groups.

export const Perm = {
  /** GUN: gets answered, the room's puts relayed to this peer; legacy HTTP GET. */
  GUN_READ: 1 << 0,
  /** GUN: puts (wire, legacy HTTP POST, envelope) and answers to forwarded gets that carry data. */
  GUN_WRITE: 1 << 1,
  PUBLISH: 1 << 2,
  /** Receive published messages (room-wide and topics) and their replay. */
  SUBSCRIBE: 1 << 3,
  SEND: 1 << 4,
  REQUEST: 1 << 5,
  /** Be picked to answer requests without `to`. */
  SERVE: 1 << 6,
  PUSH: 1 << 7,
  /** Take pushed work. */
  PULL: 1 << 8,
  /** See who is in the room: the member list in `connect`/`presence`, `join`/`leave` events. */
  PRESENCE: 1 << 9,
  /** Everything, and the server's own endpoints that need it (`/_/stats`). */
  ADMIN: 1 << 10,
} as const;

/** The receive side: GUN reads, published messages, presence, requests to serve, work to pull. */
export const READ_GROUP = Perm.GUN_READ | Perm.SUBSCRIBE | Perm.PRESENCE | Perm.SERVE | Perm.PULL;
/** The send side: GUN writes, publish, direct messages, requests, pushes. */
export const WRITE_GROUP = Perm.GUN_WRITE | Perm.PUBLISH | Perm.SEND | Perm.REQUEST | Perm.PUSH;
export const ALL_PERMS = READ_GROUP | WRITE_GROUP | Perm.ADMIN;
/** A token without a `perms` claim. */
export const DEFAULT_PERMS = READ_GROUP | WRITE_GROUP;

const BY_NAME: Readonly<Record<string, number>> = {
  read: READ_GROUP,
  write: WRITE_GROUP,
  publish: Perm.PUBLISH,
  subscribe: Perm.SUBSCRIBE,
  send: Perm.SEND,
  request: Perm.REQUEST,
  serve: Perm.SERVE,
  push: Perm.PUSH,
  pull: Perm.PULL,
  presence: Perm.PRESENCE,
  admin: ALL_PERMS,
};

export const PERM_NAMES: readonly string[] = Object.keys(BY_NAME);

/**
 * The bits a `perms` claim grants: an array of names (or one name). Unknown names grant nothing
 * (a newer issuer's permission is not guessed at); `undefined` means the default, read and write.
 * Returns null when the claim has the wrong shape.
 */
export function permsFromClaim(claim: unknown): number | null {
  if (claim === undefined) return DEFAULT_PERMS;
  const names = typeof claim === 'string' ? [claim] : claim;
  if (!Array.isArray(names) || names.length > 64) return null;
  let bits = 0;
  for (const name of names) {
    if (typeof name !== 'string') return null;
    bits |= Object.prototype.hasOwnProperty.call(BY_NAME, name) ? BY_NAME[name] : 0;
  }
  return bits;
}

/** The names of the single permissions in `bits`, for answers and logs (`read`/`write` expanded). */
export function permNames(bits: number): string[] {
  if ((bits & ALL_PERMS) === ALL_PERMS) return ['admin'];
  const out: string[] = [];
  if (bits & Perm.GUN_READ) out.push('read');
  if (bits & Perm.GUN_WRITE) out.push('write');
  for (const name of ['publish', 'subscribe', 'send', 'request', 'serve', 'push', 'pull', 'presence']) {
    if (bits & BY_NAME[name]) out.push(name);
  }
  return out;
}
