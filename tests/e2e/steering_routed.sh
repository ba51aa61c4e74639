#!/usr/bin/env bash
# Traffic a node routes (containers, pods) and services it publishes by DNAT (docker -p), and
# replies forged from the LAN. Nodes 1 and 2 run the scenario config; c1 is a container behind
# node 1 (172.31.1.2), c2 one behind node 2 (172.31.2.2) running TCP and UDP echo services on
# port 80, which node 2 publishes as its port 9001 by DNAT; p1 is a plain host.
#   - c1 reaches node 2's 9001 (so c2) through the attested tunnel: steered in node 1's prerouting
#     and masqueraded to node 1, never in plaintext on the bridge;
#   - node 1 itself reaches the published service through the tunnel too;
#   - p1's plaintext to node 2's 9001 is dropped before the DNAT;
#   - a UDP datagram forged by p1 as a reply from node 2's 9001 to node 1's steered UDP flow is
#     dropped on node 1 (a connection through the overlay takes its packets only from it), while
#     the real echo comes back through the tunnel.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT_DIR/netns-scripts/mesh.sh"
mesh_for_test

scenario=$ROOT_DIR/netns-scripts/configs/mesh-two-way-ra.json
marker="tngwg-routed-$RANDOM$RANDOM"
forged="tngwg-forged-$RANDOM$RANDOM"

# Container CK (K = 1 or 2) behind node K at 172.31.K.2, node K being its router at 172.31.K.1.
add_container() {
	local k=$1 ns="$T_PREFIX-c$1" node
	node=$(mesh_ns "$k") || return 1
	ip netns add "$ns" && ip -n "$ns" link set lo up &&
		ip -n "$node" link add ctr0 type veth peer name eth0 netns "$ns" &&
		ip -n "$node" addr add "172.31.$k.1/24" dev ctr0 && ip -n "$node" link set ctr0 up &&
		ip -n "$ns" addr add "172.31.$k.2/24" dev eth0 && ip -n "$ns" link set eth0 up &&
		ip -n "$ns" route add default via "172.31.$k.1" &&
		ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1
}

in_c() { local k=$1; shift; ip netns exec "$T_PREFIX-c$k" "$@"; }

setup() {
	mesh_create 2 && mesh_add_plain 1 && mesh_start_as &&
		mesh_start 1 "$scenario" && mesh_start 2 "$scenario" &&
		add_container 1 && add_container 2 || return 1
	in_c 2 socat TCP4-LISTEN:80,reuseaddr,fork EXEC:cat >/dev/null 2>&1 &
	track_pid $!
	in_c 2 socat -T 2 UDP4-LISTEN:80,reuseaddr,fork EXEC:cat >/dev/null 2>&1 &
	track_pid $!
	# docker -p 9001:80, as nftables rules of node 2's own
	mesh_node_exec 2 nft -f - <<-'NFT' || return 1
		table ip published {
			chain prerouting {
				type nat hook prerouting priority dstnat; policy accept;
				meta l4proto { tcp, udp } th dport 9001 dnat to 172.31.2.2:80
			}
		}
	NFT
	wait_for 10 in_c 2 sh -c 'ss -Hltn "sport = :80" | grep -q .'
}

# From container K: MSG to ADDR:PORT over TCP comes back.
c_echo() {
	local reply
	reply=$(printf '%s\n' "$4" | in_c "$1" timeout 10 socat -t 3 -T 5 - "TCP4:$2:$3,connect-timeout=3" 2>/dev/null)
	[ "$reply" = "$4" ]
}
c_reaches() { wait_for "$MESH_WAIT" c_echo "$@"; }

routed_into_overlay() {
	mesh_capture_start
	check steering_routed.container_reaches_published_service c_reaches 1 "$(mesh_ip 2)" 9001 "$marker-c1"
	check steering_routed.container_steered_attested mesh_peer_is 1 2 up
	check steering_routed.node_reaches_published_service mesh_reaches 1 2 tcp 9001 "$marker-n1"
	check steering_routed.plain_host_refused mesh_refused p1 2 tcp 9001 "$marker-p1"
	check steering_routed.plain_host_dropped_before_dnat dropped_as_plaintext 2
	mesh_capture_stop
	check steering_routed.never_in_plaintext mesh_capture_lacks "$marker-c1"
	check steering_routed.node_never_in_plaintext mesh_capture_lacks "$marker-n1"
}

forged_reply() {
	local out=$T_TMP/udp-client.out
	# stdin stays open, so the client is still there to receive when the forged datagram comes
	( (printf 'real-%s\n' "$marker"; sleep 3) |
		mesh_node_exec 1 socat -T 4 - "UDP4:$(mesh_ip 2):9001,sourceport=40001" >"$out" 2>&1) &
	local client=$!
	sleep 1
	mesh_node_exec p1 python3 "$ROOT_DIR/tests/tools/flood.py" spoof-udp --src "$(mesh_ip 2):9001" \
		--dst "$(mesh_ip 1):40001" --payload "$forged" >&2
	wait "$client"
	echo "udp client got: $(cat "$out")" >&2
	check steering_routed.real_udp_reply grep -q "real-$marker" "$out"
	check steering_routed.forged_reply_dropped not grep -q "$forged" "$out"
}

not() { ! "$@"; }

# Node K's steering table counted plaintext to its egress port 9001.
dropped_as_plaintext() {
	mesh_node_exec "$1" nft list chain inet tngwg_tngwg0 plaintext_in |
		grep -F 'capture_dst[0]: plaintext' | grep -q 'counter packets [1-9]'
}

if setup; then
	pass steering_routed.setup
	routed_into_overlay
	forged_reply
else
	fail steering_routed.setup "the mesh did not come up"
fi
mesh_finish
