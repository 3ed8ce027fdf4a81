// Globs over room paths, as `/_/stats` names rooms: `*` matches within one path segment, `**`
// across segments, anything else is literal. `/team/*` matches `/team/a`, not `/team/a/b`;
// `/team/**` matches both (not `/team` itself); `/**` matches every room.

export type RoomMatcher = (room: string) => boolean;

const SPECIAL = /[.+?^${}()|[\]\\]/g;

/** Compile one glob; throws on a glob that is not a string starting with "/". */
export function compileRoomGlob(glob: string): RegExp {
  if (typeof glob !== 'string' || !glob.startsWith('/') || glob.length > 1024) {
    throw new TypeError(`a room glob starts with "/" (got ${JSON.stringify(glob)})`);
  }
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') {
      if (glob[i + 1] === '*') { source += '.*'; i++; } else source += '[^/]*';
    } else {
      source += c.replace(SPECIAL, '\\$&');
    }
  }
  return new RegExp('^' + source + '$', 's');
}

/** A matcher for any of `globs`; throws on a bad glob. */
export function roomMatcher(globs: readonly string[]): RoomMatcher {
  if (globs.length === 0) return () => false;
  const regexps = globs.map(compileRoomGlob);
  return (room) => regexps.some((r) => r.test(room));
}
