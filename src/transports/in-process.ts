// An in-process member's connection as the hub sees it: frames are handed to the SDK's room
// handle in the same process (src/client/transport-inproc.ts), as the hub's message objects when
// the frame has one, never as bytes. Delivery is deferred to a microtask, in order: the hub is
// never re-entered from inside its own loop (a handler that publishes while a publish is being
// fanned out), and a turn's frames reach the room handle together, as a socket's would.
import type { Connection } from './connection.js';
import type { OutFrame } from './out-frame.js';
import { OPEN, type Principal } from '../access/principal.js';
import { loopTurn } from './loop-turn.js';
import { Traffic } from '../metrics/tally.js';

const UNCOUNTED = new Traffic();

/** Where the frames go: the client end of the pipe. */
export interface InProcessSink {
  deliver(message: object): void;
  closed(code: number, reason: string): void;
}

/**
 * Frames one in-process member takes in one event-loop turn; the rest wait for the next turn
 * (setImmediate). Two members answering each other in a loop would otherwise run on microtasks
 * alone and starve every socket of the process.
 */
const FRAMES_PER_TURN = 1024;

let nextId = 0;

export class InProcessConnection implements Connection {
  readonly id: string;
  readonly transport = 'inproc' as const;
  readonly remoteAddress = 'inproc';
  principal: Principal = OPEN;
  tokenTimer: NodeJS.Timeout | undefined = undefined;
  private frames: OutFrame[] = [];
  private scheduled = false;
  private turn = 0;
  private turnFrames = 0;
  /** close() was called: the frames queued before it go first, then the sink is told. */
  private closing: { code: number; reason: string } | undefined;
  private ended = false;
  /**
   * Where its deliveries are counted (the server's native Traffic, set by the door): messages and
   * deliveries as for a socket; no bytes, there are none.
   */
  traffic: Traffic = UNCOUNTED;
  /** Called once when the connection is over, however it ended (`byClient`: the room handle ended it). */
  onEnd: ((byClient: boolean) => void) | undefined;

  constructor(private readonly sink: InProcessSink) {
    this.id = 'i' + (++nextId).toString(36);
  }

  get isOpen(): boolean {
    return this.closing === undefined && !this.ended;
  }

  /** Nothing waits for a kernel: frames are queued only until the next microtask. */
  get bufferedBytes(): number {
    return 0;
  }

  send(frame: OutFrame): void {
    if (!this.isOpen) return;
    this.frames.push(frame);
    this.schedule();
  }

  close(code: number, reason: string): void {
    if (this.closing !== undefined || this.ended) return;
    this.closing = { code, reason };
    this.schedule();
  }

  /** The room handle ended the pipe (close(), or it gave up): nothing more is delivered. */
  endByClient(): void {
    if (this.ended) return;
    this.ended = true;
    this.frames = [];
    this.onEnd?.(true);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const turn = loopTurn();
    if (turn !== this.turn) { this.turn = turn; this.turnFrames = 0; }
    if (this.turnFrames < FRAMES_PER_TURN) queueMicrotask(this.flush);
    else setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const frames = this.frames;
    this.frames = [];
    this.turnFrames += frames.length;
    const traffic = this.traffic;
    for (let i = 0; i < frames.length; i++) {
      if (this.ended) return;
      const frame = frames[i];
      traffic.deliveries++;
      if (!frame.counted) {
        frame.counted = true;
        traffic.messagesOut++;
      }
      try {
        // By reference: every in-process receiver of a publish gets the same object (read-only by
        // contract, as the SDK's listeners of one message already share it; docs/embedding.md).
        this.sink.deliver(frame.object);
      } catch (err) {
        // The room handle's own listeners are guarded; anything else is a bug worth seeing, not a lost frame stream.
        setTimeout(() => { throw err; }, 0);
      }
    }
    if (this.frames.length > 0) return this.schedule();
    if (this.closing !== undefined && !this.ended) {
      this.ended = true;
      this.sink.closed(this.closing.code, this.closing.reason);
      this.onEnd?.(false);
    }
  };
}

