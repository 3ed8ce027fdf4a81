// A browser's WebSocket says nothing about a refused handshake (no status, no body), so after one
// that never opened the SDK asks the server's door what it would answer now:
// `GET /_/door?room=<path>` → 204 (would be admitted), or the refusal's status and
// `{"error":{"code","message"}}` (with CORS). A network failure, or a server without the endpoint
// (404 `not_found`), tells nothing: the caller then just retries.

export interface DoorAnswer {
  status: number;
  code?: string;
  message?: string;
}

export async function askDoor(roomUrl: URL, token: string | undefined, signal?: AbortSignal): Promise<DoorAnswer | undefined> {
  if (typeof fetch !== 'function') return undefined;
  const url = new URL('/_/door', roomUrl.href);
  if (url.protocol === 'ws:') url.protocol = 'http:';
  else if (url.protocol === 'wss:') url.protocol = 'https:';
  url.searchParams.set('room', roomUrl.pathname);
  try {
    const res = await fetch(url.href, { headers: token !== undefined ? { authorization: `Bearer ${token}` } : {}, ...(signal ? { signal } : {}) });
    if (res.status === 204) return { status: 204 };
    const body = await errorOf(res);
    if (res.status === 404 && (body.code === undefined || body.code === 'not_found')) return undefined;
    return { status: res.status, ...body };
  } catch {
    return undefined;
  }
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
