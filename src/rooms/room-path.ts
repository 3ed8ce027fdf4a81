// How a request path names a room (documented in docs/rooms.md):
// - the query string is ignored; %-escapes are decoded per segment; case is kept;
// - empty segments are dropped, so "//a//b/" and "/a/b" are the same room "/a/b";
// - "/" is a room of its own; "." and ".." segments, control characters and an encoded "/"
//   inside a segment are refused (400), so two spellings can never split one room;
// - the first segment "_" is reserved for the server's own endpoints;
// - a request target that is not a path ("http://host/r", "*") is refused (400).

export const MAX_ROOM_NAME_BYTES = 512;

export type RoomPath =
  | { ok: true; room: string; reserved: boolean }
  | { ok: false; status: 400 | 414; error: string };

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export function roomFromUrl(url: string): RoomPath {
  if (url !== '' && url[0] !== '/') return { ok: false, status: 400, error: 'the request target must be a path starting with "/"' };
  const end = url.search(/[?#]/);
  const pathname = end === -1 ? url : url.slice(0, end);
  if (Buffer.byteLength(pathname) > MAX_ROOM_NAME_BYTES * 3) return { ok: false, status: 414, error: 'path too long' };
  const segments: string[] = [];
  for (const raw of pathname.split('/')) {
    if (raw === '') continue;
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      return { ok: false, status: 400, error: `bad %-encoding in path segment "${raw}"` };
    }
    if (seg === '.' || seg === '..') return { ok: false, status: 400, error: 'path segments "." and ".." are not allowed' };
    if (seg.includes('/') || CONTROL.test(seg)) return { ok: false, status: 400, error: 'path segment holds "/" or a control character' };
    segments.push(seg);
  }
  const room = '/' + segments.join('/');
  if (Buffer.byteLength(room) > MAX_ROOM_NAME_BYTES) return { ok: false, status: 414, error: `room name longer than ${MAX_ROOM_NAME_BYTES} bytes` };
  return { ok: true, room, reserved: segments[0] === '_' };
}
