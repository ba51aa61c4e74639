#!/usr/bin/env bash
# A verifier or an evidence source that never answers, or answers nonsense (scenario config with a
# 6 s handshake deadline, `overlay.handshake_timeout`), on four nodes and a fifth that joins last;
# node 1 has a tunnel to node 2:
#   node 4's AA stalls: the attested handshake 1 -> 4 fails at the deadline, with no tunnel; while it
#   hangs, nodes 1 and 4 answer `tng-wg show`, 1 -> 2 carries traffic and node 1 makes a new tunnel
#   to node 3; the AA answers again: the tunnel 1 -> 4 comes up;
#   the AS stalls: 2 -> 4 fails the same way while nodes 2 and 4 answer `show` and 1 -> 2 works;
#   the AS answers again: the tunnel comes up;
#   the AS answers 500, then garbage, then an oversized reply: 3 -> 4 is refused with that reason
#   in `show`'s last_error;
#   the AS answers again: the tunnel comes up;
#   a fifth node listing node 1 in `overlay.peers` starts while the AS stalls; a connection from
#   node 1's address that never says anything supersedes its hanging handshake (node 1's address
#   is the lower); once the AS answers, node 5 still brings its tunnel to node 1 up on its own;
#   and nothing sent on 9001 crossed the bridge in plaintext.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT_DIR/netns-scripts/mesh.sh"
mesh_for_test

marker="tngwg-stall-$RANDOM$RANDOM"
config=$T_TMP/stall.json

as_mode() { echo "$1" >"$MESH_DIR/as/mode"; }

# `tng-wg show` on node K answers, in both forms.
show_answers() {
	mesh_node_exec "$1" timeout 5 "$TNGWG" show --json tngwg0 | jq -e '.peers' >/dev/null &&
		mesh_node_exec "$1" timeout 5 "$TNGWG" show tngwg0 | grep -q '^interface: tngwg0'
}

# An exchange from A to D on 9001 is refused and A's last error about D then names REASON.
refused_for() { mesh_refused "$1" "$2" tcp 9001 "$marker" && mesh_peer_error_has "$1" "$2" "$3"; }

# Node A does not hold D as up (a retry may be attesting).
not_up() {
	local state
	state=$(mesh_peer "$1" "$2" state) && [ -n "$state" ] && [ "$state" != up ]
}

# While a handshake from node A to node D hangs on a stalled verifier or evidence source, nodes A
# and D answer `show`, node 1's tunnel to node 2 works, and node A reaches each further host given;
# the handshake then fails at the deadline, with no tunnel on either side.
stalled() {
	local name=$1 a=$2 d=$3 other
	shift 3
	mesh_refused "$a" "$d" tcp 9001 "$marker" &
	local refuse=$!
	check "mesh_stall.${name}_attesting" wait_for 10 mesh_peer_is "$a" "$d" attesting
	check "mesh_stall.${name}_show_answers_on_$a" show_answers "$a"
	check "mesh_stall.${name}_show_answers_on_$d" show_answers "$d"
	check "mesh_stall.${name}_existing_tunnel_works" mesh_echo 1 "$(mesh_ip 2)" tcp 9001 "$marker"
	for other in "$@"; do
		check "mesh_stall.${name}_new_tunnel_${a}_to_$other" mesh_reaches "$a" "$other" tcp 9001 "$marker"
	done
	if wait "$refuse"; then pass "mesh_stall.${name}_refused"; else fail "mesh_stall.${name}_refused"; fi
	check "mesh_stall.${name}_failed" wait_for 20 mesh_peer_is "$a" "$d" failed
	check "mesh_stall.${name}_timeout" mesh_peer_error_has "$a" "$d" timeout
	check "mesh_stall.${name}_no_tunnel_on_$a" mesh_wg_lacks "$a" "$d"
	check "mesh_stall.${name}_no_tunnel_on_$d" mesh_wg_lacks "$d" "$a"
}

setup() {
	jq '.overlay = {"handshake_timeout": 6}' "$ROOT_DIR/netns-scripts/configs/mesh-two-way-ra.json" \
		>"$config" || return 1
	mesh_create 4 && mesh_start_as || return 1
	local k
	for k in 1 2 3; do
		mesh_start "$k" "$config" --svn 1 && mesh_echo_server "$k" tcp 9001 || return 1
	done
	mesh_start 4 "$config" --svn 1 --stall && mesh_echo_server 4 tcp 9001 &&
		mesh_reaches 1 2 tcp 9001 "$marker" && mesh_capture_start
}

aa_stall() {
	stalled aa_stall 1 4 3
	mesh_stop_aa 4
	check mesh_stall.aa_answers_again mesh_start_aa 4 --svn 1
	check mesh_stall.aa_answers_again_tunnel mesh_reaches 1 4 tcp 9001 "$marker"
}

as_stall() {
	as_mode stall
	stalled as_stall 2 4
	as_mode ok
	check mesh_stall.as_answers_again_tunnel mesh_reaches 2 4 tcp 9001 "$marker"
}

# The AS in MODE: 3 -> 4 is refused, and node 3's last error about node 4 names TEXT.
as_refuses() {
	local mode=$1 text=$2
	as_mode "$mode"
	check "mesh_stall.as_${mode}_refused" wait_for 30 refused_for 3 4 "$text"
	check "mesh_stall.as_${mode}_not_up" not_up 3 4
	check "mesh_stall.as_${mode}_no_tunnel" mesh_wg_lacks 3 4
}

as_errors() {
	as_refuses 500 "HTTP 500"
	as_refuses garbage "token-invalid"
	as_refuses oversized "exceeds"
	as_mode ok
	check mesh_stall.as_ok_tunnel mesh_reaches 3 4 tcp 9001 "$marker"
}

# Node K holds D as a configured peer, up.
static_up() { mesh_peer_is "$1" "$2" up && [ "$(mesh_peer "$1" "$2" static)" = true ]; }

silent_superseder() {
	local listing=$T_TMP/stall-static.json
	jq --arg p "$(mesh_ip 1)" '.overlay.peers = [$p]' "$config" >"$listing" || return 1
	as_mode stall
	check mesh_stall.silent_node_added mesh_add_node 5
	check mesh_stall.silent_node_started mesh_start 5 "$listing" --svn 1
	check mesh_stall.silent_attesting wait_for 10 mesh_peer_is 5 1 attesting
	# Opened from node 1's namespace, so from node 1's address; the port is not steered there.
	mesh_bg 1 silent bash -c "exec 3<>/dev/tcp/$(mesh_ip 5)/51820 && sleep 30"
	check mesh_stall.silent_connected wait_for 10 silent_connected
	as_mode ok
	check mesh_stall.silent_superseded_then_up wait_for 40 static_up 5 1
	mesh_kill_named silent
}

# The silent connection from node 1 to node 5's handshake port is open (the listener is dual-stack,
# so the peer may show as [::ffff:ADDR]).
silent_connected() {
	mesh_node_exec 5 ss -Htn state established "sport = :51820" | grep -qE "[^0-9.]$(mesh_ip 1)]?:"
}

no_plaintext() {
	mesh_capture_stop
	check mesh_stall.9001_never_in_plaintext mesh_capture_lacks "$marker"
}

if setup; then
	pass mesh_stall.setup
	aa_stall
	as_stall
	as_errors
	silent_superseder
	no_plaintext
else
	fail mesh_stall.setup "the mesh did not come up"
fi
mesh_finish
