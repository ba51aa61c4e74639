#!/usr/bin/env bash
# tng-wg behind a NAT router (netns.sh #8): a sits behind r, which masquerades it as 10.9.0.1 with
# UDP conntrack timeouts of 2 s. b (wireguard-go) learns a's endpoint as the router's address, and
# a's persistent keepalive of 1 s keeps the mapping alive so b can still reach a after an idle
# spell longer than the timeout; with the keepalive off, the same idle spell loses the mapping.
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT_DIR/netns-scripts/wg-pair.sh"
require_root
require_cmd wg wireguard-go nft ping

pair_new tng go a || { fail setup "could not bring up the pair"; pair_finish; }
ns_new r >/dev/null
NS_R="$T_PREFIX-r"

# Re-plumb: a <-> r (10.9.1.0/24, a's default route via r), r <-> b (10.9.0.0/24, b keeps 10.9.0.2).
put_a_behind_nat() {
	pair_exec a ip link del "$PAIR_VETH" &&
		ip link add "$PAIR_VETH" netns "${PAIR_NS[a]}" type veth peer name inside netns "$NS_R" &&
		ip link add outside netns "$NS_R" type veth peer name "$PAIR_VETH" netns "${PAIR_NS[b]}" &&
		pair_exec a ip addr add 10.9.1.2/24 dev "$PAIR_VETH" &&
		pair_exec a ip link set "$PAIR_VETH" up &&
		pair_exec a ip route add default via 10.9.1.1 &&
		ip -n "$NS_R" addr add 10.9.1.1/24 dev inside &&
		ip -n "$NS_R" addr add 10.9.0.1/24 dev outside &&
		ip -n "$NS_R" link set inside up &&
		ip -n "$NS_R" link set outside up &&
		pair_exec b ip addr add 10.9.0.2/24 dev "$PAIR_VETH" &&
		pair_exec b ip link set "$PAIR_VETH" up &&
		ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1 &&
		ip netns exec "$NS_R" nft -f - <<-'NFT' &&
			table ip nat {
				chain postrouting {
					type nat hook postrouting priority srcnat;
					oifname "outside" masquerade
				}
			}
		NFT
		ip netns exec "$NS_R" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=2 &&
		ip netns exec "$NS_R" sysctl -qw net.netfilter.nf_conntrack_udp_timeout_stream=2
}
check "nat_router_in_place" put_a_behind_nat
check "b_cannot_reach_a_directly" sh -c "! ip netns exec '${PAIR_NS[b]}' ping -q -c 1 -W 1 10.9.1.2 >/dev/null 2>&1"

check "keepalive_on" pair_wg a set "${PAIR_IF[a]}" peer "${PAIR_PUB[b]}" persistent-keepalive 1
check "ping_out_through_nat" pair_ping a "${PAIR_INNER4[b]}"
endpoint=$(pair_wg b show "${PAIR_IF[b]}" endpoints | awk '{ print $2 }')
[[ "$endpoint" == 10.9.0.1:* ]] && pass "peer_sees_router_address" || fail "peer_sees_router_address" "endpoint $endpoint"

sleep 4 # idle for twice the conntrack timeout; only a's keepalives cross the router
check "reachable_after_idle_with_keepalive" pair_ping b "${PAIR_INNER4[a]}"

check "keepalive_off" pair_wg a set "${PAIR_IF[a]}" peer "${PAIR_PUB[b]}" persistent-keepalive 0
sleep 4 # the same idle spell, now without keepalives
pair_ping b "${PAIR_INNER4[a]}" 1 && fail "mapping_lost_without_keepalive" "b still reached a" ||
	pass "mapping_lost_without_keepalive"
pair_finish
