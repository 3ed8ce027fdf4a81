// Errors the SDK hands to callers carry a stable `code` to match on (never the text): always one
// of the protocol's table (src/protocol/errors.ts, docs/protocol.md §7) or `http_<status>`.
import { isKnownErrorCode, type ErrorCode } from '../protocol/errors.js';
import type { ErrorInfo, Ref } from '../protocol/messages.js';

/** @deprecated the SDK's own codes are in `ErrorCode` now (`disconnected`, `closed`, …). */
export type ClientErrorCode = ErrorCode;

const isHttpCode = (code: string): code is `http_${number}` => /^http_\d{3}$/.test(code);

export class MultisocketError extends Error {
  override name = 'MultisocketError';
  /** One of the table's codes (`timeout`, `gone`, `too_large`, `closed`, …) or `http_<status>`. */
  readonly code: ErrorCode;
  /**
   * A code of the application's own (a serving member threw a MultisocketError with a code outside the table):
   * `code` is then `handler_error`.
   */
  readonly appCode: string | undefined;
  /** The `ref` of the message that caused a server `error` (the SDK's write refs are `"w<n>"`). */
  readonly ref: Ref | undefined;

  /** `code` may be any string: one outside the table becomes `handler_error` with it as `appCode`. */
  constructor(code: string, message?: string, ref?: Ref, options?: { cause?: unknown }) {
    super(message ?? code, options);
    if (isKnownErrorCode(code) || isHttpCode(code)) {
      this.code = code;
      this.appCode = undefined;
    } else {
      this.code = 'handler_error';
      this.appCode = code;
    }
    this.ref = ref;
  }

  /** `{code, message}` of a failed reply or job, as an error. */
  static from(info: ErrorInfo, ref?: Ref): MultisocketError {
    return new MultisocketError(info.code, info.message ?? info.code, ref);
  }

  /** What goes on the wire for this error in a `reply`/`nack`: the application's code if it gave one. */
  toInfo(): ErrorInfo {
    return { code: this.appCode ?? this.code, message: this.message };
  }
}

/** A handler's throw as `{code, message}` for a `reply` or `nack`. */
export function handlerErrorInfo(err: unknown): ErrorInfo {
  if (err instanceof MultisocketError) return err.toInfo();
  return { code: 'handler_error', message: err instanceof Error ? err.message : String(err) };
}

/** A promise whose rejection, if nobody awaits it, does not crash Node (it is also an `error` event). */
export function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}
