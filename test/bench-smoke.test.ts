// Smoke test for the benchmark harness (bench/): it starts the real server and the load
// generator, runs one tiny step and prints its table. No speed thresholds: CI machines vary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, CLI } from './helpers/server.js';

test('bench harness runs a smoke step against our server and prints a table', { timeout: 15_000 }, async (t) => {
  if (!fs.existsSync(CLI)) return t.skip('dist/cli.js missing: run `npm run build`');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/run.ts'), 'gun-fanout', '--smoke'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d; });
  child.stderr.on('data', (d: Buffer) => { stderr += d; });
  // The harness kills its own children; this guards against the harness itself hanging.
  const guard = setTimeout(() => child.kill('SIGTERM'), 14_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearTimeout(guard);

  const why = `exit ${code}\nstdout:\n${stdout}\nstderr:\n${stderr}`;
  assert.equal(code, 0, why);
  assert.match(stdout, /== ours: /, why); // the per-target section
  assert.match(stdout, /step\s+puts\/s\s+deliveries\/s/, why); // the table header
  const row = /^300( \*)?\s+300\s+([\d,]+)\s+([\d.]+)%\s+([\d.]+)\s+([\d.]+)/m.exec(stdout); // the measured step (" *" = disturbed)
  assert.ok(row, why);
  assert.ok(Number(row[2].replace(/,/g, '')) > 0, `no deliveries measured\n${why}`);
  assert.match(stdout, /capacity: /, why);
});
