// The text/event-stream format (WHATWG HTML §9.2.6), parsed from a streamed fetch body: the SSE
// transport reads the stream with fetch() rather than EventSource, so that a refused stream's
// HTTP status and error body are readable in browsers and Node alike.

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/** Feed decoded text in any chunks; complete events come out in order. */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private id: string | undefined;
  private sawCr = false;

  constructor(private readonly onEvent: (ev: SseEvent) => void) {}

  push(chunk: string): void {
    let text = this.buffer + chunk;
    // A CR at the end of the last chunk already ended its line; an LF right after it is the same line end.
    if (this.sawCr && text.startsWith('\n')) text = text.slice(1);
    this.sawCr = false;
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(text.slice(start, i));
      if (c === 13) {
        if (i + 1 === text.length) this.sawCr = true;
        else if (text.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    this.buffer = text.slice(start);
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return; // comment (the server's `: ping`)
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    // `retry` is for EventSource's own reconnects; the room handle reconnects itself.
  }

  private dispatch(): void {
    if (this.data.length > 0) {
      const ev: SseEvent = { event: this.event || 'message', data: this.data.join('\n') };
      if (this.id !== undefined) ev.id = this.id;
      this.onEvent(ev);
    }
    this.event = '';
    this.data = [];
  }
}
