#!/usr/bin/env bash
# `tng-wg reload` and SIGHUP. Nodes 1 and 2 run the scenario config (the AS's keys fetched, as the
# scenario does with overlay.allow_http_as_anchors), node 3 joins at the end.
#   - a config that adds port 9002 to both entries, reloaded on both nodes: the tunnel stays (same
#     key, a connection held open across the reload keeps working), 9002 is steered from then on
#     (its marker no longer in plaintext on the bridge), and the peer is attested again;
#   - a config with a syntax error, or one changing overlay.port, is refused with the reason
#     (file:line:column; the setting that takes a restart) and the running one stays;
#   - a config whose policy the peer fails: its tunnel is removed, show says why;
#   - SIGHUP re-reads the file the running config came from: changed back, the tunnel is back;
#   - the AS restarts with a new signing key: node 1 refuses a new peer's token (its anchors were
#     pinned) and says to reload; after `tng-wg reload` it fetches them again and the peer joins.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT_DIR/netns-scripts/mesh.sh"
mesh_for_test
MESH_ANCHORS=fetch

scenario=$ROOT_DIR/netns-scripts/configs/mesh-two-way-ra.json
marker="tngwg-reload-$RANDOM$RANDOM"

node_config() { echo "$(mesh_node_dir "$1")/node.json"; }
reload() { mesh_node_exec "$1" "$TNGWG" reload "$2" >"$T_TMP/reload.out" 2>&1; }
reload_said() { grep -qF -- "$1" "$T_TMP/reload.out"; }
peer_key() { mesh_peer 1 2 public_key; }

setup() {
	mesh_create 3 && mesh_start_as && mesh_start 1 "$scenario" && mesh_start 2 "$scenario" &&
		mesh_echo_server 2 tcp 9001 && mesh_echo_server 2 tcp 9002 && mesh_echo_server 3 tcp 9001 &&
		mesh_reaches 1 2 tcp 9001 "$marker"
}

# One line through the connection held open on fd FLOW comes back.
flow_echoes() {
	local line
	echo "$marker-flow-$1" >&"${FLOW[1]}" && read -r -t 5 line <&"${FLOW[0]}" && [ "$line" = "$marker-flow-$1" ]
}

wider_capture() {
	local key count k
	key=$(peer_key)
	count=$(mesh_peer 1 2 attestations)
	mesh_capture_start
	check ops_reload.9002_plain_before mesh_reaches 1 2 tcp 9002 "$marker-9002-before"
	for k in 1 2; do
		jq '(.add_ingress[0].netfilter.capture_dst, .add_egress[0].netfilter.capture_dst) = [{"port": 9001}, {"port": 9002}]' \
			"$(node_config "$k")" >"$T_TMP/wide$k.json"
		check "ops_reload.wider_accepted_on_$k" reload "$k" "$T_TMP/wide$k.json"
	done
	check ops_reload.said_reloaded reload_said "ok: reloaded $T_TMP/wide2.json"
	check ops_reload.flow_survives flow_echoes 1
	check ops_reload.same_tunnel test "$(peer_key)" = "$key"
	check ops_reload.still_up mesh_peer_is 1 2 up
	check ops_reload.attested_again wait_for 15 mesh_attested_more_than 1 2 "$count"
	check ops_reload.9002_steered mesh_reaches 1 2 tcp 9002 "$marker-9002-after"
	mesh_capture_stop
	check ops_reload.9002_was_plain mesh_capture_has "$marker-9002-before"
	check ops_reload.9002_now_encrypted mesh_capture_lacks "$marker-9002-after"
	check ops_reload.flow_after_reattestation flow_echoes 2
}

refusals() {
	local key
	key=$(peer_key)
	sed '2s/$/ oops/' "$T_TMP/wide1.json" >"$T_TMP/broken.json"
	check ops_reload.syntax_error_refused not reload 1 "$T_TMP/broken.json"
	check ops_reload.syntax_error_located grep -qE "^$T_TMP/broken.json:2:[0-9]+: JSON syntax error" "$T_TMP/reload.out"
	jq '.overlay.port = 51999' "$T_TMP/wide1.json" >"$T_TMP/port.json"
	check ops_reload.port_change_refused not reload 1 "$T_TMP/port.json"
	check ops_reload.port_change_named reload_said "overlay.port differs from the running node's; that takes a restart"
	check ops_reload.refusal_logged grep -q 'reload refused, the running configuration stays' "$MESH_DIR/node1.log"
	check ops_reload.kept_after_refusals test "$(peer_key)" = "$key"
	check ops_reload.flow_after_refusals flow_echoes 3
}

tunnel_no_longer_allowed() {
	jq '(.add_ingress[0].verify.policy_ids, .add_egress[0].verify.policy_ids) = ["strict"]' \
		"$T_TMP/wide1.json" >"$T_TMP/strict.json"
	check ops_reload.strict_accepted reload 1 "$T_TMP/strict.json"
	check ops_reload.strict_removes_tunnel wait_for 20 mesh_wg_lacks 1 2
	check ops_reload.strict_says_why grep -q "$(mesh_ip 2) (failed, verification_failed): re-attestation failed: .*strict" "$MESH_DIR/node1.log"
	check ops_reload.flow_cut not flow_echoes 4
}

sighup_rereads() {
	local pid
	pid=$(mesh_node_daemons 1)
	cp "$T_TMP/wide1.json" "$T_TMP/strict.json" # the file the running config came from
	check ops_reload.sighup_sent kill -HUP "$pid"
	check ops_reload.sighup_logged wait_for 5 grep -q "SIGHUP: reloading" "$MESH_DIR/node1.log"
	check ops_reload.sighup_same_daemon test "$(mesh_node_daemons 1)" = "$pid"
	check ops_reload.sighup_tunnel_back mesh_reaches 1 2 tcp 9001 "$marker-hup"
}

as_key_changed() {
	mesh_stop_as
	rm -f "$MESH_DIR/as/signer-key.pem"
	mesh_start_as && mesh_start 3 "$scenario" || { fail ops_reload.as_restarted "AS or node 3 did not start"; return; }
	check ops_reload.new_key_refused mesh_refused 1 3 tcp 9001 "$marker-3"
	check ops_reload.refusal_says_reload wait_for 10 mesh_peer_error_has 1 3 "tng-wg reload"
	check ops_reload.reload_fetches_again reload 1 "$(node_config 1)"
	check ops_reload.new_key_after_reload mesh_reaches 1 3 tcp 9001 "$marker-3"
}

not() { ! "$@"; }

if setup; then
	pass ops_reload.setup
	coproc FLOW { mesh_node_exec 1 socat -T 120 - "TCP4:$(mesh_ip 2):9001,connect-timeout=5"; }
	check ops_reload.flow_open flow_echoes 0
	wider_capture
	refusals
	tunnel_no_longer_allowed
	exec {FLOW[1]}>&-
	wait "$FLOW_PID" 2>/dev/null
	sighup_rereads
	as_key_changed
else
	fail ops_reload.setup "the mesh did not come up"
fi
mesh_finish
