// Request/reply: one process serves, any number ask. Run the server (npm start), then:
//   node examples/rpc.mjs serve          node examples/rpc.mjs ask 2 3
// The room is ROOM_URL (default ws://127.0.0.1:8765/math).
import { connect } from 'multisocket/client';

const room = connect(process.env.ROOM_URL ?? 'ws://127.0.0.1:8765/math');
const [mode, a, b] = process.argv.slice(2);

if (mode === 'serve') {
  room.serve(async ({ a, b }) => {
    if (typeof a !== 'number' || typeof b !== 'number') throw new Error('a and b must be numbers'); // → error reply
    return a + b;
  });
  console.log('serving sums; Ctrl-C to stop');
} else {
  try {
    console.log('sum =', await room.request({ a: Number(a), b: Number(b) }, { timeout: 2000 }));
  } catch (err) {
    console.log('failed:', err.code, err.message); // timeout, disconnected, no_responder, handler_error, ...
  }
  await room.close();
}
