// WebSocket protocol violations on a real handshake (GUN or native subprotocol): bad opcodes,
// reserved bits, unmasked client frames, oversize or absurd lengths, fragmented control frames,
// stray continuations, bad UTF-8, bad close codes, partial frames; mixed with valid frames. One
// input is one connection: the handshake, then its frames, then a bounded wait.
import type { Rng } from '../rng.ts';
import { generateGunFrame } from './gun.ts';
import { generateNativeFrame } from './native.ts';

export interface WsRawInput {
  door: 'ws';
  room: number;
  native: boolean;
  frames: Buffer[];
  waitMs: number;
}

interface FrameSpec {
  fin?: boolean;
  rsv?: number; // 0..7
  opcode: number;
  masked?: boolean;
  payload: Buffer;
  /** declare this length instead of the payload's */
  length?: number | bigint;
}

export function encodeFrame(f: FrameSpec): Buffer {
  const len = f.length ?? f.payload.length;
  const n = typeof len === 'bigint' ? len : BigInt(len);
  const masked = f.masked ?? true;
  const head: number[] = [((f.fin ?? true) ? 0x80 : 0) | ((f.rsv ?? 0) << 4) | (f.opcode & 0x0f)];
  const m = masked ? 0x80 : 0;
  let ext = Buffer.alloc(0);
  if (n < 126n) head.push(m | Number(n));
  else if (n < 65536n) { head.push(m | 126); ext = Buffer.alloc(2); ext.writeUInt16BE(Number(n)); }
  else { head.push(m | 127); ext = Buffer.alloc(8); ext.writeBigUInt64BE(n & 0xffff_ffff_ffff_ffffn); }
  const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const payload = Buffer.from(f.payload);
  if (masked) for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(head), ext, masked ? key : Buffer.alloc(0), payload]);
}

const CLOSE_CODES = [0, 1, 999, 1000, 1001, 1002, 1004, 1005, 1006, 1007, 1011, 1012, 1015, 1016, 2999, 3000, 4000, 4999, 5000, 65535];

function closePayload(rng: Rng): Buffer {
  if (rng.chance(0.1)) return Buffer.from([rng.int(0, 255)]); // one byte: invalid
  const b = Buffer.alloc(2);
  b.writeUInt16BE(rng.pick(CLOSE_CODES));
  const reason = rng.weighted<Buffer>([[3, Buffer.from('bye')], [1, Buffer.from([0xff, 0xfe])], [1, Buffer.from('r'.repeat(130))], [2, Buffer.alloc(0)]]);
  return Buffer.concat([b, reason]);
}

function violation(rng: Rng, valid: () => Buffer): Buffer[] {
  const text = valid();
  switch (rng.int(0, 15)) {
    case 0: return [encodeFrame({ opcode: rng.pick([3, 4, 5, 6, 7, 11, 12, 13, 14, 15]), payload: text })];
    case 1: return [encodeFrame({ opcode: 1, rsv: rng.int(1, 7), payload: text })];
    case 2: return [encodeFrame({ opcode: 1, masked: false, payload: text })];
    case 3: return [encodeFrame({ opcode: rng.pick([1, 2]), payload: Buffer.alloc(0), length: rng.pick([2n ** 63n - 1n, 2n ** 64n - 1n, 2n ** 32n, 300_000n, 70_000n]) })];
    case 4: return [encodeFrame({ opcode: 9, fin: false, payload: Buffer.from('p') }), encodeFrame({ opcode: 0, payload: Buffer.from('q') })];
    case 5: return [encodeFrame({ opcode: 0, payload: text })]; // continuation without a start
    case 6: return [encodeFrame({ opcode: 1, fin: false, payload: text.subarray(0, 5) }), encodeFrame({ opcode: 1, payload: text })]; // new message inside a fragmented one
    case 7: return [encodeFrame({ opcode: 1, fin: false, payload: text.subarray(0, 3) }), encodeFrame({ opcode: 9, payload: Buffer.from('ping') }), encodeFrame({ opcode: 0, payload: text.subarray(3) })]; // valid: control between fragments
    case 8: return [encodeFrame({ opcode: 1, payload: Buffer.concat([text.subarray(0, 4), Buffer.from([0xc3, 0x28, 0xed, 0xa0, 0x80, 0xff])]) })]; // bad UTF-8
    case 9: return [encodeFrame({ opcode: 8, payload: closePayload(rng) })];
    case 10: return [encodeFrame({ opcode: 9, payload: Buffer.alloc(rng.pick([0, 125, 126, 200])) })];
    case 11: return [encodeFrame({ opcode: 10, payload: rng.bytes(rng.int(0, 20)) })]; // unsolicited pong
    case 12: return [encodeFrame({ opcode: 1, payload: text }).subarray(0, rng.int(1, 6))]; // partial frame
    case 13: return [encodeFrame({ opcode: 2, payload: rng.bytes(rng.int(0, 100)) })];
    case 14: return [rng.bytes(rng.int(1, 40))];
    default: return [encodeFrame({ opcode: 8, fin: false, payload: closePayload(rng) })]; // fragmented close
  }
}

export function generateWsRaw(rng: Rng, rooms: number): WsRawInput {
  const native = rng.chance(0.5);
  const valid = () => {
    const f = native ? generateNativeFrame(rng, rooms) : generateGunFrame(rng, rooms);
    return typeof f.data === 'string' ? Buffer.from(f.data) : f.data;
  };
  const frames: Buffer[] = [];
  for (let i = rng.int(1, 4); i > 0; i--) {
    if (rng.chance(0.4)) frames.push(encodeFrame({ opcode: 1, payload: valid() }));
    else frames.push(...violation(rng, valid));
  }
  return { door: 'ws', room: rng.int(0, rooms - 1), native, frames, waitMs: rng.int(30, 150) };
}
