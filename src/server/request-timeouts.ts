// A native request's timeout (docs/protocol.md §4): the default when it names none, and the most it may ask.
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** The longest request timeout honoured (a longer one is cut to it). */
export const MAX_REQUEST_TIMEOUT_MS = 60_000;
