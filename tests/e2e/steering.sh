#!/usr/bin/env bash
# The nftables steering and the policy routing of a config, applied without a daemon in a
# namespace pair A (10.77.0.1) -- veth -- B (10.77.0.2), with a TUN device tngwg0 in A that
# tests/tools/tun_peer.py drives as the far end of the overlay. Checks: one table after
# repeated applies and over a stale one; captured TCP/UDP gets the steering mark and leaves
# through tngwg0 (a full TCP handshake with the peer on the TUN); ipset captures and kept set
# elements; IPv6 to a captured port is refused; plaintext (IPv4 or IPv6) to an egress port from
# B is dropped, local access stays; from the overlay only egress ports and replies pass, under
# strict rp_filter, and with forwarding on, nothing from the overlay is routed on to host C
# (10.78.0.2, behind A) unless it is a reply; remove leaves no table, no rule, no route and the
# sysctls as they were; 'tng-wg down' after a killed daemon deletes only a TUN device.
. "$(dirname "$0")/../lib/common.sh"
require_root
require_cmd nft ip socat /usr/bin/python3 cc pkg-config
[ -x "$TNGWG" ] || { echo "FAIL steering: $TNGWG is not built"; exit 1; }

tool="$T_TMP/policy_tool"
peer="$ROOT_DIR/tests/tools/tun_peer.py"
if ! "$ROOT_DIR/tests/tools/build-c-tool.sh" policy_tool "$tool" "$TNGWG_BUILD"; then
	echo "FAIL steering: cannot build tests/tools/policy_tool.c against $TNGWG_BUILD/libtngwg.a"
	exit 1
fi

# Not in $(...): ns_new registers the namespace for clean-up in this shell.
ns_new a >/dev/null
ns_new b >/dev/null
ns_new c >/dev/null
A="$T_PREFIX-a"
B="$T_PREFIX-b"
C="$T_PREFIX-c"
ip -n "$A" link add va type veth peer name vb netns "$B"
ip -n "$A" addr add 10.77.0.1/24 dev va
ip -n "$B" addr add 10.77.0.2/24 dev vb
ip -n "$A" addr add fd77::1/64 dev va nodad
ip -n "$B" addr add fd77::2/64 dev vb nodad
ip -n "$A" link set va up
ip -n "$B" link set vb up
ip -n "$A" link add vc type veth peer name vc netns "$C"
ip -n "$A" addr add 10.78.0.1/24 dev vc
ip -n "$C" addr add 10.78.0.2/24 dev vc
ip -n "$A" link set vc up
ip -n "$C" link set vc up
ip -n "$C" route add default via 10.78.0.1
ip netns exec "$A" sysctl -qw net.ipv4.ip_forward=1
# C counts the SYNs that reach it from B's address, whichever way they came.
ip netns exec "$C" nft -f - <<'NFT'
table ip count_c {
	chain input {
		type filter hook input priority filter; policy accept;
		ip saddr 10.77.0.2 tcp flags & (syn | ack) == syn counter comment "syn from b"
	}
}
NFT
syns_at_c() { ip netns exec "$C" nft list table ip count_c | sed -n 's/.*counter packets \([0-9]*\).*/\1/p'; }
ip -n "$A" tuntap add dev tngwg0 mode tun
ip -n "$A" link set tngwg0 up
# Values that apply must change and remove must bring back; strict reverse-path filtering.
ip netns exec "$A" sysctl -qw net.ipv4.conf.tngwg0.rp_filter=1 net.ipv4.conf.tngwg0.src_valid_mark=0 \
	net.ipv4.conf.all.rp_filter=1

cat >"$T_TMP/node.json" <<'JSON'
{
  "add_ingress": [
    { "netfilter": { "capture_dst": [{ "port": 9001 }, { "ipset": "tng_peers", "port": 9100 }] }, "no_ra": true }
  ],
  "add_egress": [
    { "netfilter": { "capture_dst": [{ "port": 7000 }, { "port": 40000, "port_end": 40999 }] }, "no_ra": true }
  ]
}
JSON
state="$T_TMP/state"
table="inet tngwg_tngwg0"

# Services: B on 9001, 9002, 9100; A on 7000 (protected) and 8000 (not named by any entry).
for port in 9001 9002 9100; do
	bg "$B" socat TCP-LISTEN:$port,reuseaddr,fork SYSTEM:"echo b$port"
done
for port in 7000 8000; do
	bg "$A" socat TCP-LISTEN:$port,reuseaddr,fork SYSTEM:"echo a$port"
done
# The same over IPv6: B on 9001, A on 7000.
bg "$B" socat TCP6-LISTEN:9001,ipv6only=1,reuseaddr,fork SYSTEM:"echo b6"
bg "$A" socat TCP6-LISTEN:7000,ipv6only=1,reuseaddr,fork SYSTEM:"echo a6"
wait_for 10 ip netns exec "$B" socat -u /dev/null TCP:127.0.0.1:9100
wait_for 10 ip netns exec "$A" socat -u /dev/null TCP:127.0.0.1:8000
wait_for 10 ip netns exec "$A" socat -u /dev/null "TCP6:[::1]:7000"
wait_for 10 ip netns exec "$B" socat -u /dev/null "TCP6:[::1]:9001"

reaches() { # NS SOCAT-ADDRESS REPLY: the service there answers with REPLY
	[ "$(ip netns exec "$1" socat -T3 - "$2,connect-timeout=3" </dev/null 2>/dev/null)" = "$3" ]
}
counter() { # CHAIN COMMENT: packets counted by the rule with that comment
	ip netns exec "$A" nft list chain $table "$1" |
		grep -F "comment \"$2\"" | sed -n 's/.*counter packets \([0-9]*\).*/\1/p'
}
tables() { ip netns exec "$A" nft list tables | grep -c "^table $table\$"; }
fwmark_rules() { ip -n "$A" rule list | grep -c 'fwmark 0xca6c lookup 51820'; }
sysctl_a() { ip netns exec "$A" sysctl -n "net.ipv4.conf.tngwg0.$1"; }

# Controls: without the rules everything is plain and reachable.
check baseline_plain_reachable reaches "$B" TCP:10.77.0.1:7000 a7000
check baseline_ingress_port_reachable reaches "$A" TCP:10.77.0.2:9001 b9001
check baseline_ipv6_reachable reaches "$A" "TCP6:[fd77::2]:9001" b6
check baseline_ipv6_egress_reachable reaches "$B" "TCP6:[fd77::1]:7000" a6

if ip netns exec "$A" "$tool" apply "$T_TMP/node.json" "$state"; then
	pass apply
else
	fail apply "policy_tool apply failed"
fi
check one_table [ "$(tables)" = 1 ]
check fwmark_rule [ "$(fwmark_rules)" = 1 ]
# The overlay's table: the interface, and behind it (the highest metric) a blackhole that drops
# steered packets when the interface is gone rather than let them fall through to main.
overlay_routes() { ip -n "$A" route show table 51820 | awk '{ $1 = $1; print }'; }
check route_in_table [ "$(overlay_routes | grep -v '^blackhole' | awk '{print $1, $2, $3}')" = "default dev tngwg0" ]
check blackhole_behind_it [ "$(overlay_routes | grep '^blackhole')" = "blackhole default metric 4294967295" ]
check src_valid_mark_set [ "$(sysctl_a src_valid_mark)" = 1 ]
check rp_filter_loose [ "$(sysctl_a rp_filter)" = 2 ]

# Ingress: TCP and UDP to 9001 are marked and rerouted (no peer answers on the TUN yet).
if ! reaches "$A" TCP:10.77.0.2:9001 b9001 && [ "$(counter output 'add_ingress[0].netfilter.capture_dst[0]')" -gt 0 ]; then
	pass tcp_to_ingress_port_steered
else
	fail tcp_to_ingress_port_steered "reached B in plaintext or no count: $(counter output 'add_ingress[0].netfilter.capture_dst[0]')"
fi
before=$(counter output 'add_ingress[0].netfilter.capture_dst[0]')
echo x | ip netns exec "$A" socat -u - UDP:10.77.0.2:9001
check udp_to_ingress_port_steered [ "$(counter output 'add_ingress[0].netfilter.capture_dst[0]')" -gt "$before" ]
check other_port_untouched reaches "$A" TCP:10.77.0.2:9002 b9002
# The overlay is IPv4: IPv6 to a captured port is refused rather than sent in plaintext.
if ! reaches "$A" "TCP6:[fd77::2]:9001" b6 && [ "$(counter output 'add_ingress[0].netfilter.capture_dst[0]: IPv6')" -gt 0 ]; then
	pass ipv6_to_ingress_port_refused
else
	fail ipv6_to_ingress_port_refused "count $(counter output 'add_ingress[0].netfilter.capture_dst[0]: IPv6')"
fi

# The steered SYN leaves through tngwg0; the peer's answer there completes the connection.
rm -f "$T_TMP/ready"
ip netns exec "$A" /usr/bin/python3 "$peer" tngwg0 answer 10.77.0.2 9001 "$T_TMP/ready" >"$T_TMP/answer.log" 2>&1 &
answer_pid=$!
track_pid "$answer_pid"
wait_for 10 test -e "$T_TMP/ready"
ip netns exec "$A" socat -T3 -u /dev/null TCP:10.77.0.2:9001,connect-timeout=5 2>/dev/null
if wait "$answer_pid"; then
	pass handshake_through_overlay_interface
else
	fail handshake_through_overlay_interface "$(cat "$T_TMP/answer.log")"
fi

# ipset: nothing captured until the set holds B; then steered; a re-apply keeps the element.
check ipset_empty_not_captured reaches "$A" TCP:10.77.0.2:9100 b9100
ip netns exec "$A" nft add element $table tng_peers '{ 10.77.0.2 }'
if ! reaches "$A" TCP:10.77.0.2:9100 b9100 && [ "$(counter output 'add_ingress[0].netfilter.capture_dst[1]')" -gt 0 ]; then
	pass ipset_capture_steered
else
	fail ipset_capture_steered "count $(counter output 'add_ingress[0].netfilter.capture_dst[1]')"
fi

# Egress: plaintext from B to 7000 is dropped; local clients and other ports are untouched.
if ! reaches "$B" TCP:10.77.0.1:7000 a7000 && [ "$(counter plaintext_in 'add_egress[0].netfilter.capture_dst[0]: plaintext')" -gt 0 ]; then
	pass plaintext_to_egress_port_dropped
else
	fail plaintext_to_egress_port_dropped "count $(counter plaintext_in 'add_egress[0].netfilter.capture_dst[0]: plaintext')"
fi
before=$(counter plaintext_in 'add_egress[0].netfilter.capture_dst[0]: plaintext')
if ! reaches "$B" "TCP6:[fd77::1]:7000" a6 && [ "$(counter plaintext_in 'add_egress[0].netfilter.capture_dst[0]: plaintext')" -gt "$before" ]; then
	pass ipv6_plaintext_to_egress_port_dropped
else
	fail ipv6_plaintext_to_egress_port_dropped "reached over IPv6"
fi
# A reply is no way into a service: A's own connection from a port in 40000-40999 gets its
# answers, while B's new connections to that range are dropped.
check reply_to_protected_port_passes reaches "$A" TCP:10.77.0.2:9002,sourceport=40123,reuseaddr b9002
if ! ip netns exec "$B" socat -u /dev/null TCP:10.77.0.1:40500,connect-timeout=2 2>/dev/null &&
	[ "$(counter plaintext_in 'add_egress[0].netfilter.capture_dst[1]: plaintext')" -gt 0 ]; then
	pass new_connection_to_protected_range_dropped
else
	fail new_connection_to_protected_range_dropped "count $(counter plaintext_in 'add_egress[0].netfilter.capture_dst[1]: plaintext')"
fi
check local_client_to_egress_port reaches "$A" TCP:10.77.0.1:7000 a7000
check unprotected_port_from_b reaches "$B" TCP:10.77.0.1:8000 a8000

# From the overlay (a packet written into tngwg0, source B, strict rp_filter): the egress port
# answers and its SYN-ACK goes back into the overlay; a port no egress entry names is dropped.
if ip netns exec "$A" /usr/bin/python3 "$peer" tngwg0 inject 10.77.0.2 10.77.0.1 7000 >"$T_TMP/inject.log" 2>&1; then
	pass overlay_to_egress_port_answered_through_overlay
else
	fail overlay_to_egress_port_answered_through_overlay "$(cat "$T_TMP/inject.log")"
fi
if ! ip netns exec "$A" /usr/bin/python3 "$peer" tngwg0 inject 10.77.0.2 10.77.0.1 8000 >"$T_TMP/inject.log" 2>&1 &&
	[ "$(counter from_overlay 'from the overlay to a port no egress entry names')" -gt 0 ]; then
	pass overlay_to_unnamed_port_dropped
else
	fail overlay_to_unnamed_port_dropped "$(cat "$T_TMP/inject.log")"
fi

# A is a router (forwarding on): still, a peer cannot use the overlay to reach host C.
check plain_forwarding_works ip netns exec "$B" sh -c "ip route add 10.78.0.0/24 via 10.77.0.1 &&
	socat -u /dev/null TCP:10.78.0.2:8000,connect-timeout=2 2>/dev/null; true"
check plain_forwarding_counted [ "$(syns_at_c)" -gt 0 ]
before=$(syns_at_c)
ip netns exec "$A" /usr/bin/python3 "$peer" tngwg0 inject 10.77.0.2 10.78.0.2 8000 >"$T_TMP/inject.log" 2>&1
if [ "$(syns_at_c)" = "$before" ]; then
	pass overlay_not_forwarded_to_other_hosts
else
	fail overlay_not_forwarded_to_other_hosts "C saw $(( $(syns_at_c) - before )) SYN(s) from the overlay"
fi

# Re-apply, and apply over a stale table of the same name: exactly one table and one rule.
check reapply ip netns exec "$A" "$tool" apply "$T_TMP/node.json" "$state"
check reapply_one_table [ "$(tables)" = 1 ]
check reapply_one_rule [ "$(fwmark_rules)" = 1 ]
check reapply_keeps_set_elements ip netns exec "$A" sh -c "nft list set $table tng_peers | grep -q 10.77.0.2"
ip netns exec "$A" nft add chain $table stale_leftover
check apply_over_stale_table ip netns exec "$A" "$tool" apply "$T_TMP/node.json" "$state"
if [ "$(tables)" = 1 ] && ! ip netns exec "$A" nft list table $table | grep -q stale_leftover; then
	pass stale_table_replaced
else
	fail stale_table_replaced "$(ip netns exec "$A" nft list tables)"
fi
check reapply_keeps_saved_sysctls grep -qx 'rp_filter 1' "$state/tngwg0.sysctl"

# Remove: nothing of ours is left, the sysctls are as before, traffic is plain again.
check remove ip netns exec "$A" "$tool" remove "$T_TMP/node.json" "$state"
check no_table [ "$(tables)" = 0 ]
check no_rule [ "$(fwmark_rules)" = 0 ]
check no_route [ -z "$(ip -n "$A" route show table 51820)" ]
check rp_filter_restored [ "$(sysctl_a rp_filter)" = 1 ]
check src_valid_mark_restored [ "$(sysctl_a src_valid_mark)" = 0 ]
check state_file_removed [ ! -e "$state/tngwg0.sysctl" ]
check plain_again reaches "$B" TCP:10.77.0.1:7000 a7000
check ingress_plain_again reaches "$A" TCP:10.77.0.2:9001 b9001
check remove_twice ip netns exec "$A" "$tool" remove "$T_TMP/node.json" "$state"

# 'tng-wg down' without a daemon deletes a leftover overlay TUN, never a device of another kind
# that a config happens to name.
leftover_config() { # IFNAME
	printf '{"add_egress": [{"netfilter": {"capture_dst": {"port": 7000}}, "no_ra": true}],
	  "overlay": {"interface": "%s"}}\n' "$1" >"$T_TMP/$1.json"
	echo "$T_TMP/$1.json"
}
ip -n "$A" link add tngvx0 type veth peer name tngvx1
ip netns exec "$A" "$TNGWG" down "$(leftover_config tngvx0)" >"$T_TMP/down.log" 2>&1
if ip -n "$A" link show tngvx0 >/dev/null && grep -q "tngvx0 is not a TUN device" "$T_TMP/down.log"; then
	pass down_keeps_a_device_that_is_not_tun
else
	fail down_keeps_a_device_that_is_not_tun "$(cat "$T_TMP/down.log")"
fi
ip -n "$A" tuntap add dev tngtx0 mode tun
ip netns exec "$A" "$TNGWG" down "$(leftover_config tngtx0)" >>"$T_TMP/down.log" 2>&1
check down_removes_a_leftover_tun [ -z "$(ip -n "$A" link show tngtx0 2>/dev/null)" ]

finish
