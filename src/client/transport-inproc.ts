// The in-process transport: the room handle and the server in one process, joined by two
// function calls instead of a socket. Client messages go to the server as the objects the room
// handle made; server messages come back as the hub's objects (or, when a frame only has text,
// e.g. a cluster's publication, as that text). The server's end is given by whoever dials
// (src/embed/in-process.ts): this file knows nothing of the server, so the browser bundle stays free of it.
import { parseServerFrame, parseServerMessage, type ClientMessage } from './types.js';
import type { CloseInfo, Transport, TransportFactory, TransportHandlers } from './transport.js';

/** What the server's end of one pipe takes from the room handle. */
export interface InProcessServerEnd {
  /** One client message, in order; `json` is its text as the room handle made it (for its size). */
  receive(msg: ClientMessage, json: string): void;
  /** The room handle ended the pipe on purpose: the member leaves. */
  end(): void;
}

/** What the server's end gives the room handle. */
export interface InProcessClientEnd {
  /** One server message: the hub's object, or a frame's JSON text. */
  deliver(message: object | string): void;
  /** The pipe is over: closed by the server (`code`), or refused before it opened (`status`, `errorCode`). */
  closed(info: Omit<CloseInfo, 'unsent'>): void;
}

/** Opens the server's end of a pipe to the room of `url` (its path and query, as for a socket). */
export type InProcessDial = (url: URL, client: InProcessClientEnd) => InProcessServerEnd;

class InProcessTransport implements Transport, InProcessClientEnd {
  private readonly server: InProcessServerEnd;
  private detached = false;

  constructor(url: URL, private readonly handlers: TransportHandlers, dial: InProcessDial) {
    this.server = dial(url, this);
  }

  deliver(message: object | string): void {
    if (this.detached) return;
    if (typeof message !== 'string') {
      // The hub's own object: checked into the SDK's typed form like any frame (a field copy, no parse).
      const msg = parseServerMessage(message);
      if (msg) this.handlers.message(msg);
      return;
    }
    for (const msg of parseServerFrame(message)) {
      if (this.detached) return;
      this.handlers.message(msg);
    }
  }

  closed(info: Omit<CloseInfo, 'unsent'>): void {
    if (this.detached) return;
    this.detached = true;
    // Nothing is ever left unsent: a message is with the server when send() returns.
    this.handlers.close({ ...info, unsent: [] });
  }

  send(msg: ClientMessage, json: string): void {
    if (this.detached) return;
    this.server.receive(msg, json);
    this.handlers.written(msg);
  }

  close(): Promise<void> {
    if (!this.detached) {
      this.detached = true;
      this.server.end();
    }
    return Promise.resolve();
  }
}

/** A TransportFactory over `dial`; the room handle opens one pipe per connection (and per reconnect). */
export function inProcessTransport(dial: InProcessDial): TransportFactory {
  return (url: URL, handlers: TransportHandlers) => new InProcessTransport(url, handlers, dial);
}
