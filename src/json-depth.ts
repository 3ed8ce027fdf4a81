// How deep a client's JSON may nest. JSON.parse takes any depth, but everything after it that
// recurses (JSON.stringify when a message is framed or relayed, formatting an error) overflows
// the stack at a few thousand levels, and no message of either protocol needs more than a few.
// Checked once at each door, right after the parse.

export const MAX_JSON_DEPTH = 1000;
export const TOO_DEEP = `nesting deeper than ${MAX_JSON_DEPTH} levels`;

/**
 * True when `value`, parsed from `textLength` characters of JSON, nests deeper than
 * MAX_JSON_DEPTH. Nesting n levels takes 2n characters, so a shorter text (every ordinary
 * message) costs one comparison; a longer one a walk of its objects and arrays, far cheaper
 * than the parse that made them.
 */
export function nestsTooDeep(value: unknown, textLength: number): boolean {
  return textLength > 2 * MAX_JSON_DEPTH && typeof value === 'object' && value !== null && deeper(value, MAX_JSON_DEPTH);
}

function deeper(v: object, levelsLeft: number): boolean {
  if (levelsLeft === 0) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const c: unknown = v[i];
      if (typeof c === 'object' && c !== null && deeper(c, levelsLeft - 1)) return true;
    }
    return false;
  }
  for (const key in v) {
    const c = (v as Record<string, unknown>)[key];
    if (typeof c === 'object' && c !== null && deeper(c, levelsLeft - 1)) return true;
  }
  return false;
}
