#!/usr/bin/env bash
# A node's rules over its life: `up` installs one set of nftables tables and ip rules, `down`
# removes them all, and `up` after `down` or after the daemon was killed (kill -9) leaves exactly
# the same single set as the first `up`, with the tunnel working again.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT_DIR/netns-scripts/mesh.sh"
mesh_for_test

config=$ROOT_DIR/netns-scripts/configs/mesh-two-way-ra.json
marker="tngwg-lifecycle-$RANDOM"

# Node 1's tables, ip rules and ruleset (counters left out), as text.
rules() {
	mesh_node_exec 1 nft list tables
	mesh_node_exec 1 ip rule show
	mesh_node_exec 1 nft list ruleset | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'
}

setup() {
	mesh_create 2 && mesh_start_as || return 1
	mesh_start_aa 1 --svn 1 && mesh_start 2 "$config" --svn 1 && mesh_echo_server 1 tcp 9001 || return 1
	rules >"$T_TMP/bare" && [ -z "$(mesh_node_exec 1 nft list tables)" ]
}

same_as() { rules | diff -u "$T_TMP/$1" - >&2; }
has_rules() { [ -n "$(mesh_node_exec 1 nft list tables)" ] && ! same_as bare 2>/dev/null; }
# Neither the UAPI socket nor the control socket is left in node 1's run directories.
no_sockets() { ! find "$MESH_DIR/node1/run" -type s -name 'tngwg0*' | grep . >&2; }
no_interface() { ! mesh_node_exec 1 ip link show tngwg0 >/dev/null 2>&1; }
up() { mesh_start_node 1 "$config"; }
down() { mesh_stop_node 1; }

if setup; then
	pass mesh_lifecycle.setup
	check mesh_lifecycle.up up
	rules >"$T_TMP/up"
	check mesh_lifecycle.up_installs_rules has_rules
	check mesh_lifecycle.tunnel mesh_reaches 2 1 tcp 9001 "$marker"

	check mesh_lifecycle.down down
	check mesh_lifecycle.down_leaves_none same_as bare
	check mesh_lifecycle.down_removes_interface no_interface
	check mesh_lifecycle.down_removes_sockets no_sockets
	check mesh_lifecycle.up_after_down up
	check mesh_lifecycle.up_after_down_one_set same_as up

	check mesh_lifecycle.kill_9 mesh_kill_node 1
	# A killed daemon removes nothing, so the next `up` must replace its leftovers.
	check mesh_lifecycle.kill_leaves_rules has_rules
	check mesh_lifecycle.up_after_kill up
	check mesh_lifecycle.up_after_kill_one_set same_as up
	check mesh_lifecycle.tunnel_after_kill mesh_reaches 2 1 tcp 9001 "$marker"

	check mesh_lifecycle.kill_9_again mesh_kill_node 1
	check mesh_lifecycle.down_after_kill down
	check mesh_lifecycle.down_after_kill_leaves_none same_as bare
	check mesh_lifecycle.down_after_kill_no_interface no_interface
	check mesh_lifecycle.down_after_kill_no_sockets no_sockets
else
	fail mesh_lifecycle.setup "the mesh did not come up"
fi
mesh_finish
