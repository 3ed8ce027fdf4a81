// `--log-format pretty`: pino's JSON line turned into one line a person reads at a terminal,
//   23:01:46.315 INFO  upgrade refused reason=origin_forbidden room=/team/a address=127.0.0.1
// with multi-line values (stacks) indented below it. In-house rather than pino-pretty: pino-pretty
// would add 14 packages (its CLI's among them) for a format only a terminal sees; this is a few lines.

const LABEL: Record<string, string> = { debug: 'DEBUG', info: 'INFO ', warn: 'WARN ', error: 'ERROR' };
const COLOR: Record<string, string> = { debug: '\x1b[90m', info: '\x1b[32m', warn: '\x1b[33m', error: '\x1b[31m' };
const RESET = '\x1b[0m';

/** A pino JSON line (with its newline) as a pretty one; a line that is not JSON passes unchanged. */
export function prettyLine(json: string, color = false): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const { level, time, msg, ...fields } = rec;
  const lvl = String(level);
  const label = LABEL[lvl] ?? lvl.toUpperCase().padEnd(5);
  const clock = typeof time === 'string' ? time.slice(11, 23) : String(time);
  let line = `${clock} ${color && COLOR[lvl] ? COLOR[lvl] + label + RESET : label} ${String(msg ?? '')}`;
  let below = '';
  for (const [key, value] of Object.entries(fields)) {
    if (typeof value === 'string' && value.includes('\n')) below += `\n    ${key}: ${value.replace(/\n/g, '\n    ')}`;
    else line += ` ${key}=${prettyValue(value)}`;
  }
  return line + below + '\n';
}

/** Bare when it reads unambiguously (no space, quote or =), else as JSON. */
function prettyValue(value: unknown): string {
  if (typeof value === 'string') return value !== '' && !/[\s"=]/.test(value) ? value : JSON.stringify(value);
  if (value === undefined) return 'undefined';
  return JSON.stringify(value);
}
