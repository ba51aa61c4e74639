#!/usr/bin/env bash
# What tng-wg must refuse: packets whose inner source lies outside the sending peer's allowed IPs
# (sent by wireguard-go, so the sender is independent), handshakes with a peer that holds the wrong
# key, in both directions of the mistake, and sending to a peer whose endpoint it does not know.
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT_DIR/netns-scripts/wg-pair.sh"
require_root
require_cmd wg wireguard-go nstat ping

snmp() { # SIDE COUNTER: an absolute kernel SNMP counter in SIDE's namespace
	pair_exec "$1" nstat -az "$2" | awk -v k="$2" '$1 == k { print $2 }'
}

grew() { # NAME SIDE COUNTER BEFORE: pass when the tng-wg counter is now above BEFORE
	local now
	now=$(pair_stat "$2" "$3")
	[ "${now:-0}" -gt "$4" ] && pass "$1" || fail "$1" "$3 stayed at ${now:-?} (was $4)"
}

# --- spoofed inner source: a (wireguard-go) claims addresses b never allowed it ---
pair_new go tng ab || { fail setup "could not bring up the pair"; finish; }
check "spoof.genuine_ping_v4" pair_ping a "${PAIR_INNER4[b]}"
check "spoof.genuine_ping_v6" pair_ping a "${PAIR_INNER6[b]}"
pair_exec a ip addr add 192.168.241.77/32 dev "${PAIR_IF[a]}"
pair_exec a ip addr add fd00::77/128 dev "${PAIR_IF[a]}" nodad

bad0=$(pair_stat b rx_bad_inner_source)
echos4=$(snmp b IcmpInEchos)
echos6=$(snmp b Icmp6InEchos)
pair_exec a ping -q -n -c 5 -i 0.2 -W 1 -I 192.168.241.77 "${PAIR_INNER4[b]}" >/dev/null 2>&1 &&
	fail "spoof.v4_ping_unanswered" || pass "spoof.v4_ping_unanswered"
grew "spoof.v4_counted_bad_inner_source" b rx_bad_inner_source "$bad0"
[ "$(snmp b IcmpInEchos)" = "$echos4" ] && pass "spoof.v4_never_reached_the_stack" ||
	fail "spoof.v4_never_reached_the_stack" "IcmpInEchos moved from $echos4"

bad1=$(pair_stat b rx_bad_inner_source)
pair_exec a ping -q -n -c 5 -i 0.2 -W 1 -I fd00::77 "${PAIR_INNER6[b]}" >/dev/null 2>&1 &&
	fail "spoof.v6_ping_unanswered" || pass "spoof.v6_ping_unanswered"
grew "spoof.v6_counted_bad_inner_source" b rx_bad_inner_source "$bad1"
[ "$(snmp b Icmp6InEchos)" = "$echos6" ] && pass "spoof.v6_never_reached_the_stack" ||
	fail "spoof.v6_never_reached_the_stack" "Icmp6InEchos moved from $echos6"
check "spoof.genuine_ping_still_works" pair_ping a "${PAIR_INNER4[b]}"
pair_teardown

# Replaces SIDE's peer with one of a freshly generated (wrong) public key, same addresses.
swap_in_wrong_peer() {
	local side=$1 other wrong
	other=$(pair_other "$side")
	wrong=$(wg genkey | wg pubkey)
	pair_wg "$side" set "${PAIR_IF[$side]}" peer "${PAIR_PUB[$other]}" remove &&
		pair_wg "$side" set "${PAIR_IF[$side]}" peer "$wrong" \
			allowed-ips "${PAIR_INNER4[$other]}/32,${PAIR_INNER6[$other]}/128" \
			endpoint "${PAIR_OUTER4[$other]}:${PAIR_PORT[$other]}"
}

# NAME SIDE COUNTER: SIDE holds a wrong key for its peer; a pings b, which must count COUNTER and
# neither side may complete a handshake.
wrong_key_case() {
	local t=$1 side=$2 counter=$3 before
	pair_new tng tng ab || { fail "$t.setup" "could not bring up the pair"; return; }
	check "$t.reconfigured" swap_in_wrong_peer "$side"
	before=$(pair_stat b "$counter")
	pair_ping a "${PAIR_INNER4[b]}" && fail "$t.ping_fails" || pass "$t.ping_fails"
	grew "$t.counted_$counter" b "$counter" "$before"
	[ "$(pair_handshake a)" = 0 ] && [ "$(pair_handshake b)" = 0 ] &&
		pass "$t.no_handshake" || fail "$t.no_handshake"
	check "$t.daemon_still_answers" sh -c "ip netns exec '${PAIR_NS[b]}' wg show '${PAIR_IF[b]}' >/dev/null"
	pair_teardown
}

# a initiates towards the wrong responder key: its mac1 cannot match b's key.
wrong_key_case wrong_responder_key a rx_bad_mac
# b expects another initiator key: a's initiation authenticates but names an unknown static key.
wrong_key_case unknown_initiator b rx_handshake_invalid

# --- b knows no endpoint for a: it cannot send until a has reached it first ---
pair_new tng tng a || { fail setup "could not bring up the pair"; pair_finish; }
before=$(pair_stat b tx_no_endpoint)
pair_ping b "${PAIR_INNER4[a]}" 1 && fail "no_endpoint.ping_fails" || pass "no_endpoint.ping_fails"
grew "no_endpoint.counted_tx_no_endpoint" b tx_no_endpoint "$before"
[ "$(pair_handshake b)" = 0 ] && pass "no_endpoint.no_handshake" || fail "no_endpoint.no_handshake"
check "no_endpoint.ping_from_a" pair_ping a "${PAIR_INNER4[b]}"
check "no_endpoint.ping_back_once_learned" pair_ping b "${PAIR_INNER4[a]}"
pair_finish
