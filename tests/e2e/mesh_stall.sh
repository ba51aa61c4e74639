#!/usr/bin/env bash
# A verifier or an evidence source that never answers, or answers nonsense (scenario config with a
# 3 s handshake deadline, `overlay.handshake_timeout`), on four nodes:
#   the AS stalls: the attested handshake 1 -> 3 fails at the deadline, with no tunnel; meanwhile
#   node 1 answers `tng-wg show` and its tunnel to node 2 carries traffic; the AS answers again:
#   the tunnel comes up;
#   the AS answers 500, then garbage: 2 -> 3 is refused with that reason in `show`'s last_error;
#   node 4's AA stalls: 1 -> 4 fails at the deadline, node 4 still answers `show`, 1 -> 2 still
#   works; the AA answers again: the tunnel comes up;
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

# While a handshake from node A to node D hangs on a stalled verifier or evidence source, node A
# and node S (also waiting on the stalled part) answer `show` and node 1's tunnel to node 2 works; the handshake
# then fails at the deadline, with no tunnel on either side.
stalled() {
	local a=$1 d=$2 s=$3 name=$4
	mesh_refused "$a" "$d" tcp 9001 "$marker" >"$T_TMP/refused" 2>&1 &
	local refuse=$!
	check "mesh_stall.${name}_attesting" wait_for 10 mesh_peer_is "$a" "$d" attesting
	check "mesh_stall.${name}_show_answers_on_$a" show_answers "$a"
	check "mesh_stall.${name}_show_answers_on_$s" show_answers "$s"
	check "mesh_stall.${name}_other_tunnel_works" mesh_echo 1 "$(mesh_ip 2)" tcp 9001 "$marker"
	if wait "$refuse"; then pass "mesh_stall.${name}_refused"; else fail "mesh_stall.${name}_refused"; fi
	check "mesh_stall.${name}_failed" wait_for 20 mesh_peer_is "$a" "$d" failed
	check "mesh_stall.${name}_timeout" mesh_peer_error_has "$a" "$d" timeout
	check "mesh_stall.${name}_no_tunnel_on_$a" mesh_wg_lacks "$a" "$d"
	check "mesh_stall.${name}_no_tunnel_on_$d" mesh_wg_lacks "$d" "$a"
}

setup() {
	jq '.overlay = {"handshake_timeout": 3}' "$ROOT_DIR/netns-scripts/configs/mesh-two-way-ra.json" \
		>"$config" || return 1
	mesh_create 4 && mesh_start_as || return 1
	local k
	for k in 1 2 3; do
		mesh_start "$k" "$config" --svn 1 && mesh_echo_server "$k" tcp 9001 || return 1
	done
	mesh_start 4 "$config" --svn 1 --stall && mesh_echo_server 4 tcp 9001 &&
		mesh_reaches 1 2 tcp 9001 "$marker" && mesh_capture_start
}

as_stall() {
	as_mode stall
	stalled 1 3 3 as_stall
	as_mode ok
	check mesh_stall.as_answers_again_tunnel mesh_reaches 1 3 tcp 9001 "$marker"
}

as_errors() {
	as_mode 500
	check mesh_stall.as_500_refused wait_for 20 refused_for 2 3 "HTTP 500"
	check mesh_stall.as_500_not_up not_up 2 3
	check mesh_stall.as_500_no_tunnel mesh_wg_lacks 2 3
	as_mode garbage
	check mesh_stall.as_garbage_refused wait_for 30 refused_for 2 3 "token-invalid"
	check mesh_stall.as_garbage_not_up not_up 2 3
	check mesh_stall.as_garbage_no_tunnel mesh_wg_lacks 2 3
	as_mode ok
	check mesh_stall.as_ok_tunnel mesh_reaches 2 3 tcp 9001 "$marker"
}

aa_stall() {
	stalled 1 4 4 aa_stall
	mesh_stop_aa 4
	check mesh_stall.aa_answers_again mesh_start_aa 4 --svn 1
	check mesh_stall.aa_answers_again_tunnel mesh_reaches 1 4 tcp 9001 "$marker"
}

no_plaintext() {
	mesh_capture_stop
	check mesh_stall.9001_never_in_plaintext mesh_capture_lacks "$marker"
}

if setup; then
	pass mesh_stall.setup
	as_stall
	as_errors
	aa_stall
	no_plaintext
else
	fail mesh_stall.setup "the mesh did not come up"
fi
mesh_finish
