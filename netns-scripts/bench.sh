#!/usr/bin/env bash
# The data-path benchmark: one run, in interleaved rounds (so drift of a shared machine hits every
# setup alike), of four setups between two network namespaces:
#   veth       the bare veth link, no tunnel
#   go         wireguard-go on both ends (the reference userspace WireGuard)
#   userspace  tng-wg's engine on both ends (`tng-wg userspace`, configured with `wg`)
#   up         tng-wg's node daemon on both ends (`tng-wg up`: steering marks, attested handshake
#              with the stand-in AA and AS; the two nodes meet on a bridge, not a veth pair)
# For each: iperf3 TCP with 1 and 4 streams, iperf3 UDP at each offered rate (received rate and
# loss), round-trip times p50/p99 (ICMP ping; a UDP echo on a steered port for `up`, whose ICMP
# is not steered; idle, then with every core kept busy by a nice-19 loop), CPU seconds per GB
# moved on each side (the daemon alone, and every process of the namespace with iperf3 and the
# kernel work done in their time), and the daemons' peak RSS.
# It prints a table of medians with the ratios userspace/go, userspace/veth and up/go, and writes
# the same as JSON. Then the control plane, in its own section: netns-scripts/bench-control.sh
# (attested handshakes per second, a mesh's time to connect, memory per peer), whose figures join
# the same JSON under "control". It measures; it asserts nothing.
#   netns-scripts/bench.sh
# Settings: BENCH_SECONDS (5) per iperf3 run, BENCH_ROUNDS (3), BENCH_UDP_RATES ("500M 1G 2G 4G"),
# BENCH_SETUPS ("veth go userspace up"), BENCH_JSON (build/bench.json), TNGWG_OFFLOAD (0 = engine
# without offloads), BENCH_CONTROL (0 = no control-plane section; its own settings are in
# bench-control.sh).
source "$(dirname "$0")/../tests/lib/common.sh"
source "$ROOT_DIR/netns-scripts/wg-pair.sh"
source "$ROOT_DIR/netns-scripts/mesh.sh"
require_root
require_cmd iperf3 wireguard-go wg ss jq ping socat /usr/bin/python3
[ -x "$TNGWG" ] || { echo "bench: $TNGWG missing; run make" >&2; exit 1; }
BENCH_SECONDS=${BENCH_SECONDS:-5}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_UDP_RATES=${BENCH_UDP_RATES:-"500M 1G 2G 4G"}
BENCH_SETUPS=${BENCH_SETUPS:-"veth go userspace up"}
BENCH_JSON=${BENCH_JSON:-$ROOT_DIR/build/bench.json}
BENCH_PORT=5201
BENCH_ECHO_PORT=5202
UDP_PAYLOAD=1300 # one datagram fits the 1420-byte tunnel MTU
RESULTS="$T_TMP/results"
: >"$RESULTS"
on_cleanup mesh_destroy

# ---- the setups: each defines the client and server sides, the address, and the daemons ----

SETUP=
BENCH_DST=
side_exec() { # cli|srv CMD...
	local side=$1; shift
	if [ "$SETUP" = up ]; then
		mesh_node_exec "$([ "$side" = cli ] && echo 1 || echo 2)" "$@"
	else
		ip netns exec "${PAIR_NS[$([ "$side" = cli ] && echo a || echo b)]}" "$@"
	fi
}
side_ns() { # the namespace of a side
	if [ "$SETUP" = up ]; then mesh_ns "$([ "$1" = cli ] && echo 1 || echo 2)"; else echo "${PAIR_NS[$([ "$1" = cli ] && echo a || echo b)]}"; fi
}
side_daemon() { # the tunnel daemon's PID on a side, nothing for veth
	case "$SETUP" in
	veth) ;;
	up) mesh_node_daemons "$([ "$1" = cli ] && echo 1 || echo 2)" | head -n 1 ;;
	*) pair_daemon_pid "$([ "$1" = cli ] && echo a || echo b)" ;;
	esac
}

# A node config steering the benchmark's ports, both ways attested through the stand-ins.
write_up_config() {
	jq -n --argjson ports "[$BENCH_PORT, $BENCH_ECHO_PORT]" '
		def entry: { netfilter: { capture_dst: [$ports[] | { port: . }] },
			     attest: { aa_addr: "unix:///unused" },
			     verify: { as_addr: "http://unused", policy_ids: ["default"] } };
		{ add_ingress: [entry], add_egress: [entry] }' >"$T_TMP/up.json"
}

up_tunnel_ready() { mesh_peer_is 1 2 up && mesh_peer_is 2 1 up; }

setup() {
	SETUP=$1
	case "$SETUP" in
	veth) pair_new none none >/dev/null 2>&1 && BENCH_DST=${PAIR_OUTER4[b]} ;;
	go) pair_new go go >/dev/null 2>&1 && BENCH_DST=${PAIR_INNER4[b]} ;;
	userspace) pair_new tng tng >/dev/null 2>&1 && BENCH_DST=${PAIR_INNER4[b]} ;;
	up)
		MESH_PREFIX="${T_PREFIX}m" MESH_DIR="$T_TMP/mesh"
		mesh_create 2 && mesh_start_as && mesh_start 1 "$T_TMP/up.json" && mesh_start 2 "$T_TMP/up.json" ||
			return 1
		BENCH_DST=$(mesh_ip 2)
		;;
	esac || return 1
	side_exec srv iperf3 -s -D -p "$BENCH_PORT" >/dev/null 2>&1 # daemonized: ends with the namespace
	side_exec srv socat -T 5 "UDP4-LISTEN:$BENCH_ECHO_PORT,reuseaddr,fork" EXEC:cat >/dev/null 2>&1 &
	track_pid $!
	wait_for 10 sh -c "ip netns exec '$(side_ns srv)' ss -Hltn | grep -q ':$BENCH_PORT '" || return 1
	if [ "$SETUP" = up ]; then
		# The first connection starts the attested handshake; measure once the tunnel is up.
		side_exec cli timeout 10 bash -c "exec 3<>/dev/tcp/$BENCH_DST/$BENCH_PORT" 2>/dev/null
		wait_for 30 up_tunnel_ready || return 1
	fi
	side_exec cli ping -q -c 1 -W 5 "$BENCH_DST" >/dev/null 2>&1
	return 0
}

teardown() {
	if [ "$SETUP" = up ]; then
		mesh_destroy
	else
		pair_teardown
	fi
	local pid
	for pid in "${T_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	T_PIDS=()
}

# ---- measurements: each appends "setup metric round value" lines ----

record() { echo "$SETUP $1 $ROUND $2" >>"$RESULTS"; }

# CPU ticks (user + system) of the given PIDs, all threads.
cpu_ticks() {
	local pid total=0 t
	for pid in "$@"; do
		t=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null) && total=$((total + t))
	done
	echo "$total"
}

iperf_json() { side_exec cli iperf3 -c "$BENCH_DST" -p "$BENCH_PORT" -t "$BENCH_SECONDS" -J "$@" 2>/dev/null; }

measure_tcp() {
	local dc ds nc ns before after json bytes
	dc=$(side_daemon cli) ds=$(side_daemon srv)
	nc=$(ip netns pids "$(side_ns cli)" | tr '\n' ' ') ns=$(ip netns pids "$(side_ns srv)" | tr '\n' ' ')
	before="$(cpu_ticks $dc) $(cpu_ticks $ds) $(cpu_ticks $nc) $(cpu_ticks $ns)"
	json=$(iperf_json) || return 0
	# The iperf3 client ran (and ended) inside the window: its CPU is counted from its own report.
	after="$(cpu_ticks $dc) $(cpu_ticks $ds) $(cpu_ticks $nc) $(cpu_ticks $ns)"
	bytes=$(jq '.end.sum_received.bytes' <<<"$json")
	record tcp1_gbps "$(jq '.end.sum_received.bits_per_second / 1e9' <<<"$json")"
	local hz client_cpu
	hz=$(getconf CLK_TCK)
	client_cpu=$(jq '(.end.cpu_utilization_percent.host_total / 100) * .end.sum_sent.seconds' <<<"$json")
	/usr/bin/python3 - "$before" "$after" "$bytes" "$hz" "$client_cpu" "$SETUP" "$ROUND" "$dc" >>"$RESULTS" <<'EOF'
import sys
before = list(map(int, sys.argv[1].split())); after = list(map(int, sys.argv[2].split()))
gb = float(sys.argv[3]) / 1e9; hz = float(sys.argv[4]); client = float(sys.argv[5])
setup, rnd, has_daemon = sys.argv[6], sys.argv[7], sys.argv[8] != ""
d = [(a - b) / hz for a, b in zip(after, before)]
if has_daemon:
    print(setup, "daemon_cpu_s_per_gb_sender", rnd, d[0] / gb)
    print(setup, "daemon_cpu_s_per_gb_receiver", rnd, d[1] / gb)
print(setup, "cpu_s_per_gb_sender_side", rnd, (d[2] + client) / gb)
print(setup, "cpu_s_per_gb_receiver_side", rnd, d[3] / gb)
EOF
	json=$(iperf_json -P 4) || return 0
	record tcp4_gbps "$(jq '.end.sum_received.bits_per_second / 1e9' <<<"$json")"
}

measure_udp() {
	local rate json
	for rate in $BENCH_UDP_RATES; do
		# Socket buffers as the daemons have them, so that iperf3's own sockets are not the limit.
		json=$(iperf_json -u -b "$rate" -l "$UDP_PAYLOAD" -w 4M) || continue
		record "udp_${rate}_loss_pct" "$(jq '.end.sum.lost_percent' <<<"$json")"
		record "udp_${rate}_gbps" "$(jq '.end.sum.bits_per_second * (1 - .end.sum.lost_percent / 100) / 1e9' <<<"$json")"
	done
}

# Round trips: 200 ICMP echoes 10 ms apart, or as many UDP echoes through the steered port.
rtt_times() {
	if [ "$SETUP" = up ]; then
		side_exec cli /usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
s.connect((sys.argv[1], int(sys.argv[2])))
for i in range(200):
    t = time.perf_counter(); s.send(b"x" * 56)
    try:
        s.recv(100); print((time.perf_counter() - t) * 1000)
    except socket.timeout:
        pass
    time.sleep(0.01)' "$BENCH_DST" "$BENCH_ECHO_PORT"
	else
		side_exec cli ping -n -c 200 -i 0.01 -W 1 "$BENCH_DST" | sed -n 's/.*time=\([0-9.]*\) ms/\1/p'
	fi
}

record_rtt() { # PREFIX TIMES
	[ -n "$2" ] || return 0
	record "${1}_p50_ms" "$(sort -g <<<"$2" | awk '{ v[NR] = $1 } END { print v[int(NR * 0.5 + 0.5)] }')"
	record "${1}_p99_ms" "$(sort -g <<<"$2" | awk '{ v[NR] = $1 } END { i = int(NR * 0.99 + 0.5); print v[i < 1 ? 1 : i] }')"
}

# Idle, and again with a nice-19 busy loop on every core: a virtual CPU that has gone idle takes
# tens of microseconds to wake, once per hop a round trip sleeps through, and the second figure
# leaves that cost of the machine out.
measure_rtt() {
	record_rtt rtt "$(rtt_times)"
	local hogs=() i
	for ((i = 0; i < $(nproc); i++)); do
		nice -n 19 bash -c 'while :; do :; done' &
		hogs+=($!)
		track_pid $!
	done
	record_rtt rtt_busy "$(rtt_times)"
	kill "${hogs[@]}" 2>/dev/null
	wait "${hogs[@]}" 2>/dev/null
}

measure_rss() {
	local pid kb max=0
	for pid in $(side_daemon cli) $(side_daemon srv); do
		kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
		[ -n "$kb" ] && [ "$kb" -gt "$max" ] && max=$kb
	done
	[ "$max" -gt 0 ] && record peak_rss_mib "$(awk -v k="$max" 'BEGIN { print k / 1024 }')"
}

# ---- the run ----

write_up_config
echo "bench: $BENCH_ROUNDS rounds of: $BENCH_SETUPS; iperf3 ${BENCH_SECONDS} s per run; UDP at $BENCH_UDP_RATES" \
	"(TNGWG_OFFLOAD=${TNGWG_OFFLOAD:-1})" >&2
for ((ROUND = 1; ROUND <= BENCH_ROUNDS; ROUND++)); do
	for s in $BENCH_SETUPS; do
		echo "bench: round $ROUND: $s" >&2
		if setup "$s"; then
			measure_tcp
			measure_udp
			measure_rtt
			measure_rss
		else
			echo "bench: round $ROUND: cannot set up $s" >&2
		fi
		teardown
	done
done

mkdir -p "$(dirname "$BENCH_JSON")"
/usr/bin/python3 - "$RESULTS" "$BENCH_JSON" "$BENCH_SETUPS" "$BENCH_UDP_RATES" <<'EOF'
import json, statistics, sys, platform, os
results, out, setups, rates = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
values = {}
for line in open(results):
    setup, metric, rnd, v = line.split()
    try:
        values.setdefault(setup, {}).setdefault(metric, []).append(float(v))
    except ValueError:
        pass
med = {s: {m: statistics.median(v) for m, v in ms.items()} for s, ms in values.items()}
metrics = ["tcp1_gbps", "tcp4_gbps"]
for r in rates:
    metrics += [f"udp_{r}_gbps", f"udp_{r}_loss_pct"]
metrics += ["rtt_p50_ms", "rtt_p99_ms", "rtt_busy_p50_ms", "rtt_busy_p99_ms", "daemon_cpu_s_per_gb_sender", "daemon_cpu_s_per_gb_receiver",
            "cpu_s_per_gb_sender_side", "cpu_s_per_gb_receiver_side", "peak_rss_mib"]
def ratio(a, b, m):
    x, y = med.get(a, {}).get(m), med.get(b, {}).get(m)
    return x / y if x is not None and y else None
pairs = [("userspace", "go"), ("userspace", "veth"), ("up", "go")]
def fmt(x):
    return "-" if x is None else ("%.3g" % x if abs(x) < 100 else "%.0f" % x)
head = ["metric (median)"] + setups + [f"{a}/{b}" for a, b in pairs]
rows = [[m] + [fmt(med.get(s, {}).get(m)) for s in setups] + [fmt(ratio(a, b, m)) for a, b in pairs] for m in metrics]
width = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
for r in [head] + rows:
    print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, width))))
# The loss of each setup at the lowest offered rate where wireguard-go lost more than half.
go_half = next((r for r in rates if med.get("go", {}).get(f"udp_{r}_loss_pct", 0) > 50), None)
if go_half:
    print(f"UDP at {go_half} (the lowest rate where wireguard-go loses more than half): loss " +
          ", ".join(f"{s} {fmt(med.get(s, {}).get(f'udp_{go_half}_loss_pct'))}%" for s in setups))
doc = {
    "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
    "offload": os.environ.get("TNGWG_OFFLOAD", "1") != "0",
    "setups": setups, "udp_rates": rates,
    "rtt_method": {"up": "udp-echo", "others": "icmp-ping"},
    "median": med, "values": values,
    "ratios": {f"{a}/{b}": {m: ratio(a, b, m) for m in metrics} for a, b in pairs},
    "udp_rate_where_go_loses_half": go_half,
}
json.dump(doc, open(out, "w"), indent=1)
print(f"JSON: {out}")
EOF
if [ "${BENCH_CONTROL:-1}" != 0 ]; then
	echo
	BENCH_JSON=$BENCH_JSON "$ROOT_DIR/netns-scripts/bench-control.sh" || T_FAILED=1
fi
finish
