// The WebSocket subprotocol that selects the native protocol (without one, a room speaks GUN).
// Defined once: the server, the SDK and the docs take it from here.
export const SUBPROTOCOL = 'multisocket.v1';
/** Subprotocols of this family that a client may offer; any other `multisocket.*` is refused. */
export const SUBPROTOCOL_PREFIX = 'multisocket.';
