// Frames a text message as one unmasked WebSocket frame (RFC 6455 §5.2), header and payload in a
// single buffer, so one encoded message can be written to any number of sockets.

/** Header bytes of a server (unmasked) frame whose payload is `payloadLength` bytes: 7-, 16- or 64-bit length. */
export function headerLength(payloadLength: number): number {
  return payloadLength < 126 ? 2 : payloadLength < 65536 ? 4 : 10;
}

export function frameText(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const header = headerLength(length);
  const buf = Buffer.allocUnsafe(header + length);
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
  buf.write(text, header, 'utf8');
  return buf;
}

/** Where the payload of a frame made by frameText starts (its second byte says how long the length is). */
export function payloadStart(frame: Uint8Array): number {
  const len7 = frame[1] & 0x7f;
  return len7 < 126 ? 2 : len7 === 126 ? 4 : 10;
}
