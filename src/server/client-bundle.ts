// GET /_/client.js and /_/client.js.map: the SDK as one ES module, so a page can
// `import { connect } from 'https://relay.example/_/client.js'`. Built by `npm run build`
// (scripts/build-client.mjs) next to this file's dist/ folder; read once, then kept in memory.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import { sendError } from './http-util.js';

interface Asset {
  body: Buffer;
  etag: string;
  type: string;
}

interface Bundle {
  js: Asset;
  map: Asset;
}

/** dist/client.bundle.js seen from dist/server/ (the built server), or from src/server/ (tsx). */
const CANDIDATES = ['../client.bundle.js', '../../dist/client.bundle.js'].map((p) => new URL(p, import.meta.url));

let loading: Promise<Bundle | null> | undefined;

async function load(): Promise<Bundle | null> {
  for (const url of CANDIDATES) {
    try {
      const [js, map] = await Promise.all([readFile(url), readFile(new URL(url.href + '.map'))]);
      return {
        js: asset(js, 'text/javascript; charset=utf-8'),
        map: asset(map, 'application/json; charset=utf-8'),
      };
    } catch { /* try the next place */ }
  }
  return null;
}

function asset(body: Buffer, type: string): Asset {
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/** Answer a GET/HEAD of the bundle (`map`: its source map), with the CORS headers of the origin policy. */
export function serveClientBundle(req: http.IncomingMessage, res: http.ServerResponse, map: boolean, cors: Record<string, string>): Promise<void> {
  loading ??= load();
  return loading.then((bundle) => {
    if (!bundle) {
      return sendError(res, 'not_found', 'the SDK bundle is not built: run `npm run build` (it bundles dist/client.bundle.js with esbuild after tsc), then restart the server', cors);
    }
    const a = map ? bundle.map : bundle.js;
    const headers = {
      'Content-Type': a.type,
      'Cache-Control': 'no-cache',
      ETag: a.etag,
      'X-Content-Type-Options': 'nosniff',
      ...cors,
    };
    if (matches(req.headers['if-none-match'], a.etag)) {
      res.writeHead(304, headers);
      return void res.end();
    }
    res.writeHead(200, { ...headers, 'Content-Length': a.body.length });
    res.end(req.method === 'HEAD' ? undefined : a.body);
  });
}

function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag === etag || tag === `W/${etag}`;
  });
}
