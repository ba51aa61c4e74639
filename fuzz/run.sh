#!/usr/bin/env bash
# Runs the libFuzzer harnesses built by `make VARIANT=fuzz fuzz-bins`.
#   fuzz/run.sh [--seconds N] [--ci] [--merge] [NAME...]
# Each harness fuzzes fuzz/corpus/NAME with fuzz/NAME.dict (when present) for N seconds; what it
# finds goes to build/fuzz/corpus/NAME (a scratch copy under /tmp with --ci), never into the
# committed corpus. --merge instead adds to fuzz/corpus/NAME the inputs of the scratch corpus
# that bring new coverage (-merge=1). Prints "PASS fuzz/NAME ..." or "FAIL fuzz/NAME ..." per harness,
# a crash with the file it left and the command that reproduces it.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=600
ci=0
merge=0
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --ci) ci=1; shift ;;
    --merge) merge=1; shift ;;
    -*) echo "fuzz/run.sh: unknown option $1" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
  esac
done
if [ ${#names[@]} -eq 0 ]; then
  for src in fuzz/fuzz_*.c; do
    n=$(basename "$src" .c)
    names+=("${n#fuzz_}")
  done
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:abort_on_error=0:symbolize=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
scratch_root=build/fuzz/corpus
if [ "$ci" -eq 1 ]; then
  scratch_root=$(mktemp -d /tmp/tngwg-fuzz.XXXXXX)
  trap 'rm -rf "$scratch_root"' EXIT
fi
failed=0
for name in "${names[@]}"; do
  bin=build/fuzz/fuzz_$name
  corpus=fuzz/corpus/$name
  scratch=$scratch_root/$name
  crashes=build/fuzz/crashes/$name
  log=build/fuzz/logs/$name.log
  if [ ! -x "$bin" ]; then
    echo "FAIL fuzz/$name: $bin is missing (make VARIANT=fuzz fuzz-bins)"
    failed=$((failed + 1))
    continue
  fi
  mkdir -p "$corpus" "$scratch" "$crashes" "$(dirname "$log")"
  dict=()
  [ -f "fuzz/$name.dict" ] && dict=(-dict="fuzz/$name.dict")
  if [ "$merge" -eq 1 ]; then
    # Only inputs that add coverage join; the seeds and regress-* inputs stay as they are.
    before=$(ls "$corpus" | wc -l)
    if "$bin" -merge=1 "${dict[@]}" "$corpus" "$scratch" >"$log" 2>&1; then
      echo "PASS fuzz/$name merged: $(( $(ls "$corpus" | wc -l) - before )) inputs added," \
        "$(ls "$corpus" | wc -l) in all, $(du -sk "$corpus" | cut -f1) KiB"
    else
      echo "FAIL fuzz/$name: merge failed, see $log"
      failed=$((failed + 1))
    fi
    continue
  fi
  "$bin" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$crashes/" "${dict[@]}" "$scratch" "$corpus" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
  if [ "$rc" -eq 0 ] && [ -z "$artifact" ]; then
    echo "PASS fuzz/$name ${runs:-?} runs in ${seconds} s (${speed:-?}/s), no crash"
  else
    grep -m 1 -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | sed 's/^/  /'
    echo "FAIL fuzz/$name (exit $rc) crash file ${artifact:-none, see $log}; reproduce: $bin ${artifact:-<crash-file>}"
    failed=$((failed + 1))
  fi
done
[ "$failed" -eq 0 ]
