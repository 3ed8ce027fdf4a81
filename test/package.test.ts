// Installing multisocket from git or a folder (issue 10 §6): `npm pack` of a fresh copy of the
// sources runs the `prepare` script, which builds dist/ (tsc and the SDK bundle), and the package
// it makes works where it is installed: `multisocket/client` exports `connect`, and the server
// started from it serves /_/client.js.
// Offline: the tarball is unpacked into node_modules by hand and its two dependencies are linked
// from this repository's node_modules, so no registry is asked (npm's cache holds no metadata).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { lines, ROOT } from './helpers/server.ts';

const run = promisify(execFile);

/** The files git would commit (tracked and untracked, not ignored): a fresh clone of the tree. */
async function sourceFiles(): Promise<string[]> {
  const { stdout } = await run('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: ROOT, maxBuffer: 16 << 20 });
  return stdout.split('\0').filter((f) => f !== '');
}

test('npm pack of a clean copy builds dist/ through "prepare"; the installed package works', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'multisocket-pack-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const src = path.join(dir, 'src');
  for (const f of await sourceFiles()) {
    await mkdir(path.dirname(path.join(src, f)), { recursive: true });
    await cp(path.join(ROOT, f), path.join(src, f));
  }
  await symlink(path.join(ROOT, 'node_modules'), path.join(src, 'node_modules'), 'dir');

  const packed = await run('npm', ['pack', '--offline', '--json', '--pack-destination', dir], { cwd: src, maxBuffer: 16 << 20, timeout: 120_000 });
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = info.files.map((f) => f.path);
  for (const f of ['dist/index.js', 'dist/cli.js', 'dist/client/index.js', 'dist/client/index.d.ts', 'dist/client.bundle.js', 'dist/client.bundle.js.map', 'dist/dashboard/index.html', 'dist/dashboard/app.js', 'dist/dashboard/app.css']) {
    assert.ok(files.includes(f), `the package holds ${f} (built by prepare)`);
  }
  assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/')), 'only dist/, docs and the config template are published');

  const project = path.join(dir, 'project');
  const modules = path.join(project, 'node_modules');
  await mkdir(modules, { recursive: true });
  await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'uses-multisocket', version: '1.0.0', type: 'module' }));
  await run('tar', ['xzf', path.join(dir, info.filename), '-C', modules]);
  await rename(path.join(modules, 'package'), path.join(modules, 'multisocket'));
  // prom-client's and pino's own dependencies resolve from their real paths (the repository's node_modules).
  for (const dep of ['ws', 'jose', 'prom-client', 'pino']) await symlink(path.join(ROOT, 'node_modules', dep), path.join(modules, dep), 'dir');
  assert.ok((await readdir(path.join(modules, 'multisocket/dist'))).includes('client.bundle.js'));

  const probe = await run(process.execPath, ['-e', "Promise.all([import('multisocket/client'), import('multisocket')]).then(([c, s]) => console.log(typeof c.connect, typeof s.MultisocketServer))"], { cwd: project });
  assert.equal(probe.stdout.trim(), 'function function');

  // The server as installed finds its bundle next to its own dist/.
  const proc = spawn(process.execPath, [path.join(modules, 'multisocket/dist/cli.js'), '--host', '127.0.0.1', '--port', '0'], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => { proc.kill('SIGKILL'); });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the installed server did not start')), 10_000);
    lines(proc.stdout!, (line) => {
      try {
        const rec = JSON.parse(line) as { msg?: string; port?: number };
        if (rec.msg === 'listening' && typeof rec.port === 'number') { clearTimeout(timer); resolve(rec.port); }
      } catch { /* not JSON */ }
    });
    proc.once('exit', (c) => { clearTimeout(timer); reject(new Error(`the installed server exited with ${c}`)); });
  });
  const bundle = await fetch(`http://127.0.0.1:${port}/_/client.js`);
  assert.equal(bundle.status, 200);
  assert.match(await bundle.text(), /\bconnect\b/);
});
