#!/usr/bin/env bash
# run alone
# tng-wg against itself and against wireguard-go, each side initiating in turn, over an IPv4 and an
# IPv6 outer network: pings over the inner IPv4 and IPv6 addresses, exact byte counts for ten pings,
# `wg show` fields, and a 64 MiB TCP transfer with a forced rekey (SIGUSR1 to every tng-wg side) in
# the middle, checked by SHA-256 at both ends.
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT_DIR/netns-scripts/wg-pair.sh"
require_root
require_cmd wg wireguard-go socat ss sha256sum ping
# IMPL_A:IMPL_B:INITIATOR:OUTER_FAMILY
INTEROP_CASES=${INTEROP_CASES:-"tng:tng:a:4 tng:go:a:4 tng:go:b:4 tng:go:a:6"}

PAYLOAD="$T_TMP/payload"
head -c 67108864 /dev/urandom >"$PAYLOAD"

show_field() { # SIDE FIELD: the value `wg show IF FIELD` prints for the peer
	pair_wg "$1" show "${PAIR_IF[$1]}" "$2" | awk '{ print $NF; exit }'
}

received_more_than() { [ "$(stat -c %s "$PAIR_TRANSFER_OUT" 2>/dev/null || echo 0)" -gt "$1" ]; }
handshake_after() { [ "$(pair_handshake "$1")" -gt "$2" ]; } # SIDE T

transfer_pair() { # SIDE: "rx tx" bytes with the peer
	pair_wg "$1" show "${PAIR_IF[$1]}" transfer | awk '{ print $2, $3; exit }'
}

transfer_total() { # SIDE: rx + tx bytes with the peer
	pair_wg "$1" show "${PAIR_IF[$1]}" transfer | awk '{ print $2 + $3; exit }'
}

outer_endpoint() { # SIDE: its outer address and port as `wg show` prints them
	if [ "$PAIR_OUTER_FAMILY" = 6 ]; then
		echo "[${PAIR_OUTER6[$1]}]:${PAIR_PORT[$1]}"
	else
		echo "${PAIR_OUTER4[$1]}:${PAIR_PORT[$1]}"
	fi
}

interop_case() {
	local impl_a=$1 impl_b=$2 init=$3
	local resp t="${1}-${2}-init-${3}-outer-v${4}"
	PAIR_OUTER_FAMILY=$4
	if ! pair_new "$impl_a" "$impl_b" "$init"; then
		fail "$t.setup" "could not bring up the pair"
		pair_teardown
		return
	fi
	resp=$(pair_other "$init")
	[ "$(pair_handshake a)" = 0 ] && [ "$(pair_handshake b)" = 0 ] &&
		pass "$t.no_handshake_before_traffic" || fail "$t.no_handshake_before_traffic"

	check "$t.ping_v4_from_initiator" pair_ping "$init" "${PAIR_INNER4[$resp]}"
	check "$t.ping_v6_from_responder" pair_ping "$resp" "${PAIR_INNER6[$init]}"
	check "$t.ping_v6_from_initiator" pair_ping "$init" "${PAIR_INNER6[$resp]}"
	check "$t.ping_v4_from_responder" pair_ping "$resp" "${PAIR_INNER4[$init]}"

	local side other
	for side in a b; do
		other=$(pair_other "$side")
		[ "$(show_field "$side" peers)" = "${PAIR_PUB[$other]}" ] &&
			pass "$t.wg_show_peer_$side" || fail "$t.wg_show_peer_$side" "$(pair_wg "$side" show)"
		[ "$(show_field "$side" endpoints)" = "$(outer_endpoint "$other")" ] &&
			pass "$t.wg_show_endpoint_$side" ||
			fail "$t.wg_show_endpoint_$side" "got $(show_field "$side" endpoints)"
		[ "$(pair_handshake "$side")" -gt 0 ] &&
			pass "$t.wg_show_handshake_$side" || fail "$t.wg_show_handshake_$side"
		pair_wg "$side" show "${PAIR_IF[$side]}" transfer | awk '{ exit !($2 > 0 && $3 > 0) }' &&
			pass "$t.wg_show_transfer_$side" || fail "$t.wg_show_transfer_$side"
	done

	# Ten 84-byte echo requests and their replies: each is padded to 96 bytes and sent as a
	# 128-byte transport message, so both sides count exactly 1280 bytes each way (netns.sh #1).
	local rx0 tx0
	read -r rx0 tx0 < <(transfer_pair "$init")
	pair_exec "$init" ping -q -n -c 10 -i 0.05 -W 2 "${PAIR_INNER4[$resp]}" >/dev/null 2>&1
	local rx1 tx1
	read -r rx1 tx1 < <(transfer_pair "$init")
	[ $((rx1 - rx0)) = 1280 ] && [ $((tx1 - tx0)) = 1280 ] && pass "$t.ten_pings_cost_1280_bytes_each_way" ||
		fail "$t.ten_pings_cost_1280_bytes_each_way" "rx +$((rx1 - rx0)), tx +$((tx1 - tx0))"

	local before_a before_b hs0 dst
	before_a=$(transfer_total a)
	before_b=$(transfer_total b)
	hs0=$(pair_handshake a)
	dst=${PAIR_INNER4[$resp]}
	[ "$init" = b ] && dst=${PAIR_INNER6[$resp]}
	# Past the handshake's second first, so the rekey can follow the first 4 MiB at once.
	pair_wait_next_second "$hs0"
	pair_transfer_start "$init" "$resp" "$dst" "$PAYLOAD"
	local rekeyed=""
	wait_for 60 received_more_than 4194304
	for side in a b; do
		if [ "${PAIR_IMPL[$side]}" = tng ]; then
			kill -USR1 "$(pair_daemon_pid "$side")" && rekeyed="$rekeyed $side"
		fi
	done
	check "$t.transfer_64MiB_sha256" pair_transfer_wait 180
	if [ -n "$rekeyed" ]; then
		wait_for 15 handshake_after a "$hs0" && pass "$t.sigusr1_rekeyed" ||
			fail "$t.sigusr1_rekeyed" "latest handshake still $hs0"
		check "$t.ping_after_rekey" pair_ping "$init" "${PAIR_INNER4[$resp]}"
	fi
	for side in a b; do
		local now before=$before_a
		[ "$side" = b ] && before=$before_b
		now=$(transfer_total "$side")
		[ "$now" -ge $((before + 67108864)) ] && pass "$t.wg_show_bytes_grew_$side" ||
			fail "$t.wg_show_bytes_grew_$side" "transfer went from $before to $now"
	done
	pair_teardown
}

for c in $INTEROP_CASES; do
	IFS=: read -r ia ib init family <<<"$c"
	interop_case "$ia" "$ib" "$init" "$family"
done
pair_finish
