#!/usr/bin/env bash
# Protocol attacks on real nodes. Nodes 1 and 2 run the scenario config (both attest and require
# the other's evidence) with the stand-in AA and AS, and have a tunnel; plain hosts attack with
# tests/tools/hs_peer.py. Each attack is refused for its reason, as the attacker hears it and as
# the node shows or logs it; nothing is installed for the attacker; the 1-2 tunnel is untouched.
#   - replay (p1): what node 1 sent in the captured session that set up the tunnel, replayed to
#     node 2 in a new connection: the Noise handshake fails (protocol_error);
#   - relay (p2): node 2 starts a handshake to p2 and hands over its evidence; p2 presents it,
#     with node 2's key and port, as its own to node 1: verification_failed, as the evidence binds
#     another session's handshake hash;
#   - evidence bound to another WireGuard key than the one announced (p3): verification_failed;
#     p6 with the same evidence correctly bound is accepted, so the binding is what failed;
#   - downgrade: a hello without the attestation flags (p4), or with them but an evidence message
#     without evidence (p5): attestation_required.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT_DIR/netns-scripts/mesh.sh"
mesh_for_test

HS_PEER="$ROOT_DIR/tests/tools/hs_peer.py"
marker="tngwg-fault-$RANDOM$RANDOM"

setup() {
	local cfg=$T_TMP/node.json h
	jq '.overlay = {"handshake_timeout": 3}' "$ROOT_DIR/netns-scripts/configs/mesh-two-way-ra.json" >"$cfg" || return 1
	mesh_create 2 && mesh_start_as || return 1
	for h in 1 2 3 4 5 6; do
		mesh_add_plain "$h" || return 1
	done
	mesh_start 1 "$cfg" && mesh_start 2 "$cfg" && mesh_echo_server 2 tcp 9001 &&
		mesh_capture_start && mesh_reaches 1 2 tcp 9001 "$marker" && mesh_capture_stop
}

# hs_peer.py run from host H against node K's handshake port; its output is in $T_TMP/H.out.
attack() {
	local h=$1 k=$2
	shift 2
	mesh_node_exec "$h" /usr/bin/python3 "$HS_PEER" --connect "$(mesh_ip "$k")" --port 51820 "$@" >"$T_TMP/$h.out" 2>&1
	echo "$h: $(cat "$T_TMP/$h.out")" >&2
}

heard() { grep -q "^failed reason=$2 by_peer=1" "$T_TMP/$1.out"; }

# `wg show` on node K: FIELD (endpoints or allowed-ips) of the peer with KEY.
wg_of() { mesh_node_exec "$1" wg show tngwg0 "$3" | awk -v k="$2" '$1 == k { $1 = ""; print substr($0, 2) }'; }

# Node K's tunnel to node D is the one it had: up, under KEY, endpoint and allowed IPs D's.
tunnel_intact() {
	mesh_peer_is "$1" "$2" up && [ "$(mesh_peer "$1" "$2" public_key)" = "$3" ] &&
		[ "$(wg_of "$1" "$3" endpoints)" = "$(mesh_ip "$2"):51820" ] &&
		[ "$(wg_of "$1" "$3" allowed-ips)" = "$(mesh_ip "$2")/32" ]
}

# Node K has no tunnel to host H: no key in its record of H, none of its WireGuard peers is H.
installs_nothing() {
	[ -z "$(mesh_peer "$1" "$2" public_key)" ] && [ "$(mesh_peer "$1" "$2" state)" != up ] && mesh_wg_lacks "$1" "$2"
}

# Node K logged a stranger H's handshake failing for REASON with DETAIL (no record: it never got
# as far as an appraisal).
stranger_refused() {
	[ -z "$(mesh_peer "$1" "$2" state)" ] &&
		grep -qF "$(mesh_ip "$2") ($3): incoming attested handshake failed: $4" "$MESH_DIR/node$1.log"
}

# Node K refused host H's evidence: the AS found its report data is not what this session binds.
appraisal_refused() {
	mesh_peer_is "$1" "$2" failed && mesh_peer_error_has "$1" "$2" "verification_failed" &&
		mesh_peer_error_has "$1" "$2" "REPORT_DATA is different"
}

records_with_key() {
	mesh_node_exec 1 "$TNGWG" show --json tngwg0 | jq --arg k "$1" '[.peers[] | select(.public_key == $k)] | length'
}

untouched() {
	check "fault_attacks.${1}_keeps_tunnel_1_2" tunnel_intact 1 2 "$key2"
	check "fault_attacks.${1}_keeps_tunnel_2_1" tunnel_intact 2 1 "$key1"
	check "fault_attacks.${1}_traffic_flows" mesh_reaches 1 2 tcp 9001 "$marker-$1"
}

replayed() {
	attack p1 2 --replay "$(mesh_capture_file)"
	check fault_attacks.replay_refused heard p1 protocol_error
	check fault_attacks.replay_logged wait_for 5 stranger_refused 2 p1 protocol_error "handshake message rejected"
	check fault_attacks.replay_installs_nothing installs_nothing 2 p1
	untouched replay
}

relayed() {
	local saved=$T_TMP/node2.evidence
	mesh_bg p2 relay /usr/bin/python3 "$HS_PEER" --listen "$(mesh_ip p2)" --port 51820 --attest \
		--save-evidence "$saved"
	wait_for 10 grep -q '^listening' "$MESH_DIR/relay.log"
	# Node 2's first packet to p2's protected port starts its handshake to p2.
	mesh_refused 2 p2 tcp 9001 "$marker-relay"
	check fault_attacks.relay_got_evidence wait_for 10 grep -q '^saved tee=sample' "$MESH_DIR/relay.log"
	check fault_attacks.relay_node2_installs_nothing installs_nothing 2 p2
	attack p2 1 --attest --send-evidence "$saved"
	check fault_attacks.relay_refused heard p2 verification_failed
	check fault_attacks.relay_shown wait_for 5 appraisal_refused 1 p2
	check fault_attacks.relay_installs_nothing installs_nothing 1 p2
	check fault_attacks.relay_one_record_for_key test "$(records_with_key "$key2")" = 1
	untouched relay
}

other_key() {
	attack p6 1 --attest --sample-quote
	check fault_attacks.bound_quote_accepted grep -q '^done ' "$T_TMP/p6.out"
	check fault_attacks.bound_quote_installed wait_for 5 mesh_peer_is 1 p6 up
	attack p3 1 --attest --sample-quote --bind-other-key
	check fault_attacks.other_key_refused heard p3 verification_failed
	check fault_attacks.other_key_shown wait_for 5 appraisal_refused 1 p3
	check fault_attacks.other_key_installs_nothing installs_nothing 1 p3
	untouched other_key
}

downgraded() {
	attack p4 1
	check fault_attacks.no_flags_refused heard p4 attestation_required
	check fault_attacks.no_flags_logged wait_for 5 stranger_refused 1 p4 attestation_required "peer will not attest"
	check fault_attacks.no_flags_installs_nothing installs_nothing 1 p4
	attack p5 1 --attest --empty-evidence
	check fault_attacks.no_evidence_refused heard p5 attestation_required
	check fault_attacks.no_evidence_logged wait_for 5 stranger_refused 1 p5 attestation_required "peer sent no evidence"
	check fault_attacks.no_evidence_installs_nothing installs_nothing 1 p5
	untouched downgrade
}

if setup; then
	pass fault_attacks.setup
	key1=$(mesh_peer 2 1 public_key)
	key2=$(mesh_peer 1 2 public_key)
	check fault_attacks.keys_known test -n "$key1" -a -n "$key2"
	replayed
	relayed
	other_key
	downgraded
else
	fail fault_attacks.setup "the mesh did not come up"
fi
mesh_finish
