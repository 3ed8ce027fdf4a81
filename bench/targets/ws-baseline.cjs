// Bare `ws` broadcast server: the peer that marks what plain Node + ws can do (bench/run.ts).
//   node ws-baseline.cjs --port P --mode naive|coalesced|echo
// Rooms are URL paths (query ignored): a text frame from one client goes to every other client
// on the same path. Modes:
//   naive      for (c of room) c.send(data): ws frames and writes the message once per client.
//   coalesced  frame once, queue the frame for the room, and on setImmediate write everything
//              queued in this event-loop turn with ONE socket write per client (the practical
//              ceiling for Node, see ../shared/research/deps-and-performance.md §3). A client with
//              more than 4 MiB unsent is closed (slow consumer), as a real relay must.
//   echo       every frame goes back to its sender only (raw ping-pong peer for request/reply).
// Prints {"level":"info","msg":"listening","port":N} on stdout, then runs until killed.
'use strict';
const http = require('node:http');
const { WebSocketServer } = require('ws');

const args = process.argv.slice(2);
const arg = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
const port = Number(arg('--port', '0'));
const mode = arg('--mode', 'coalesced');
if (!['naive', 'coalesced', 'echo'].includes(mode)) { console.error(`unknown --mode ${mode}`); process.exit(2); }
const MAX_UNSENT = 4 * 1024 * 1024;

const rooms = new Map(); // path -> Set<client>
const web = http.createServer((req, res) => { res.writeHead(404); res.end(); });
const wss = new WebSocketServer({ server: web, perMessageDeflate: false, clientTracking: false, maxPayload: 16 * 1024 * 1024 });

/** One unmasked server text frame. */
function frame(payload) {
  const len = payload.length;
  const hdr = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(hdr + len);
  out[0] = 0x81;
  if (hdr === 2) out[1] = len;
  else if (hdr === 4) { out[1] = 126; out.writeUInt16BE(len, 2); }
  else { out[1] = 127; out.writeBigUInt64BE(BigInt(len), 2); }
  payload.copy(out, hdr);
  return out;
}

// coalesced mode: frames queued per room during this turn, flushed once per turn
const dirty = new Set();
let scheduled = false;
function flush() {
  scheduled = false;
  for (const room of dirty) {
    const q = room.queue;
    room.queue = [];
    const all = q.length === 1 ? q[0].buf : Buffer.concat(q.map((f) => f.buf));
    const senders = new Set(q.map((f) => f.from));
    for (const c of room.clients) {
      const sock = c._socket;
      if (!sock || c.readyState !== 1) continue;
      if (sock.writableLength > MAX_UNSENT) { c.terminate(); continue; }
      if (!senders.has(c)) { sock.write(all); continue; }
      const mine = q.filter((f) => f.from !== c);
      if (mine.length) sock.write(Buffer.concat(mine.map((f) => f.buf)));
    }
  }
  dirty.clear();
}

wss.on('connection', (ws, req) => {
  const name = (req.url || '/').split('?')[0];
  let room = rooms.get(name);
  if (!room) { room = { clients: new Set(), queue: [] }; rooms.set(name, room); }
  room.clients.add(ws);
  ws.on('close', () => { room.clients.delete(ws); if (!room.clients.size && !room.queue.length) rooms.delete(name); });
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    if (mode === 'echo') return ws.send(data, { binary: isBinary });
    if (mode === 'naive') {
      for (const c of room.clients) if (c !== ws && c.readyState === 1) c.send(data, { binary: isBinary });
      return;
    }
    room.queue.push({ buf: frame(data), from: ws });
    dirty.add(room);
    if (!scheduled) { scheduled = true; setImmediate(flush); }
  });
});

web.listen(port, '127.0.0.1', () => {
  console.log(JSON.stringify({ level: 'info', msg: 'listening', port: web.address().port, target: `ws-${mode}` }));
});
process.on('SIGTERM', () => process.exit(0));
