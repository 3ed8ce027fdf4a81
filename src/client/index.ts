// multisocket/client: the SDK for the native protocol (docs/protocol.md, docs/client.md), for
// browsers and Node 20.
//
//   import { connect } from 'multisocket/client';
//   const room = connect('ws://localhost:8765/chat');            // or {transport: 'sse'}; '/chat' in a page
//   room.on('message', (m) => console.log(m.from, m.data));
//   await room.publish('hello');                                  // buffered until connected
//   room.serve(async ({ a, b }) => a + b);
//   const sum = await room.request<number>({ a: 1, b: 2 });
import { Room } from './room.js';
import type { ConnectOptions } from './options.js';
import type { RoomUrls } from './room-url.js';

/**
 * Join the room at `url` (`ws(s)://` or `http(s)://` host + room path; in a browser a path like
 * `/chat` is taken relative to the page; in Node also `tcp://host:port/<room>`, `tls://…` and
 * `ipc:///path/to.sock?room=/<room>`, the line transport). Returns at once; writes are buffered until connected.
 * A list of URLs (the same room on several servers) is tried in turn: a failed connect or a
 * server's restart notice (its drain) moves the handle to the next one.
 */
export function connect(url: RoomUrls, options: ConnectOptions = {}): Room {
  return new Room(url, options);
}

export { Room };
export type {
  ConnectOptions,
  PresenceOptions,
  PublishOptions,
  RequestContext,
  RequestHandler,
  RequestOptions,
  SendOptions,
  TopicHandler,
  TransportName,
} from './options.js';
export type { RoomUrls } from './room-url.js';
export { lineTlsOptions } from './transport-line.js';
export type { ClosedEvent, ConnectEvent, GapEvent, ReconnectingEvent, RoomEvents, RoomState } from './events.js';
export type { PullContext, PullHandler, PullOptions, PullContext as PushContext } from './puller.js';
export type { JobResult, PublishResult } from './writes.js';
export { MultisocketError, type ClientErrorCode } from './errors.js';
export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export { topicMatches, isValidTopic } from './topics.js';
export type { Listener } from './emitter.js';
export * from './types.js';
