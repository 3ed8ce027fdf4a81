// In-process request/reply (issue 13 §2): two members of one room in the server's own process
// (server.connect), one serving, one asking, closed loop with one request outstanding; no socket,
// no HTTP, no JSON text on the way in or out. Runs dist/ (npm run build), like every scenario.
// Prints one JSON line per payload: round trips, per second, latency (ms), CPU of this process.
//
//   node --import tsx bench/inproc-reqrep.ts [--warmup s] [--measure s]
import { parseArgs } from 'node:util';
import { MultisocketServer } from '../dist/server/server.js';
import { makeConfig } from '../dist/config.js';
import { silentLogger } from '../dist/log.js';
import { Samples } from './stats.ts';

const { values } = parseArgs({ options: { warmup: { type: 'string', default: '1' }, measure: { type: 'string', default: '5' } } });
const warmupS = Number(values.warmup);
const measureS = Number(values.measure);

/** What each step asks with: a short string (as the `reqrep` scenario sends) and a ~1 KiB object. */
const PAYLOADS: Array<{ name: string; data: unknown }> = [
  { name: 'ping', data: 'ping' },
  { name: '1 KiB object', data: { items: Array.from({ length: 16 }, (_, i) => ({ id: i, name: `item-${i}`, tags: ['a', 'b'], score: i / 3 })) } },
];

const server = new MultisocketServer(makeConfig({ host: '127.0.0.1', port: 0 }), silentLogger);
const asker = server.connect('/inproc-rr');
const answerer = server.connect('/inproc-rr');
answerer.serve((d: unknown) => d);
await Promise.all([asker, answerer].map((r) => new Promise((resolve) => r.once('connect', resolve))));
await asker.presence(); // the `serve` is in before the first request

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
for (const payload of PAYLOADS) {
  const end = (s: number) => nowMs() + s * 1000;
  for (const until = end(warmupS); nowMs() < until;) for (let i = 0; i < 100; i++) await asker.request(payload.data);
  const lat = new Samples();
  const cpu0 = process.cpuUsage();
  const t0 = nowMs();
  const until = end(measureS);
  let errors = 0;
  while (nowMs() < until) {
    for (let i = 0; i < 100; i++) {
      const s = nowMs();
      try { await asker.request(payload.data); } catch { errors++; }
      lat.push(nowMs() - s);
    }
  }
  const wallS = (nowMs() - t0) / 1000;
  const c = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({
    type: 'inproc-reqrep', payload: payload.name, roundTrips: lat.n, perSec: lat.n / wallS, latency: lat.summary(), errors,
    cpuPct: ((c.user + c.system) / 1e6 / wallS) * 100, rssMB: process.memoryUsage().rss / 1048576,
  }) + '\n');
}
await Promise.all([asker.close(), answerer.close()]);
await server.close();
