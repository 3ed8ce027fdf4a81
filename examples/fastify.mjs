// Mount the relay into a Fastify app: rooms under /rt on the app's own port, next to its routes.
//   npm run build && node examples/fastify.mjs          (PORT, default 3000; HOST, default 127.0.0.1)
// Join from a terminal: ROOM_URL=http://127.0.0.1:3000/rt/chat node examples/chat.mjs alice
// Requests under /rt never reach Fastify (its hooks and logger do not see them); the relay logs its own.
import Fastify from 'fastify';
import { createServer } from 'multisocket';

// forceCloseConnections: close() then cuts the sockets left (keep-alive ones, a client's spare
// connection that never sent a request) instead of waiting for clients to drop them.
const app = Fastify({ forceCloseConnections: true });
app.get('/hello', async () => ({ hello: 'from fastify' }));

const relay = createServer({ roomTtl: 60, maxPeersPerRoom: 100, logLevel: 'info' });
await relay.attach(app.server, { prefix: '/rt' });
// fastify.close() drains the relay first (members are told to reconnect), then stops the server.
app.addHook('preClose', async () => { await relay.close(); });

await app.listen({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1' });
const { port } = app.server.address();
console.log(JSON.stringify({ msg: 'listening', port, url: `http://127.0.0.1:${port}/hello`, rooms: `ws://127.0.0.1:${port}/rt/<room>` }));

const stop = () => app.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
