#!/usr/bin/env bash
# A routing loop (the kernel's netns.sh #7): a's peer endpoint is moved to b's inner address, so a's
# own encrypted UDP is routed back into its tunnel. The daemon drops and counts what it reads back
# instead of encrypting it again: a flood of ten pings plus a second costs under 70000 bytes sent,
# and once the endpoint is outside the tunnel again the pair talks as before.
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT_DIR/netns-scripts/wg-pair.sh"
require_root
require_cmd wg ping

pair_new tng tng ab || { fail setup "could not bring up the pair"; pair_finish; }
IFA=${PAIR_IF[a]}
tx_bytes() { pair_wg a show "$IFA" transfer | awk '{ print $3; exit }'; }

check "ping_before" pair_ping a "${PAIR_INNER4[b]}"
loops0=$(pair_stat a tx_routing_loop)
check "endpoint_inside_tunnel" pair_wg a set "$IFA" peer "${PAIR_PUB[b]}" endpoint "${PAIR_INNER4[b]}:${PAIR_PORT[b]}"
tx0=$(tx_bytes)
pair_exec a ping -n -q -W 1 -c 10 -f "${PAIR_INNER4[b]}" >/dev/null 2>&1
sleep 1
tx1=$(tx_bytes)
[ $((tx1 - tx0)) -lt 70000 ] && pass "bounded_sends" || fail "bounded_sends" "tx +$((tx1 - tx0)) bytes"
loops1=$(pair_stat a tx_routing_loop)
[ "$loops1" -gt "$loops0" ] && pass "loop_counted" || fail "loop_counted" "tx_routing_loop $loops0 -> $loops1"
pair_daemon_pid a >/dev/null && pass "daemon_alive" || fail "daemon_alive"

check "endpoint_outside_tunnel" pair_wg a set "$IFA" peer "${PAIR_PUB[b]}" endpoint "${PAIR_OUTER4[b]}:${PAIR_PORT[b]}"
check "ping_after" pair_ping a "${PAIR_INNER4[b]}"
pair_finish
