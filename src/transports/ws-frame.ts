// Frames a text message as one unmasked WebSocket frame (RFC 6455 §5.2), header and payload in a
// single buffer, so one encoded message can be written to any number of sockets.

export function frameText(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const buf = Buffer.allocUnsafe(headerLength + length);
  buf[0] = 0x81; // FIN + text opcode
  if (length < 126) {
    buf[1] = length;
  } else if (length < 65536) {
    buf[1] = 126;
    buf.writeUInt16BE(length, 2);
  } else {
    buf[1] = 127;
    buf.writeUInt32BE(Math.floor(length / 0x1_0000_0000), 2);
    buf.writeUInt32BE(length >>> 0, 6);
  }
  buf.write(text, headerLength, 'utf8');
  return buf;
}
