// A browser's WebSocket says nothing about a refused handshake (no status, no body), so after one
// that never opened the SDK asks the server's door what it would answer now:
// `GET /_/door?room=<path>` → 204 (would be admitted), or the refusal's status and
// `{"error":{"code","message"}}` (with CORS). A network failure, or a server without the endpoint
// (404 `not_found`), tells nothing: the caller then just retries. A server mounted under a path
// prefix of another program's server has its door under that prefix (doorUrls).

export interface DoorAnswer {
  status: number;
  code?: string;
  message?: string;
}

/** Most ways of splitting a room URL's path into mount prefix and room that are tried. */
const MAX_DOOR_CANDIDATES = 8;

/**
 * Where the door for `roomUrl` may be: `<prefix>/_/door?room=<rest of the path>`. A server of its
 * own has it at the root; one mounted into another program's server (`attach(http, { prefix })`,
 * docs/embedding.md) under its prefix, which the URL alone does not tell. With the room's name
 * from the server's `connect` message the split is known; before any connection each split is a
 * candidate, the root first.
 */
export function doorUrls(roomUrl: URL, roomName?: string): URL[] {
  const segments = roomUrl.pathname.split('/').filter((s) => s !== '');
  const door = (mountSegments: number) => {
    const url = new URL('/' + [...segments.slice(0, mountSegments), '_', 'door'].join('/'), roomUrl.href);
    if (url.protocol === 'ws:') url.protocol = 'http:';
    else if (url.protocol === 'wss:') url.protocol = 'https:';
    url.search = '';
    url.searchParams.set('room', '/' + segments.slice(mountSegments).join('/'));
    return url;
  };
  if (roomName !== undefined) {
    const roomSegments = roomName.split('/').filter((s) => s !== '').length;
    if (roomSegments <= segments.length) return [door(segments.length - roomSegments)];
  }
  const out: URL[] = [];
  for (let mount = 0; mount <= segments.length && out.length < MAX_DOOR_CANDIDATES; mount++) out.push(door(mount));
  return out;
}

/**
 * The door's answer for the room, or undefined when none could be had (no server there, or none
 * that has the endpoint). `roomName`: the room as the server named it in an earlier `connect`.
 */
export async function askDoor(roomUrl: URL, token: string | undefined, signal?: AbortSignal, roomName?: string): Promise<DoorAnswer | undefined> {
  if (typeof fetch !== 'function') return undefined;
  for (const url of doorUrls(roomUrl, roomName)) {
    const answer = await askOne(url, token, signal);
    // Unreachable: the other candidates are on the same host, and no better.
    if (answer === 'unreachable') return undefined;
    if (answer !== 'not_a_door') return answer;
  }
  return undefined;
}

async function askOne(url: URL, token: string | undefined, signal?: AbortSignal): Promise<DoorAnswer | 'not_a_door' | 'unreachable'> {
  let res: Response;
  try {
    res = await fetch(url.href, { headers: token !== undefined ? { authorization: `Bearer ${token}` } : {}, ...(signal ? { signal } : {}) });
  } catch {
    return 'unreachable';
  }
  if (res.status === 204) return { status: 204 };
  const body = await errorOf(res);
  // The host app's own pages at a path that is not the mount (its 404, an SPA's catch-all 200)
  // say nothing about the room; nor does a server without the endpoint (404 not_found).
  if (res.ok || (res.status === 404 && (body.code === undefined || body.code === 'not_found'))) return 'not_a_door';
  return { status: res.status, ...body };
}

/** `{code, message}` of a JSON error body (`{"error":{…}}`), or nothing. */
export async function errorOf(res: Response): Promise<{ code?: string; message?: string }> {
  try {
    const body: unknown = JSON.parse(await res.text());
    const error = typeof body === 'object' && body !== null ? (body as { error?: unknown }).error : undefined;
    if (typeof error !== 'object' || error === null) return {};
    const { code, message } = error as { code?: unknown; message?: unknown };
    return { ...(typeof code === 'string' ? { code } : {}), ...(typeof message === 'string' ? { message } : {}) };
  } catch {
    return {};
  }
}
