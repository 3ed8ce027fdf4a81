#!/usr/bin/env bash
# Makes sure Debian's redis-server and nats-server are installed for the cluster tests (issue 11),
# which start their own private servers (test/helpers/engines.ts). `npm test` runs this first
# (package.json "pretest"), so `.ci/run` and a fresh machine get them too.
#
# - both present: nothing to do, silently.
# - some missing, running as root with apt-get: `apt-get -qq update` then
#   `DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends <the missing ones>`.
# - missing otherwise (not root, no apt-get, install failed): print a note and exit 0, so the other
#   tests still run; the engine tests then fail with a message naming this script.
#
# Only installs: never starts, stops or configures a machine-wide Redis or NATS. (Debian's
# redis-server package may start its own service on 6379; the tests never use it.)
#
# For checking this script itself:
#   REDIS_SERVER_BIN=/some/path   look for redis-server there instead of on PATH, /usr/sbin, /usr/bin
#   NATS_SERVER_BIN=/some/path    likewise for nats-server
#   ENSURE_ENGINES_DRY_RUN=1      print the commands instead of running them
set -u

DRY_RUN="${ENSURE_ENGINES_DRY_RUN:-}"

note() { printf 'ensure-engines: %s\n' "$*" >&2; }

run() {
  if [ -n "$DRY_RUN" ]; then
    printf 'ensure-engines: would run: %s\n' "$*"
    return 0
  fi
  "$@"
}

# present NAME OVERRIDE: is the binary NAME there (at OVERRIDE when set)?
present() {
  if [ -n "$2" ]; then
    [ -x "$2" ]
    return
  fi
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]
}

missing=()
present redis-server "${REDIS_SERVER_BIN:-}" || missing+=(redis-server)
present nats-server "${NATS_SERVER_BIN:-}" || missing+=(nats-server)

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

note "missing: ${missing[*]}; the engine tests (test/engines.test.ts and the cluster tests) need Debian's ${missing[*]} package(s)."

if [ "$(id -u)" != "0" ]; then
  note "not running as root, so not installing. Install with:"
  note "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing[*]}"
  note "or run: sudo bash scripts/ensure-engines.sh"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  note "apt-get is not available (not a Debian/Ubuntu system?); install ${missing[*]} by hand."
  exit 0
fi

note "installing ${missing[*]} with apt-get ..."
if run apt-get -qq update && run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  still=()
  if [ -z "$DRY_RUN" ]; then
    present redis-server "${REDIS_SERVER_BIN:-}" || still+=(redis-server)
    present nats-server "${NATS_SERVER_BIN:-}" || still+=(nats-server)
  fi
  if [ "${#still[@]}" -eq 0 ]; then
    note "${missing[*]} installed${DRY_RUN:+ (dry run)}."
  else
    note "apt-get finished but ${still[*]} is still missing; the engine tests will fail."
  fi
else
  note "installing ${missing[*]} failed (exit $?); the engine tests will fail. Retry: bash scripts/ensure-engines.sh"
fi
exit 0
