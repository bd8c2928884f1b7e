#!/usr/bin/env bash
# Runs the browser end-to-end tests inside a loopback-only network namespace.
#
# Builds nothing: `make test` (or `make build`) builds dist/ and target/release/hush-signaling
# first, and scripts/install-tools.sh installs Chromium and e2e/node_modules. Inside the
# namespace there is no network but 127.0.0.1, so every ICE candidate is loopback and no test
# traffic can leave the machine.
#
# Usage: e2e/run.sh [node --test options] [test files]   (default: e2e/tests/*.test.mjs)
#        e.g. e2e/run.sh --test-name-pattern latency e2e/tests/chat.test.mjs
#        e2e/run.sh --bench FILE.mjs...   run benchmark scripts one after another (plain node)
# Env:   E2E_TIMEOUT  hard limit for the whole run in seconds (default 1800, 3600 for --bench;
#                     SIGKILL after it)
#        E2E_NO_NETNS=1  run without the namespace (only where unshare is impossible)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
MODE=test
if [ "${1:-}" = --bench ]; then
  MODE=bench
  shift
fi
if [ "$MODE" = bench ]; then TIMEOUT="${E2E_TIMEOUT:-3600}"; else TIMEOUT="${E2E_TIMEOUT:-1800}"; fi

fail() { printf 'e2e/run.sh: %s\n' "$*" >&2; exit 1; }
[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium missing: run scripts/install-tools.sh"
[ -d e2e/node_modules/playwright-core ] || fail "e2e/node_modules missing: run scripts/install-tools.sh"
[ -x target/release/hush-signaling ] || fail "target/release/hush-signaling missing: run 'make build'"
[ -f dist/index.html ] || fail "dist/index.html missing: run 'make build'"

# node wants its options before the files: split them (an option's value is the next argument
# unless that is another option or a .mjs file), and default to every test file.
opts=()
files=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --*=*) opts+=("$1") ;;
    --*)
      opts+=("$1")
      if [ "$#" -gt 1 ] && [[ "$2" != --* && "$2" != *.mjs ]]; then opts+=("$2"); shift; fi
      ;;
    *) files+=("$1") ;;
  esac
  shift
done
if [ "${#files[@]}" -eq 0 ]; then
  [ "$MODE" = test ] || fail "--bench needs benchmark files"
  files=(e2e/tests/*.test.mjs)
fi
[ "$MODE" = test ] || [ "${#opts[@]}" -eq 0 ] || fail "--bench takes only files"
set -- "${opts[@]}" "${files[@]}"
mkdir -p e2e/results

# Firefox gathers no ICE candidates on loopback alone: the Firefox tests (e2e/firefox/) get a
# veth pair with test addresses and a default route into it, inside the namespace only, so
# every candidate is still an address of this namespace. The other tests keep loopback alone.
veth=''
case " ${files[*]}" in
  *" e2e/firefox/"*)
    veth='ip link add v0 type veth peer name v1 &&
ip addr add 10.77.0.1/24 dev v0 && ip addr add 10.77.0.2/24 dev v1 &&
ip link set v0 up && ip link set v1 up && ip route add default dev v0 ||
{ echo "e2e: cannot make the test veth pair" >&2; exit 1; }'
    ;;
esac

# The test command, run by sh inside the namespace. `timeout -s KILL`: a node process awaiting
# a hung promise ignores SIGTERM. Multicast on lo + its route: the webrtc crate's mDNS socket
# needs them (native peers); harmless for browsers.
if [ "$MODE" = bench ]; then
  export E2E_RUN='for f in "$@"; do echo "== bench $f"; node "$f" || exit 1; done'
else
  export E2E_RUN='exec node --test --test-concurrency=1 "$@"'
fi
inner='ip link set lo up
ulimit -n 65536 2>/dev/null || true
ip link set lo multicast on 2>/dev/null || true
ip route add 224.0.0.0/4 dev lo 2>/dev/null || true
'"$veth"'
exec timeout -s KILL "$0" sh -c "$E2E_RUN" sh "$@"'

if [ "${E2E_NO_NETNS:-}" = 1 ]; then
  echo "e2e: running WITHOUT a network namespace (E2E_NO_NETNS=1)"
  exec timeout -s KILL "$TIMEOUT" sh -c "$E2E_RUN" sh "$@"
fi

# A new PID namespace too (--pid --fork --mount-proc): when the run ends, or is killed by the
# timeout, the kernel kills every process left in it (helpers, Chromium), so nothing leaks.
if [ "$(id -u)" -eq 0 ]; then
  unshare_cmd=(unshare --net --pid --fork --mount-proc)
else
  # Unprivileged: a user namespace maps us to root inside it.
  unshare_cmd=(unshare --map-root-user --net --pid --fork --mount-proc)
fi
"${unshare_cmd[@]}" true 2>/dev/null ||
  fail "cannot create a network namespace with '${unshare_cmd[*]}' (set E2E_NO_NETNS=1 to run without)"

echo "e2e ($MODE): ${#files[@]} file(s), loopback-only network namespace, hard limit ${TIMEOUT}s"
exec "${unshare_cmd[@]}" sh -c "$inner" "$TIMEOUT" "$@"
