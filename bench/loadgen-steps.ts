// What the open-loop GUN-wire load generators share: their stdout protocol with run.ts, GUN-style
// message ids, and the stdin command loop that runs steps one after another.
import readline from 'node:readline';

/** One JSON line to the orchestrator. */
export const out = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');

// GUN clients make random 9-char ids; GUN's relay drops some sequential ones, so we do the same.
const ALPHA = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXZabcdefghijklmnopqrstuvwxyz';
export function rid(): string {
  let s = '';
  for (let i = 0; i < 9; i++) s += ALPHA[(Math.random() * ALPHA.length) | 0];
  return s;
}

export type RunStep = (label: string, rate: number, warmupS: number, measureS: number, drainS: number) => Promise<object>;

/**
 * Reads {"cmd":"step",rate,warmup,measure,drain,label?} and {"cmd":"quit"} lines from stdin and
 * runs them strictly one after another; EOF quits too, so an orphaned generator never lingers.
 */
export function serveSteps(runStep: RunStep, quit: (code: number) => void): void {
  let chain = Promise.resolve();
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    chain = chain.then(async () => {
      const c = JSON.parse(line) as { cmd: string; label?: string; rate: number; warmup: number; measure: number; drain: number };
      if (c.cmd === 'quit') return quit(0);
      if (c.cmd === 'step') out(await runStep(c.label ?? String(c.rate), c.rate, c.warmup, c.measure, c.drain));
    }).catch((err: Error) => { out({ type: 'error', message: err.message }); quit(1); });
  });
  rl.on('close', () => { chain = chain.then(() => quit(0)); });
}
