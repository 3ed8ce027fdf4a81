// How many bytes a message takes on the wire, so the SDK can refuse one over the server's
// `limits.maxMessageBytes` itself (`too_large`) instead of having the server close the socket.

/** UTF-8 length of a string without encoding it (a lone surrogate counts as U+FFFD, 3 bytes). */
export function utf8Length(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Bytes an SSE POST adds to a message's JSON: the body is `{"token":<token>,` + the message's
 * fields (its JSON without the leading `{`).
 */
export function postEnvelopeBytes(token: string): number {
  return '{"token":'.length + utf8Length(JSON.stringify(token)) + ','.length - '{'.length;
}
