// The soak's load generator: every workload side by side, paced open-loop, in one process pinned
// to the load generator's core (bench/soak/run.ts starts it). Protocol with the orchestrator, as
// the other generators': JSON lines. stdout: {"type":"ready"}, {"type":"sample",...} (the window
// since the last sample), {"type":"final",...} (the accounting), {"type":"error"}; stdin:
// {"cmd":"start"}, {"cmd":"sample"}, {"cmd":"stop","drainMs":n}, {"cmd":"quit"}; EOF quits.
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { out } from '../loadgen-steps.js';
import { BadInputs } from './bad-inputs.js';
import { Churn } from './churn.js';
import { type Target, until } from './conn.js';
import type { FlowWindow } from './flow.js';
import { GunRooms } from './gun-rooms.js';
import { JobRooms } from './job-rooms.js';
import { Pacer } from './pacer.js';
import { SHAPE, SMOKE_SHAPE, type Rates } from './plan.js';
import { PublishRooms } from './publish-rooms.js';
import { RequestRooms } from './request-rooms.js';
import { SlowConsumer } from './slow-consumer.js';
import type { Workload } from './workload.js';

const { values: argv } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    rates: { type: 'string' }, // JSON of Rates (plan.ts)
    smoke: { type: 'boolean', default: false },
    'slow-hold': { type: 'string', default: '30' }, // seconds a slow consumer does not read
  },
});
const t: Target = { host: argv.host!, port: Number(argv.port) };
const rates = JSON.parse(argv.rates ?? '{}') as Rates;
const shape = argv.smoke ? SMOKE_SHAPE : SHAPE;
const SLOW_PAD = 32 * 1024;

const publish = new PublishRooms(t, { rooms: shape.pubRooms, ws: shape.pubWsMembers, sse: shape.pubSseMembers, perSec: rates.publish });
const slowRoom = new PublishRooms(t, { rooms: 1, ws: 2, sse: 0, perSec: Math.max(1, Math.round(rates.slowBytes / SLOW_PAD)), padBytes: SLOW_PAD }, '/soak-slow', 'slow room delivery');
const workloads: Workload[] = [
  new GunRooms(t, { rooms: shape.gunRooms, subs: shape.gunSubscribers, keys: shape.gunKeys, putsPerSec: rates.gunPuts, lateJoinersPerSec: rates.lateJoiners }),
  publish,
  new RequestRooms(t, { rooms: shape.rrRooms, servers: shape.rrServers, requesters: shape.rrRequesters, perSec: rates.requests }),
  new JobRooms(t, { rooms: shape.jobRooms, pullers: shape.jobPullers, prefetch: shape.jobPrefetch, perSec: rates.jobs }),
  new Churn(t, () => publish.paths(), rates.churn),
  new BadInputs(t, rates.badInputs),
  slowRoom,
  new SlowConsumer(t, '/soak-slow-0', Number(argv['slow-hold']) * 1000),
];
const pacer = new Pacer();
let cpu = process.cpuUsage();
let wallT = process.hrtime.bigint();

function sample(): object {
  const flows: Record<string, FlowWindow> = {};
  for (const w of workloads) for (const f of w.flows) flows[f.name] = f.sample();
  const c = process.cpuUsage(cpu);
  const now = process.hrtime.bigint();
  const wallS = Number(now - wallT) / 1e9;
  cpu = process.cpuUsage();
  wallT = now;
  const lag = pacer.lagMaxMs;
  pacer.lagMaxMs = 0;
  return { type: 'sample', flows, loadgenCpuPct: (100 * (c.user + c.system)) / 1e6 / wallS, sendLagMaxMs: lag };
}

async function stop(drainMs: number): Promise<object> {
  pacer.stop();
  for (const w of workloads) w.stop();
  const t0 = Date.now();
  const settled = await until(() => workloads.every((w) => w.settled()), drainMs);
  const checks = workloads.flatMap((w) => w.checks());
  const errors = workloads.flatMap((w) => w.flows.flatMap((f) => f.errorList().map((e) => ({ flow: f.name, ...e }))));
  const totals = Object.fromEntries(workloads.flatMap((w) => w.flows.map((f) => [f.name, { sent: f.sent, done: f.done, errors: f.errors }])));
  return { type: 'final', settled, drainMs: Date.now() - t0, checks, errors, totals };
}

function quit(code: number): void {
  for (const w of workloads) w.close();
  setTimeout(() => process.exit(code), 100);
}

async function main(): Promise<void> {
  if (!t.port) throw new Error('usage: bench/soak/loadgen.ts --port P --rates <json> [--smoke]');
  for (const w of workloads) await w.connect();
  out({ type: 'ready' });
  let chain = Promise.resolve();
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    chain = chain.then(async () => {
      const c = JSON.parse(line) as { cmd: string; drainMs?: number };
      if (c.cmd === 'quit') return quit(0);
      if (c.cmd === 'start') { sample(); for (const w of workloads) w.start(pacer); pacer.start(); out({ type: 'started' }); }
      else if (c.cmd === 'sample') out(sample());
      else if (c.cmd === 'stop') out(await stop(c.drainMs ?? 15_000));
      else throw new Error(`unknown command ${c.cmd}`);
    }).catch((err: Error) => { out({ type: 'error', message: err.stack ?? err.message }); quit(1); });
  });
  rl.on('close', () => { chain = chain.then(() => quit(0)); });
}

main().catch((err: Error) => { out({ type: 'error', message: err.stack ?? err.message }); quit(1); });
