// A terminal chat over the native protocol. Run the server (npm start), then in two terminals:
//   node examples/chat.mjs alice        node examples/chat.mjs bob --sse
// Type a line to send it to the room; `echo hi | node examples/chat.mjs bob` sends one line and
// exits. The room is ROOM_URL (default http://127.0.0.1:8765/chat).
import readline from 'node:readline';
import { connect } from 'multisocket/client';

const name = process.argv[2] ?? 'anon';
const transport = process.argv.includes('--sse') ? 'sse' : 'websocket';
const room = connect(process.env.ROOM_URL ?? 'http://127.0.0.1:8765/chat', { transport, info: { name } });

room.on('connect', ({ cid, members, resumed }) => console.log(`* ${resumed ? 'back' : 'joined'} as ${cid} (${members.length} here, ${transport})`));
room.on('join', ({ cid, info }) => console.log(`* ${info?.name ?? cid} joined`));
room.on('leave', ({ cid }) => console.log(`* ${cid} left`));
room.subscribe('chat', (data) => console.log(`${data.name}: ${data.text}`));
room.on('gap', (gap) => {
  if (gap.reset) console.log('* room restarted: earlier messages are gone');
  else console.log(`* missed messages ${gap.from}..${gap.to}`);
});
room.on('closed', ({ reason }) => { if (reason !== 'client') console.log(`* room closed (${reason})`); });

readline.createInterface({ input: process.stdin }).on('line', (text) => {
  // Failures also come as `error` events; printing them here says which line was lost.
  room.publish({ name, text }, { topic: 'chat' }).catch((err) => console.error(`* not sent (${err.code}): ${text}`));
}).on('close', async () => {
  await room.close(); // sends what is still buffered, then leaves
  process.exit(0);
});
