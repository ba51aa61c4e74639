#!/usr/bin/env bash
# One tng-wg device with two peers: hub a (tng-wg) between spoke b (tng-wg) and spoke c
# (wireguard-go, on its own veth). Allowed IPs pick the peer for each packet; the hub forwards
# between its peers; a spoke may not use the other spoke's inner address as its source (netns.sh
# #5); transfers to both spokes at once arrive intact.
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT_DIR/netns-scripts/wg-pair.sh"
require_root
require_cmd wg wireguard-go socat ss sha256sum ping

pair_new tng tng ab || { fail setup "could not bring up the pair"; pair_finish; }
# Spoke c joins the rig as one more side, so pair_* helpers and the teardown know it.
ns_new c >/dev/null
pair_add_side c a "$T_PREFIX-c" go 192.168.241.3 fd00::3 10.9.3.2 fd09:3::2 51823
C4=${PAIR_INNER4[c]}
C6=${PAIR_INNER6[c]}

add_spoke_c() {
	ip link add veth1 netns "${PAIR_NS[a]}" type veth peer name veth0 netns "${PAIR_NS[c]}" &&
		pair_exec a ip addr add 10.9.3.1/24 dev veth1 && pair_exec a ip link set veth1 up &&
		pair_exec c ip addr add 10.9.3.2/24 dev veth0 && pair_exec c ip link set veth0 up &&
		pair_start c &&
		echo "${PAIR_KEY[c]}" >"$T_TMP/c.key" &&
		pair_wg c set "${PAIR_IF[c]}" private-key "$T_TMP/c.key" listen-port "${PAIR_PORT[c]}" \
			peer "${PAIR_PUB[a]}" allowed-ips 192.168.241.0/24,fd00::/112 endpoint "10.9.3.1:${PAIR_PORT[a]}" &&
		pair_exec c ip addr add "$C4/24" dev "${PAIR_IF[c]}" &&
		pair_exec c ip addr add "$C6/112" dev "${PAIR_IF[c]}" nodad &&
		pair_exec c ip link set "${PAIR_IF[c]}" up &&
		pair_wg a set "${PAIR_IF[a]}" peer "${PAIR_PUB[c]}" allowed-ips "$C4/32,$C6/128" \
			endpoint "10.9.3.2:${PAIR_PORT[c]}" &&
		pair_exec a sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 &&
		pair_wg b set "${PAIR_IF[b]}" peer "${PAIR_PUB[a]}" \
			allowed-ips "${PAIR_INNER4[a]}/32,${PAIR_INNER6[a]}/128,$C4/32,$C6/128"
}
check "spoke_c_added" add_spoke_c

check "hub_pings_b" pair_ping a "${PAIR_INNER4[b]}"
check "hub_pings_c" pair_ping a "$C4"
check "b_pings_c_through_hub_v4" pair_ping b "$C4"
check "b_pings_c_through_hub_v6" pair_ping b "$C6"
check "c_pings_b_through_hub" pair_ping c "${PAIR_INNER4[b]}"
[ "$(pair_wg a show "${PAIR_IF[a]}" latest-handshakes | awk '$2 > 0' | wc -l)" = 2 ] &&
	pass "hub_shows_two_live_peers" || fail "hub_shows_two_live_peers" "$(pair_wg a show "${PAIR_IF[a]}" latest-handshakes)"

# b claims c's address as its source: the hub must drop it, as c's prefix belongs to c.
pair_exec b ip addr add "$C4/32" dev "${PAIR_IF[b]}"
bad0=$(pair_stat a rx_bad_inner_source)
pair_exec b ping -q -n -c 3 -i 0.2 -W 1 -I "$C4" "${PAIR_INNER4[a]}" >/dev/null 2>&1 &&
	fail "source_of_other_peer_refused" "the hub answered" ||
	{ [ "$(pair_stat a rx_bad_inner_source)" -gt "$bad0" ] && pass "source_of_other_peer_refused" ||
		fail "source_of_other_peer_refused" "rx_bad_inner_source did not grow"; }
pair_exec b ip addr del "$C4/32" dev "${PAIR_IF[b]}"

# Both spokes receive from the hub at once.
head -c 16777216 /dev/urandom >"$T_TMP/payload"
pair_transfer_start a b "${PAIR_INNER4[b]}" "$T_TMP/payload" 5001
pair_transfer_start a c "$C6" "$T_TMP/payload" 5002
check "transfer_to_b_sha256" pair_transfer_wait 120 5001
check "transfer_to_c_sha256" pair_transfer_wait 120 5002
pair_finish
