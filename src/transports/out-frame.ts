// One outgoing message, serialized once. Each transport frames it at most once, lazily, and the
// same bytes are written to every recipient (the fan-out hot path never re-encodes).
import { frameText } from './ws-frame.js';

export class OutFrame {
  private wsBytes: Buffer | undefined;

  constructor(readonly text: string) {}

  /** The message as a WebSocket text frame. */
  get ws(): Buffer {
    return (this.wsBytes ??= frameText(this.text));
  }
}
