#!/usr/bin/env bash
# TNG's "mesh node with two-way RA" scenario on three nodes: TCP and UDP on port 9001 work between
# every pair in both directions, and travel only encrypted (a marker sent on 9001 never shows up in a
# capture of the bridge), while port 9002 is left alone (its marker does show up). As in the
# scenario, the nodes take the AS's keys from the AS (allowed in so many words).
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT_DIR/netns-scripts/mesh.sh"
mesh_for_test
MESH_ANCHORS=fetch

config=$ROOT_DIR/netns-scripts/configs/mesh-two-way-ra.json
protected="tngwg-9001-marker-$RANDOM$RANDOM"
clear="tngwg-9002-marker-$RANDOM$RANDOM"
nodes=(1 2 3)

setup() {
	mesh_create 3 && mesh_start_as || return 1
	local k
	for k in "${nodes[@]}"; do
		mesh_start "$k" "$config" --svn 1 &&
			mesh_echo_server "$k" tcp 9001 && mesh_echo_server "$k" udp 9001 &&
			mesh_echo_server "$k" tcp 9002 || return 1
	done
	mesh_capture_start
}

# Node A holds B as a peer attested under policy "default", whose tunnel is up and has carried
# traffic both ways.
attested() {
	mesh_peer_is "$1" "$2" up && [ "$(mesh_peer "$1" "$2" attested)" = true ] &&
		[ "$(mesh_peer "$1" "$2" tee)" = sample ] && [ "$(mesh_peer "$1" "$2" policy_ids)" = default ] &&
		[ "$(mesh_peer "$1" "$2" rx_bytes)" -gt 0 ] && [ "$(mesh_peer "$1" "$2" tx_bytes)" -gt 0 ]
}

if setup; then
	pass mesh_scenario.setup
	for a in "${nodes[@]}"; do
		for b in "${nodes[@]}"; do
			[ "$a" = "$b" ] && continue
			check "mesh_scenario.tcp_9001_${a}_to_$b" mesh_reaches "$a" "$b" tcp 9001 "$protected"
			check "mesh_scenario.udp_9001_${a}_to_$b" mesh_reaches "$a" "$b" udp 9001 "$protected"
			check "mesh_scenario.${a}_attested_$b" attested "$a" "$b"
		done
	done
	check mesh_scenario.tcp_9002_clear mesh_reaches 1 2 tcp 9002 "$clear"
	mesh_capture_stop
	check mesh_scenario.9002_marker_on_the_wire mesh_capture_has "$clear"
	check mesh_scenario.9001_marker_never_on_the_wire mesh_capture_lacks "$protected"
else
	fail mesh_scenario.setup "the mesh did not come up"
fi
mesh_finish
