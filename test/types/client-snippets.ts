// The README's and docs/client.md's SDK snippets, typechecked under `strict` (npm run typecheck,
// and test/client-types.test.ts runs tsc on this file alone). Never executed.
import { connect, MultisocketError, type JobResult } from '../../src/client/index.ts';

export async function snippets(): Promise<void> {
  const room = connect('ws://localhost:8765/chat', { info: { name: 'ann' } });
  room.serve(async ({ a, b }) => a + b);
  const sum = await room.request<number>({ a: 1, b: 2 });
  const n: number = sum;
  room.subscribe<{ name: string; text: string }>('chat', (m) => console.log(m.name.toUpperCase(), m.text));
  room.pull(async (job: { url: string }, ctx) => `${job.url} by ${ctx.from} (attempt ${ctx.attempt ?? 1})`, { prefetch: 4 });
  const done: JobResult<string> = await room.push<string>({ url: 'https://example.com' });
  const { seq } = await room.publish('hello', { ack: true });
  await room.send('c1', 'hi');
  try {
    await room.request('x', { timeout: 2000 });
  } catch (err) {
    if (err instanceof MultisocketError && (err.code === 'timeout' || err.code === 'disconnected' || err.appCode === 'out_of_stock')) console.log(err.ref);
  }
  console.log(n, done.data.length, seq, room.infos, await room.presence({ timeout: 1000 }));
  await room.close();
  // The same room on two servers: a failed connect or a server's drain moves the handle on.
  const both = connect(['wss://a.example/chat', new URL('wss://b.example/chat')], { transport: 'sse' });
  both.on('reconnecting', ({ code, reason, url }) => { if (code === 1012 && reason === 'restart') console.log('moving to', url); });
  await both.close();
}
