#!/usr/bin/env bash
# Configuration edge cases through the real `wg`, after the kernel's netns.sh #14-#16: removing and
# restoring the private key, the device's own key offered as a peer, a peer with 130,560 allowed
# IPs (a /24 and a /48 per 255x256 pair) that still routes, a prefix moving to another peer,
# removal of the whole peer, and peers with low-order public keys, to which nothing may be sent.
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT_DIR/netns-scripts/wg-pair.sh"
require_root
require_cmd wg wireguard-go socat ping /usr/bin/python3

pair_new tng go ab || { fail setup "could not bring up the pair"; pair_finish; }
IFA=${PAIR_IF[a]}
show() { pair_wg a show "$IFA" "$@"; }

# --- private key removed and restored ---
check "private_key_removed" pair_wg a set "$IFA" private-key /dev/null
[ "$(show private-key)" = "(none)" ] && [ "$(show public-key)" = "(none)" ] &&
	pass "no_key_shown_as_none" || fail "no_key_shown_as_none" "$(show private-key) / $(show public-key)"
echo "${PAIR_KEY[a]}" >"$T_TMP/a.key"
check "private_key_restored" pair_wg a set "$IFA" private-key "$T_TMP/a.key"
[ "$(show public-key)" = "${PAIR_PUB[a]}" ] && pass "public_key_derived_again" || fail "public_key_derived_again"
check "ping_after_key_restored" pair_ping a "${PAIR_INNER4[b]}"

# --- the device's own public key is not a peer ---
pair_wg a set "$IFA" peer "${PAIR_PUB[a]}" allowed-ips 198.51.100.1/32
! show peers | grep -qx -- "${PAIR_PUB[a]}" && ! show allowed-ips | grep -q 198.51.100.1 &&
	pass "own_key_ignored_as_peer" || fail "own_key_ignored_as_peer" "$(show peers)"

# --- a peer with 130,560 more allowed IPs, applied with `wg addconf` ---
{
	echo "[Peer]"
	echo "PublicKey = ${PAIR_PUB[b]}"
	echo "AllowedIPs = ${PAIR_INNER4[b]}/32, ${PAIR_INNER6[b]}/128"
	/usr/bin/python3 -c '
for i in range(255):
    for j in range(256):
        print("AllowedIPs = 10.%d.%d.0/24, fd99:%x:%x::/48" % (i, j, i, j))'
} >"$T_TMP/big.conf"
check "big_config_applied" pair_wg a addconf "$IFA" "$T_TMP/big.conf"
count_allowed() { show allowed-ips | awk -v k="$1" '$1 == k { print NF - 1 }'; }
[ "$(count_allowed "${PAIR_PUB[b]}")" = 130562 ] && pass "all_130562_prefixes_listed" ||
	fail "all_130562_prefixes_listed" "listed $(count_allowed "${PAIR_PUB[b]}")"
check "ping_with_big_config" pair_ping a "${PAIR_INNER4[b]}"

# A packet to one of the new prefixes leaves through the tunnel to b: a's byte counter grows and
# nothing is counted as unroutable.
pair_exec a ip route add 10.0.0.0/8 dev "$IFA"
tx_bytes() { show transfer | awk '{ print $3; exit }'; }
tx0=$(tx_bytes)
noroute0=$(pair_stat a tx_no_route)
pair_exec a ping -q -n -c 2 -i 0.2 -W 1 10.200.17.9 >/dev/null 2>&1
[ "$(tx_bytes)" -gt "$tx0" ] && [ "$(pair_stat a tx_no_route)" = "$noroute0" ] &&
	pass "big_config_prefix_routes_to_peer" || fail "big_config_prefix_routes_to_peer"

# --- a prefix claimed by another peer moves there ---
OTHER=$(wg genkey | wg pubkey)
pair_wg a set "$IFA" peer "$OTHER" allowed-ips 10.200.17.0/24
[ "$(count_allowed "${PAIR_PUB[b]}")" = 130561 ] && show allowed-ips | grep -q "^$OTHER	10.200.17.0/24\$" &&
	pass "prefix_moved_to_new_owner" || fail "prefix_moved_to_new_owner"

# --- removing the peer removes all its prefixes ---
check "peer_removed" pair_wg a set "$IFA" peer "${PAIR_PUB[b]}" remove
! show peers | grep -qx -- "${PAIR_PUB[b]}" && [ "$(show allowed-ips | wc -l)" = 1 ] &&
	pass "prefixes_gone_with_peer" || fail "prefixes_gone_with_peer"
noroute0=$(pair_stat a tx_no_route)
pair_ping a "${PAIR_INNER4[b]}" && fail "no_route_after_removal" ||
	{ [ "$(pair_stat a tx_no_route)" -gt "$noroute0" ] && pass "no_route_after_removal" ||
		fail "no_route_after_removal" "tx_no_route did not grow"; }

# --- low-order public keys: no handshake can be made with them, so nothing is sent ---
pair_exec a socat -u UDP-RECV:1111,bind=127.0.0.1 "OPEN:$T_TMP/low-order.bin,creat,append" &
track_pid $!
pair_exec a socat -u UDP-RECV:1112,bind=127.0.0.1 "OPEN:$T_TMP/control.bin,creat,append" &
track_pid $!
for key in AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
	4Ot6fDtBuK4WVuP68Z/EatoJjeucMrH9hmIFFl9JuAA= X5yVvKNQjCSx0LFVnIPvWwREXMRYHI6G2CJO3dCfEVc= \
	7P///////////////////////////////////////38= 7f///////////////////////////////////////38= \
	7v///////////////////////////////////////38=; do
	pair_wg a set "$IFA" peer "$key" persistent-keepalive 1 endpoint 127.0.0.1:1111 ||
		fail "low_order_peer_accepted" "wg set refused $key"
done
# The control: an ordinary key configured the same way does send (handshake initiations).
check "control_peer_set" pair_wg a set "$IFA" peer "$(wg genkey | wg pubkey)" persistent-keepalive 1 \
	endpoint 127.0.0.1:1112
wait_for 10 test -s "$T_TMP/control.bin" && pass "control_peer_sent_handshakes" || fail "control_peer_sent_handshakes"
sleep 2 # let every low-order peer's keepalive timer fire at least once more
[ ! -s "$T_TMP/low-order.bin" ] && pass "nothing_sent_to_low_order_peers" ||
	fail "nothing_sent_to_low_order_peers" "$(stat -c %s "$T_TMP/low-order.bin") bytes arrived"
check "daemon_still_answers" sh -c "ip netns exec '${PAIR_NS[a]}' wg show '$IFA' >/dev/null"
pair_finish
