// GUN frame parsing: a text frame holds one JSON message object or a JSON array of them (a
// batch). Parsed exactly once; the raw text is kept so a single message can be relayed verbatim.
import type { GunMessage } from './types.js';
import { nestsTooDeep, TOO_DEEP } from '../json-depth.js';

export type ParsedFrame =
  | { ok: true; messages: GunMessage[]; single: boolean }
  | { ok: false; err: string };

export function parseFrame(text: string): ParsedFrame {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { ok: false, err: 'DAM JSON parse error.' };
  }
  if (nestsTooDeep(data, text.length)) return { ok: false, err: TOO_DEEP };
  if (Array.isArray(data)) {
    const messages: GunMessage[] = [];
    for (const m of data) {
      if (typeof m !== 'object' || m === null || Array.isArray(m)) return { ok: false, err: 'a batch must hold message objects' };
      messages.push(m as GunMessage);
    }
    return { ok: true, messages, single: false };
  }
  if (typeof data === 'object' && data !== null) return { ok: true, messages: [data as GunMessage], single: true };
  return { ok: false, err: 'a frame must be a message object or an array of them' };
}
