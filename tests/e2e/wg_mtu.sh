#!/usr/bin/env bash
# Padding follows the interface MTU as the operator sets it (netns.sh #3): after `ip link set mtu
# 1300` on tng-wg's interface, a full-size 1300-byte inner packet, and a 1297-byte one, both travel
# as 16 + 1300 + 16 = 1332-byte transport messages (padding to a multiple of 16 would give 1344, more
# than the MTU allows), and wireguard-go on the other side accepts them.
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT_DIR/netns-scripts/wg-pair.sh"
require_root
require_cmd wg wireguard-go tcpdump ping

pair_new tng go ab || { fail setup "could not bring up the pair"; pair_finish; }
check "ping_at_default_mtu" pair_ping a "${PAIR_INNER4[b]}"
check "set_mtu_1300" pair_exec a ip link set "${PAIR_IF[a]}" mtu 1300

# Transport messages from a as b's veth sees them, one "length N" line each.
CAPTURE="$T_TMP/lengths.txt"
pair_exec b tcpdump -i "$PAIR_VETH" -n -l -q "udp and src port ${PAIR_PORT[a]} and udp[8] = 4" \
	>"$CAPTURE" 2>"$T_TMP/tcpdump.log" &
track_pid $!
wait_for 10 grep -q "listening on" "$T_TMP/tcpdump.log"

# Sends one ICMP echo of SIZE payload bytes without fragmentation; true when the reply came back
# and a's tunnel carried the echo as a transport message of LENGTH bytes.
sent_as() {
	local size=$1 length=$2 seen
	seen=$(wc -l <"$CAPTURE")
	pair_exec a ping -q -n -c 1 -W 2 -M do -s "$size" "${PAIR_INNER4[b]}" >/dev/null 2>&1 &&
		wait_for 3 captured_since "$seen" "$length"
}
captured_since() { tail -n +"$(($1 + 1))" "$CAPTURE" | grep -q "length $2\$"; } # LINE LENGTH

# The daemon reads the MTU change on its own schedule: try until the new size shows.
wait_for 15 sent_as 1272 1332 && pass "full_size_packet_padded_to_mtu" ||
	fail "full_size_packet_padded_to_mtu" "lengths seen: $(awk '{ print $NF }' "$CAPTURE" | sort -u | tr '\n' ' ')"
check "1297_byte_packet_padded_to_mtu_not_beyond" sent_as 1269 1332
check "oversized_packet_refused_locally" sh -c "! ip netns exec '${PAIR_NS[a]}' ping -q -c 1 -W 1 -M do -s 1273 '${PAIR_INNER4[b]}' >/dev/null 2>&1"
check "reply_direction_still_works" pair_ping b "${PAIR_INNER4[a]}"
pair_finish
