// Writes the table of createServer's options (docs/embedding.md) from src/embed/server-options.ts
// and the CLI's --help text, between `<!-- options:begin -->` and `<!-- options:end -->`, so the
// options, the flags and their descriptions cannot drift apart.
//   npm run docs:tables            rewrite it (with the protocol tables)
//   node --import tsx scripts/options-table.ts --check   exit 1 when it is out of date (test/embedding.test.ts checks too)
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HELP, type Flag } from '../src/config.ts';
import { CLI_ONLY, KIND, OPTION_FLAGS, type OptionName } from '../src/embed/server-options.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DOC = path.join(ROOT, 'docs/embedding.md');
export const BEGIN = '<!-- options:begin -->';
export const END = '<!-- options:end -->';

/** Each flag's argument placeholder and description, as --help prints them. */
export function helpEntries(help = HELP): Map<string, { arg?: string; text: string }> {
  const out = new Map<string, { arg?: string; text: string }>();
  let current: { arg?: string; text: string } | undefined;
  for (const line of help.split('\n')) {
    const flag = /^\s+(?:-\w, )?--([\w-]+)(?: <([^>]+)>)?\s+(.*)$/.exec(line);
    if (flag) {
      current = { ...(flag[2] ? { arg: flag[2] } : {}), text: flag[3]!.trim() };
      out.set(flag[1]!, current);
    } else if (current && /^\s{20,}\S/.test(line)) {
      current.text += ' ' + line.trim();
    } else {
      current = undefined;
    }
  }
  return out;
}

const TYPE: Record<(typeof KIND)[OptionName], string> = { number: 'number', string: 'string', list: 'string[]', boolean: 'boolean', hops: 'number \\| boolean', mode: 'string \\| number' };
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/</g, '&lt;');

export function renderTable(): string {
  const help = helpEntries();
  const rows = (Object.entries(OPTION_FLAGS) as Array<[OptionName, Flag]>).map(([option, flag]) => {
    const entry = help.get(flag);
    if (!entry) throw new Error(`--${flag} (option ${option}) is not in --help`);
    const unit = entry.arg === 'seconds' ? ' (seconds)' : entry.arg === 'ms' ? ' (ms)' : '';
    return `| \`${option}\` | ${TYPE[KIND[option]]}${unit} | \`--${flag}\` | ${cell(entry.text)} |`;
  });
  const cliOnly = (Object.entries(CLI_ONLY) as Array<[Flag, string]>).map(([flag, why]) => `\`--${flag}\` (${why})`);
  return [
    BEGIN,
    '<!-- Generated from src/embed/server-options.ts and the CLI\'s --help by `npm run docs:tables`; edit those, not this. -->',
    '',
    '| option | type | CLI flag | what it does (from `--help`; the environment variables named there are the CLI\'s only) |',
    '|---|---|---|---|',
    ...rows,
    '| `logger` | `Logger` | — | where the server logs; see [Logging](#logging) |',
    '',
    `CLI flags with no option: ${cliOnly.join('; ')}.`,
    END,
  ].join('\n');
}

export function withTable(doc: string): string {
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (begin === -1 || end === -1 || end < begin) throw new Error(`${DOC} needs ${BEGIN} … ${END}`);
  return doc.slice(0, begin) + renderTable() + doc.slice(end + END.length);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const doc = readFileSync(DOC, 'utf8');
  const updated = withTable(doc);
  if (process.argv.includes('--check')) {
    if (updated !== doc) { console.error(`${DOC}: the options table is out of date; run npm run docs:tables`); process.exit(1); }
  } else if (updated !== doc) {
    writeFileSync(DOC, updated);
    console.log(`updated ${path.relative(ROOT, DOC)}`);
  }
}
