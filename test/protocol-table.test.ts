// The one error table (src/protocol/errors.ts) against what the code and the docs say (issue 10
// §5): docs/protocol.md §7 is generated from it and must be up to date, and every error code or
// close code written as a literal anywhere in src/ must be in it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { CLOSE_CODES, ERRORS, isKnownErrorCode } from '../src/protocol/errors.ts';
import { DOC, PLAIN_CLOSES, REGENERATE, ROOT, withTables } from '../scripts/protocol-tables.ts';

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...await sources(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Where src/ hands a code to a client: the error helpers and refusal objects. */
const CODE_SITES = [
  // errorBody('x', …), errorMessage('x', …), sendError(res, 'x', …), refuseUpgrade(socket, 'x', …),
  // hub.sendError(member, 'x', …), fail('x', …), answerError('x', …), new MultisocketError('x', …)
  /\b(?:errorBody|errorMessage|sendError|refuseUpgrade|fail|answerError|MultisocketError)\(\s*(?:[\w.]+,\s*)?'([^']*)'/g,
  // refusal objects: { code: 'x', … } (AccessRefusal, LimitRefusal, reply errors)
  /\bcode:\s*'([^']*)'/g,
];

/** Literal codes that are not sent to clients, with why. */
const NOT_SENT: Record<string, string[]> = {
  // GUN relay's own outcomes of a put; the doors answer them as bad_message.
  'src/gun/relay.ts': ['invalid', 'refused'],
  // A RoomStreams call that the engine did not answer in time: between a node and its engine;
  // the server will answer its clients with codes of the table when the seam is wired in.
  'src/cluster/stream-replay.ts': ['ERR_ROOM_STREAM_TIMEOUT'],
  // The ClusterBus's answer when the engine is away or hung: between a node and its engine (the
  // hub falls back to local delivery on ERR_BUS_DOWN; see docs/cluster.md).
  'src/cluster/cluster-bus.ts': ['ERR_BUS_DOWN', 'ERR_BUS_TIMEOUT'],
  // A GraphLog call the engine did not answer in time, or a put/snapshot too big for it: between
  // a node and its engine; a GUN put it refuses is answered with an err ack.
  'src/cluster/graph-log.ts': ['ERR_GRAPH_LOG_TIMEOUT', 'ERR_GRAPH_LOG_TOO_BIG'],
  // A JobQueue call the engine did not answer in time: between a node and its engine; the hub
  // answers the push with broker_unavailable.
  'src/cluster/job-queue.ts': ['ERR_JOB_QUEUE_TIMEOUT'],
};

test(`docs/protocol.md §7 is generated from src/protocol/errors.ts (run \`${REGENERATE}\` after changing the table)`, async () => {
  const doc = await readFile(DOC, 'utf8');
  const expected = withTables(doc);
  if (expected !== doc) {
    assert.fail(`docs/protocol.md §7 is out of date with src/protocol/errors.ts: run \`${REGENERATE}\` and commit docs/protocol.md`);
  }
  for (const code of Object.keys(ERRORS)) assert.ok(doc.includes(`| \`${code}\` |`), `${code} is in the doc`);
});

test('every error code written in src/ (errorBody, errorMessage, refusals, SDK errors) is in the table', async () => {
  const missing: string[] = [];
  let seen = 0;
  for (const file of await sources(path.join(ROOT, 'src'))) {
    const rel = path.relative(ROOT, file).split(path.sep).join('/');
    const text = await readFile(file, 'utf8');
    for (const site of CODE_SITES) {
      for (const m of text.matchAll(site)) {
        seen++;
        const code = m[1];
        if (isKnownErrorCode(code) || NOT_SENT[rel]?.includes(code)) continue;
        const line = text.slice(0, m.index).split('\n').length;
        missing.push(`${rel}:${line} '${code}'`);
      }
    }
  }
  assert.ok(seen > 50, `the grep found only ${seen} code sites: did the helpers get renamed?`);
  assert.deepEqual(missing, [], 'codes used in src/ but missing from ERRORS in src/protocol/errors.ts (add them there, then run `' + REGENERATE + '`)');
});

test('close codes: one table; each has an error code or a documented meaning, and src/ closes only with its codes', async () => {
  const closes = new Set<number>(Object.values(CLOSE_CODES));
  for (const [code, spec] of Object.entries(ERRORS) as Array<[string, { close?: number }]>) {
    if (spec.close !== undefined) assert.ok(closes.has(spec.close), `${code}'s close ${spec.close} is in CLOSE_CODES`);
  }
  for (const close of closes) {
    const named = Object.values(ERRORS).some((spec) => (spec as { close?: number }).close === close);
    assert.ok(named || PLAIN_CLOSES[close], `close code ${close} needs an error code in ERRORS or a meaning in PLAIN_CLOSES (scripts/protocol-tables.ts)`);
  }
  const stray: string[] = [];
  for (const file of await sources(path.join(ROOT, 'src'))) {
    const text = await readFile(file, 'utf8');
    for (const m of text.matchAll(/\.close\(\s*(\d{4})\b/g)) {
      if (!closes.has(Number(m[1]))) stray.push(`${path.relative(ROOT, file)}: close(${m[1]})`);
    }
  }
  assert.deepEqual(stray, [], 'close codes used in src/ but missing from CLOSE_CODES');
});
