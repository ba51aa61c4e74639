# Shared helpers for end-to-end tests. Source it first; it sets a cleanup trap that removes every
# namespace, interface, nft table, ip rule and process the test registered, on any exit.
#
#   ns_new NAME            create netns "$T_PREFIX-NAME" and print its full name
#   bg NS CMD...           start CMD in netns NS in the background, register its PID
#   track_pid PID          register a PID started another way
#   on_cleanup "CMD"       run CMD at cleanup (last registered runs first)
#   pass NAME / fail NAME "why"     record a result; check NAME CMD...  runs CMD and records
#   wait_for SECONDS CMD...         poll until CMD succeeds
#   finish                 exit non-zero when anything failed
#   sanitizer_reported FILE...      names the FILEs holding a sanitizer's report; false when none
set -uo pipefail

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT_DIR=$(cd "$TESTS_DIR/.." && pwd)
TNGWG_BUILD=${TNGWG_BUILD:-build/release}
case "$TNGWG_BUILD" in /*) ;; *) TNGWG_BUILD="$ROOT_DIR/$TNGWG_BUILD" ;; esac
TNGWG="$TNGWG_BUILD/tng-wg"
TNGWG_USERSPACE="$TNGWG_BUILD/tng-wg-userspace"
T_PREFIX="tw$$"
T_TMP=$(mktemp -d "/tmp/tngwg-e2e.XXXXXX")
T_FAILED=0
T_PIDS=()
T_CLEANUP=()

require_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "FAIL $(basename "$0"): needs root" ; exit 1
  fi
}

require_cmd() {
  local c
  for c in "$@"; do
    if ! command -v "$c" >/dev/null 2>&1; then
      echo "FAIL $(basename "$0"): needs '$c' (run 'make deps')"
      exit 1
    fi
  done
}

ns_new() {
  local ns="$T_PREFIX-$1"
  ip netns add "$ns" || { echo "FAIL ns_new $ns"; exit 1; }
  ip -n "$ns" link set lo up
  echo "$ns"
}

track_pid() { T_PIDS+=("$1"); }

# What ASan, LSan and UBSan write when they find something, and LSan when it cannot run at all
# ("LeakSanitizer has encountered a fatal error"); tests/unit/test_sanitizers.c proves the ASan
# build writes it.
SANITIZER_REPORT='Sanitizer|runtime error:'
sanitizer_reported() { grep -slE "$SANITIZER_REPORT" "$@" 2>/dev/null; }

bg() {
  local ns=$1; shift
  ip netns exec "$ns" "$@" &
  T_PIDS+=($!)
}

on_cleanup() { T_CLEANUP+=("$1"); }

t_cleanup() {
  local i pid ns
  for ((i = ${#T_CLEANUP[@]} - 1; i >= 0; i--)); do
    eval "${T_CLEANUP[$i]}" >/dev/null 2>&1 || true
  done
  for pid in "${T_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${T_PIDS[@]}"; do
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  # ns_new often runs in a command substitution (a subshell), so find the namespaces by prefix.
  for ns in $(ip netns list 2>/dev/null | awk -v p="$T_PREFIX-" 'index($1, p) == 1 {print $1}'); do
    # Processes we did not register cannot live in our namespaces: they were started by this test.
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$T_TMP"
}
trap t_cleanup EXIT
trap 'exit 130' INT TERM

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1${2:+: $2}"; T_FAILED=1; }

check() {
  local name=$1; shift
  if "$@"; then pass "$name"; else fail "$name" "command failed: $*"; fi
}

wait_for() {
  local secs=$1; shift
  local deadline=$((SECONDS + secs))
  while [ $SECONDS -lt $deadline ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  "$@" >/dev/null 2>&1
}

finish() {
  [ "$T_FAILED" -eq 0 ]
  exit $?
}
