// multisocket/client: the SDK for the native protocol (docs/protocol.md), for browsers and Node 20.
//
//   import { connect } from 'multisocket/client';
//   const room = connect('ws://localhost:8765/chat');            // or {transport: 'sse'}
//   room.on('message', (m) => console.log(m.from, m.data));
//   room.publish('hello');                                        // buffered until connected
//   room.serve(async ({ a, b }) => a + b);
//   const sum = await room.request({ a: 1, b: 2 });
import { Room, type ConnectOptions } from './room.js';

/** Join the room at `url` (`ws(s)://` or `http(s)://` host + room path). Returns at once; writes are buffered until connected. */
export function connect(url: string | URL, options: ConnectOptions = {}): Room {
  return new Room(url, options);
}

export { Room };
export type {
  ClosedEvent,
  ConnectEvent,
  ConnectOptions,
  GapEvent,
  PublishOptions,
  PullHandler,
  PushContext,
  ReconnectingEvent,
  RequestContext,
  RequestHandler,
  RequestOptions,
  RoomEvents,
  RoomState,
  TopicHandler,
  TransportName,
} from './room.js';
export { MultisocketError, type ClientErrorCode } from './errors.js';
export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export { topicMatches, isValidTopic } from './topics.js';
export type { Listener } from './emitter.js';
export * from './types.js';
