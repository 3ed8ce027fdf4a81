// A room's name as it appears in engine channel and subject names: base64url(SHA-256(room)),
// 43 characters from [A-Za-z0-9_-] whatever the room string (NATS gives ".", "*", ">" and spaces
// meaning; room names are data and stay out of the engine's routing tables).
import { createHash } from 'node:crypto';

export function roomToken(room: string): string {
  return createHash('sha256').update(room, 'utf8').digest('base64url');
}
