#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium for the browser test (test/browser.test.ts),
# which drives it headless through playwright-core. `npm test` runs this first (package.json
# "pretest").
#
# - /usr/bin/chromium present: nothing to do.
# - missing, running as root with apt-get: `apt-get update` then
#   `DEBIAN_FRONTEND=noninteractive apt-get install -y chromium`.
# - missing otherwise (not root, no apt-get, install failed): print a note and exit 0, so the other
#   tests still run; the browser test then fails with a message naming this script.
#
# For checking this script itself:
#   CHROMIUM_BIN=/some/missing/path   look for Chromium there instead of /usr/bin/chromium
#   ENSURE_CHROMIUM_DRY_RUN=1         print the commands instead of running them
set -u

CHROMIUM_BIN="${CHROMIUM_BIN:-/usr/bin/chromium}"
DRY_RUN="${ENSURE_CHROMIUM_DRY_RUN:-}"

note() { printf 'ensure-chromium: %s\n' "$*" >&2; }

run() {
  if [ -n "$DRY_RUN" ]; then
    printf 'ensure-chromium: would run: %s\n' "$*"
    return 0
  fi
  "$@"
}

if [ -x "$CHROMIUM_BIN" ]; then
  exit 0
fi

note "$CHROMIUM_BIN is missing; the browser test (test/browser.test.ts) needs Debian's chromium package."

if [ "$(id -u)" != "0" ]; then
  note "not running as root, so not installing it. Install it with:"
  note "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium"
  note "or run: sudo bash scripts/ensure-chromium.sh"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  note "apt-get is not available (not a Debian/Ubuntu system?); install Chromium at $CHROMIUM_BIN by hand."
  exit 0
fi

note "installing chromium with apt-get (this can take a few minutes) ..."
if run apt-get update && run env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; then
  if [ -n "$DRY_RUN" ] || [ -x "$CHROMIUM_BIN" ]; then
    note "chromium installed${DRY_RUN:+ (dry run)}."
  else
    note "apt-get finished but $CHROMIUM_BIN is still missing; the browser test will fail."
  fi
else
  note "installing chromium failed (exit $?); the browser test will fail. Retry: bash scripts/ensure-chromium.sh"
fi
exit 0
