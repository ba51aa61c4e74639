#!/usr/bin/env bash
# WireGuard over WireGuard (netns.sh #7, first half): a second tunnel, tng-wg to wireguard-go, whose
# endpoints are the inner addresses of a first tng-wg tunnel between the same namespaces, with the
# MTU wg-quick would give it (1420 - 80). Pings and a transfer cross both layers, and the outer
# tunnel carries at least what the inner one does.
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT_DIR/netns-scripts/wg-pair.sh"
require_root
require_cmd wg wireguard-go socat ss sha256sum ping

pair_new tng tng ab || { fail setup "could not bring up the pair"; pair_finish; }
pair_add_side a2 b2 "${PAIR_NS[a]}" tng 192.168.242.1 fd01::1 "${PAIR_INNER4[a]}" "${PAIR_INNER6[a]}" 51831
pair_add_side b2 a2 "${PAIR_NS[b]}" go 192.168.242.2 fd01::2 "${PAIR_INNER4[b]}" "${PAIR_INNER6[b]}" 51832

nest() {
	local side
	for side in a2 b2; do
		pair_start "$side" && pair_configure "$side" &&
			pair_exec "$side" ip link set "${PAIR_IF[$side]}" mtu 1340 || return 1
	done
}
check "inner_tunnel_up" nest

outer_bytes() { pair_wg a show "${PAIR_IF[a]}" transfer | awk '{ print $2 + $3; exit }'; }
inner_bytes() { pair_wg a2 show "${PAIR_IF[a2]}" transfer | awk '{ print $2 + $3; exit }'; }

check "ping_nested_v4" pair_ping a2 "${PAIR_INNER4[b2]}"
check "ping_nested_v6" pair_ping b2 "${PAIR_INNER6[a2]}"
[ "$(pair_wg b2 show "${PAIR_IF[b2]}" endpoints | awk '{ print $2 }')" = "${PAIR_INNER4[a]}:${PAIR_PORT[a2]}" ] &&
	pass "nested_endpoint_is_outer_inner_address" || fail "nested_endpoint_is_outer_inner_address"

head -c 16777216 /dev/urandom >"$T_TMP/payload"
outer0=$(outer_bytes)
inner0=$(inner_bytes)
pair_transfer_start a2 b2 "${PAIR_INNER4[b2]}" "$T_TMP/payload"
check "transfer_nested_sha256" pair_transfer_wait 120
outer1=$(outer_bytes)
inner1=$(inner_bytes)
[ $((inner1 - inner0)) -ge 16777216 ] && [ $((outer1 - outer0)) -gt $((inner1 - inner0)) ] &&
	pass "outer_carries_inner" ||
	fail "outer_carries_inner" "inner +$((inner1 - inner0)), outer +$((outer1 - outer0))"
pair_finish
