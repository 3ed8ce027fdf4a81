// Builds the dashboard page (src/admin/dashboard/) into dist/dashboard/: index.html and app.css
// copied, app.ts bundled by esbuild into one app.js. Served by the server at /_/dashboard
// (src/admin/dashboard-routes.ts); nothing is fetched from elsewhere. Run by `npm run build`.
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src/admin/dashboard');
const out = path.join(root, 'dist/dashboard');

await mkdir(out, { recursive: true });
await build({
  absWorkingDir: root,
  entryPoints: [path.join(src, 'app.ts')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2020',
  outfile: path.join(out, 'app.js'),
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
await copyFile(path.join(src, 'index.html'), path.join(out, 'index.html'));
await copyFile(path.join(src, 'app.css'), path.join(out, 'app.css'));
