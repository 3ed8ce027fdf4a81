// Smoke test for the benchmark harness (bench/): it starts the real server and a load generator,
// runs one tiny step and prints its tables, for two GUN-wire scenarios (one of signed puts) and
// one native one; and the soak (bench/soak/) for 20 s with its accounting. No speed thresholds:
// CI machines vary; speed is judged by `npm run bench` and growth by `npm run soak`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, CLI } from './helpers/server.js';

async function runBench(args: string[], guardMs: number): Promise<{ code: number | null; stdout: string; why: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/run.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d; });
  child.stderr.on('data', (d: Buffer) => { stderr += d; });
  // The harness kills its own children; this guards against the harness itself hanging.
  const guard = setTimeout(() => child.kill('SIGTERM'), guardMs);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearTimeout(guard);
  return { code, stdout, why: `exit ${code}\nstdout:\n${stdout}\nstderr:\n${stderr}` };
}

test('bench harness runs a GUN-wire smoke step against our server and prints a table', { timeout: 12_000 }, async (t) => {
  assert.ok(fs.existsSync(CLI), 'dist/cli.js missing: run `npm run build` (npm test does it first)');
  const { code, stdout, why } = await runBench(['gun-fanout', '--smoke'], 11_000);
  assert.equal(code, 0, why);
  assert.match(stdout, /== ours \(GUN wire\): /, why); // the per-target section
  assert.match(stdout, /step\s+puts\/s\s+deliveries\/s/, why); // the table header
  const row = /^300( \*)?\s+300\s+([\d,]+)\s+([\d.]+)%\s+([\d.]+)\s+([\d.]+)/m.exec(stdout); // the measured step (" *" = disturbed)
  assert.ok(row, why);
  assert.ok(Number(row[2].replace(/,/g, '')) > 0, `no deliveries measured\n${why}`);
  assert.match(stdout, /capacity: /, why);
  assert.match(stdout, /^## \(1\)\+\(2\) GUN wire fan-out/m, why); // the summary table
});

test('bench harness runs a native WebSocket smoke step and prints the summary with targets', { timeout: 12_000 }, async (t) => {
  assert.ok(fs.existsSync(CLI), 'dist/cli.js missing: run `npm run build` (npm test does it first)');
  const { code, stdout, why } = await runBench(['native-ws', '--smoke'], 11_000);
  assert.equal(code, 0, why);
  assert.match(stdout, /== ours \(native\): /, why);
  assert.match(stdout, /step\s+msgs\/s\s+deliveries\/s/, why);
  const row = /^50( \*)?\s+50\s+([\d,]+)\s+([\d.]+)%/m.exec(stdout);
  assert.ok(row, why);
  assert.ok(Number(row[2].replace(/,/g, '')) > 0, `no deliveries measured\n${why}`);
  assert.match(stdout, /^## \(4\) native WebSocket fan-out/m, why);
  assert.match(stdout, /^## Targets \(issue 5\)/m, why);
});

test('bench harness runs a signed-put (SEA) smoke step: our server accepts and acks every signed put', { timeout: 12_000 }, async () => {
  assert.ok(fs.existsSync(CLI), 'dist/cli.js missing: run `npm run build` (npm test does it first)');
  const { code, stdout, why } = await runBench(['gun-sea', '--smoke'], 11_000);
  assert.equal(code, 0, why);
  assert.match(stdout, /== ours \(signed\): /, why);
  // step, puts/s, deliveries/s, delivered, p50, p99, max, ack p50, ack p99, acked
  const row = /^200( \*)?\s+200\s+([\d,]+)\s+([\d.]+)%\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+([\d.]+)%/m.exec(stdout);
  assert.ok(row, why);
  assert.equal(Number(row[3]), 100, `not every signed put was delivered\n${why}`);
  assert.equal(Number(row[4]), 100, `not every signed put was acked ok\n${why}`);
  assert.doesNotMatch(stdout, /put errors/, why);
});

test('bench harness runs the cluster smoke step: a private Redis, two nodes, members on both get every publication, /_/nodes counts them', { timeout: 40_000 }, async () => {
  assert.ok(fs.existsSync(CLI), 'dist/cli.js missing: run `npm run build` (npm test does it first)');
  const { code, stdout, why } = await runBench(['cluster', '--smoke'], 38_000);
  assert.equal(code, 0, why);
  assert.match(stdout, /== ours, 2 nodes \+ Redis \(native\): 2 multisocket \S+ nodes \(node dist\/cli\.js --broker redis:\/\/127\.0\.0\.1:\d+ /, why);
  // 20 members, 10 per node, + the publisher on node A, each node counted by its own heartbeat
  assert.match(stdout, /^cluster: 2 live node\(s\) seen from bench-a: bench-a \(11 connections, 1 rooms\), bench-b \(10 connections, 1 rooms\)$/m, why);
  // Published on node A: the members of both nodes get everything (through Redis, node A's too).
  assert.match(stdout, /^ {2}50: node A \(10 members\) 100\.000% .*, node B \(10 members\) 100\.000%/m, why);
  assert.match(stdout, /^srv CPU split \(node A \/ node B \/ redis\): /m, why);
  assert.match(stdout, /^## \(11\) cluster: /m, why);
  assert.match(stdout, /^## Targets \(issue 11\)/m, why);
});

test('soak smoke: 20 s of the mixed load (GUN rooms, publish, request/reply, push/pull, SSE, churn, bad inputs, a slow consumer) with every message accounted for', { timeout: 75_000 }, async () => {
  assert.ok(fs.existsSync(CLI), 'dist/cli.js missing: run `npm run build` (npm test does it first)');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/soak/run.ts'), '--smoke', '--no-save'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d; });
  child.stderr.on('data', (d: Buffer) => { stderr += d; });
  const guard = setTimeout(() => child.kill('SIGTERM'), 70_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearTimeout(guard);
  const why = `exit ${code}\nstdout:\n${stdout}\nstderr:\n${stderr}`;
  assert.equal(code, 0, why);
  assert.match(stdout, /^# Soak: 0\.33 min \(smoke\)/m, why);
  assert.match(stdout, /^- load 0\.1 of capacity/m, why); // the plan states its rates
  assert.match(stdout, /^t s\s+RSS MB\s+heap MB\s+lag p99/m, why); // the samples
  // The accounting held: each check printed as ok (growth and trends are not judged in 20 s).
  for (const check of ['GUN puts acked ok', 'GUN puts seen by every subscriber', 'GUN late joiners find every acked value',
    'every publication reached every member \\(publish delivery\\)', 'every request answered', 'every job done exactly once',
    'churning members admitted and greeted', 'bad inputs get their documented answers']) {
    assert.match(stdout, new RegExp(`^ok {4}${check}: `, 'm'), why);
  }
  assert.match(stdout, /^soak: PASS$/m, why);
});
