#!/usr/bin/env bash
# Endpoint roaming between tng-wg and wireguard-go: when one side's outer address changes (IPv4,
# then over to IPv6), the other side's endpoint follows the source of authenticated packets, in
# both directions (tng-wg following wireguard-go, and wireguard-go following tng-wg).
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT_DIR/netns-scripts/wg-pair.sh"
require_root
require_cmd wg wireguard-go ping

endpoint_of_peer() { # SIDE: the endpoint SIDE holds for its peer
	pair_wg "$1" show "${PAIR_IF[$1]}" endpoints | awk '{ print $2; exit }'
}

endpoint_is() { [ "$(endpoint_of_peer "$1")" = "$2" ]; }

# Moves SIDE's outer address from OLD to NEW (both CIDR), keeping the veth's subnet route.
move_outer() {
	local side=$1 old=$2 new=$3 nodad=""
	[[ "$new" == *:* ]] && nodad=nodad
	pair_exec "$side" sysctl -qw "net.ipv4.conf.$PAIR_VETH.promote_secondaries=1" &&
		pair_exec "$side" ip addr add "$new" dev "$PAIR_VETH" $nodad &&
		pair_exec "$side" ip addr del "$old" dev "$PAIR_VETH"
}

# SIDE moves; its peer must see the new endpoint after SIDE sends. With PEER_ENDPOINT, SIDE's
# endpoint for its peer is set again after the move: wireguard-go 0.0.20220316 keeps sending from
# the address it last used until its endpoint is set, and a move is only visible once SIDE sends.
roam_case() {
	local t=$1 side=$2 old=$3 new=$4 expected=$5 peer_endpoint=${6:-} other
	other=$(pair_other "$side")
	check "$t.moved" move_outer "$side" "$old" "$new"
	if [ -n "$peer_endpoint" ]; then
		check "$t.mover_endpoint_reset" pair_wg "$side" set "${PAIR_IF[$side]}" peer "${PAIR_PUB[$other]}" \
			endpoint "$peer_endpoint"
	fi
	check "$t.ping_from_new_address" pair_ping "$side" "${PAIR_INNER4[$other]}"
	wait_for 5 endpoint_is "$other" "$expected"
	local got
	got=$(endpoint_of_peer "$other")
	[ "$got" = "$expected" ] && pass "$t.endpoint_followed" || fail "$t.endpoint_followed" "got $got, want $expected"
	check "$t.ping_back" pair_ping "$other" "${PAIR_INNER6[$side]}"
}

pair_new go tng ab || { fail setup "could not bring up the pair"; finish; }
check "initial_ping" pair_ping a "${PAIR_INNER4[b]}"
[ "$(endpoint_of_peer b)" = "10.9.0.1:${PAIR_PORT[a]}" ] && pass "initial_endpoint" || fail "initial_endpoint"

# wireguard-go (a) moves; tng-wg (b) follows.
roam_case "tng_follows_v4" a 10.9.0.1/24 10.9.0.3/24 "10.9.0.3:${PAIR_PORT[a]}" "10.9.0.2:${PAIR_PORT[b]}"
roam_case "tng_follows_to_v6" a fd09::1/64 fd09::3/64 "[fd09::3]:${PAIR_PORT[a]}" "[fd09::2]:${PAIR_PORT[b]}"

# tng-wg (b) moves on its own; wireguard-go (a) follows. b answers a over IPv6 by now, so first
# point it back at a's IPv4 address.
check "point_b_at_a_over_v4" pair_wg b set "${PAIR_IF[b]}" peer "${PAIR_PUB[a]}" endpoint "10.9.0.3:${PAIR_PORT[a]}"
roam_case "go_follows_tng_v4" b 10.9.0.2/24 10.9.0.4/24 "10.9.0.4:${PAIR_PORT[b]}"
pair_finish
