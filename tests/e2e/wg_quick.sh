#!/usr/bin/env bash
# wg-quick drives tng-wg-userspace as its userspace implementation: `wg-quick up` starts the
# daemon, addresses, MTU and routes, the tunnel reaches a wireguard-go peer, and `wg-quick down`
# removes the interface, after which the daemon and its socket are gone.
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT_DIR/netns-scripts/wg-pair.sh"
require_root
require_cmd wg wg-quick wireguard-go ping

pair_new none go b || { fail setup "could not bring up the pair"; finish; }
IFA=${PAIR_IF[a]}
SOCK="/var/run/wireguard/$IFA.sock"
mkdir -m 700 "$T_TMP/quick"
CONF="$T_TMP/quick/$IFA.conf"
(
	umask 077
	cat >"$CONF" <<CONF
[Interface]
PrivateKey = ${PAIR_KEY[a]}
ListenPort = ${PAIR_PORT[a]}
Address = ${PAIR_INNER4[a]}/24, ${PAIR_INNER6[a]}/112

[Peer]
PublicKey = ${PAIR_PUB[b]}
AllowedIPs = ${PAIR_INNER4[b]}/32, ${PAIR_INNER6[b]}/128
Endpoint = ${PAIR_OUTER4[b]}:${PAIR_PORT[b]}
CONF
)

quick() { # up|down
	pair_exec a env PATH="$TNGWG_BUILD:$PATH" WG_QUICK_USERSPACE_IMPLEMENTATION=tng-wg-userspace \
		wg-quick "$1" "$CONF" >>"$T_TMP/wg-quick.log" 2>&1
}

if quick up; then pass "wg_quick_up"; else fail "wg_quick_up" "$(cat "$T_TMP/wg-quick.log")"; fi
pid=$(pair_daemon_pid a)
[ -n "$pid" ] && grep -q tng-wg-userspace "/proc/$pid/cmdline" && pass "daemon_is_tng_wg_userspace" ||
	fail "daemon_is_tng_wg_userspace"
check "socket_exists" test -S "$SOCK"
check "mtu_from_endpoint_route" sh -c "ip -n '${PAIR_NS[a]}' link show '$IFA' | grep -q 'mtu 1420'"
check "address_v4" sh -c "ip -n '${PAIR_NS[a]}' -4 addr show dev '$IFA' | grep -q 'inet ${PAIR_INNER4[a]}/24'"
check "address_v6" sh -c "ip -n '${PAIR_NS[a]}' -6 addr show dev '$IFA' | grep -q 'inet6 ${PAIR_INNER6[a]}/112'"
check "ping_v4" pair_ping a "${PAIR_INNER4[b]}"
check "ping_v6" pair_ping a "${PAIR_INNER6[b]}"
[ "$(pair_handshake a)" -gt 0 ] && pass "handshake_shown" || fail "handshake_shown"
check "peer_answers_back" pair_ping b "${PAIR_INNER4[a]}"

if quick down; then pass "wg_quick_down"; else fail "wg_quick_down" "$(cat "$T_TMP/wg-quick.log")"; fi
check "interface_gone" sh -c "! ip -n '${PAIR_NS[a]}' link show '$IFA' 2>/dev/null"
[ -n "$pid" ] && wait_for 10 pair_pid_gone "$pid" && pass "daemon_exited" || fail "daemon_exited" "pid $pid still runs"
check "socket_removed" sh -c "! test -e '$SOCK'"
pair_finish
