#!/usr/bin/env bash
# The AS by host name, with the resolver inside a capture: nodes 1 and 2 reach the AS as
# as.tngwg.test, answered by a DNS server on the hub (10.77.0.254, also the AS), and node 1's
# ingress captures every port of the hub as well as 9001. tng-wg resolves the AS's name when it
# starts, before its steering rules exist, and keeps the address: the attested tunnel 1 -> 2 comes
# up (a lookup made later would be steered into the overlay and fail), the log says where the name
# was pinned, and the resolver saw node 1 ask only before the first tunnel.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT_DIR/netns-scripts/mesh.sh"
mesh_for_test

marker="tngwg-dns-$RANDOM$RANDOM"
MESH_AS_URL="http://as.tngwg.test:$MESH_AS_PORT"

# Resolver config for namespace NS: `ip netns exec` puts /etc/netns/NS/resolv.conf in place.
use_hub_resolver() {
	local ns
	ns=$(mesh_ns "$1") || return 1
	on_cleanup "rm -rf /etc/netns/$ns"
	mkdir -p "/etc/netns/$ns" && echo "nameserver $MESH_HUB_IP" >"/etc/netns/$ns/resolv.conf"
}

setup() {
	local cfg=$T_TMP/node.json
	jq --arg hub "$MESH_HUB_IP" '.add_ingress[0].netfilter.capture_dst = [{"port": 9001}, {"host": $hub}]' \
		"$ROOT_DIR/netns-scripts/configs/mesh-two-way-ra.json" >"$cfg" || return 1
	mesh_create 2 && use_hub_resolver 1 && use_hub_resolver 2 || return 1
	mesh_bg hub dns python3 "$ROOT_DIR/tests/tools/dns_stub.py" --listen "$MESH_HUB_IP:53" \
		--name as.tngwg.test --addr "$MESH_HUB_IP"
	mesh_wait 10 grep -q listening "$MESH_DIR/dns.log" && mesh_start_as &&
		mesh_start 1 "$cfg" && mesh_start 2 "$cfg" && mesh_echo_server 2 tcp 9001
}

queries_from_1() { grep -c "query from $(mesh_ip 1):" "$MESH_DIR/dns.log"; }

if setup; then
	pass sec_dns.setup
	check sec_dns.name_pinned grep -q "AS host as.tngwg.test pinned to $MESH_HUB_IP" "$MESH_DIR/node1.log"
	before=$(queries_from_1)
	check sec_dns.resolved_at_start test "$before" -gt 0
	check sec_dns.attested_tunnel mesh_reaches 1 2 tcp 9001 "$marker"
	check sec_dns.attested_both_ways mesh_peer_is 1 2 up
	check sec_dns.no_lookup_later test "$(queries_from_1)" = "$before"
else
	fail sec_dns.setup "the mesh did not come up"
fi
mesh_finish
