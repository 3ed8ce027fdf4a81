// A worker pool over the room's work queue. Run the server (npm start), then:
//   node examples/jobs.mjs work            (in two or three terminals)
//   node examples/jobs.mjs push 10         (pushes 10 jobs and prints each outcome)
// Each worker holds one job at a time (prefetch 1); a job whose handler throws goes to another
// worker, up to the server's --job-max-attempts. The room is ROOM_URL (default ws://127.0.0.1:8765/jobs).
import { connect } from 'multisocket/client';

const room = connect(process.env.ROOM_URL ?? 'ws://127.0.0.1:8765/jobs');
const [mode, count = '5'] = process.argv.slice(2);

if (mode === 'work') {
  room.pull(async ({ n }, { attempt }) => {
    await new Promise((r) => setTimeout(r, 300)); // the "work"
    if (n % 7 === 0 && attempt === 1) throw new Error(`job ${n} failed on its first try`); // → nack, redelivered
    console.log(`did job ${n} (attempt ${attempt})`);
    return n * n; // → ack; the pusher gets it as `data`
  }, { prefetch: 1 });
  console.log('working; Ctrl-C to stop');
} else {
  const outcomes = await Promise.allSettled(Array.from({ length: Number(count) }, (_, i) => room.push({ n: i + 1 })));
  for (const [i, o] of outcomes.entries()) {
    if (o.status === 'fulfilled') console.log(`job ${i + 1}: ${o.value.data} by ${o.value.from} after ${o.value.attempts} attempt(s)`);
    else console.log(`job ${i + 1} failed: ${o.reason.code} ${o.reason.message}`);
  }
  await room.close();
  process.exit(0);
}
