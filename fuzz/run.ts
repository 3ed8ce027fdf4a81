// npm run fuzz -- [--seed N] [--count N] [--minutes M] [--door gun,native,sse,http,raw,ws,line,admin] [--only I]
// Sends generated and mutated inputs to every door of a fresh server (see fuzz/fuzzer.ts) and
// exits 1 with the findings when anything crashed, hung, leaked or crossed rooms.
import { parseArgs } from 'node:util';
import { randomInt } from 'node:crypto';
import { DOORS, runFuzz, type Door } from './fuzzer.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    count: { type: 'string', default: '100000' },
    minutes: { type: 'string' },
    door: { type: 'string' },
    only: { type: 'string' },
    concurrency: { type: 'string' },
    'server-args': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  process.stdout.write('npm run fuzz -- [--seed N] [--count N] [--minutes M] [--door ' + DOORS.join(',') + '] [--only INDEX] [--concurrency N] [--server-args="<more server flags>"]\n');
  process.exit(0);
}
const num = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) { process.stderr.write(`fuzz: --${name} must be a number, got "${v}"\n`); process.exit(2); }
  return n;
};
const doors = values.door?.split(',').map((d) => d.trim()) as Door[] | undefined;
if (doors?.some((d) => !DOORS.includes(d))) { process.stderr.write(`fuzz: --door takes ${DOORS.join(',')}\n`); process.exit(2); }
const seed = num('seed', values.seed) ?? randomInt(2 ** 31);
const again = `npm run fuzz -- --seed ${seed}${values.door ? ' --door ' + values.door : ''}${values['server-args'] ? ` "--server-args=${values['server-args']}"` : ''}`;
const count = num('count', values.count)!;
console.log(`fuzz: seed ${seed} (reproduce: ${again}), ${count} inputs${values.minutes ? `, at most ${values.minutes} min` : ''}`);

const result = await runFuzz({ seed, count, minutes: num('minutes', values.minutes), doors, only: num('only', values.only), concurrency: num('concurrency', values.concurrency), serverArgs: values['server-args']?.split(/\s+/).filter(Boolean) });
console.log(`fuzz: seed ${seed}: ${result.inputs} inputs in ${result.seconds.toFixed(1)} s (${Math.round(result.inputs / result.seconds)}/s): ` +
  Object.entries(result.perDoor).map(([d, n]) => `${d} ${n}`).join(', ') + `; server RSS at the end ${Math.round(result.rssBytes / 1048576)} MB`);
if (result.findings.length === 0) {
  console.log('fuzz: no findings');
  process.exit(0);
}
for (const f of result.findings) {
  console.log(`\nFINDING ${f.kind}: ${f.message}`);
  for (const i of f.inputs.slice(0, 5)) console.log(`  reproduce: ${again} --only ${i}`);
}
process.exit(1);
