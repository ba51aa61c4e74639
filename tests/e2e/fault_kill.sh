#!/usr/bin/env bash
# A peer killed mid-transfer. Two nodes, scenario config; node 1 streams numbered lines to node 2's
# echo service on the protected port through the attested tunnel. Node 2's daemon gets SIGKILL
# (it removes nothing: its nft tables and rules stay behind) and starts again a few seconds later
# under a new WireGuard key, while node 1 and both ends' TCP keep retrying:
#   - the tunnel comes back without anyone touching node 1, under node 2's new key, and node 1's
#     daemon is the one it was;
#   - the same TCP connection carries on: every line comes back, in order, byte-exact;
#   - nothing of the stream crossed the bridge in plaintext at any time (capture of every frame);
#   - while node 2's daemon is dead, what node 2 sends to the protected port is dropped: its
#     steering rules outlive the daemon, its interface does not, and a marked packet with no
#     overlay route must not fall through to the main table (the TCP stack's retransmissions of
#     the echo did, now and then, before the overlay table had its blackhole route).
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT_DIR/netns-scripts/mesh.sh"
mesh_for_test

config=$ROOT_DIR/netns-scripts/configs/mesh-two-way-ra.json
marker="tngwg-kill-$RANDOM$RANDOM"
lines=600

setup() {
	mesh_create 2 && mesh_start_as && mesh_start 1 "$config" && mesh_start 2 "$config" &&
		mesh_echo_server 2 tcp 9001 && mesh_reaches 1 2 tcp 9001 "$marker-warmup"
}

# About 30 s of lines on one connection; what comes back goes to a file.
start_stream() {
	seq -f "$marker-%05g" 1 "$lines" >"$T_TMP/sent" && mesh_stream_start 1 2 9001 "$T_TMP/sent" "$T_TMP/echoed"
}

# Datagrams from node 2 to node 1's protected port, which only a live daemon could carry.
send_from_node2() {
	local i
	for i in 1 2 3; do
		mesh_node_exec 2 socat -u - "UDP4:$(mesh_ip 1):9001" <<<"$1-$i" 2>/dev/null
	done
	return 0
}

echoed_lines() { [ -s "$T_TMP/echoed" ] && [ "$(wc -l <"$T_TMP/echoed")" -ge "$1" ]; }

kill_and_restart() {
	local old_key node1_pid
	old_key=$(mesh_peer 1 2 public_key)
	node1_pid=$(mesh_node_daemons 1)
	check fault_kill.streaming mesh_wait 20 echoed_lines 40
	check fault_kill.sigkill mesh_kill_node 2
	send_from_node2 "$marker-while-dead"
	sleep 4 # node 1 keeps sending into the tunnel meanwhile
	check fault_kill.restart mesh_start_node 2 "$config"
	check fault_kill.stream_finished mesh_wait 180 mesh_stream_done
	check fault_kill.byte_exact cmp "$T_TMP/sent" "$T_TMP/echoed"
	check fault_kill.tunnel_up mesh_peer_is 1 2 up
	check fault_kill.new_key test "$(mesh_peer 1 2 public_key)" != "$old_key"
	check fault_kill.survivor_same_daemon test "$(mesh_node_daemons 1)" = "$node1_pid"
}

if setup; then
	pass fault_kill.setup
	mesh_capture_start
	start_stream
	kill_and_restart
	mesh_capture_stop
	check fault_kill.capture_saw_traffic test -s "$(mesh_capture_file)"
	check fault_kill.dead_node_sent_nothing_in_plaintext mesh_capture_lacks "$marker-while-dead"
	check fault_kill.never_plaintext mesh_capture_lacks "$marker"
else
	fail fault_kill.setup "mesh did not start"
fi
mesh_finish
