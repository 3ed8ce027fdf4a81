// Debian's Chromium (/usr/bin/chromium), headless, through playwright-core: one launcher for the
// browser tests. `npm test` installs Chromium first (scripts/ensure-chromium.sh); when it is missing
// the test FAILS, naming that script, rather than skipping.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const ENSURE = 'scripts/ensure-chromium.sh';
const LAUNCH_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
  // The SDK test hands Chromium its page through request routing, at the relay's own origin; such
  // a page has no address of its own, and Local Network Access would then block its requests to
  // 127.0.0.1 as a public page's (a page really served by a local relay is not affected).
  '--disable-features=LocalNetworkAccessChecks',
];

/** Launch Chromium, or fail with a message that says how to get it. Closed in t.after. */
export async function launch(t: TestContext): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    assert.fail(`${CHROMIUM} is missing, so the browser test cannot run. Install Debian's chromium package: ` +
      `run \`bash ${ENSURE}\` as root (npm test runs it first), or \`apt-get install chromium\`.`);
  }
  let browser: Browser;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS, timeout: 20_000 });
  } catch (err) {
    assert.fail(`could not start ${CHROMIUM} headless through playwright-core (re-install with \`bash ${ENSURE}\` ` +
      `as root after removing a broken install): ${(err as Error).message}`);
  }
  t.after(async () => {
    // close() ends the Chromium process; do not let a wedged browser hang the run.
    await Promise.race([browser.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000).unref())]);
  });
  return browser;
}
