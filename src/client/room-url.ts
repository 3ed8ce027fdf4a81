// The room URL a handle connects to: absolute, or relative to the page in a browser; and the
// query of each connection attempt (token, resume, replay position, topics, presence info).

/** `connect('/chat')` in a browser means the page's origin; in Node there is no page to go by. */
export function resolveRoomUrl(url: string | URL): URL {
  if (url instanceof URL) return new URL(url.href);
  try {
    return new URL(url);
  } catch {
    const page = (globalThis as { location?: { href?: unknown } }).location;
    if (page && typeof page.href === 'string') return new URL(url, page.href);
    throw new TypeError(
      `connect(${JSON.stringify(url)}): a relative room URL needs a page to resolve against (globalThis.location); ` +
        'outside a browser give the full URL, e.g. "ws://127.0.0.1:8765/chat" (or tcp://…/chat, ipc:///path/to.sock?room=/chat)',
    );
  }
}

/** One room URL or a list of them (the same room on several servers, tried in turn); at least one. */
export type RoomUrls = string | URL | ReadonlyArray<string | URL>;

export function resolveRoomUrls(urls: RoomUrls): URL[] {
  if (typeof urls === 'string' || urls instanceof URL) return [resolveRoomUrl(urls)];
  if (!Array.isArray(urls) || urls.length === 0) throw new TypeError('connect(urls): give a room URL or a non-empty list of them');
  return urls.map((u) => resolveRoomUrl(u));
}

export interface AttemptQuery {
  token?: string;
  resume?: string;
  /** With `resume`: the last `n` received of the messages sent to this member alone. */
  seen?: number;
  /** Replay from this seq (with the epoch it belongs to). */
  since?: number;
  epoch?: string;
  topics?: string[];
  /** JSON text of this member's presence data. */
  info?: string;
}

export function attemptUrl(base: URL, q: AttemptQuery): URL {
  const url = new URL(base.href);
  const set = (key: string, value: string | undefined) => { if (value !== undefined) url.searchParams.set(key, value); };
  set('token', q.token);
  set('resume', q.resume);
  if (q.resume !== undefined) set('seen', q.seen !== undefined ? String(q.seen) : undefined);
  set('since', q.since !== undefined ? String(q.since) : undefined);
  if (q.since !== undefined) set('epoch', q.epoch);
  if (q.topics && q.topics.length > 0) set('topics', q.topics.join(','));
  set('info', q.info);
  return url;
}

/** The same room whatever the scheme (`ws:`/`http:`) or query: the key of its saved resume state. */
export function roomKey(url: URL): string {
  // ipc://<socket path>?room=<room>: the room is in the query.
  const room = url.protocol === 'ipc:' ? `?room=${url.searchParams.get('room') ?? ''}` : '';
  return `multisocket:${url.host}${url.pathname}${room}`;
}

/** A URL that asked for a new owned room (`/_/new`) names the room it got from now on. */
export function replaceNewRoom(url: URL, room: string): void {
  if (url.protocol === 'ipc:') {
    const asked = url.searchParams.get('room');
    if (asked !== null && asked.endsWith('/_/new')) url.searchParams.set('room', asked.slice(0, -'/_/new'.length) + room);
    return;
  }
  if (url.pathname.endsWith('/_/new')) url.pathname = url.pathname.slice(0, -'/_/new'.length) + room;
}
