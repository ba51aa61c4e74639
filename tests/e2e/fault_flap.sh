#!/usr/bin/env bash
# The AS flapping and AAs restarting while three nodes re-attest each other every 10 s, and node 1
# streams numbered lines to node 2 on the protected port the whole time (one TCP connection):
#   1. the AS goes down for 2 s and back for 2 s, six times, then stays down for 12 s (longer than
#      the re-attestation interval, so that every pair tries while it is down);
#   2. node 3's AA is killed and started again three times in a row, then node 2's stays down
#      for 12 s.
# A re-attestation that cannot complete (no AS, no AA) keeps the tunnel while the token lasts, so:
#   - every node shows every peer up in every sample taken twice a second;
#   - the stream goes through all of it: every line comes back in order, byte-exact;
#   - while it fails, `show` on every node says why for each peer: the AS unreachable
#     (verifier_unavailable); node 2's AA gone (evidence_unavailable, on node 2 and reported by
#     node 2 to the others);
#   - after each phase, every node's every peer is attested again, up and with no error; at the
#     end each is reachable, no daemon restarted and none holds more descriptors than before;
#   - under the asan build, LeakSanitizer reports nothing at any daemon's exit (mesh_finish).
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT_DIR/netns-scripts/mesh.sh"
mesh_for_test

config=$T_TMP/node.json
marker="tngwg-flap-$RANDOM$RANDOM"
NODES=(1 2 3)
lines=2400

setup() {
	local k d
	jq '.overlay = {"reattest_interval": 10, "handshake_timeout": 3}' \
		"$ROOT_DIR/netns-scripts/configs/mesh-two-way-ra.json" >"$config" || return 1
	mesh_create 3 && mesh_start_as || return 1
	for k in "${NODES[@]}"; do
		mesh_start "$k" "$config" && mesh_echo_server "$k" tcp 9001 || return 1
	done
	for k in "${NODES[@]}"; do
		for d in $(others "$k"); do
			mesh_reaches "$k" "$d" tcp 9001 "$marker-warmup" || return 1
		done
	done
}

others() { local d; for d in "${NODES[@]}"; do [ "$d" = "$1" ] || echo "$d"; done; }

# Lines at about 20 a second, node 1 to node 2 on one connection, for longer than the faults
# last; the stream ends early once they are over.
start_stream() {
	seq -f "$marker-%05g" 1 "$lines" >"$T_TMP/sent" &&
		mesh_stream_start 1 2 9001 "$T_TMP/sent" "$T_TMP/echoed" "$T_TMP/faults_over"
}
echoed_what_was_sent() {
	local n
	n=$(wc -l <"$T_TMP/echoed")
	[ "$n" -gt 0 ] && head -n "$n" "$T_TMP/sent" | cmp - "$T_TMP/echoed"
}

# Twice a second, each node's view of each peer: node, peer, state, last error; the state is
# absent when the node's `show` lists no such peer, unanswered when `show` itself failed (the
# loaded machine's control socket timed out), which says nothing of the tunnel.
watch_views() {
	local k d json
	while :; do
		for k in "${NODES[@]}"; do
			if json=$(mesh_node_exec "$k" "$(mesh_tngwg)" show --json tngwg0 2>/dev/null); then
				for d in $(others "$k"); do
					jq -r --arg k "$k" --arg d "$d" --arg a "$(mesh_ip "$d")" \
						'[$k, $d, ((.peers[] | select(.address == $a) | .state // "absent",
						.last_error // "") // "absent")] | join(" ")' <<<"$json"
				done
			else
				for d in $(others "$k"); do echo "$k $d unanswered "; done
			fi
		done >>"$T_TMP/views"
		sleep 0.5
	done
}

# Every view that answered was up in every sample (the state of a peer re-attesting its up tunnel
# is up); the samples that were not are logged.
never_lost_a_tunnel() {
	mesh_log "$(grep -c ' unanswered ' "$T_TMP/views") of $(wc -l <"$T_TMP/views") samples unanswered"
	[ -s "$T_TMP/views" ] && grep -q '^[0-9]* [0-9]* up ' "$T_TMP/views" || return 1
	! grep -vE '^[0-9]+ [0-9]+ (up|unanswered) ' "$T_TMP/views" | head -n 20 | grep . >&2
}

# Node K's view of peer D said at some point that it failed for a reason matching REGEX.
seen_failure() { grep -qE "^$1 $2 [a-z_]+ .*$3" "$T_TMP/views"; }

declare -A attestations
note_attestations() {
	local k d
	for k in "${NODES[@]}"; do
		for d in $(others "$k"); do
			attestations[$k$d]=$(mesh_peer "$k" "$d" attestations)
		done
	done
}
# Every view is up with no error, attested again since note_attestations.
all_recovered() {
	local k d
	for k in "${NODES[@]}"; do
		for d in $(others "$k"); do
			mesh_peer_is "$k" "$d" up && mesh_attested_more_than "$k" "$d" "${attestations[$k$d]:-0}" &&
				[ -z "$(mesh_peer "$k" "$d" last_error)" ] || return 1
		done
	done
}

as_flaps() {
	local i
	for i in 1 2 3 4 5 6; do
		mesh_stop_as && sleep 2 && mesh_start_as && sleep 2 || return 1
	done
}

as_outage() { mesh_stop_as && sleep 12 && mesh_start_as; }

aa_restarts() {
	local i
	for i in 1 2 3; do
		mesh_stop_aa 3 && mesh_start_aa 3 && sleep 2 || return 1
	done
	mesh_stop_aa 2 && sleep 12 && mesh_start_aa 2
}

phase() {
	local name=$1; shift
	note_attestations
	check "fault_flap.$name" "$@"
	check "fault_flap.${name}_all_recovered" mesh_wait 90 all_recovered
}

if setup; then
	pass fault_flap.setup
	declare -A pid fd
	for k in "${NODES[@]}"; do
		pid[$k]=$(mesh_node_daemons "$k") fd[$k]=$(mesh_daemon_fds "$k")
	done
	start_stream
	watch_views &
	watcher=$!
	phase as_flaps as_flaps
	phase as_outage as_outage
	phase aa_restarts aa_restarts
	kill "$watcher" && wait "$watcher" 2>/dev/null
	touch "$T_TMP/faults_over"
	check fault_flap.stream_finished mesh_wait 120 mesh_stream_done
	check fault_flap.stream_went_through test "$(wc -l <"$T_TMP/echoed")" -gt 800
	check fault_flap.stream_byte_exact echoed_what_was_sent
	check fault_flap.never_lost_a_tunnel never_lost_a_tunnel
	for k in "${NODES[@]}"; do
		for d in $(others "$k"); do
			check "fault_flap.node${k}_show_said_as_down_for_$d" seen_failure "$k" "$d" verifier_unavailable
			if [ "$d" = 2 ]; then
				check "fault_flap.node${k}_show_said_aa_of_2_down" seen_failure "$k" 2 \
					'evidence_unavailable \(reported by the peer\)'
			elif [ "$k" = 2 ]; then
				check "fault_flap.node2_show_said_own_aa_down_for_$d" seen_failure 2 "$d" \
					'evidence_unavailable: attestation agent'
			fi
			check "fault_flap.node${k}_to_node${d}" mesh_reaches "$k" "$d" tcp 9001 "$marker"
		done
		check "fault_flap.node${k}_same_daemon" test "$(mesh_node_daemons "$k")" = "${pid[$k]}"
		check "fault_flap.node${k}_no_descriptor_growth" mesh_wait 10 mesh_daemon_fds_at_most "$k" "${fd[$k]}"
	done
else
	fail fault_flap.setup "mesh did not start"
fi
mesh_finish
