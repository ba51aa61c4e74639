#!/usr/bin/env bash
# Runs every unit test binary and every end-to-end script, for each build variant, and prints
# one closing line "N passed, N failed". Each test prints "PASS name" / "FAIL name" lines; a test
# program that exits non-zero without printing a FAIL line counts as one failure.
# The engine's offloads are on in the release run and off (TNGWG_OFFLOAD=0) in the asan run, so
# the suite passes both ways (wg_offload covers both modes in each run); a TNGWG_OFFLOAD set in
# the environment holds for every variant. With --fuzz-seconds N, every libFuzzer harness
# (build/fuzz/fuzz_*, make VARIANT=fuzz fuzz-bins) also runs N seconds on its committed corpus
# (group "fuzz", --jobs at a time: each harness is one process on one core; a crash is a FAIL
# naming its file).
# End-to-end scripts run --jobs at a time (default 1): each lives in namespaces, files and names of
# its own. A script with the line "# run alone" (one that loads the machine) runs with no other.
#   tests/run.sh [--variants "release asan"] [--only unit|e2e|fuzz] [--filter REGEX]
#                [--fuzz-seconds N] [--jobs N]
set -uo pipefail
cd "$(dirname "$0")/.."
variants="release"
only=""
filter="."
fuzz_seconds=0
jobs=1
while [ $# -gt 0 ]; do
  case "$1" in
    --variants) variants="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --filter) filter="$2"; shift 2 ;;
    --fuzz-seconds) fuzz_seconds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ] && [ "$only" != unit ] && [ "$only" != fuzz ]; then
  echo "run.sh: the end-to-end tests need root (network namespaces, nftables, TUN)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

passed=0
failed=0
failed_names=()
logdir=$(mktemp -d /tmp/tngwg-tests.XXXXXX)
declare -A running_label=() running_variant=() running_start=() # empty, not unset: set -u

log_of() { echo "$logdir/${1}-${2//\//_}.log"; } # variant label

start_one() { # variant label command...: runs it in the background
  local variant=$1 label=$2; shift 2
  TNGWG_BUILD="build/$variant" "$@" >"$(log_of "$variant" "$label")" 2>&1 &
  running_label[$!]=$label
  running_variant[$!]=$variant
  running_start[$!]=$SECONDS
}

# Waits for one running test (any, or the one given) and reports it.
finish_one() {
  local pid rc
  if [ $# -gt 0 ]; then
    pid=$1
    wait "$pid"
  else
    wait -n -p pid "${!running_label[@]}"
  fi
  rc=$?
  local variant=${running_variant[$pid]} label=${running_label[$pid]} start=${running_start[$pid]}
  unset "running_label[$pid]" "running_variant[$pid]" "running_start[$pid]"
  local log p f
  log=$(log_of "$variant" "$label")
  p=$(grep -c '^PASS ' "$log")
  f=$(grep -c '^FAIL ' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
    echo "FAIL $label (exit $rc)" >>"$log"
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  printf '%-8s %-40s %3d passed %3d failed %4ds\n' "$variant" "$label" "$p" "$f" $((SECONDS - start))
  if [ "$f" -ne 0 ]; then
    failed_names+=("$variant $label")
    sed 's/^/    | /' "$log" | tail -n 60
  fi
}

finish_all() {
  while [ ${#running_label[@]} -gt 0 ]; do
    finish_one
  done
}

run_one() { # variant label command...: runs it alone, in the foreground
  finish_all
  start_one "$@"
  finish_one $!
}

# Keeps at most $jobs running.
run_among() { # variant label command...
  while [ ${#running_label[@]} -ge "$jobs" ]; do
    finish_one
  done
  start_one "$@"
}

# A script marked "# run alone" waits for all and runs by itself.
run_e2e() { # variant label script
  if grep -qx '# run alone' "$3"; then
    run_one "$1" "$2" bash "$3"
  else
    run_among "$1" "$2" bash "$3"
  fi
}

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
offload_override=${TNGWG_OFFLOAD-}
for variant in $variants; do
  [ "$only" = fuzz ] && break
  if [ -n "$offload_override" ]; then
    export TNGWG_OFFLOAD=$offload_override
  elif [ "$variant" = asan ]; then
    export TNGWG_OFFLOAD=0
  else
    unset TNGWG_OFFLOAD
  fi
  echo "$variant: engine offloads $([ "${TNGWG_OFFLOAD:-1}" = 0 ] && echo off || echo on)"
  if [ "$only" != e2e ]; then
    for t in build/"$variant"/tests/test_*; do
      [ -x "$t" ] || continue
      name=$(basename "$t")
      [[ "$name" =~ $filter ]] || continue
      run_one "$variant" "unit/$name" "$t"
    done
  fi
  if [ "$only" != unit ]; then
    for t in tests/e2e/*.sh; do
      [ -f "$t" ] || continue
      name=$(basename "$t" .sh)
      [[ "$name" =~ $filter ]] || continue
      run_e2e "$variant" "e2e/$name" "$t"
    done
  fi
  finish_all # the next variant sets its own environment
done

if [ "$fuzz_seconds" -gt 0 ] && { [ -z "$only" ] || [ "$only" = fuzz ]; }; then
  for t in fuzz/fuzz_*.c; do
    name=$(basename "$t" .c)
    name=${name#fuzz_}
    [[ "fuzz_$name" =~ $filter ]] || continue
    run_among fuzz "fuzz/$name" fuzz/run.sh --ci --seconds "$fuzz_seconds" "$name"
  done
  finish_all
fi

# The failed checks again (with the lines their tests printed just before) at the end, where a
# CI log's tail shows them.
for name in "${failed_names[@]}"; do
  echo "failed: $name"
  grep -v '^PASS ' "$(log_of $name)" | grep -B 4 '^FAIL ' | head -n 15 | cut -c 1-200 | sed 's/^/    /'
done
echo "logs: $logdir"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
