#!/usr/bin/env bash
# The control-plane benchmark, in rounds (figures are medians), each setup in network namespaces
# with the stand-in AA per node and the fast stand-in AS (tests/standin/as-fast), nodes running
# `tng-wg up` with the scenario config (two-way attestation):
#   handshakes  one node as responder under tests/tools/hs_load: BENCH_HS_SOURCES initiators on
#               as many addresses, each one handshake at a time and at most 2 a second (the
#               node's per-source limit), at most 56 at once in all (the node takes 64); after a
#               warm-up, for BENCH_HS_SECONDS: attested handshakes completed per second (the
#               node's tngwg_handshakes_total), the node's CPU seconds in that time, handshakes
#               per CPU second of the node, and the CPU of the AA, the AS and the load generator
#   peers       a fresh node: its RSS once up (idle); then BENCH_PEERS initiators complete one
#               handshake each and stay installed: how long that took and the node's CPU in it,
#               its RSS then, and the growth per peer
#   mesh        BENCH_MESH_NODES nodes whose overlay.peers lists them all, their daemons started
#               at once: how long the start-up took (until every `tng-wg up -d` returned), and
#               from then until every node has every other as up (the last tunnel's install in
#               the nodes' logs, once `tng-wg show --json` on every node shows them all up)
# It prints a table with the targets and writes the figures under "control" in BENCH_JSON. It
# measures; it asserts nothing.
#   netns-scripts/bench-control.sh
# Settings: BENCH_ROUNDS (3), BENCH_HS_SECONDS (10), BENCH_HS_SOURCES (600), BENCH_PEERS (1000),
# BENCH_MESH_NODES (16), BENCH_CONTROL_SETUPS ("handshakes peers mesh"), BENCH_JSON (build/bench.json).
source "$(dirname "$0")/../tests/lib/common.sh"
source "$ROOT_DIR/netns-scripts/mesh.sh"
require_root
require_cmd jq curl go ip /usr/bin/python3
[ -x "$TNGWG" ] || { echo "bench-control: $TNGWG missing; run make" >&2; exit 1; }
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_HS_SECONDS=${BENCH_HS_SECONDS:-10}
BENCH_HS_SOURCES=${BENCH_HS_SOURCES:-600}
BENCH_PEERS=${BENCH_PEERS:-1000}
BENCH_MESH_NODES=${BENCH_MESH_NODES:-16}
BENCH_CONTROL_SETUPS=${BENCH_CONTROL_SETUPS:-"handshakes peers mesh"}
BENCH_JSON=${BENCH_JSON:-$ROOT_DIR/build/bench.json}
HS_WARMUP=3
METRICS_PORT=9586
LOAD="$T_TMP/hs_load"
RESULTS="$T_TMP/results"
: >"$RESULTS"
export MESH_AS=fast
on_cleanup mesh_destroy
"$ROOT_DIR/tests/tools/build-c-tool.sh" hs_load "$LOAD" "$TNGWG_BUILD" ||
	{ echo "bench-control: cannot build the load generator" >&2; exit 1; }

record() { echo "$1 $ROUND $2" >>"$RESULTS"; }

# CPU seconds (user + system, all threads) of the given PIDs.
cpu_seconds() {
	local pid total=0 t
	for pid in "$@"; do
		t=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null) && total=$((total + t))
	done
	awk -v t="$total" -v hz="$(getconf CLK_TCK)" 'BEGIN { print t / hz }'
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

now() { date +%s.%N; }

# A value of node K's /metrics: the first series whose name and labels start with PREFIX.
metric() {
	mesh_node_exec "$1" curl -s -m 5 "http://127.0.0.1:$METRICS_PORT/metrics" |
		awk -v p="$2" 'index($0, p) == 1 { print $NF; exit }'
}

# The scenario config, with the metrics endpoint on and the given overlay.peers.
write_config() { # OUT PEERS_JSON
	jq --argjson peers "$2" --argjson port "$METRICS_PORT" '.overlay = { metrics: $port, peers: $peers }' \
		"$ROOT_DIR/netns-scripts/configs/mesh-two-way-ra.json" >"$1"
}

new_mesh() {
	MESH_PREFIX="${T_PREFIX}c" MESH_DIR="$T_TMP/mesh"
	mesh_create "$1"
}

# One node, the AS, and host p1 holding SOURCES addresses from 10.78.0.1, which the node reaches
# through p1, for the load generator.
load_rig() {
	local sources=$1 i
	write_config "$T_TMP/node.json" '[]'
	new_mesh 1 && mesh_add_plain 1 && mesh_start_as && mesh_start 1 "$T_TMP/node.json" || return 1
	ip -n "$(mesh_ns 1)" route add 10.78.0.0/16 via "$(mesh_ip p1)" || return 1
	for ((i = 1; i <= sources; i++)); do
		echo "address add 10.78.$((i / 256)).$((i % 256))/32 dev eth0"
	done | ip -n "$(mesh_ns p1)" -batch -
}

load() { # ARGS...: the load generator in p1 on the rig's addresses, output in $T_TMP/load.out
	mesh_node_exec p1 "$LOAD" --target "$(mesh_ip 1)" --first 10.78.0.1 "$@" >"$T_TMP/load.out" 2>"$T_TMP/load.err"
}

load_pid() {
	local pid
	for pid in $(ip netns pids "$(mesh_ns p1)"); do
		[ "$(readlink "/proc/$pid/exe")" = "$LOAD" ] && echo "$pid"
	done
}

attested_ok() { metric 1 'tngwg_handshakes_total{kind="attested",result="ok"'; }

measure_handshakes() {
	load_rig "$BENCH_HS_SOURCES" || return 1
	local node aa as lp
	node=$(mesh_node_daemons 1) aa=$(mesh_pids_named aa1) as=$(mesh_pids_named as)
	load --count "$BENCH_HS_SOURCES" --inflight 56 --duration $((HS_WARMUP + BENCH_HS_SECONDS + 60)) &
	lp=$!
	sleep "$HS_WARMUP"
	local loadpid m0 t0 c0 m1 t1 c1
	loadpid=$(load_pid)
	m0=$(attested_ok) t0=$(now) c0="$(cpu_seconds $node) $(cpu_seconds $aa) $(cpu_seconds $as) $(cpu_seconds $loadpid)"
	sleep "$BENCH_HS_SECONDS"
	m1=$(attested_ok) t1=$(now) c1="$(cpu_seconds $node) $(cpu_seconds $aa) $(cpu_seconds $as) $(cpu_seconds $loadpid)"
	kill "$loadpid"
	wait "$lp"
	echo "bench-control: load generator: $(tail -n 1 "$T_TMP/load.out")" >&2
	/usr/bin/python3 - "$m0" "$m1" "$t0" "$t1" "$c0" "$c1" "$ROUND" >>"$RESULTS" <<'EOF'
import sys
m0, m1, t0, t1 = map(float, sys.argv[1:5])
c = [b - a for a, b in zip(map(float, sys.argv[5].split()), map(float, sys.argv[6].split()))]
rnd, wall, done = sys.argv[7], t1 - t0, m1 - m0
print("hs_per_s", rnd, done / wall)
print("hs_node_cpu_s_per_s", rnd, c[0] / wall)
if c[0] > 0:
    print("hs_per_node_cpu_s", rnd, done / c[0])
for name, v in zip(["aa", "as", "loadgen"], c[1:]):
    print(f"hs_{name}_cpu_s_per_s", rnd, v / wall)
EOF
}

measure_peers() {
	load_rig "$BENCH_PEERS" || return 1
	local node idle lp up c0 t0 c1 t1
	node=$(mesh_node_daemons 1)
	sleep 2
	idle=$(rss_kib "$node")
	c0=$(cpu_seconds "$node") t0=$(now)
	load --count "$BENCH_PEERS" --once &
	lp=$!
	wait_for 300 grep -q '^installed' "$T_TMP/load.out" &&
		c1=$(cpu_seconds "$node") t1=$(now) &&
		wait_for 30 test "$(metric 1 'tngwg_peers{state="up"}')" = "$BENCH_PEERS" || {
		echo "bench-control: $BENCH_PEERS peers did not come up: $(tail -n 1 "$T_TMP/load.err")" >&2
		kill $(load_pid)
		return 1
	}
	sleep 5 # the joins settle: the handshakes' connections close, the first WireGuard initiations go out
	up=$(rss_kib "$node")
	kill $(load_pid)
	wait "$lp"
	record idle_rss_mib "$(awk -v k="$idle" 'BEGIN { print k / 1024 }')"
	record peers_rss_mib "$(awk -v k="$up" 'BEGIN { print k / 1024 }')"
	record per_peer_kib "$(awk -v a="$idle" -v b="$up" -v n="$BENCH_PEERS" 'BEGIN { print (b - a) / n }')"
	record peers_join_s "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
	record peers_join_node_cpu_s "$(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')"
}

# Node K shows every other node of the mesh as up.
node_full() {
	local n
	n=$(mesh_node_exec "$1" "$TNGWG" show --json tngwg0 2>/dev/null | jq '[.peers[] | select(.state == "up")] | length')
	[ "$n" = $((BENCH_MESH_NODES - 1)) ]
}

mesh_full() {
	local k pids=() ok=0
	for ((k = 1; k <= BENCH_MESH_NODES; k++)); do
		node_full "$k" &
		pids+=($!)
	done
	for k in "${pids[@]}"; do wait "$k" || ok=1; done
	return $ok
}

measure_mesh() {
	local k peers t0 t1 pids=() failed=0
	peers=$(seq 1 "$BENCH_MESH_NODES" | jq -s "map(\"$MESH_SUBNET.\" + tostring)")
	write_config "$T_TMP/mesh.json" "$peers"
	new_mesh "$BENCH_MESH_NODES" && mesh_start_as || return 1
	for ((k = 1; k <= BENCH_MESH_NODES; k++)); do
		mesh_start_aa "$k" || return 1
	done
	t0=$(now)
	for ((k = 1; k <= BENCH_MESH_NODES; k++)); do
		TNGWG_LOG_FORMAT=json mesh_start_node "$k" "$T_TMP/mesh.json" &
		pids+=($!)
	done
	for k in "${pids[@]}"; do wait "$k" || failed=1; done
	t1=$(now)
	[ "$failed" -eq 0 ] || return 1
	wait_for 60 mesh_full || { echo "bench-control: the mesh did not connect fully within 60 s" >&2; return 1; }
	record mesh_startup_s "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
	# The last tunnel installed (a peer's last "attested" event on any node) made the mesh full.
	/usr/bin/python3 - "$t1" "$ROUND" "$MESH_DIR"/node*.log >>"$RESULTS" <<'EOF'
import datetime, json, sys
started, rnd, last = float(sys.argv[1]), sys.argv[2], None
for path in sys.argv[3:]:
    for line in open(path, errors="replace"):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("reason") == "attested" and e.get("state") == "up":
            t = datetime.datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
            last = t if last is None or t > last else last
if last is not None:
    print("mesh_full_after_start_s", rnd, last - started)
EOF
}

# ---- the run ----

echo "bench-control: $BENCH_ROUNDS rounds of: $BENCH_CONTROL_SETUPS; $BENCH_HS_SOURCES initiators for" \
	"${BENCH_HS_SECONDS} s; $BENCH_PEERS peers; a $BENCH_MESH_NODES-node mesh" >&2
for ((ROUND = 1; ROUND <= BENCH_ROUNDS; ROUND++)); do
	for s in $BENCH_CONTROL_SETUPS; do
		echo "bench-control: round $ROUND: $s (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
		"measure_$s" || { echo "bench-control: round $ROUND: $s failed; its logs:" >&2; mesh_logs 5 >&2; }
		mesh_destroy
	done
done

mkdir -p "$(dirname "$BENCH_JSON")"
settings=$(jq -n --argjson rounds "$BENCH_ROUNDS" --argjson hs_seconds "$BENCH_HS_SECONDS" \
	--argjson hs_sources "$BENCH_HS_SOURCES" --argjson peers "$BENCH_PEERS" --argjson mesh_nodes "$BENCH_MESH_NODES" \
	'{$rounds, $hs_seconds, $hs_sources, $peers, $mesh_nodes}')
/usr/bin/python3 - "$RESULTS" "$BENCH_JSON" "$settings" <<'EOF'
import json, os, statistics, sys
results, out, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
peers, nodes = settings["peers"], settings["mesh_nodes"]
values = {}
for line in open(results):
    metric, rnd, v = line.split()
    values.setdefault(metric, []).append(float(v))
med = {m: statistics.median(v) for m, v in values.items()}
# metric, what it is, target (comparison, bound) or None
rows = [
    ("hs_per_s", "attested handshakes/s, one responder", None),
    ("hs_node_cpu_s_per_s", "  node CPU s per s (cores busy)", None),
    ("hs_per_node_cpu_s", "  handshakes per node CPU second", (">=", 1000)),
    ("hs_aa_cpu_s_per_s", "  AA stand-in CPU s per s", None),
    ("hs_as_cpu_s_per_s", "  AS stand-in CPU s per s", None),
    ("hs_loadgen_cpu_s_per_s", "  load generator CPU s per s", None),
    ("mesh_startup_s", f"{nodes}-node mesh: start-up of the daemons, s", None),
    ("mesh_full_after_start_s", f"{nodes}-node mesh: full after start-up, s", ("<=", 3)),
    ("idle_rss_mib", "idle node RSS, MiB", ("<", 16)),
    ("peers_rss_mib", f"node RSS with {peers} peers, MiB", None),
    ("per_peer_kib", "memory per peer, KiB", ("<", 2)),
    ("peers_join_s", f"{peers} peers joining: time, s", None),
    ("peers_join_node_cpu_s", f"{peers} peers joining: node CPU, s", None),
]
def fmt(x):
    return "-" if x is None else ("%.3g" % x if abs(x) < 1000 else "%.0f" % x)
def verdict(m, target):
    if target is None or m not in med:
        return "", ""
    op, bound = target
    ok = {">=": med[m] >= bound, "<=": med[m] <= bound, "<": med[m] < bound}[op]
    return f"{op} {bound}", "yes" if ok else "NO"
table = [("metric (median)", "value", "runs", "target", "met")]
for m, label, target in rows:
    t, ok = verdict(m, target)
    table.append((label, fmt(med.get(m)), str(len(values.get(m, []))), t, ok))
width = [max(len(r[i]) for r in table) for i in range(5)]
for r in table:
    print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, width))))
doc = {}
if os.path.exists(out):
    try:
        doc = json.load(open(out))
    except ValueError:
        doc = {}
doc["control"] = {
    "median": med, "values": values,
    "targets": {m: {"op": t[0], "bound": t[1], "met": verdict(m, t)[1] == "yes"} for m, _, t in rows if t and m in med},
    "settings": settings,
    "load_average_at_end": open("/proc/loadavg").read().split()[:3],
}
json.dump(doc, open(out, "w"), indent=1)
print(f"JSON: {out} (control)")
EOF
finish
