// The query string of a raw request target. `new URL(req.url, base)` is not a parser for that:
// a target like "//", "//[x]/r" or "http://a:99999/r" makes it throw (the first two read as a
// host), so the query is cut out of the text by hand, the same way roomFromUrl cuts the path.

export function queryParams(url: string): URLSearchParams {
  const end = url.search(/[?#]/);
  if (end === -1 || url[end] === '#') return new URLSearchParams();
  const hash = url.indexOf('#', end);
  return new URLSearchParams(hash === -1 ? url.slice(end + 1) : url.slice(end + 1, hash));
}
