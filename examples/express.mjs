// Mount the relay into an Express app: rooms under /rt on the app's own port, next to its routes.
//   npm run build && node examples/express.mjs          (PORT, default 3000; HOST, default 127.0.0.1)
// Then open http://127.0.0.1:3000/ in two tabs, or join from a terminal:
//   ROOM_URL=http://127.0.0.1:3000/rt/chat node examples/chat.mjs alice
// The app keeps its own routes (GET /hello); /rt/_/health, /rt/_/client.js… are the relay's.
import http from 'node:http';
import express from 'express';
import { createServer } from 'multisocket';

const app = express();
app.get('/hello', (req, res) => res.json({ hello: 'from express' }));
// A page that chats in /rt/chat with the SDK the relay serves (a relative room URL: this page's origin).
app.get('/', (req, res) => res.type('html').send(`<!doctype html><title>chat</title>
<ul id="log"></ul><form id="f"><input id="t" autocomplete="off"><button>send</button></form>
<script type="module">
  import { connect } from '/rt/_/client.js';
  const room = connect('/rt/chat');
  const show = (text) => { const li = document.createElement('li'); li.textContent = text; log.append(li); };
  room.subscribe('chat', (text, msg) => show(msg.from + ': ' + text));
  f.onsubmit = (e) => { e.preventDefault(); room.publish(t.value, { topic: 'chat', echo: true }); t.value = ''; };
</script>`));

// Options are the CLI's flags in camelCase, in the same units (docs/embedding.md).
const relay = createServer({ roomTtl: 60, maxPeersPerRoom: 100, logLevel: 'info' });
const server = http.createServer(app);
await relay.attach(server, { prefix: '/rt' });

server.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1', () => {
  const { port } = server.address();
  console.log(JSON.stringify({ msg: 'listening', port, url: `http://127.0.0.1:${port}/`, rooms: `ws://127.0.0.1:${port}/rt/<room>` }));
});

// Drain the relay first (members are told to reconnect), then stop the app's server, cutting the
// sockets left (keep-alive ones) instead of waiting for clients to drop them.
const stop = async () => {
  await relay.close();
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
