#!/usr/bin/env bash
# What `tng-wg show` tells the operator, on three nodes (node 1 lists node 2 in `overlay.peers`;
# node 3 runs svn 2, which the AS does not accept):
#   the human output has a block per peer with its state, TEE, policy ids, key, endpoint and
#   handshake, or its last error naming the AS's verdict; `show --json` parses and agrees with it;
#   an AS error whose text spans lines still gives a one-line last error in both forms;
#   `show` for an interface without a daemon fails and says so.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT_DIR/netns-scripts/mesh.sh"
mesh_for_test

scenario=$ROOT_DIR/netns-scripts/configs/mesh-two-way-ra.json
marker="tngwg-show-$RANDOM$RANDOM"

# Node K's human `show`, kept in $T_TMP/showK.
show_text() { mesh_node_exec "$1" "$TNGWG" show tngwg0 >"$T_TMP/show$1"; }

# Node K's human block for host D: from "peer: ADDR" up to the next blank line.
peer_block() {
	awk -v p="peer: $(mesh_ip "$2")" '$0 == p { on = 1 } on && $0 == "" { exit } on' "$T_TMP/show$1"
}

# Node K's block for D, freshly read, has a line matching the extended regex RE.
block_has() { show_text "$1" && peer_block "$1" "$2" | grep -qE -- "$3"; }

block_lacks() { show_text "$1" && ! peer_block "$1" "$2" | grep -qE -- "$3"; }

# Every line of node K's block for D is its "peer:" heading or an indented field.
block_well_formed() {
	local block
	show_text "$1" && block=$(peer_block "$1" "$2") && [ -n "$block" ] &&
		! grep -vE '^(peer: |  [a-z ]+: )' <<<"$block"
}

# Node K's `show --json` is JSON naming its interface and its two peers.
json_parses() {
	mesh_node_exec "$1" "$TNGWG" show --json tngwg0 | jq -e '.interface == "tngwg0" and (.peers | length) == 2'
}

# Node K's JSON view of D has FIELD equal to VALUE.
json_is() { [ "$(mesh_peer "$1" "$2" "$3")" = "$4" ]; }

setup() {
	local c1=$T_TMP/static.json
	jq --arg p "$(mesh_ip 2)" '.overlay = {"peers": [$p]}' "$scenario" >"$c1" || return 1
	mesh_create 3 && mesh_start_as || return 1
	mesh_start 2 "$scenario" --svn 1 && mesh_echo_server 2 tcp 9001 &&
		mesh_start 3 "$scenario" --svn 2 && mesh_echo_server 3 tcp 9001 &&
		mesh_start 1 "$c1" --svn 1 && mesh_reaches 1 2 tcp 9001 "$marker"
}

up_peer() {
	check mesh_show.up_state block_has 1 2 '^  state: up \(configured\)$'
	check mesh_show.up_attestation block_has 1 2 '^  attestation: sample, policy ids default, token expires [0-9TZ:-]+, '
	check mesh_show.up_public_key block_has 1 2 '^  public key: [A-Za-z0-9+/]{43}=$'
	check mesh_show.up_endpoint block_has 1 2 "^  endpoint: $(mesh_ip 2):51820\$"
	check mesh_show.up_handshake block_has 1 2 '^  latest handshake: [0-9TZ:-]+$'
	check mesh_show.up_transfer block_has 1 2 '^  transfer: .* received, .* sent$'
	check mesh_show.up_no_error block_lacks 1 2 '^  last error:'
	check mesh_show.up_on_other_side block_has 2 1 '^  state: up$'
}

refused_peer() {
	check mesh_show.refused mesh_refused 1 3 tcp 9001 "$marker"
	check mesh_show.refused_state wait_for 20 block_has 1 3 '^  state: failed$'
	check mesh_show.refused_error block_has 1 3 '^  last error: .*not-affirming.* \([0-9TZ:-]+\)$'
	check mesh_show.refused_not_attested block_lacks 1 3 '^  attestation:'
	check mesh_show.refused_well_formed block_well_formed 1 3
}

json_agrees() {
	check mesh_show.json_parses json_parses 1
	check mesh_show.json_up json_is 1 2 state up
	check mesh_show.json_static json_is 1 2 static true
	check mesh_show.json_tee json_is 1 2 tee sample
	check mesh_show.json_policy json_is 1 2 policy_ids default
	check mesh_show.json_failed json_is 1 3 state failed
	check mesh_show.json_error mesh_peer_error_has 1 3 not-affirming
	check mesh_show.json_all_daemons mesh_node_exec 1 "$TNGWG" show --json
}

# The stand-in AS's 500 reply spans two lines; the last error must not, on either side (the side
# whose own appraisal failed records the AS's text, the other what the peer reported).
multi_line_error() {
	echo 500 >"$MESH_DIR/as/mode"
	check mesh_show.as_500_error wait_for 30 refused_with_500
	check mesh_show.as_500_one_line_on_1 block_well_formed 1 3
	check mesh_show.as_500_one_line_on_3 block_well_formed 3 1
	check mesh_show.as_500_json_one_line_on_1 json_error_one_line 1 3
	check mesh_show.as_500_json_one_line_on_3 json_error_one_line 3 1
	echo ok >"$MESH_DIR/as/mode"
}

refused_with_500() {
	mesh_refused 1 3 tcp 9001 "$marker" && mesh_peer_error_has 1 3 "HTTP 500" && mesh_peer_error_has 3 1 "HTTP 500"
}
json_error_one_line() { [ "$(mesh_peer "$1" "$2" last_error | wc -l)" -eq 1 ]; }

no_daemon() {
	local out
	out=$(mesh_node_exec 1 "$TNGWG" show nosuch0 2>&1)
	check mesh_show.no_daemon_fails test $? -ne 0
	check mesh_show.no_daemon_says_so grep -q 'no tng-wg daemon for nosuch0' <<<"$out"
}

if setup; then
	pass mesh_show.setup
	up_peer
	refused_peer
	json_agrees
	multi_line_error
	no_daemon
else
	fail mesh_show.setup "the mesh did not come up"
fi
mesh_finish
