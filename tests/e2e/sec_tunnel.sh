#!/usr/bin/env bash
# Nothing unauthenticated takes over or tears down an attested tunnel. Nodes 1 and 2 run the no_ra
# config (a node that verifies no one is where a claim costs least); p1 is a plain host.
#   - p1 completes tng-wg/1 with node 1 claiming node 2's WireGuard key (node 2 shows it in every
#     handshake): refused with the reason; node 1's tunnel to node 2 keeps its endpoint and
#     allowed IPs, and one record holds the key;
#   - from node 2's own address, a 5-byte abort frame, garbage, and a frame left unfinished until
#     the handshake deadline: node 1's tunnel to node 2 stays up under the same key, traffic flows;
#   - `wg set ... peer K remove` and replace_peers over the UAPI socket remove the daemon's peer:
#     the daemon stays up, shows why, and attests again on the next packet;
#   - `wg setconf` with an [Interface] section alone would remove the node's key, port and mark:
#     refused, nothing changes.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT_DIR/netns-scripts/mesh.sh"
mesh_for_test

HS_PEER="$ROOT_DIR/tests/tools/hs_peer.py"
marker="tngwg-sec-$RANDOM$RANDOM"

setup() {
	local cfg=$T_TMP/no-ra.json
	jq '.overlay = {"handshake_timeout": 3}' "$ROOT_DIR/netns-scripts/configs/mesh-no-ra.json" >"$cfg" || return 1
	mesh_create 2 && mesh_add_plain 1 &&
		mesh_start_node 1 "$cfg" && mesh_start_node 2 "$cfg" &&
		mesh_echo_server 1 tcp 9001 && mesh_echo_server 2 tcp 9001 &&
		mesh_reaches 1 2 tcp 9001 "$marker"
}

# `wg show` on node K: FIELD (endpoints or allowed-ips) of the peer with KEY.
wg_of() { mesh_node_exec "$1" wg show tngwg0 "$3" | awk -v k="$2" '$1 == k { $1 = ""; print substr($0, 2) }'; }

# Node 1's tunnel to node 2 is the one it had: up, under KEY, endpoint and allowed IPs node 2's.
tunnel_intact() {
	mesh_peer_is 1 2 up && [ "$(mesh_peer 1 2 public_key)" = "$1" ] &&
		[ "$(wg_of 1 "$1" endpoints)" = "$(mesh_ip 2):51820" ] &&
		[ "$(wg_of 1 "$1" allowed-ips)" = "$(mesh_ip 2)/32" ]
}

records_with_key() {
	mesh_node_exec 1 "$TNGWG" show --json tngwg0 | jq --arg k "$1" '[.peers[] | select(.public_key == $k)] | length'
}

key_claim() {
	local key=$1 out
	out=$(mesh_node_exec p1 /usr/bin/python3 "$HS_PEER" --connect "$(mesh_ip 1)" --port 51820 --wg-key "$key" 2>&1)
	echo "claim: $out" >&2
	check sec_tunnel.claim_refused_with_reason wait_for 5 mesh_peer_error_has 1 p1 "already bound to $(mesh_ip 2)"
	check sec_tunnel.claim_installs_nothing test -z "$(mesh_peer 1 p1 public_key)"
	check sec_tunnel.claim_leaves_tunnel tunnel_intact "$key"
	check sec_tunnel.claim_one_record_per_key test "$(records_with_key "$key")" = 1
	check sec_tunnel.claim_traffic_flows mesh_reaches 1 2 tcp 9001 "$marker-claim"
}

# From node 2's address: send BYTES (printf format) to node 1's handshake port and hold the
# connection for SECS seconds.
from_2() {
	mesh_node_exec 2 timeout 10 bash -c 'exec 3<>"/dev/tcp/$0/51820" && printf "$1" >&3 && sleep "$2"' \
		"$(mesh_ip 1)" "$1" "$2"
}

unauthenticated_failures() {
	local key=$1 name bytes secs
	while read -r name bytes secs; do
		from_2 "$bytes" "$secs"
		check "sec_tunnel.${name}_keeps_tunnel" tunnel_intact "$key"
		sleep 1
		check "sec_tunnel.${name}_keeps_tunnel_after" tunnel_intact "$key"
	done <<-'EOF'
		abort_frame \0\0\0\1\5 1
		garbage GET\x20/\x20HTTP/1.0\r\n\r\n 1
		unfinished_frame \0\0\0\x64abcdefghij 5
	EOF
	check sec_tunnel.failures_shown mesh_peer_error_has 1 2 "tunnel kept"
	check sec_tunnel.failures_traffic_flows mesh_reaches 1 2 tcp 9001 "$marker-abort"
}

# Removed over the UAPI by COMMAND...: node 1 forgets the peer and attests again on demand.
uapi_removal() {
	local name=$1
	shift
	mesh_node_exec 1 "$@"
	check "sec_tunnel.${name}_daemon_up" mesh_node_exec 1 "$TNGWG" show tngwg0
	check "sec_tunnel.${name}_shown" wait_for 5 mesh_peer_error_has 1 2 "over its UAPI"
	check "sec_tunnel.${name}_not_up" test "$(mesh_peer 1 2 state)" != up
	check "sec_tunnel.${name}_wg_lacks" mesh_wg_lacks 1 2
	check "sec_tunnel.${name}_attested_again" mesh_reaches 1 2 tcp 9001 "$marker-$name"
	check "sec_tunnel.${name}_up_again" mesh_peer_is 1 2 up
}

# The node's private key, port and bypass mark are its own: `wg setconf` with an [Interface]
# section alone (which would remove them all) is refused and changes nothing.
identity_locked() {
	local before
	before=$(mesh_node_exec 1 wg showconf tngwg0)
	printf '[Interface]\n' >"$T_TMP/empty.conf"
	check sec_tunnel.setconf_refused not mesh_node_exec 1 wg setconf tngwg0 "$T_TMP/empty.conf"
	check sec_tunnel.setconf_changed_nothing test "$(mesh_node_exec 1 wg showconf tngwg0)" = "$before"
	check sec_tunnel.setconf_traffic_flows mesh_reaches 1 2 tcp 9001 "$marker-setconf"
}

not() { ! "$@"; }

if setup; then
	pass sec_tunnel.setup
	key=$(mesh_peer 1 2 public_key)
	check sec_tunnel.key_known test -n "$key"
	key_claim "$key"
	unauthenticated_failures "$key"
	uapi_removal wg_remove wg set tngwg0 peer "$(mesh_peer 1 2 public_key)" remove
	uapi_removal replace_peers sh -c 'printf "set=1\nreplace_peers=true\n\n" | socat -t 2 - UNIX-CONNECT:/run/wireguard/tngwg0.sock'
	identity_locked
else
	fail sec_tunnel.setup "the mesh did not come up"
fi
mesh_finish
