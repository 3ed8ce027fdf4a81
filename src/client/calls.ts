// Calls waiting for the server's answer — requests and presence questions — each with its own
// deadline. A call rejects at exactly its deadline (no hidden grace): `timeout` when it was sent
// and the connection is up, `disconnected` when the connection is down or the call never left.
import { MultisocketError } from './errors.js';

export interface PendingCall<T> {
  resolve(value: T): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
  /** When its time runs out (ms since the epoch); a request tells the server the time left. */
  deadline: number;
  /** Handed to a connection (as opposed to waiting in the outbox). */
  sent: boolean;
}

export class PendingCalls<T> {
  private readonly calls = new Map<string, PendingCall<T>>();

  /**
   * @param describe  names a call in messages (`request 7`, `presence`)
   * @param connected whether the connection is up now
   */
  constructor(private readonly describe: (key: string) => string, private readonly connected: () => boolean) {}

  add(key: string, timeoutMs: number, resolve: (value: T) => void, reject: (err: Error) => void): void {
    const expire = (): void => {
      // A timer counts from the event loop's cached time, which lags the clock while a turn runs:
      // it can fire tens of ms before the deadline on a busy machine. Never reject early.
      const left = call.deadline - Date.now();
      if (left > 0) { call.timer = setTimeout(expire, left); return; }
      this.calls.delete(key);
      const message = `${this.describe(key)} got no answer in ${timeoutMs} ms`;
      reject(call.sent && this.connected()
        ? new MultisocketError('timeout', message)
        : new MultisocketError('disconnected', `${message}: the connection was down`));
    };
    const call: PendingCall<T> = { resolve, reject, sent: false, deadline: Date.now() + timeoutMs, timer: setTimeout(expire, timeoutMs) };
    this.calls.set(key, call);
  }

  get(key: string): PendingCall<T> | undefined {
    return this.calls.get(key);
  }

  /** Remove a call to settle it (its timer stops); undefined when it is no longer waiting. */
  take(key: string): PendingCall<T> | undefined {
    const call = this.calls.get(key);
    if (!call) return undefined;
    this.calls.delete(key);
    clearTimeout(call.timer);
    return call;
  }

  resolve(key: string, value: T): boolean {
    const call = this.take(key);
    call?.resolve(value);
    return call !== undefined;
  }

  reject(key: string, err: Error): boolean {
    const call = this.take(key);
    call?.reject(err);
    return call !== undefined;
  }

  markSent(key: string, sent: boolean): void {
    const call = this.calls.get(key);
    if (call) call.sent = sent;
  }

  /** Keys of the calls handed to a connection, oldest first. */
  sentKeys(): string[] {
    return [...this.calls].filter(([, c]) => c.sent).map(([k]) => k);
  }

  /** Reject every call (`sentOnly`: those handed to a connection) with the error `make` gives for its name. */
  rejectAll(make: (what: string) => Error, sentOnly = false): void {
    for (const [key, call] of [...this.calls]) {
      if (sentOnly && !call.sent) continue;
      this.calls.delete(key);
      clearTimeout(call.timer);
      call.reject(make(this.describe(key)));
    }
  }
}
