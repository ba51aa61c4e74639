#!/usr/bin/env bash
# Static peers (`overlay.peers`) and re-attestation every 10 s, on three nodes:
#   nodes 1 and 2 run one config listing all three nodes, their own addresses included: right
#   after `up`, with no application traffic sent, each shows the other as up and attested and
#   `wg show` lists it with a WireGuard handshake; neither holds itself as a peer;
#   node 3 is down: node 1 keeps retrying it (its last error is renewed),
#   and once node 3 comes up (listing no peers) the tunnel is there without any traffic;
#   re-attestation rotates the pre-shared key (different after, the same on both sides), the
#   attestation count grows, and echo exchanges on 9001 all succeed across the rotations, on new
#   connections and on one connection held open throughout;
#   the AS (its tokens live 20 s) stalls: re-attestation cannot complete, the tunnels stay while
#   the tokens last and are cut when they expire; the AS answers again: node 1 brings back its
#   tunnels to the peers it lists, node 3's included, with no traffic sent.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT_DIR/netns-scripts/mesh.sh"
mesh_for_test

scenario=$ROOT_DIR/netns-scripts/configs/mesh-two-way-ra.json
marker="tngwg-static-$RANDOM$RANDOM"

# The scenario config NAME with re-attestation every 10 s, a 4 s handshake deadline and the given
# static peers (node numbers).
static_config() {
	local out=$T_TMP/static-$1.json peers k
	shift
	peers=$(for k in "$@"; do mesh_ip "$k"; done | jq -R . | jq -sc .)
	jq --argjson peers "$peers" '.overlay = {"reattest_interval": 10, "handshake_timeout": 4, "peers": $peers}' \
		"$scenario" >"$out" || return 1
	echo "$out"
}

# Node K's `wg show dump` line for host D (allowed-ips D/32): field 5 is the latest handshake
# (seconds since the epoch, 0 for none).
wg_field() {
	mesh_node_exec "$1" wg show tngwg0 dump |
		awk -v a="$(mesh_ip "$2")/32" -v f="$3" 'NR > 1 && $4 == a { print $f }'
}

wg_handshaken() { [ "$(wg_field "$1" "$2" 5)" -gt 0 ] 2>/dev/null; }

# Node K's pre-shared key for host D, as `wg show IF preshared-keys` lists it.
wg_psk() {
	local key
	key=$(wg_field "$1" "$2" 1) && [ -n "$key" ] || return 1
	mesh_node_exec "$1" wg show tngwg0 preshared-keys | awk -v k="$key" '$1 == k { print $2 }'
}

# Node K holds D as a configured peer, attested and up, with a WireGuard session.
static_up() {
	mesh_peer_is "$1" "$2" up && [ "$(mesh_peer "$1" "$2" static)" = true ] &&
		[ "$(mesh_peer "$1" "$2" attested)" = true ] && wg_handshaken "$1" "$2"
}

# Node K holds D, but not up (failed, or attesting again) and not in its WireGuard device.
cut() {
	local state
	state=$(mesh_peer "$1" "$2" state) && [ -n "$state" ] && [ "$state" != up ] && mesh_wg_lacks "$1" "$2"
}

# Node K's `show` answers and lists no peer at host D's address.
not_a_peer() {
	mesh_node_exec "$1" "$TNGWG" show --json tngwg0 | jq -e --arg a "$(mesh_ip "$2")" 'all(.peers[]; .address != $a)'
}

# Node K holds D, attested and up with a WireGuard session (D started the tunnel).
peer_up() {
	mesh_peer_is "$1" "$2" up && [ "$(mesh_peer "$1" "$2" attested)" = true ] && wg_handshaken "$1" "$2"
}

# Both ends of the tunnel between A and B use the same pre-shared key, printed once; sampled until
# they agree, since a rotation may fall between the two reads.
shared_psk() {
	local i a b
	for i in $(seq 1 25); do
		a=$(wg_psk "$1" "$2") && b=$(wg_psk "$2" "$1") &&
			[ -n "$a" ] && [ "$a" != "(none)" ] && [ "$a" = "$b" ] && { echo "$a"; return 0; }
		sleep 0.2
	done
	return 1
}

# Node K's last error about D happened at another time than T: a new attempt failed.
error_time_changed() {
	local t
	t=$(mesh_peer "$1" "$2" last_error_at) && [ -n "$t" ] && [ "$t" != "$3" ]
}


setup() {
	local all
	all=$(static_config all 1 2 3) || return 1
	mesh_create 3 && mesh_start_as --token-lifetime 20 || return 1
	mesh_start 1 "$all" --svn 1 && mesh_start 2 "$all" --svn 1 && mesh_echo_server 2 tcp 9001
}

# Nodes 1 and 2 list each other: both tunnels come up from `up` alone.
listed_peers_up() {
	check mesh_static.1_has_2_up wait_for 20 static_up 1 2
	check mesh_static.2_has_1_up wait_for 20 static_up 2 1
	check mesh_static.wg_lists_2_on_1 wg_handshaken 1 2
	check mesh_static.wg_lists_1_on_2 wg_handshaken 2 1
	check mesh_static.1_not_its_own_peer not_a_peer 1 1
	check mesh_static.2_not_its_own_peer not_a_peer 2 2
}

# Node 3 is down: node 1 keeps trying it, and has a tunnel once it is up.
down_peer_retried() {
	check mesh_static.down_peer_failed wait_for 20 mesh_peer_is 1 3 failed
	check mesh_static.down_peer_error_named wait_for 5 mesh_peer_error_has 1 3 connect_failed
	check mesh_static.down_peer_no_tunnel mesh_wg_lacks 1 3
	local first
	first=$(mesh_peer 1 3 last_error_at)
	check mesh_static.down_peer_error_time test -n "$first"
	check mesh_static.down_peer_tried_again wait_for 20 error_time_changed 1 3 "$first"
	check mesh_static.down_peer_started mesh_start 3 "$(static_config none)" --svn 1
	check mesh_static.down_peer_up_on_1 wait_for 40 static_up 1 3
	check mesh_static.down_peer_up_on_3 wait_for 10 peer_up 3 1
	check mesh_static.down_peer_not_static_on_3 test "$(mesh_peer 3 1 static)" = false
}

# N rounds, half a second apart, from node 1 to node 2 on 9001: an exchange on a new connection,
# and a line on the one connection open on fd FLOW; every one must come back.
echo_loop() {
	local n=$1 i failed=0 line
	for ((i = 0; i < n; i++)); do
		mesh_echo 1 "$(mesh_ip 2)" tcp 9001 "$marker-$i" || { failed=$((failed + 1)); echo "exchange $i failed" >&2; }
		echo "$marker-flow-$i" >&"${FLOW[1]}" && read -r -t 5 line <&"${FLOW[0]}" &&
			[ "$line" = "$marker-flow-$i" ] || { failed=$((failed + 1)); echo "flow line $i failed" >&2; }
		mesh_daemon_gone 1 || mesh_daemon_gone 2 && return 1
		sleep 0.5
	done
	[ "$failed" -eq 0 ]
}

psk_rotation() {
	local before after count
	before=$(shared_psk 1 2)
	check mesh_static.psk_same_on_both_sides test -n "$before"
	count=$(mesh_peer 1 2 attestations)
	coproc FLOW { mesh_node_exec 1 socat -T 60 - "TCP4:$(mesh_ip 2):9001,connect-timeout=5"; }
	# About 25 s: more than two re-attestation intervals.
	check mesh_static.traffic_across_rotations echo_loop 40
	exec {FLOW[1]}>&-
	wait "$FLOW_PID"
	after=$(shared_psk 1 2)
	check mesh_static.psk_same_after_rotation test -n "$after"
	check mesh_static.psk_rotated test "$before" != "$after"
	check mesh_static.attestations_grew mesh_attested_more_than 1 2 "${count:-0}"
	check mesh_static.still_up static_up 1 2
}

# Re-attestation while the AS stalls keeps the tunnels until their tokens expire, then cuts them;
# node 1 then restores those to its listed peers on its own (node 3 lists nobody, so 1 -> 3 comes
# back only from node 1's retries).
as_stall_and_back() {
	echo stall >"$MESH_DIR/as/mode"
	check mesh_static.as_stall_keeps_2 wait_for 20 mesh_peer_error_has 1 2 "tunnel kept until its token expires"
	check mesh_static.as_stall_kept_2_up mesh_peer_is 1 2 up
	check mesh_static.as_stall_cuts_2 wait_for 40 cut 1 2
	check mesh_static.as_stall_cuts_3 wait_for 40 cut 1 3
	check mesh_static.as_stall_token_expired grep -q "$(mesh_ip 3) (failed, token_expired): its attestation token expired at .* without a renewal" "$MESH_DIR/node1.log"
	echo ok >"$MESH_DIR/as/mode"
	check mesh_static.as_back_2_up wait_for 40 static_up 1 2
	check mesh_static.as_back_3_up wait_for 40 static_up 1 3
	check mesh_static.as_back_3_has_1 wait_for 10 peer_up 3 1
}

if setup; then
	pass mesh_static.setup
	listed_peers_up
	down_peer_retried
	psk_rotation
	as_stall_and_back
else
	fail mesh_static.setup "the mesh did not come up"
fi
mesh_finish
