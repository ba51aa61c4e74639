#!/usr/bin/env bash
# Nothing leaks over a node's life. Nodes 1 to 4 run the scenario config with the stand-in AA
# and AS; under the asan build LeakSanitizer reports at every daemon's exit (mesh_finish fails on
# a report in a node's log).
#   - 200 peer join/leave cycles on node 1: `wg set ... peer K remove` removes one of its peers
#     (nodes 2, 3 and 4 in turn), the next packet attests it again; afterwards no daemon holds
#     more descriptors than after the first round, every cycle attested again, node 1 still serves;
#   - `tng-wg up` and `down` 50 times on node 5: afterwards its namespace has exactly the nft
#     tables, ip rules, routes, interfaces and processes it had before the first `up`.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT_DIR/netns-scripts/mesh.sh"
mesh_for_test

config=$T_TMP/node.json
marker="tngwg-leak-$RANDOM$RANDOM"
CYCLES=200
UP_DOWNS=50
PEERS=(2 3 4)

setup() {
	local k
	jq '.overlay = {"handshake_timeout": 3}' "$ROOT_DIR/netns-scripts/configs/mesh-two-way-ra.json" >"$config" || return 1
	mesh_create 5 && mesh_start_as && mesh_start 1 "$config" && mesh_start_aa 5 || return 1
	for k in "${PEERS[@]}"; do
		mesh_start "$k" "$config" && mesh_echo_server "$k" tcp 9001 && mesh_reaches 1 "$k" tcp 9001 "$marker" || return 1
	done
}

# N join/leave cycles, run in node 1's namespace, over its peers in turn (arguments: key and
# address of each): node 1 forgets the peer, then an echo through the tunnel (tried again while
# the handshake runs) has it attested again. A responder takes 2 handshakes a second from one
# address, so one peer's cycles start 0.6 s apart. Prints how many cycles ended with the echo back.
cycles() {
	local args=("$1" "$marker") k
	for k in "${PEERS[@]}"; do
		args+=("$(mesh_peer 1 "$k" public_key)" "$(mesh_ip "$k")")
	done
	mesh_node_exec 1 bash -c '
		n=$1 msg=$2 ok=0
		shift 2
		peers=$(($# / 2)) keys=() addrs=() next=()
		while [ $# -gt 0 ]; do keys+=("$1") addrs+=("$2") next+=(0); shift 2; done
		for ((i = 0; i < n; i++)); do
			j=$((i % peers))
			now=$((${EPOCHREALTIME/./} / 1000))
			[ "$now" -ge "${next[j]}" ] || sleep "$(printf "0.%03d" $((next[j] - now)))"
			next[j]=$((${EPOCHREALTIME/./} / 1000 + 600))
			wg set tngwg0 peer "${keys[j]}" remove || continue
			for _ in 1 2 3 4 5 6 7 8 9 10; do
				reply=$(echo "$msg-$i" | timeout 10 socat -t 3 -T 5 - "TCP4:${addrs[j]}:9001,connect-timeout=3" 2>/dev/null)
				[ "$reply" = "$msg-$i" ] && { ok=$((ok + 1)); break; }
				sleep 0.2
			done
		done
		echo "$ok"' cycles "${args[@]}"
}

attestations() { mesh_node_exec 1 "$TNGWG" show --json tngwg0 | jq '[.peers[].attestations] | add'; }

join_leave() {
	local count k before=() done rounds=${#PEERS[@]}
	count=$(attestations)
	check fault_leak.first_round test "$(cycles "$rounds")" = "$rounds"
	for k in 1 "${PEERS[@]}"; do
		before[k]=$(mesh_daemon_fds "$k")
	done
	done=$(cycles $((CYCLES - rounds)))
	check fault_leak.cycles_echoed test "$done" = $((CYCLES - rounds))
	check fault_leak.cycles_attested_again test "$(attestations)" -ge $((count + CYCLES))
	# A connection of the last cycles may still be closing: wait for it, allow no growth.
	for k in 1 "${PEERS[@]}"; do
		check "fault_leak.node${k}_no_descriptor_growth" wait_for 10 mesh_daemon_fds_at_most "$k" "${before[k]}"
	done
	check fault_leak.still_serving mesh_reaches 1 2 tcp 9001 "$marker-after"
	check fault_leak.still_up mesh_peer_is 1 2 up
}

# What node 5's namespace holds: nft tables, ip rules, routes, interfaces and processes.
state_of_5() {
	mesh_node_exec 5 nft list tables
	mesh_node_exec 5 ip rule show
	mesh_node_exec 5 ip route show table all
	mesh_node_exec 5 ip -o link show | sed -E 's/^[0-9]+: //; s/ +link\/.*//'
	ip netns pids "$(mesh_ns 5)" | sort -n
}

same_state_of_5() { state_of_5 | diff -u "$T_TMP/bare" - >&2; }

up_down() {
	local i ok=0
	state_of_5 >"$T_TMP/bare"
	for ((i = 0; i < UP_DOWNS; i++)); do
		mesh_start_node 5 "$config" && mesh_node_exec 5 "$TNGWG" show tngwg0 >/dev/null &&
			mesh_stop_node 5 && ok=$((ok + 1))
	done
	check fault_leak.up_down_cycles test "$ok" = "$UP_DOWNS"
	check fault_leak.up_down_no_daemon test -z "$(mesh_node_daemons 5)"
	check fault_leak.up_down_leaves_nothing same_state_of_5
}

if setup; then
	pass fault_leak.setup
	join_leave
	up_down
else
	fail fault_leak.setup "the mesh did not come up"
fi
mesh_finish
