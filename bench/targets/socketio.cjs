// Socket.IO 4 rooms server: the peer for the native scenarios (bench/run.ts).
//   node socketio.cjs --port P [--redis redis://127.0.0.1:R]
// WebSocket transport only, no compression (a user tuning Socket.IO for speed would do both).
// Each socket joins the room named by its handshake query `room` (default "bench"). Event
// `pub` (data) is broadcast to the room except the sender as event `msg`, with
// socket.to(room).emit: Socket.IO encodes the packet once and writes it to each member.
// --redis: the cluster scenario's peer, several of these processes on one Redis joined by
// @socket.io/redis-adapter (what Socket.IO's docs prescribe for more than one process), with
// ioredis clients (one publishing, one subscribing): a broadcast goes to this process's members
// and, through Redis pub/sub, to every other process, which writes it to its own.
// Prints {"level":"info","msg":"listening","port":N} on stdout once ready (with --redis: once
// both Redis clients are), then runs until killed.
'use strict';
const http = require('node:http');
const { Server } = require('socket.io');

const args = process.argv.slice(2);
const arg = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const port = Number(arg('--port') ?? 0);
const redisUrl = arg('--redis');
const web = http.createServer();
const io = new Server(web, { transports: ['websocket'], perMessageDeflate: false, serveClient: false, maxHttpBufferSize: 16 * 1024 * 1024 });
io.on('connection', (socket) => {
  const room = String(socket.handshake.query.room || 'bench');
  socket.join(room);
  socket.on('pub', (data) => socket.to(room).emit('msg', data));
});

async function main() {
  if (redisUrl) {
    const { createAdapter } = require('@socket.io/redis-adapter');
    const { Redis } = require('ioredis');
    const pub = new Redis(redisUrl, { lazyConnect: true });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
  }
  web.listen(port, '127.0.0.1', () => {
    console.log(JSON.stringify({ level: 'info', msg: 'listening', port: web.address().port, target: 'socketio', redis: redisUrl ?? null }));
  });
}
main().catch((err) => { console.error(err); process.exit(1); });
process.on('SIGTERM', () => process.exit(0));
