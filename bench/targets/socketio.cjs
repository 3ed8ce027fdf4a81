// Socket.IO 4 rooms server: the peer for the native scenarios (bench/run.ts).
//   node socketio.cjs --port P
// WebSocket transport only, no compression (a user tuning Socket.IO for speed would do both).
// Each socket joins the room named by its handshake query `room` (default "bench"). Event
// `pub` (data) is broadcast to the room except the sender as event `msg`, with
// socket.to(room).emit: Socket.IO encodes the packet once and writes it to each member.
// Prints {"level":"info","msg":"listening","port":N} on stdout, then runs until killed.
'use strict';
const http = require('node:http');
const { Server } = require('socket.io');

const args = process.argv.slice(2);
const i = args.indexOf('--port');
const port = Number(i >= 0 ? args[i + 1] : 0);
const web = http.createServer();
const io = new Server(web, { transports: ['websocket'], perMessageDeflate: false, serveClient: false, maxHttpBufferSize: 16 * 1024 * 1024 });
io.on('connection', (socket) => {
  const room = String(socket.handshake.query.room || 'bench');
  socket.join(room);
  socket.on('pub', (data) => socket.to(room).emit('msg', data));
});
web.listen(port, '127.0.0.1', () => {
  console.log(JSON.stringify({ level: 'info', msg: 'listening', port: web.address().port, target: 'socketio' }));
});
process.on('SIGTERM', () => process.exit(0));
