#!/usr/bin/env bash
# Failures around a running mesh (scenario config, re-attestation every 10 s):
#   the AS down: no tunnel; the AS back: the tunnel comes up;
#   a node's AA down: the same, for that node;
#   a node restarted: traffic to it resumes;
#   the AS's reference values changed: the node no longer accepted is cut by re-attestation;
#   a fourth node added to the running mesh reaches every other node, none of them restarted;
#   and through all of it, nothing sent on 9001 crossed the bridge in plaintext.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT_DIR/netns-scripts/mesh.sh"
mesh_for_test

config=$ROOT_DIR/netns-scripts/configs/mesh-two-way-ra-reattest.json
marker="tngwg-failures-$RANDOM$RANDOM"
clear="tngwg-failures-clear-$RANDOM$RANDOM"
both='{"default": {"svn": ["1", "2"]}}'
only_1='{"default": {"svn": ["1"]}}'


# Nodes 1 and 2 have svn 1, node 3 svn 2; the AS accepts both at first.
node_svn() { if [ "$1" = 3 ]; then echo 2; else echo 1; fi; }

start_node() {
	mesh_start "$1" "$config" --svn "$(node_svn "$1")" && mesh_echo_server "$1" tcp 9001
}

setup() {
	mesh_create 3 && mesh_start_as && mesh_set_reference_values "$both" || return 1
	local k
	for k in 1 2 3; do
		start_node "$k" || return 1
	done
	mesh_echo_server 1 tcp 9002 && mesh_capture_start
}

# Through every failure above, the marker sent on 9001 never crossed the bridge in plaintext,
# while the one sent on 9002 did.
no_plaintext() {
	check mesh_failures.9002_in_the_clear mesh_reaches 2 1 tcp 9002 "$clear"
	mesh_capture_stop
	check mesh_failures.capture_saw_9002 mesh_capture_has "$clear"
	check mesh_failures.9001_never_in_plaintext mesh_capture_lacks "$marker"
}

# No tunnel while the AS is down.
as_down() {
	mesh_stop_as
	check mesh_failures.as_down_refused mesh_refused 1 2 tcp 9001 "$marker"
	check mesh_failures.as_down_peer_failed wait_for 20 mesh_peer_is 1 2 failed
	check mesh_failures.as_down_no_tunnel mesh_wg_lacks 1 2
	check mesh_failures.as_back mesh_start_as
	check mesh_failures.as_back_tunnel mesh_reaches 1 2 tcp 9001 "$marker"
}

aa_down() {
	mesh_stop_aa 3
	check mesh_failures.aa_down_refused mesh_refused 1 3 tcp 9001 "$marker"
	check mesh_failures.aa_down_peer_failed wait_for 20 mesh_peer_is 1 3 failed
	check mesh_failures.aa_down_no_tunnel mesh_wg_lacks 1 3
	check mesh_failures.aa_back mesh_start_aa 3 --svn "$(node_svn 3)"
	check mesh_failures.aa_back_tunnel mesh_reaches 1 3 tcp 9001 "$marker"
}

node_restart() {
	check mesh_failures.node_stopped mesh_stop_node 2
	check mesh_failures.node_started mesh_start_node 2 "$config"
	check mesh_failures.node_restarted_tunnel mesh_reaches 1 2 tcp 9001 "$marker"
}

# Node 3 (svn 2) is no longer accepted: re-attestation cuts it, node 2 stays.
reference_values_change() {
	check mesh_failures.reference_values_tunnel_before mesh_reaches 3 1 tcp 9001 "$marker"
	local before
	before=$(mesh_peer 1 2 attestations)
	mesh_set_reference_values "$only_1"
	check mesh_failures.reference_values_cut wait_for 60 mesh_peer_is 1 3 failed
	check mesh_failures.reference_values_not_affirming mesh_peer_error_has 1 3 not-affirming
	check mesh_failures.reference_values_no_tunnel mesh_wg_lacks 1 3
	check mesh_failures.reference_values_refused mesh_refused 1 3 tcp 9001 "$marker"
	check mesh_failures.reference_values_others_stay mesh_reaches 1 2 tcp 9001 "$marker"
	# Node 2 still passes: its re-attestations succeed and keep its tunnel.
	check mesh_failures.reattested_and_kept wait_for 30 mesh_attested_more_than 1 2 "${before:-0}"
	check mesh_failures.reattested_still_up mesh_peer_is 1 2 up
	mesh_set_reference_values "$both"
	check mesh_failures.reference_values_restored mesh_reaches 1 3 tcp 9001 "$marker"
}

fourth_node() {
	local k
	check mesh_failures.fourth_node_added mesh_add_node 4
	check mesh_failures.fourth_node_started start_node 4
	for k in 1 2 3; do
		check "mesh_failures.fourth_node_to_$k" mesh_reaches 4 "$k" tcp 9001 "$marker"
		check "mesh_failures.${k}_to_fourth_node" mesh_reaches "$k" 4 tcp 9001 "$marker"
	done
}

if setup; then
	pass mesh_failures.setup
	as_down
	aa_down
	node_restart
	reference_values_change
	fourth_node
	no_plaintext
else
	fail mesh_failures.setup "the mesh did not come up"
fi
mesh_finish
