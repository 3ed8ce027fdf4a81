// Writes the error-code and close-code tables of docs/protocol.md §7 from the one table in
// src/protocol/errors.ts, between `<!-- errors:begin -->` and `<!-- errors:end -->`.
//   npm run docs:tables            rewrite docs/protocol.md
//   npm run docs:tables -- --check exit 1 when it is out of date (test/protocol-table.test.ts does this too)
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLOSE_CODES, ERRORS, type ErrorScope, type ErrorSpec } from '../src/protocol/errors.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DOC = path.join(ROOT, 'docs/protocol.md');
export const BEGIN = '<!-- errors:begin -->';
export const END = '<!-- errors:end -->';
export const REGENERATE = 'npm run docs:tables';

const WHERE: Record<ErrorScope, string> = {
  message: '`error` message (POST: its answer)',
  reply: '`reply` / job outcome',
  door: 'HTTP answer',
  close: 'close reason',
  client: 'SDK only',
};

/** Close codes that end a connection for no error of the table. */
export const PLAIN_CLOSES: Record<number, string> = {
  1000: 'normal close (the other side\'s `close()`)',
  1002: 'WebSocket protocol error (a malformed frame)',
  1003: 'a binary frame on this text protocol',
  1012: 'the server is draining (SIGTERM, `POST /_/drain`): a native member got `{"type":"closed","reason":"restart","retryMs":n}` just before; reconnect after `retryMs`, to another node or URL if there is one (the SDK does)',
  1013: 'the room refused the connection just after the handshake (it filled up or closed meanwhile); the reason is the door\'s code, e.g. `room_full`',
};

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderTables(): string {
  const errors = Object.entries(ERRORS) as Array<[string, ErrorSpec]>;
  const rows = errors.map(([code, spec]) =>
    `| \`${code}\` | ${spec.scope.map((s) => WHERE[s]).join('; ')} | ${spec.status ?? '—'} | ${spec.close ?? '—'} | ${cell(spec.meaning)} |`);
  const closes = (Object.entries(CLOSE_CODES) as Array<[string, number]>)
    .sort((a, b) => a[1] - b[1])
    .map(([name, close]) => {
      const codes = errors.filter(([, spec]) => spec.close === close).map(([code]) => code);
      const meaning = codes.length > 0 ? codes.map((c) => `\`${c}\``).join(', ') : cell(PLAIN_CLOSES[close] ?? '');
      return `| ${close} | \`${name}\` | ${meaning} |`;
    });
  return [
    BEGIN,
    `<!-- Generated from src/protocol/errors.ts by \`${REGENERATE}\`; edit the table there, not here. -->`,
    '',
    'Error codes: `error.code` of an `error` message and of every HTTP error body',
    '(`{"err":"<message>","error":{"code","message"}}`), `reply.error.code`, and the reason of a',
    'WebSocket close. "HTTP status" is the answer\'s status when the code comes as an HTTP answer',
    '(a refused door, an endpoint, an SSE member\'s POST); "close" is the WebSocket close code when',
    'the connection ends for it. The SDK\'s `ErrorCode` type is this list, plus `http_<status>` for',
    'an HTTP refusal whose body it could not read.',
    '',
    '| code | where | HTTP status | close | meaning |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    'WebSocket close codes (an SSE stream just ends; the `error` or `closed` message before it says why):',
    '',
    '| close code | name in `CLOSE_CODES` | error code, or meaning |',
    '|---|---|---|',
    ...closes,
    END,
  ].join('\n');
}

/** The doc with its tables replaced; throws when the markers are missing. */
export function withTables(doc: string): string {
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (begin === -1 || end === -1 || end < begin) throw new Error(`docs/protocol.md needs ${BEGIN} … ${END} markers in §7`);
  return doc.slice(0, begin) + renderTables() + doc.slice(end + END.length);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const doc = readFileSync(DOC, 'utf8');
  const next = withTables(doc);
  if (process.argv.includes('--check')) {
    if (next !== doc) {
      console.error(`docs/protocol.md §7 is out of date with src/protocol/errors.ts; run \`${REGENERATE}\``);
      process.exit(1);
    }
  } else if (next !== doc) {
    writeFileSync(DOC, next);
    console.log('docs/protocol.md: tables rewritten');
  }
}
