// push/pull as a work queue (docs/protocol.md §3, "Work queue") and acks of publish/send/push,
// over the raw protocol: jobs wait for a free puller (bounded: queue_full); a puller holds at most
// `prefetch` unacknowledged jobs; ack → the pusher hears `job done` with the worker's data; nack,
// a puller's departure or an expired ack wait → the next puller (attempt + 1), and after
// --job-max-attempts the pusher hears `job failed` (job_failed); a late ack is unknown_job.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from './helpers/server.js';
import { MemberPool, SseMember, WsMember, short, uid, unnumbered, type Msg } from './helpers/native.js';

let server: RunningServer;
let pool: MemberPool;

before(async () => {
  server = await startServer({ args: ['--resume-grace', '0', '--job-ack-wait', '1', '--job-max-attempts', '3', '--max-queued-jobs', '5'] });
  pool = new MemberPool(server.ws, server.http);
});
afterEach(() => pool.closeAll());
after(async () => { await pool?.closeAll(); await server?.stop(); });

const room = (p = 'wq') => '/' + uid(p);
const isJob = (data?: unknown) => (m: Msg) => m.type === 'message' && m.kind === 'push' && (data === undefined || JSON.stringify(m.data) === JSON.stringify(data));
const jobs = (m: WsMember) => m.all(isJob());

/** Send, then a presence round trip: the server has handled everything before it. */
async function act(m: WsMember, msg: Msg | Msg[]): Promise<void> {
  const n = m.count((x) => x.type === 'presence');
  m.send(msg);
  m.send({ type: 'presence' });
  await m.waitUntil(() => m.count((x) => x.type === 'presence') > n, 2000, `presence after ${short(msg)}`);
}

test('acks: publish (with its seq), send and push answer `ack` with the ref when asked, nothing when not; errors carry the ref', async () => {
  const r = room('ack');
  const a = await pool.ws(r);
  const b = await pool.ws(r);
  a.send({ type: 'publish', data: 1, ack: true, ref: 'p1' });
  assert.deepEqual(unnumbered(await a.waitFor((x) => x.type === 'ack' && x.ref === 'p1')), { type: 'ack', ref: 'p1', seq: 1 });
  a.send({ type: 'send', to: b.cid, data: 'hi', ack: true, ref: 7 });
  assert.deepEqual(unnumbered(await a.waitFor((x) => x.type === 'ack' && x.ref === 7)), { type: 'ack', ref: 7 });
  await b.waitFor((x) => x.type === 'message' && x.kind === 'direct' && x.data === 'hi');
  a.send({ type: 'push', data: 'work', ack: true, ref: 'w1' });
  const ack = await a.waitFor((x) => x.type === 'ack' && x.ref === 'w1');
  assert.match(ack.job, /^j/);
  a.send({ type: 'send', to: 'c-nobody', data: 1, ack: true, ref: 's9' });
  const err = await a.waitFor((x) => x.type === 'error' && x.ref === 's9');
  assert.equal(err.code, 'unknown_target');
  await act(a, { type: 'publish', data: 2 });
  assert.equal(a.count((x) => x.type === 'ack'), 3, 'a publish without ack: true is not acked');
});

test('prefetch: a puller holds at most `prefetch` jobs; ack frees a slot and tells the pusher the outcome with the worker data', async () => {
  const r = room('prefetch');
  const pusher = await pool.ws(r);
  const w = await pool.ws(r);
  await act(w, { type: 'pull' }); // prefetch 1, acknowledging
  for (let i = 1; i <= 3; i++) pusher.send({ type: 'push', data: i, ack: true, ref: `p${i}` });
  await pusher.waitForCount((x) => x.type === 'ack', 3);
  const first = await w.waitFor(isJob(1));
  assert.equal(first.attempt, 1);
  await act(w, { type: 'presence' });
  assert.equal(jobs(w).length, 1, `a prefetch-1 puller got ${jobs(w).length} jobs at once`);
  w.send({ type: 'ack', job: first.job, data: { result: 'one' } });
  const done = await pusher.waitFor((x) => x.type === 'job' && x.ref === 'p1');
  assert.deepEqual(unnumbered(done), { type: 'job', ref: 'p1', job: first.job, attempts: 1, status: 'done', from: w.cid, data: { result: 'one' } });
  const second = await w.waitFor(isJob(2));
  assert.equal(jobs(w).length, 2);
  // prefetch 2: the third comes too without waiting for the second's ack
  await act(w, { type: 'pull', prefetch: 2 });
  await w.waitFor(isJob(3));
  w.send([{ type: 'ack', job: second.job }, { type: 'ack', job: jobs(w)[2].job }]);
  await pusher.waitForCount((x) => x.type === 'job' && x.status === 'done', 3);
});

test('nack redelivers to another puller (attempt 2); after --job-max-attempts the pusher hears job_failed', async () => {
  const r = room('nack');
  const pusher = await pool.ws(r);
  const w1 = await pool.ws(r);
  const w2 = await pool.ws(r);
  await act(w1, { type: 'pull' });
  await act(w2, { type: 'pull' });
  pusher.send({ type: 'push', data: 'poison', ack: true, ref: 'x' });
  const deliveries: Msg[] = [];
  for (let attempt = 1; attempt <= 3; attempt++) {
    const got = await Promise.race([w1, w2].map((w) => w.waitFor((x) => isJob('poison')(x) && x.attempt === attempt).then((m) => ({ m, w }))));
    deliveries.push({ attempt: got.m.attempt, to: got.w.cid });
    got.w.send({ type: 'nack', job: got.m.job, error: { code: 'boom', message: `failed ${attempt}` } });
  }
  assert.notEqual(deliveries[0].to, deliveries[1].to, `a nacked job went back to the same puller: ${short(deliveries)}`);
  const failed = await pusher.waitFor((x) => x.type === 'job' && x.ref === 'x');
  assert.equal(failed.status, 'failed');
  assert.equal(failed.attempts, 3);
  assert.equal(failed.error.code, 'job_failed');
  assert.match(failed.error.message, /boom: failed 3/);
});

test('a puller that disconnects gives its jobs to another; one that lets the ack wait run out too, and its late ack is unknown_job', async () => {
  const r = room('drop');
  const pusher = await pool.ws(r);
  const dying = await pool.ws(r);
  await act(dying, { type: 'pull' });
  pusher.send({ type: 'push', data: 'a', ack: true, ref: 'a' });
  await dying.waitFor(isJob('a'));
  const heir = await pool.ws(r);
  await act(heir, { type: 'pull' });
  await dying.terminate();
  const again = await heir.waitFor(isJob('a'), 3000, 'the dead puller\'s job');
  assert.equal(again.attempt, 2);
  heir.send({ type: 'ack', job: again.job, data: 'ok' });
  assert.equal((await pusher.waitFor((x) => x.type === 'job' && x.ref === 'a')).status, 'done');
  // ack wait (1 s here): the slow one's job goes to the other puller
  const slow = await pool.ws(r);
  await act(heir, { type: 'unpull' });
  await act(slow, { type: 'pull' });
  pusher.send({ type: 'push', data: 'b', ack: true, ref: 'b' });
  const held = await slow.waitFor(isJob('b'));
  await act(heir, { type: 'pull' });
  const t0 = Date.now();
  const redelivered = await heir.waitFor(isJob('b'), 4000, 'the job after its ack wait');
  assert.ok(Date.now() - t0 >= 500, 'redelivered before the ack wait ran out');
  assert.equal(redelivered.attempt, 2);
  slow.send({ type: 'ack', job: held.job, ref: 'late' });
  assert.equal((await slow.waitFor((x) => x.type === 'error' && x.ref === 'late')).code, 'unknown_job');
  heir.send({ type: 'ack', job: redelivered.job, data: 'second try' });
  const outcome = await pusher.waitFor((x) => x.type === 'job' && x.ref === 'b');
  assert.equal(outcome.from, heir.cid);
  assert.equal(outcome.attempts, 2);
});

test('jobs wait while nobody pulls, up to --max-queued-jobs; then queue_full (WebSocket error with ref, POST 429)', async () => {
  const r = room('full');
  const pusher = await pool.ws(r);
  const sse = await pool.sse(r);
  for (let i = 0; i < 4; i++) pusher.send({ type: 'push', data: i, ack: true, ref: `q${i}` });
  await pusher.waitForCount((x) => x.type === 'ack', 4);
  const post = await sse.send({ type: 'push', data: 4, ack: true }); // ack: true also asks for the outcome
  assert.equal(post.status, 200, post.text);
  assert.match(post.body.job, /^j/, 'a POSTed push is answered with its job id');
  pusher.send({ type: 'push', data: 5, ack: true, ref: 'q5' });
  assert.equal((await pusher.waitFor((x) => x.type === 'error' && x.ref === 'q5')).code, 'queue_full');
  const refused = await sse.send({ type: 'push', data: 6 });
  assert.equal(refused.status, 429, refused.text);
  assert.equal(refused.body.error.code, 'queue_full');
  // a puller arrives: the waiting jobs come in order, one at a time (prefetch 1)
  const w = await pool.ws(r);
  await act(w, { type: 'pull' });
  for (let i = 0; i < 5; i++) {
    const job = await w.waitFor(isJob(i), 2000, `job ${i}`);
    w.send({ type: 'ack', job: job.job });
  }
  await sse.waitFor((x) => x.type === 'job' && x.status === 'done', 2000, 'the SSE pusher hears its job\'s outcome on its stream');
  assert.ok(w instanceof WsMember && sse instanceof SseMember);
});
