// Bundles the SDK (src/client/index.ts) as one ES module for browsers, served by the server at
// /_/client.js with its source map at /_/client.js.map (src/server/client-bundle.ts).
// `ws`, `eventsource`, node:net and node:tls stay external: the SDK imports them dynamically, and only in Node.
// Run by `npm run build` after tsc; `node scripts/build-client.mjs` alone rebuilds just the bundle.
import { build } from 'esbuild';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outfile = path.join(root, 'dist/client.bundle.js');

const result = await build({
  absWorkingDir: root,
  entryPoints: ['src/client/index.ts'],
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2020',
  external: ['ws', 'eventsource', 'node:net', 'node:tls'],
  outfile,
  sourcemap: 'external',
  sourcesContent: true,
  legalComments: 'none',
  logLevel: 'warning',
  write: false,
});

let js = '';
let map = '';
for (const file of result.outputFiles) {
  if (file.path.endsWith('.map')) map = file.text;
  else js = file.text;
}
if (!js || !map) throw new Error('esbuild produced no bundle or no source map');
// Relative to where the server serves the bundle (/_/client.js), so it resolves to
// /_/client.js.map also behind a proxy that mounts the server under a prefix.
js = js.replace(/\n\/\/# sourceMappingURL=.*\n?$/, '\n') + '//# sourceMappingURL=client.js.map\n';
await mkdir(path.dirname(outfile), { recursive: true });
await writeFile(outfile, js);
await writeFile(outfile + '.map', map);
