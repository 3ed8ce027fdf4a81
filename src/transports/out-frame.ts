// One outgoing message, serialized once. Each transport frames it at most once, lazily, and the
// same bytes are written to every recipient (the fan-out hot path never re-encodes). A frame made
// from an object (the hub's) keeps it: in-process members take the object and nothing is parsed.
// A frame made from stored WebSocket bytes (a history replay) decodes its text only if asked.
import { frameText, payloadStart } from './ws-frame.js';

export class OutFrame {
  private wsBytes: Buffer | undefined;
  private sseBytes: Buffer | undefined;
  private json: string | undefined;
  private obj: object | undefined;
  /** Set by the first connection that sends it: multisocket_messages_out_total counts a frame once, however many recipients. */
  counted = false;
  private lineBytes: Buffer | undefined;

  /**
   * @param text  the JSON message
   * @param event SSE event name (the message type); omitted for GUN frames
   * @param id    SSE event id (the message seq) for replayable messages
   */
  constructor(text: string, readonly event?: string, readonly id?: number) {
    this.json = text;
  }

  /**
   * A frame of `message`, serialized when a socket, the history or a sent log first asks for the
   * text (the hub's publish and direct paths do so at once). Nobody may change `message` afterwards.
   */
  static of(message: object, event?: string, id?: number): OutFrame {
    const frame = new OutFrame('', event, id);
    frame.json = undefined;
    frame.obj = message;
    return frame;
  }

  /**
   * A message kept as its WebSocket frame (the room's history keeps bytes, not strings): a
   * WebSocket member gets these bytes as they are; the text is decoded only if another transport asks.
   */
  static fromWs(ws: Buffer, event?: string, id?: number): OutFrame {
    const frame = new OutFrame('', event, id);
    frame.json = undefined;
    frame.wsBytes = ws;
    return frame;
  }

  /**
   * The message as an object for in-process members: the one it was made from, else its text
   * parsed once (a cluster's publication arrives as text) and shared by every such member.
   */
  get object(): object {
    return (this.obj ??= JSON.parse(this.text) as object);
  }

  /** The message's JSON text. */
  get text(): string {
    return (this.json ??= this.obj !== undefined ? JSON.stringify(this.obj) : this.wsBytes!.toString('utf8', payloadStart(this.wsBytes!)));
  }

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
