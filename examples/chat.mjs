// A terminal chat over the native protocol. Run the server (npm start), then in two terminals:
//   node examples/chat.mjs alice        node examples/chat.mjs bob --sse
// Type a line to send it to the room.
import readline from 'node:readline';
import { connect } from 'multisocket/client';

const name = process.argv[2] ?? 'anon';
const transport = process.argv.includes('--sse') ? 'sse' : 'websocket';
const room = connect(process.env.ROOM_URL ?? 'http://127.0.0.1:8765/chat', { transport });

room.on('connect', ({ cid, members }) => console.log(`* joined as ${cid} (${members.length} here, ${transport})`));
room.on('join', ({ cid }) => console.log(`* ${cid} joined`));
room.on('leave', ({ cid }) => console.log(`* ${cid} left`));
room.subscribe('chat', (data) => console.log(`${data.name}: ${data.text}`));
room.on('gap', (gap) => console.log(`* missed messages ${gap.from}..${gap.to}`));

readline.createInterface({ input: process.stdin }).on('line', (text) => {
  room.publish({ name, text }, { topic: 'chat' });
}).on('close', () => room.close());
