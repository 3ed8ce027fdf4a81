// One outgoing message, serialized once. Each transport frames it at most once, lazily, and the
// same bytes are written to every recipient (the fan-out hot path never re-encodes).
import { frameText } from './ws-frame.js';

export class OutFrame {
  private wsBytes: Buffer | undefined;
  private sseBytes: Buffer | undefined;
  private lineBytes: Buffer | undefined;

  /**
   * @param text  the JSON message
   * @param event SSE event name (the message type); omitted for GUN frames
   * @param id    SSE event id (the message seq) for replayable messages
   */
  constructor(readonly text: string, readonly event?: string, readonly id?: number) {}

  /** The message as a WebSocket text frame. */
  get ws(): Buffer {
    return (this.wsBytes ??= frameText(this.text));
  }

  /** The message as one line of newline-delimited JSON (TCP, IPC). JSON text holds no raw newline. */
  get line(): Buffer {
    return (this.lineBytes ??= Buffer.from(this.text + '\n'));
  }

  /** The message as a Server-Sent Event. JSON text never holds a raw newline, so one data line. */
  get sse(): Buffer {
    return (this.sseBytes ??= Buffer.from(
      (this.id !== undefined ? `id: ${this.id}\n` : '') + (this.event ? `event: ${this.event}\n` : '') + `data: ${this.text}\n\n`,
    ));
  }
}
