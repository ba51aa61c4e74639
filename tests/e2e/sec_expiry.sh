#!/usr/bin/env bash
# A tunnel lives no longer than the attestation token behind it. The AS issues tokens that live
# 12 s; nodes 1 and 2 run the scenario config with re-attestation only every 300 s.
#   - the tokens are renewed before they expire: the attestation count grows, the token expiry
#     moves forward, the tunnel stays up and traffic flows throughout;
#   - the AS stalls: re-attestation cannot complete, and the tunnel is kept (so said) only until
#     the token expires; then it is removed, `wg show` lacks the peer, and traffic to the
#     protected port fails (closed, never in plaintext);
#   - the AS answers again: the next packet attests again and traffic flows.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT_DIR/netns-scripts/mesh.sh"
mesh_for_test

marker="tngwg-expiry-$RANDOM$RANDOM"

setup() {
	local cfg=$T_TMP/node.json
	jq '.overlay = {"reattest_interval": 300, "handshake_timeout": 3}' \
		"$ROOT_DIR/netns-scripts/configs/mesh-two-way-ra.json" >"$cfg" || return 1
	mesh_create 2 && mesh_start_as --token-lifetime 12 &&
		mesh_start 1 "$cfg" && mesh_start 2 "$cfg" && mesh_echo_server 2 tcp 9001 &&
		mesh_reaches 1 2 tcp 9001 "$marker"
}

expiry_after() { [[ "$(mesh_peer 1 2 token_expiry)" > "$1" ]]; }

renewed_in_time() {
	local count expiry i failed=0
	count=$(mesh_peer 1 2 attestations)
	expiry=$(mesh_peer 1 2 token_expiry)
	check sec_expiry.token_expiry_shown test -n "$expiry"
	# About 20 s: longer than a token lives.
	for i in $(seq 1 20); do
		mesh_echo 1 "$(mesh_ip 2)" tcp 9001 "$marker-$i" || failed=$((failed + 1))
		sleep 0.5
	done
	check sec_expiry.traffic_throughout test "$failed" -eq 0
	check sec_expiry.renewed mesh_attested_more_than 1 2 "${count:-0}"
	check sec_expiry.expiry_moved expiry_after "$expiry"
	check sec_expiry.still_up mesh_peer_is 1 2 up
}

lapse_without_renewal() {
	echo stall >"$MESH_DIR/as/mode"
	check sec_expiry.kept_while_valid wait_for 15 mesh_peer_error_has 1 2 "tunnel kept until its token expires"
	check sec_expiry.kept_up mesh_peer_is 1 2 up
	check sec_expiry.removed_at_expiry wait_for 20 mesh_wg_lacks 1 2
	check sec_expiry.removal_says_why grep -q "$(mesh_ip 2) (failed, token_expired): its attestation token expired at .* without a renewal" "$MESH_DIR/node1.log"
	check sec_expiry.not_up test "$(mesh_peer 1 2 state)" != up
	mesh_capture_start
	check sec_expiry.fails_closed mesh_refused 1 2 tcp 9001 "$marker-lapsed"
	mesh_capture_stop
	check sec_expiry.never_plaintext mesh_capture_lacks "$marker-lapsed"
	echo ok >"$MESH_DIR/as/mode"
	check sec_expiry.back_after_as mesh_reaches 1 2 tcp 9001 "$marker-back"
	check sec_expiry.up_again mesh_peer_is 1 2 up
}

if setup; then
	pass sec_expiry.setup
	renewed_in_time
	lapse_without_renewal
else
	fail sec_expiry.setup "the mesh did not come up"
fi
mesh_finish
