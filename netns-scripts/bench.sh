#!/usr/bin/env bash
# Throughput of one TCP stream (iperf3) between two namespaces: over the bare veth, through
# wireguard-go on both ends, and through tng-wg on both ends, each the median of several runs,
# with the ratios tng-wg/wireguard-go and tng-wg/veth. Measures; asserts nothing.
#   netns-scripts/bench.sh            (BENCH_SECONDS=10 BENCH_RUNS=3 by default)
source "$(dirname "$0")/../tests/lib/common.sh"
source "$ROOT_DIR/netns-scripts/wg-pair.sh"
require_root
require_cmd iperf3 wireguard-go wg ss /usr/bin/python3
[ -x "$TNGWG" ] || { echo "bench: $TNGWG missing; run make" >&2; exit 1; }
BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_RUNS=${BENCH_RUNS:-3}

iperf_ready() { ip netns exec "${PAIR_NS[b]}" ss -Hltn | grep -q ':5201 '; }

# One iperf3 run from a to ADDR; prints the receiver's rate in Gbit/s.
iperf_once() {
	pair_exec a iperf3 -c "$1" -t "$BENCH_SECONDS" -J |
		/usr/bin/python3 -c 'import json, sys; print("%.3f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))'
}

# IMPL_A IMPL_B outer|inner LABEL: prints the median rate over BENCH_RUNS runs, in Gbit/s, to b's
# outer or inner address. Runs in this shell (not in $(...)) so cleanup knows what it created.
measure() {
	pair_new "$1" "$2" ab >/dev/null 2>&1 || { echo "bench: cannot set up $1/$2" >&2; exit 1; }
	local addr=${PAIR_OUTER4[b]}
	[ "$3" = inner ] && addr=${PAIR_INNER4[b]}
	pair_exec b iperf3 -s -D >/dev/null 2>&1 # daemonized: ended with the namespace
	wait_for 10 iperf_ready || { echo "bench: iperf3 server did not start" >&2; exit 1; }
	pair_exec a ping -q -c 1 -W 5 "$addr" >/dev/null 2>&1
	local rates=() i
	for ((i = 0; i < BENCH_RUNS; i++)); do
		rates+=("$(iperf_once "$addr")")
	done
	pair_teardown
	BENCH_RESULT=$(printf '%s\n' "${rates[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	printf '  %-34s %8s\n' "$4" "$BENCH_RESULT"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo "bench: iperf3, 1 TCP stream, ${BENCH_SECONDS} s x ${BENCH_RUNS} runs, median (Gbit/s)"
measure none none outer "veth"
veth=$BENCH_RESULT
measure go go inner "wireguard-go <-> wireguard-go"
go=$BENCH_RESULT
measure tng tng inner "tng-wg <-> tng-wg"
tng=$BENCH_RESULT
printf '  %-34s %8s\n' "ratio tng-wg / wireguard-go" "$(ratio "$tng" "$go")"
printf '  %-34s %8s\n' "ratio tng-wg / veth" "$(ratio "$tng" "$veth")"
