#!/usr/bin/env bash
# run alone
# A rogue host and a careless local sender cannot keep honest peers out. Four nodes run the
# scenario config (two-way attestation); p1 is the rogue host.
#   - p1, with eight addresses, holds connections to node 1's handshake port open with half a frame
#     each (as many as it can, 200 new per second): meanwhile nodes 2 and 3, new to node 1, attest
#     and tunnel to it; the rogue was refused as busy (its share of the slots taken) and
#     rate-limited;
#   - a local sender on node 1 sends to 5000 addresses on the captured port: node 1 keeps fewer
#     than 4096 peers, stays up, still makes a tunnel to node 4 (a peer it had not met), and
#     forgets the failed destinations after a while, keeping its up peers.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT_DIR/netns-scripts/mesh.sh"
mesh_for_test

FLOOD="$ROOT_DIR/tests/tools/flood.py"
scenario=$ROOT_DIR/netns-scripts/configs/mesh-two-way-ra.json
marker="tngwg-flood-$RANDOM$RANDOM"

setup() {
	local k
	mesh_create 4 && mesh_add_plain 1 && mesh_start_as || return 1
	for k in 1 2 3 4; do
		mesh_start "$k" "$scenario" || return 1
	done
	mesh_echo_server 1 tcp 9001 && mesh_echo_server 4 tcp 9001
}

peer_count() { mesh_node_exec 1 "$TNGWG" show --json tngwg0 | jq '.peers | length'; }
fewer_peers_than() { [ "$(peer_count)" -lt "$1" ]; }
attested_up() { mesh_peer_is "$1" "$2" up && [ "$(mesh_peer "$1" "$2" attested)" = true ]; }

rogue_handshakes() {
	local out=$MESH_DIR/flood-result sources k
	sources=$(mesh_ip p1)
	for k in 1 2 3 4 5 6 7; do
		mesh_node_exec p1 ip addr add "10.77.0.$((200 + k))/24" dev eth0
		sources+=",10.77.0.$((200 + k))"
	done
	mesh_node_exec p1 python3 "$FLOOD" slow --target "$(mesh_ip 1):51820" --conns 200 --rate 200 \
		--seconds 25 --sources "$sources" >"$out" 2>&1 &
	local flood=$!
	sleep 3
	MESH_WAIT=20 check sec_flood.2_joins_during_flood mesh_reaches 2 1 tcp 9001 "$marker-2"
	MESH_WAIT=20 check sec_flood.3_joins_during_flood mesh_reaches 3 1 tcp 9001 "$marker-3"
	check sec_flood.2_attested attested_up 1 2
	check sec_flood.3_attested attested_up 1 3
	wait "$flood"
	echo "rogue: $(cat "$out")" >&2
	check sec_flood.rogue_refused_busy grep -q 'refused_busy=' "$out"
	check sec_flood.rogue_rate_limited grep -q 'refused_rate_limited=' "$out"
}

many_destinations() {
	mesh_node_exec 1 ip route add 10.200.0.0/16 via 10.77.0.250 # a gateway that never answers
	mesh_node_exec 1 python3 "$FLOOD" udp --prefix 10.200 --count 5000 --port 9001 >&2
	echo "node 1 holds $(peer_count) peers" >&2
	check sec_flood.table_bounded fewer_peers_than 4097
	check sec_flood.daemon_up mesh_node_exec 1 "$TNGWG" show tngwg0
	check sec_flood.new_peer_joins mesh_reaches 1 4 tcp 9001 "$marker-4"
	check sec_flood.new_peer_attested attested_up 1 4
	check sec_flood.failed_forgotten wait_for 60 fewer_peers_than 10
	check sec_flood.up_peers_kept attested_up 1 4
	check sec_flood.up_peers_kept_2 mesh_peer_is 1 2 up
}

if setup; then
	pass sec_flood.setup
	rogue_handshakes
	many_destinations
else
	fail sec_flood.setup "the mesh did not come up"
fi
mesh_finish
