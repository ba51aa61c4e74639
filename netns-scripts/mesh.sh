#!/usr/bin/env bash
# An N-node tng-wg mesh in network namespaces: a hub namespace holds a Linux bridge (10.77.0.254/24)
# and the stand-in Attestation Service on 10.77.0.254:8080; node K lives in its own namespace at
# 10.77.0.K with its own stand-in Attestation Agent; plain host pK (no tng-wg) sits at 10.77.0.(100+K).
#
# As a library (source it; every function returns non-zero and says why on failure):
#   mesh_create N                 hub, bridge and nodes 1..N (namespaces and links only)
#   mesh_add_node K / mesh_add_plain K
#   mesh_start_as [ARGS...]       the stand-in AS, reference values from $MESH_DIR/as/reference-values.json
#                                 (e.g. --token-lifetime 20); with MESH_AS=fast the benchmark's fast one
#                                 (tests/standin/as-fast: sample evidence only, no test modes)
#   mesh_stop_as
#   mesh_set_reference_values JSON   replace the AS's reference values (it re-reads them per request)
#   mesh_start_aa K [ARGS...]     node K's stand-in AA at $MESH_DIR/nodeK/aa.sock (e.g. --svn 2)
#   mesh_stop_aa K
#   mesh_start_node K CONFIG      fill CONFIG's AA socket and AS URL in for node K, run `tng-wg up -d`
#   mesh_start K CONFIG [ARGS...]  mesh_start_aa K ARGS, then mesh_start_node K CONFIG
#   mesh_stop_node K              `tng-wg down`; mesh_kill_node K sends SIGKILL instead
#   mesh_node_exec H CMD...       CMD in host H's namespace (H = K or pK); for a node, inside a mount
#                                 namespace where /run/wireguard and /run/tng-wg are its own directories,
#                                 so every node uses the default interface tngwg0 (`wg show`, `tng-wg show`)
#   mesh_bg H NAME CMD...         as mesh_node_exec, in the background; the process is killed by mesh_destroy
#   mesh_ip H                     the host's address
#   mesh_peer K D FIELD           a field of node K's peer D in `tng-wg show --json` (state, last_error..)
#   mesh_peer_is K D STATE        node K's peer D is idle, attesting, up or failed
#   mesh_peer_error_has K D TEXT  node K's last error about peer D mentions TEXT
#   mesh_wg_lacks K D             `wg show` on node K lists no peer for host D
#   mesh_echo_server H tcp|udp PORT   an echo service
#   mesh_echo H ADDR tcp|udp PORT MSG succeeds when MSG comes back from an echo service
#   mesh_reaches H D PROTO PORT MSG   mesh_echo from H to host D, retried while a handshake may run
#   mesh_refused H D PROTO PORT MSG   one mesh_echo from H to host D fails
#   mesh_capture_start / mesh_capture_stop / mesh_capture_has TEXT / mesh_capture_lacks TEXT
#                                 a capture of every frame on the hub bridge
#   mesh_logs [LINES]             the tails of the logs of everything the mesh started
#   mesh_for_test / mesh_finish   start and end of an end-to-end test using tests/lib/common.sh
#   mesh_destroy                  kill what the mesh started (by PID), delete its namespaces and files;
#                                 safe to call twice and from a trap
# Settings (environment, before mesh_create): MESH_PREFIX (namespace name prefix), MESH_DIR (state
# directory, made with mktemp when unset), TNGWG (the tng-wg binary, default build/release/tng-wg),
# MESH_ANCHORS (pinned: configs trust the AS's certificate file; fetch: nodes fetch the AS's keys).
#
# As a command, for trying the product by hand (root):
#   netns-scripts/mesh.sh up N [CONFIG]   N nodes running tng-wg with CONFIG (default: the scenario
#                                         config, configs/mesh-two-way-ra.json), stand-in AA and AS
#   netns-scripts/mesh.sh exec H CMD...   e.g. `exec 1 tng-wg show`, `exec 2 wg show tngwg0`,
#                                         `exec 1 socat - TCP:10.77.0.2:9001`
#   netns-scripts/mesh.sh down            tear everything down
# The command keeps its state in $MESH_CLI_DIR (default /run/tngwg-mesh) and names its namespaces
# $MESH_CLI_PREFIX-hub, -n1, ... (default tngmesh).

MESH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MESH_SUBNET=10.77.0
MESH_HUB_IP=$MESH_SUBNET.254
MESH_AS_PORT=8080
MESH_AS_URL="http://$MESH_HUB_IP:$MESH_AS_PORT"
MESH_AA_BIN="$MESH_ROOT/build/standin/aa-standin"
MESH_AS_SCRIPT="$MESH_ROOT/tests/standin/as/as_standin.py"
MESH_AS_FAST_BIN="$MESH_ROOT/build/standin/as-fast"
MESH_WAIT=${MESH_WAIT:-30}

mesh_log() { echo "mesh: $*" >&2; }

mesh_tngwg() { echo "${TNGWG:-$MESH_ROOT/build/release/tng-wg}"; }

# Poll CMD every 0.2 s until it succeeds or SECS have passed.
mesh_wait() {
	local secs=$1; shift
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

mesh_ns() {
	case "$1" in
	hub) echo "$MESH_PREFIX-hub" ;;
	p[0-9]*) echo "$MESH_PREFIX-$1" ;;
	[0-9]*) echo "$MESH_PREFIX-n$1" ;;
	*) mesh_log "no host '$1' (expected a node number, pK or hub)"; return 1 ;;
	esac
}

mesh_ip() {
	case "$1" in
	hub) echo "$MESH_HUB_IP" ;;
	p[0-9]*) echo "$MESH_SUBNET.$((100 + ${1#p}))" ;;
	[0-9]*) echo "$MESH_SUBNET.$1" ;;
	*) mesh_log "no host '$1'"; return 1 ;;
	esac
}

mesh_node_dir() { echo "$MESH_DIR/node$1"; }

# Remember a PID we started, so mesh_destroy can end exactly that process.
mesh_track() { echo "$1 $2" >>"$MESH_DIR/pids"; }

mesh_create() {
	local n=$1 k
	MESH_PREFIX=${MESH_PREFIX:-tngmesh$$}
	if [ -z "${MESH_DIR:-}" ]; then
		MESH_DIR=$(mktemp -d /tmp/tngwg-mesh.XXXXXX) || return 1
	fi
	mkdir -p "$MESH_DIR/as" || return 1
	echo "MESH_PREFIX=$MESH_PREFIX" >"$MESH_DIR/mesh.env"
	: >>"$MESH_DIR/pids"
	# Mount points for the per-node bind mounts of mesh_node_exec.
	mkdir -p /run/wireguard /run/tng-wg || return 1
	local hub
	hub=$(mesh_ns hub)
	ip netns add "$hub" || return 1
	ip -n "$hub" link set lo up &&
		ip -n "$hub" link add br0 type bridge &&
		ip -n "$hub" addr add "$MESH_HUB_IP/24" dev br0 &&
		ip -n "$hub" link set br0 up || return 1
	mesh_set_reference_values '{"default": {"svn": ["1"]}}' || return 1
	for ((k = 1; k <= n; k++)); do
		mesh_add_node "$k" || return 1
	done
}

# A namespace for host H with eth0 in the hub's bridge.
mesh_add_host() {
	local h=$1 ns hub port
	ns=$(mesh_ns "$h") && hub=$(mesh_ns hub) || return 1
	port="v$h"
	ip netns add "$ns" || return 1
	ip -n "$ns" link set lo up &&
		ip -n "$hub" link add "$port" type veth peer name eth0 netns "$ns" &&
		ip -n "$hub" link set "$port" master br0 &&
		ip -n "$hub" link set "$port" up &&
		ip -n "$ns" addr add "$(mesh_ip "$h")/24" dev eth0 &&
		ip -n "$ns" link set eth0 up
}

mesh_add_node() {
	local dir
	dir=$(mesh_node_dir "$1")
	mkdir -p "$dir/run/wireguard" "$dir/run/tng-wg" && mesh_add_host "$1"
}

mesh_add_plain() { mesh_add_host "p$1"; }

# Sets MESH_CMD to the words that run a command in host H: for a node, a mount namespace of its own
# in which /run/wireguard and /run/tng-wg are the node's directories.
mesh_prefix() {
	local h=$1 ns dir
	ns=$(mesh_ns "$h") || return 1
	case "$h" in
	[0-9]*)
		dir=$(mesh_node_dir "$h")
		MESH_CMD=(ip netns exec "$ns" unshare -m sh -c
			'mount --bind "$1" /run/wireguard && mount --bind "$2" /run/tng-wg && shift 2 && exec "$@"'
			sh "$dir/run/wireguard" "$dir/run/tng-wg")
		;;
	*) MESH_CMD=(ip netns exec "$ns") ;;
	esac
}

mesh_node_exec() {
	local MESH_CMD
	mesh_prefix "$1" || return 1
	shift
	"${MESH_CMD[@]}" "$@"
}

# Start CMD in host H in the background, output to $MESH_DIR/NAME.log. The recorded PID is CMD's
# own: ip, unshare and sh each exec the next.
mesh_bg() {
	local h=$1 name=$2 MESH_CMD
	shift 2
	mesh_prefix "$h" || return 1
	"${MESH_CMD[@]}" "$@" >>"$MESH_DIR/$name.log" 2>&1 </dev/null &
	mesh_track $! "$name"
}

# The PIDs recorded under NAME that are still running.
mesh_pids_named() {
	local pid name
	[ -f "$MESH_DIR/pids" ] || return 0
	while read -r pid name; do
		[ "$name" = "$1" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
	done <"$MESH_DIR/pids"
}

mesh_kill_named() {
	local pid
	for pid in $(mesh_pids_named "$1"); do
		mesh_end_pid "$pid"
	done
}

# SIGTERM, a grace period, then SIGKILL; only for a process inside one of this mesh's namespaces,
# so a PID reused by an unrelated process is never touched.
mesh_end_pid() {
	local pid=$1
	case "$(ip netns identify "$pid" 2>/dev/null)" in
	"$MESH_PREFIX"-*) ;;
	*) return 0 ;;
	esac
	kill "$pid" 2>/dev/null || return 0
	mesh_wait 3 mesh_pid_gone "$pid" || kill -9 "$pid" 2>/dev/null
	mesh_wait 3 mesh_pid_gone "$pid"
}

mesh_pid_gone() { ! kill -0 "$1" 2>/dev/null; }

mesh_set_reference_values() {
	printf '%s\n' "$1" >"$MESH_DIR/as/reference-values.json.tmp" &&
		mv "$MESH_DIR/as/reference-values.json.tmp" "$MESH_DIR/as/reference-values.json"
}

mesh_as_up() { mesh_node_exec hub bash -c "exec 3<>/dev/tcp/$MESH_HUB_IP/$MESH_AS_PORT"; }

mesh_start_as() {
	local as=(/usr/bin/python3 "$MESH_AS_SCRIPT")
	if [ "${MESH_AS:-}" = fast ]; then
		mesh_built_standin as-fast "$MESH_AS_FAST_BIN" || return 1
		as=("$MESH_AS_FAST_BIN")
	elif [ ! -f "$MESH_AS_SCRIPT" ]; then
		mesh_log "the stand-in AS $MESH_AS_SCRIPT is missing"
		return 1
	fi
	mesh_bg hub as "${as[@]}" --listen "$MESH_HUB_IP:$MESH_AS_PORT" \
		--state-dir "$MESH_DIR/as" --reference-values "$MESH_DIR/as/reference-values.json" "$@"
	if ! mesh_wait "$MESH_WAIT" mesh_as_up || [ ! -f "$MESH_DIR/as/ca.pem" ]; then
		mesh_log "the stand-in AS did not come up; its log:"
		tail -n 20 "$MESH_DIR/as.log" >&2
		return 1
	fi
}

mesh_stop_as() { mesh_kill_named as; }

# The Go stand-in NAME (tests/standin/NAME) at BIN, built here when missing or older than its
# sources; the Makefile's targets do not build it.
mesh_built_standin() {
	local name=$1 bin=$2
	if [ ! -x "$bin" ] || [ -n "$(find "$MESH_ROOT/tests/standin/$name" -newer "$bin" -print -quit)" ]; then
		"$MESH_ROOT/tests/standin/build.sh" "$name" >&2 || { mesh_log "cannot build the stand-in $name"; return 1; }
	fi
}

mesh_aa_socket() { echo "$(mesh_node_dir "$1")/aa.sock"; }

mesh_start_aa() {
	local k=$1 sock; shift
	sock=$(mesh_aa_socket "$k")
	mesh_built_standin aa "$MESH_AA_BIN" || return 1
	rm -f "$sock"
	mesh_bg "$k" "aa$k" "$MESH_AA_BIN" --socket "$sock" "$@"
	if ! mesh_wait "$MESH_WAIT" test -S "$sock"; then
		mesh_log "the stand-in AA of node $k did not come up; its log:"
		tail -n 20 "$MESH_DIR/aa$k.log" >&2
		return 1
	fi
}

mesh_stop_aa() { mesh_kill_named "aa$1"; }

# Node K's copy of CONFIG: every attest.aa_addr points at its AA, every verify.as_addr at the AS,
# and every verify trusts the AS's certificate (trusted_certs_paths) unless it has its own key
# source; with MESH_ANCHORS=fetch the nodes fetch the AS's keys over HTTP instead, as they may
# with overlay.allow_http_as_anchors.
mesh_write_config() {
	local k=$1 config=$2 out
	out="$(mesh_node_dir "$k")/node.json"
	jq --arg aa "unix://$(mesh_aa_socket "$k")" --arg as_url "$MESH_AS_URL" \
		--arg ca "$MESH_DIR/as/ca.pem" --arg anchors "${MESH_ANCHORS:-pinned}" '
		(.add_ingress[]?, .add_egress[]?) |= (
			if has("attest") then .attest.aa_addr = $aa else . end
			| if has("verify") then .verify.as_addr = $as_url else . end
			| if $anchors != "fetch" and has("verify") and (.verify | has("trusted_certs_paths") or
				.skip_as_token_cert_verify == true | not)
			  then .verify.trusted_certs_paths = [$ca] else . end)
		| if $anchors == "fetch" then .overlay.allow_http_as_anchors = true else . end' \
		"$config" >"$out" || { mesh_log "cannot fill in $config"; return 1; }
	echo "$out"
}

# The running daemons of node K (tng-wg processes in its namespace).
mesh_node_daemons() {
	local pid exe
	exe=$(readlink -f "$(mesh_tngwg)")
	for pid in $(ip netns pids "$(mesh_ns "$1")" 2>/dev/null); do
		[ "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" = "$exe" ] && echo "$pid"
	done
}

mesh_start_node() {
	local k=$1 config=$2 cfg
	cfg=$(mesh_write_config "$k" "$config") || return 1
	if ! mesh_node_exec "$k" "$(mesh_tngwg)" up -d "$cfg" >>"$MESH_DIR/node$k.log" 2>&1 </dev/null; then
		mesh_log "tng-wg up failed on node $k; its log:"
		tail -n 20 "$MESH_DIR/node$k.log" >&2
		return 1
	fi
}

# Node K's AA (with ARGS) and tng-wg with CONFIG.
mesh_start() {
	local k=$1 config=$2
	shift 2
	mesh_start_aa "$k" "$@" && mesh_start_node "$k" "$config"
}

mesh_stop_node() {
	local k=$1
	mesh_node_exec "$k" "$(mesh_tngwg)" down "$(mesh_node_dir "$k")/node.json" >>"$MESH_DIR/node$k.log" 2>&1
	local rc=$?
	mesh_wait 10 test -z "$(mesh_node_daemons "$k")"
	return $rc
}

mesh_kill_node() {
	local pid
	for pid in $(mesh_node_daemons "$1"); do
		kill -9 "$pid"
	done
	mesh_wait 10 test -z "$(mesh_node_daemons "$1")"
}

# A field of node K's view of the peer at host D's address (`tng-wg show --json`): state (idle,
# attesting, up, failed), last_error, tee, policy_ids, attestations, ...
mesh_peer() {
	mesh_node_exec "$1" "$(mesh_tngwg)" show --json tngwg0 |
		jq -r --arg a "$(mesh_ip "$2")" --arg f "$3" '.peers[] | select(.address == $a) | .[$f] | values'
}

mesh_peer_is() { [ "$(mesh_peer "$1" "$2" state)" = "$3" ]; }
mesh_peer_error_has() { mesh_peer "$1" "$2" last_error | grep -qF -- "$3"; }

# Node K has attested host D more than N times.
mesh_attested_more_than() { [ "$(mesh_peer "$1" "$2" attestations)" -gt "$3" ]; }

# The descriptors node K's daemon holds, less its connections to the AS and to its AA: how many of
# those are open follows how many calls overlapped last and whether the server restarted since,
# not a leak. mesh_daemon_fds_at_most: at most N of them.
mesh_daemon_fds() {
	local pid pooled fd n=0
	pid=$(mesh_node_daemons "$1")
	[ -n "$pid" ] || return 1
	pooled=" $({
		mesh_node_exec "$1" ss -Hxn 2>/dev/null | awk -v s="$(mesh_aa_socket "$1")" '$5 == s { print $8 }'
		mesh_node_exec "$1" ss -Htne dst "$MESH_HUB_IP:$MESH_AS_PORT" 2>/dev/null | grep -o 'ino:[0-9]*' | cut -d: -f2
	} | tr '\n' ' ')"
	for fd in /proc/"$pid"/fd/*; do
		fd=$(readlink "$fd") || continue
		[[ "$fd" =~ ^socket:\[([0-9]+)\]$ && "$pooled" == *" ${BASH_REMATCH[1]} "* ]] || n=$((n + 1))
	done
	echo "$n"
}
mesh_daemon_fds_at_most() { [ "$(mesh_daemon_fds "$1")" -le "$2" ]; }

# Host K streams the lines of file SENT to host D's echo service on TCP PORT over one connection,
# about 20 a second, and writes what comes back to ECHOED; it stops early once file STOP exists
# (when given). mesh_stream_done: the stream has ended.
mesh_stream_start() {
	local k=$1 d=$2 port=$3 sent=$4 echoed=$5 stop=${6:-/nonexistent}
	mesh_bg "$k" stream sh -c "while read -r l; do echo \"\$l\"; sleep 0.05; [ -e '$stop' ] && break;
		done <'$sent' | socat -t 120 -T 120 - TCP4:$(mesh_ip "$d"):$port,connect-timeout=10 >'$echoed'"
}
mesh_stream_done() { [ -z "$(mesh_pids_named stream)" ]; }

# Node K's WireGuard device (as `wg` sees it) has no peer for host D's address.
mesh_wg_lacks() { ! mesh_node_exec "$1" wg show tngwg0 allowed-ips | grep -qF "$(mesh_ip "$2")/32"; }

mesh_echo_server() {
	local h=$1 proto=$2 port=$3
	case "$proto" in
	tcp) mesh_bg "$h" "echo-$h-$proto$port" socat "TCP4-LISTEN:$port,reuseaddr,fork" EXEC:cat ;;
	udp) mesh_bg "$h" "echo-$h-$proto$port" socat -T 2 "UDP4-LISTEN:$port,reuseaddr,fork" EXEC:cat ;;
	*) mesh_log "protocol '$proto' (expected tcp or udp)"; return 1 ;;
	esac
	mesh_wait "$MESH_WAIT" mesh_listening "$h" "$proto" "$port"
}

mesh_listening() {
	local flag=-t
	[ "$2" = udp ] && flag=-u
	mesh_node_exec "$1" ss -Hln "$flag" "sport = :$3" | grep -q .
}

# Send MSG from host H to ADDR:PORT; succeeds when an echo service sent exactly MSG back.
mesh_echo() {
	local h=$1 addr=$2 proto=$3 port=$4 msg=$5 reply target linger
	# TCP ends when the echo service closes; UDP has no end, so wait only briefly for the reply.
	case "$proto" in
	tcp) target="TCP4:$addr:$port,connect-timeout=3" linger=3 ;;
	udp) target="UDP4:$addr:$port" linger=2 ;;
	*) mesh_log "protocol '$proto' (expected tcp or udp)"; return 1 ;;
	esac
	reply=$(printf '%s\n' "$msg" | mesh_node_exec "$h" timeout 10 socat -t "$linger" -T 5 - "$target" 2>/dev/null)
	[ "$reply" = "$msg" ]
}

# A first packet to a new peer waits for the attested handshake, so success may take a moment;
# the wait ends at once when either end is a node whose daemon is gone.
mesh_reaches() {
	local deadline=$((SECONDS + MESH_WAIT))
	until mesh_echo "$1" "$(mesh_ip "$2")" "$3" "$4" "$5"; do
		mesh_daemon_gone "$1" || mesh_daemon_gone "$2" || [ $SECONDS -ge $deadline ] && return 1
		sleep 0.2
	done
}

mesh_daemon_gone() {
	case "$1" in
	[0-9]*) [ -n "$(mesh_node_daemons "$1")" ] && return 1 ;;
	*) return 1 ;;
	esac
	mesh_log "node $1 has no tng-wg daemon running"
}
mesh_refused() { ! mesh_echo "$1" "$(mesh_ip "$2")" "$3" "$4" "$5"; }

mesh_capture_file() { echo "$MESH_DIR/bridge.pcap"; }

mesh_capture_start() {
	local f
	f=$(mesh_capture_file)
	rm -f "$f"
	mesh_bg hub capture tcpdump -i br0 -n -U --immediate-mode -w "$f"
	# tcpdump says "listening on" once the capture is open.
	mesh_wait "$MESH_WAIT" grep -q 'listening on' "$MESH_DIR/capture.log"
}

mesh_capture_stop() { mesh_kill_named capture; }

mesh_capture_has() { grep -aqF -- "$1" "$(mesh_capture_file)"; }
mesh_capture_lacks() { ! mesh_capture_has "$1"; }

# The last lines of every log the mesh's processes wrote, for a failure report.
mesh_logs() {
	local f
	for f in "$MESH_DIR"/*.log; do
		[ -s "$f" ] || continue
		echo "--- $(basename "$f")"
		# A sanitizer's report is worth more than the log's tail (tests/lib/common.sh knows one).
		[ -z "${SANITIZER_REPORT:-}" ] || grep -m1 -A 24 -E "$SANITIZER_REPORT" "$f" | sed "s/^/    /"
		tail -n "${1:-30}" "$f" | sed "s/^/    /"
	done
}

mesh_destroy() {
	[ -n "${MESH_DIR:-}" ] && [ -n "${MESH_PREFIX:-}" ] || return 0
	local pid name ns
	if [ -f "$MESH_DIR/pids" ]; then
		while read -r pid name; do
			mesh_end_pid "$pid"
		done <"$MESH_DIR/pids"
	fi
	for ns in $(ip netns list | awk '{print $1}' | grep -E "^$MESH_PREFIX-(hub|n[0-9]+|p[0-9]+)\$"); do
		# What is left in our namespaces (the detached daemons) was started by the mesh.
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			mesh_end_pid "$pid"
		done
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$MESH_DIR"
	MESH_DIR=
}

# For an end-to-end test that sourced tests/lib/common.sh: fail loudly without root or a tool, name
# the mesh after the test, keep its state in the test's directory, destroy it in the test's cleanup.
mesh_for_test() {
	require_root
	require_cmd socat tcpdump jq nft unshare
	MESH_PREFIX=$T_PREFIX MESH_DIR=$T_TMP/mesh
	on_cleanup mesh_destroy
}

# A test's end: every daemon stopped the ordinary way (so a sanitizer build reports leaks too) and
# its log free of sanitizer reports, the mesh's logs when anything failed, then the verdict.
mesh_finish() {
	local test dir k
	test=$(basename "$0" .sh)
	for dir in "$MESH_DIR"/node*/; do
		[ -d "$dir" ] || continue
		dir=${dir%/} k=${dir##*/node}
		[ -z "$(mesh_node_daemons "$k")" ] || mesh_stop_node "$k" ||
			fail "$test.stop_node_$k" "tng-wg down failed"
	done
	if sanitizer_reported "$MESH_DIR"/node*.log >&2; then
		fail "$test.no_sanitizer_reports" "a daemon's log above has a sanitizer report"
	else
		pass "$test.no_sanitizer_reports"
	fi
	[ "$T_FAILED" -eq 0 ] || mesh_logs
	finish
}

# ---- command line ----
MESH_CLI_DIR=${MESH_CLI_DIR:-/run/tngwg-mesh}
MESH_CLI_PREFIX=${MESH_CLI_PREFIX:-tngmesh}

mesh_cli() {
	local cmd=${1:-}
	shift || true
	case "$cmd" in
	up)
		local n=${1:-} config=${2:-$MESH_ROOT/netns-scripts/configs/mesh-two-way-ra.json} k
		[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 up N [CONFIG]" >&2; return 2; }
		if [ -e "$MESH_CLI_DIR" ]; then
			echo "mesh: already up (state in $MESH_CLI_DIR); run '$0 down' first" >&2
			return 1
		fi
		MESH_DIR=$MESH_CLI_DIR MESH_PREFIX=$MESH_CLI_PREFIX
		mkdir -p "$MESH_DIR"
		if ! { mesh_create "$n" && mesh_start_as; }; then
			mesh_destroy
			return 1
		fi
		for ((k = 1; k <= n; k++)); do
			if ! mesh_start "$k" "$config"; then
				mesh_destroy
				return 1
			fi
		done
		echo "mesh: $n nodes at $MESH_SUBNET.1..$n, AS at $MESH_AS_URL, logs in $MESH_DIR"
		echo "try:  $0 exec 1 tng-wg show    $0 exec 2 socat TCP-LISTEN:9001,fork EXEC:cat"
		echo "      $0 exec 1 socat - TCP:$MESH_SUBNET.2:9001    $0 down"
		;;
	exec)
		[ -f "$MESH_CLI_DIR/mesh.env" ] || { echo "mesh: not up" >&2; return 1; }
		MESH_DIR=$MESH_CLI_DIR
		. "$MESH_DIR/mesh.env"
		local h=${1:-}; shift || true
		PATH="$(dirname "$(mesh_tngwg)"):$PATH" mesh_node_exec "$h" "$@"
		;;
	down)
		[ -f "$MESH_CLI_DIR/mesh.env" ] || { echo "mesh: not up"; return 0; }
		MESH_DIR=$MESH_CLI_DIR
		. "$MESH_DIR/mesh.env"
		mesh_destroy
		;;
	*)
		echo "usage: $0 up N [CONFIG] | exec H CMD... | down" >&2
		return 2
		;;
	esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -uo pipefail
	mesh_cli "$@"
	exit $?
fi
