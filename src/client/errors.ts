// Errors the SDK hands to callers carry a stable `code` to match on (never the text).
import type { Ref } from './types.js';

/** Codes the SDK itself gives, beside the server's (`timeout`, `gone`, `no_responder`, …). */
export type ClientErrorCode =
  /** The connection dropped after a request was sent; its answer can no longer arrive. */
  | 'disconnected'
  /** `close()` was called, or the room was closed, while the call was pending. */
  | 'closed'
  /** `getToken()` threw or gave no token (the SDK retries with backoff). */
  | 'token_unavailable';

export class MultisocketError extends Error {
  override name = 'MultisocketError';
  /** e.g. `timeout`, `gone`, `no_responder`, `unknown_target`, `handler_error`, `bad_message`, `closed`. */
  readonly code: string;
  /** The `ref` of the message that caused a server `error`, if any. */
  readonly ref: Ref | undefined;

  constructor(code: string, message?: string, ref?: Ref) {
    super(message ?? code);
    this.code = code;
    this.ref = ref;
  }
}
