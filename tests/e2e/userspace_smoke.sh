#!/usr/bin/env bash
# tng-wg userspace in two namespaces joined by a veth, configured with the real `wg` (set and
# setconf): ping across the tunnel, `wg show` lists the peer with a handshake, the counters answer,
# SIGUSR1 rekeys, and the daemons exit on the deletion of their socket and on SIGTERM.
source "$(dirname "$0")/../lib/common.sh"
require_root
require_cmd wg ip ping iperf3 ss

ns_a=$(ns_new a)
ns_b=$(ns_new b)
if_a="${T_PREFIX}a"
if_b="${T_PREFIX}b"
sock_a="/var/run/wireguard/$if_a.sock"
sock_b="/var/run/wireguard/$if_b.sock"
on_cleanup "rm -f '$sock_a' '$sock_b'"

ip link add "${T_PREFIX}va" netns "$ns_a" type veth peer name "${T_PREFIX}vb" netns "$ns_b"
ip -n "$ns_a" addr add 10.100.0.1/24 dev "${T_PREFIX}va"
ip -n "$ns_b" addr add 10.100.0.2/24 dev "${T_PREFIX}vb"
ip -n "$ns_a" link set "${T_PREFIX}va" up
ip -n "$ns_b" link set "${T_PREFIX}vb" up

umask 077
wg genkey >"$T_TMP/a.key"
wg genkey >"$T_TMP/b.key"
wg genpsk >"$T_TMP/psk"
pub_a=$(wg pubkey <"$T_TMP/a.key")
pub_b=$(wg pubkey <"$T_TMP/b.key")

# A in the background (returns once the TUN and the socket exist), B in the foreground.
if ip netns exec "$ns_a" env TNGWG_LOG=info "$TNGWG" userspace "$if_a" 2>"$T_TMP/a.log"; then
  pass "background start returns once ready"
else
  fail "background start returns once ready" "exit status $?"
fi
for pid in $(ip netns pids "$ns_a"); do track_pid "$pid"; done
check "socket exists when the command returns" test -S "$sock_a"
check "TUN exists when the command returns" sh -c "ip -n '$ns_a' link show '$if_a' >/dev/null"

TNGWG_LOG=info bg "$ns_b" "$TNGWG_USERSPACE" -f "$if_b" 2>"$T_TMP/b.log"
pid_b=${T_PIDS[-1]}
wait_for 10 test -S "$sock_b" || fail "foreground daemon socket" "$sock_b missing"

check "default MTU 1420" sh -c "ip -n '$ns_a' link show '$if_a' | grep -q 'mtu 1420'"

ip netns exec "$ns_a" wg set "$if_a" private-key "$T_TMP/a.key" listen-port 51820 \
  peer "$pub_b" preshared-key "$T_TMP/psk" allowed-ips 10.200.0.2/32 endpoint 10.100.0.2:51821
cat >"$T_TMP/b.conf" <<CONF
[Interface]
PrivateKey = $(cat "$T_TMP/b.key")
ListenPort = 51821

[Peer]
PublicKey = $pub_a
PresharedKey = $(cat "$T_TMP/psk")
AllowedIPs = 10.200.0.1/32
CONF
check "wg setconf" ip netns exec "$ns_b" wg setconf "$if_b" "$T_TMP/b.conf"

ip -n "$ns_a" addr add 10.200.0.1/24 dev "$if_a"
ip -n "$ns_b" addr add 10.200.0.2/24 dev "$if_b"
ip -n "$ns_a" link set "$if_a" up
ip -n "$ns_b" link set "$if_b" up

check "wg show reads the configuration" sh -c \
  "wg show '$if_a' listen-port | grep -qx 51820 && wg show '$if_a' peers | grep -qxF '$pub_b'"
check "ping across the tunnel" ip netns exec "$ns_a" ping -q -c 3 -i 0.2 -W 5 10.200.0.2
check "ping back" ip netns exec "$ns_b" ping -q -c 3 -i 0.2 -W 5 10.200.0.1

hs_a=$(wg show "$if_a" latest-handshakes | awk '{print $2}')
if [ -n "$hs_a" ] && [ "$hs_a" -gt 0 ]; then pass "wg show lists a handshake"; else fail "wg show lists a handshake" "'$hs_a'"; fi
check "endpoint roamed to A's address on B" sh -c "wg show '$if_b' endpoints | grep -q '10.100.0.1:51820'"
read -r _ rx_b tx_b < <(wg show "$if_b" transfer)
if [ "${rx_b:-0}" -gt 0 ] && [ "${tx_b:-0}" -gt 0 ]; then pass "transfer counted"; else fail "transfer counted" "rx=$rx_b tx=$tx_b"; fi

# A 1400-byte ping fills the 1420 MTU (padding never exceeds it).
check "full-MTU ping" ip netns exec "$ns_a" ping -q -c 2 -M do -s 1392 -W 5 10.200.0.2

# Garbage at B's port is counted, and the tunnel keeps working.
ip netns exec "$ns_a" bash -c 'printf "\x09\x00\x00\x00garbage" >/dev/udp/10.100.0.2/51821'
ip netns exec "$ns_a" bash -c 'printf "\x01\x00\x00\x00short" >/dev/udp/10.100.0.2/51821'
wait_for 5 sh -c "'$TNGWG' stats '$if_b' | grep -qx 'rx_unknown_type=1'"
check "stats count an unknown type" sh -c "'$TNGWG' stats '$if_b' | grep -qx 'rx_unknown_type=1'"
check "stats count a bad length" sh -c "'$TNGWG' stats '$if_b' | grep -qx 'rx_invalid_length=1'"

# SIGUSR1: a new handshake at once; the tunnel stays up across the rekey.
before=$(grep -c "handshake completed" "$T_TMP/b.log")
kill -USR1 "$pid_b"
wait_for 10 sh -c "[ \$(grep -c 'handshake completed' '$T_TMP/b.log') -gt $before ]"
after=$(grep -c "handshake completed" "$T_TMP/b.log")
if [ "$after" -gt "$before" ]; then pass "SIGUSR1 rekeys"; else fail "SIGUSR1 rekeys" "$before -> $after"; fi
check "ping after the rekey" ip netns exec "$ns_a" ping -q -c 2 -i 0.2 -W 5 10.200.0.2

# Sticky source: B answers from the address A reached it on (a secondary one), so A's endpoint
# does not roam to B's primary address.
ip -n "$ns_b" addr add 10.100.0.3/24 dev "${T_PREFIX}vb"
wg set "$if_a" peer "$pub_b" endpoint 10.100.0.3:51821
check "ping to B's secondary address" ip netns exec "$ns_a" ping -q -c 3 -i 0.2 -W 5 10.200.0.2
check "replies come from the address A used" sh -c "wg show '$if_a' endpoints | grep -q '10.100.0.3:51821'"

# WireGuard over WireGuard: a second tunnel whose outer UDP runs through the first one's TUN, a
# device without checksum offload (so no UDP segmentation offload either). A flood must pass.
if_c="${T_PREFIX}c"
if_d="${T_PREFIX}d"
on_cleanup "rm -f '/var/run/wireguard/$if_c.sock' '/var/run/wireguard/$if_d.sock'"
TNGWG_LOG=info bg "$ns_a" "$TNGWG" userspace -f "$if_c" 2>"$T_TMP/c.log"
TNGWG_LOG=info bg "$ns_b" "$TNGWG" userspace -f "$if_d" 2>"$T_TMP/d.log"
wait_for 10 sh -c "test -S '/var/run/wireguard/$if_c.sock' && test -S '/var/run/wireguard/$if_d.sock'"
wg set "$if_c" private-key "$T_TMP/a.key" listen-port 51840 peer "$pub_b" allowed-ips 10.202.0.2/32 \
  endpoint 10.200.0.2:51841
wg set "$if_d" private-key "$T_TMP/b.key" listen-port 51841 peer "$pub_a" allowed-ips 10.202.0.1/32 \
  endpoint 10.200.0.1:51840
ip -n "$ns_a" addr add 10.202.0.1/24 dev "$if_c"
ip -n "$ns_b" addr add 10.202.0.2/24 dev "$if_d"
ip -n "$ns_a" link set "$if_c" mtu 1340 up
ip -n "$ns_b" link set "$if_d" mtu 1340 up
check "wg over wg: ping" ip netns exec "$ns_a" ping -q -c 2 -i 0.2 -W 5 10.202.0.2
check "wg over wg: flood of full-size pings" ip netns exec "$ns_a" ping -q -f -c 300 -s 1312 -W 5 10.202.0.2
# A TCP stream fills the send batches with runs of equal-sized datagrams.
ip netns exec "$ns_b" iperf3 -s -1 -p 5202 >/dev/null 2>&1 &
track_pid $!
wait_for 5 sh -c "ip netns exec '$ns_b' ss -ltn | grep -q ':5202'"
check "wg over wg: TCP stream" ip netns exec "$ns_a" iperf3 -c 10.202.0.2 -p 5202 -n 20M

# Deleting the socket stops the daemon; SIGTERM stops the other one, which removes its socket.
rm -f "$sock_b"
if wait_for 10 sh -c "! kill -0 $pid_b 2>/dev/null"; then pass "socket deletion stops the daemon"; else fail "socket deletion stops the daemon"; fi
check "TUN removed with the daemon" sh -c "! ip -n '$ns_b' link show '$if_b' 2>/dev/null"
for pid in $(ip netns pids "$ns_a"); do kill -TERM "$pid"; done
if wait_for 10 sh -c "! test -e '$sock_a'"; then pass "SIGTERM exits and unlinks the socket"; else fail "SIGTERM exits and unlinks the socket"; fi
# wg-quick drives tng-wg-userspace as it would wireguard-go; `down` deletes the link and the
# daemon follows the TUN away.
if_q="${T_PREFIX}q"
on_cleanup "rm -f '/var/run/wireguard/$if_q.sock'"
cat >"$T_TMP/$if_q.conf" <<CONF
[Interface]
PrivateKey = $(cat "$T_TMP/a.key")
Address = 10.201.0.1/24
ListenPort = 51830

[Peer]
PublicKey = $pub_b
AllowedIPs = 10.201.0.2/32
Endpoint = 10.100.0.2:51831
CONF
if ip netns exec "$ns_a" env WG_QUICK_USERSPACE_IMPLEMENTATION="$TNGWG_USERSPACE" TNGWG_LOG=info \
    wg-quick up "$T_TMP/$if_q.conf" >"$T_TMP/q.log" 2>&1; then
  pass "wg-quick up with tng-wg-userspace"
else
  fail "wg-quick up with tng-wg-userspace" "$(tail -n 5 "$T_TMP/q.log")"
fi
for pid in $(ip netns pids "$ns_a"); do track_pid "$pid"; done
check "wg-quick interface is up with its address" sh -c \
  "ip -n '$ns_a' addr show '$if_q' | grep -q 'inet 10.201.0.1/24' && wg show '$if_q' listen-port | grep -qx 51830"
ip netns exec "$ns_a" wg-quick down "$T_TMP/$if_q.conf" >>"$T_TMP/q.log" 2>&1
if wait_for 10 sh -c "! test -e '/var/run/wireguard/$if_q.sock' && [ -z \"\$(ip netns pids '$ns_a')\" ]"; then
  pass "wg-quick down: the daemon exits with its TUN"
else
  fail "wg-quick down: the daemon exits with its TUN"
fi

# Every daemon gone (LeakSanitizer reports as a process exits), the detached one included.
for pid in $(ip netns pids "$ns_b"); do kill -TERM "$pid"; done
if wait_for 10 sh -c "[ -z \"\$(ip netns pids '$ns_a')\$(ip netns pids '$ns_b')\" ]"; then
  pass "every daemon exits on SIGTERM"
else
  fail "every daemon exits on SIGTERM" "still running: $(ip netns pids "$ns_a") $(ip netns pids "$ns_b")"
fi
if sanitizer_reported "$T_TMP"/*.log; then
  fail "daemons ran clean under the sanitizers"
else
  pass "daemons ran clean under the sanitizers"
fi
if [ "$T_FAILED" -ne 0 ]; then
  echo "--- a.log"; tail -n 30 "$T_TMP/a.log"; echo "--- b.log"; tail -n 30 "$T_TMP/b.log"
fi
finish
