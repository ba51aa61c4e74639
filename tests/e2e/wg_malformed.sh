#!/usr/bin/env bash
# Malformed input to a tng-wg daemon with an established tunnel (peer: wireguard-go): truncated and
# oversized messages of every type, unknown types, bad mac1s, valid mac1s over garbage, unknown
# receiver indexes, a forged cookie reply, and a real captured transport message replayed, tampered
# with and stretched. Each must land in its own `tng-wg stats` counter, exactly once per message,
# without moving the peer's endpoint; the daemon keeps serving throughout.
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT_DIR/netns-scripts/wg-pair.sh"
require_root
require_cmd wg wireguard-go tcpdump ping /usr/bin/python3
CRAFT="$TESTS_DIR/tools/wgcraft.py"

pair_new go tng ab || { fail setup "could not bring up the pair"; finish; }
check "tunnel_up" pair_ping a "${PAIR_INNER4[b]}"
TARGET="${PAIR_OUTER4[b]}:${PAIR_PORT[b]}"
ENDPOINT_OF_A="${PAIR_OUTER4[a]}:${PAIR_PORT[a]}"

# Capture real transport messages with content from a to b.
CAP="$T_TMP/data.pcap"
pair_exec b tcpdump -i "$PAIR_VETH" -n -U -c 2 -w "$CAP" \
	"udp dst port ${PAIR_PORT[b]} and udp[8] = 4 and greater 100" 2>"$T_TMP/tcpdump.log" &
TCPDUMP_PID=$!
track_pid "$TCPDUMP_PID"
wait_for 10 grep -q "listening on" "$T_TMP/tcpdump.log"
pair_ping a "${PAIR_INNER4[b]}"
wait_for 10 sh -c "! kill -0 $TCPDUMP_PID 2>/dev/null"
check "captured_transport_messages" test -s "$CAP"

counter_at_least() { [ "$(pair_stat b "$1")" -ge "$2" ]; }

# CASE COUNTER [COUNT]: send COUNT (3) messages of CASE from a; b's COUNTER must grow by COUNT.
expect() {
	local case=$1 counter=$2 count=${3:-3} before want got
	before=$(pair_stat b "$counter")
	if ! pair_exec a /usr/bin/python3 "$CRAFT" "$case" --to "$TARGET" --count "$count" \
		--responder-key "${PAIR_PUB[b]}" --capture "$CAP" >/dev/null; then
		fail "$case" "wgcraft failed"
		return
	fi
	want=$((before + count))
	wait_for 5 counter_at_least "$counter" "$want"
	got=$(pair_stat b "$counter")
	[ "$got" = "$want" ] && pass "$case.counted_as_$counter" ||
		fail "$case.counted_as_$counter" "$counter went from $before to $got, expected $want"
}

expect too_short_for_type rx_invalid_length
expect initiation_short rx_invalid_length
expect initiation_long rx_invalid_length
expect response_short rx_invalid_length
expect response_long rx_invalid_length
expect cookie_short rx_invalid_length
expect cookie_long rx_invalid_length
expect data_short rx_invalid_length
expect data_header_only rx_invalid_length
expect unknown_type rx_unknown_type
expect type_zero rx_unknown_type
expect initiation_bad_mac1 rx_bad_mac
expect response_bad_mac1 rx_bad_mac
expect initiation_garbage_valid_mac1 rx_handshake_invalid
expect response_unknown_index_valid_mac1 rx_unknown_index
expect cookie_unknown_index rx_unknown_index
expect cookie_forged_for_known_index rx_bad_mac
expect data_unknown_index rx_unknown_index
expect data_tampered rx_decrypt_failed
expect data_oversized rx_decrypt_failed
expect data_replayed rx_replayed

pair_daemon_pid b >/dev/null && pass "daemon_alive" || fail "daemon_alive"
[ "$(pair_wg b show "${PAIR_IF[b]}" endpoints | awk '{ print $2 }')" = "$ENDPOINT_OF_A" ] &&
	pass "endpoint_not_moved_by_forgeries" || fail "endpoint_not_moved_by_forgeries"
check "ping_still_works" pair_ping a "${PAIR_INNER4[b]}"
check "wg_show_still_answers" sh -c "ip netns exec '${PAIR_NS[b]}' wg show '${PAIR_IF[b]}' dump >/dev/null"
check "no_inner_source_drops" test "$(pair_stat b rx_bad_inner_source)" = 0
pair_finish
