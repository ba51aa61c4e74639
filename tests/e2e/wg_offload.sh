#!/usr/bin/env bash
# run alone
# The engine's offloads against wireguard-go and against itself, with offloads on and with
# TNGWG_OFFLOAD=0: 24 MiB TCP transfers each way (inner IPv4 one way, IPv6 the other: TSO
# super-packets cut on send, coalesced on receive) checked by SHA-256; UDP sent with UDP_SEGMENT
# (USO super-packets into the TUN), every datagram checked for content and the loss bounded; the
# daemon's log saying which offloads it runs; no datagram dropped as undecryptable and no frame
# refused as malformed.
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT_DIR/netns-scripts/wg-pair.sh"
require_root
require_cmd wg wireguard-go socat ss sha256sum /usr/bin/python3

PAYLOAD="$T_TMP/payload"
head -c 25165824 /dev/urandom >"$PAYLOAD"

# UDP: the sender writes 12000-byte buffers cut into 1200-byte datagrams by the kernel (UDP GSO),
# each datagram its sequence number and bytes derived from it; the receiver prints how many
# arrived intact and how many were wrong.
UDP_RECEIVER='
import hashlib, socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind((sys.argv[1], 6000)); s.settimeout(3)
open(sys.argv[2], "w").close()
good = bad = 0
try:
    while True:
        d = s.recv(2000)
        seq = int.from_bytes(d[:4], "big")
        want = d[:4] + (hashlib.sha256(d[:4]).digest() * 38)[: 1200 - 4]
        if d == want: good += 1
        else: bad += 1
except socket.timeout:
    pass
print(good, bad)'
UDP_SENDER='
import hashlib, socket, sys, time
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_UDP, 103, 1200)  # UDP_SEGMENT
seq = 0
for burst in range(200):
    buf = b""
    for i in range(10):
        h = seq.to_bytes(4, "big")
        buf += h + (hashlib.sha256(h).digest() * 38)[: 1200 - 4]
        seq += 1
    s.sendto(buf, (sys.argv[1], 6000))
    time.sleep(0.002)'

udp_case() { # NAME FROM TO ADDR
	local t=$1 from=$2 to=$3 addr=$4 ready="$T_TMP/udp-ready" out="$T_TMP/udp-result"
	rm -f "$ready"
	pair_exec "$to" /usr/bin/python3 -c "$UDP_RECEIVER" "$addr" "$ready" >"$out" &
	local rx=$!
	track_pid $rx
	wait_for 5 test -f "$ready"
	pair_exec "$from" /usr/bin/python3 -c "$UDP_SENDER" "$addr"
	wait "$rx"
	local good bad
	read -r good bad <"$out"
	# Over a quiet veth nothing should be lost; a little slack for a busy machine.
	[ "${bad:-1}" = 0 ] && [ "${good:-0}" -ge 1900 ] && pass "$t" || fail "$t" "intact $good of 2000, corrupt $bad"
}

offload_case() { # IMPL_A IMPL_B on|off
	local t="${1}-${2}-offload-$3"
	if [ "$3" = off ]; then export TNGWG_OFFLOAD=0; else unset TNGWG_OFFLOAD; fi
	if ! pair_new "$1" "$2"; then
		fail "$t.setup" "could not bring up the pair"
		pair_teardown
		return
	fi
	local side
	check "$t.ping" pair_ping a "${PAIR_INNER4[b]}"
	pair_transfer_start a b "${PAIR_INNER4[b]}" "$PAYLOAD"
	pair_transfer_wait 120 && pass "$t.tcp4_a_to_b_sha256" || fail "$t.tcp4_a_to_b_sha256"
	pair_transfer_start b a "${PAIR_INNER6[a]}" "$PAYLOAD"
	pair_transfer_wait 120 && pass "$t.tcp6_b_to_a_sha256" || fail "$t.tcp6_b_to_a_sha256"
	udp_case "$t.udp_gso_a_to_b" a b "${PAIR_INNER4[b]}"
	udp_case "$t.udp_gso_b_to_a" b a "${PAIR_INNER6[a]}"
	for side in a b; do
		[ "${PAIR_IMPL[$side]}" = tng ] || continue
		[ "$(pair_stat "$side" rx_decrypt_failed)" = 0 ] && [ "$(pair_stat "$side" tx_invalid_offload)" = 0 ] &&
			pass "$t.no_drops_$side" || fail "$t.no_drops_$side" "$(pair_exec "$side" "$TNGWG" stats "${PAIR_IF[$side]}" | tr '\n' ' ')"
	done
	pair_teardown
}

offload_log_case() { # on|off: what the engine says it runs
	local t="offload-log-$1" log
	if [ "$1" = off ]; then export TNGWG_OFFLOAD=0; else unset TNGWG_OFFLOAD; fi
	TNGWG_LOG=info pair_new tng none || { fail "$t.setup"; pair_teardown; return; }
	log=$(pair_log a)
	if [ "$1" = on ]; then
		grep -q "offloads: TUN vnet header on, TSO on, USO on, UDP GSO/GRO on" "$log" && pass "$t" ||
			fail "$t" "$(grep offloads "$log")"
	else
		grep -q "offloads: TUN vnet header off, TSO off, USO off, UDP GSO/GRO off" "$log" && pass "$t" ||
			fail "$t" "$(grep offloads "$log")"
	fi
	pair_teardown
}

for mode in on off; do
	offload_log_case "$mode"
	offload_case tng go "$mode"
	offload_case go tng "$mode"
done
offload_case tng tng on
pair_finish
