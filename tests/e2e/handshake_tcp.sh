#!/usr/bin/env bash
# The attested handshake over real TCP between two namespaces A (10.78.0.1) -- veth -- B
# (10.78.0.2), driven by tests/tools/hs_node.c: both sides attest and verify and agree on the PSK
# and each other's WireGuard key; every handshake packet either side sends carries the bypass
# mark (nft counters on the output hooks, none unmarked); an nft rule that drops unmarked
# handshake traffic, as the steering rules would steer it, stops a node without the mark and
# not a node with it; a refusal (peer will not attest) is reported on both sides; the same over
# IPv6 (fd78::1 -- fd78::2) to a dual-stack listener. Then against
# tests/tools/hs_peer.py, an independent Python implementation of the protocol, in both roles,
# and with evidence bound to another WireGuard key, which the C node must refuse.
. "$(dirname "$0")/../lib/common.sh"
require_root
require_cmd nft ip cc pkg-config /usr/bin/python3
if ! /usr/bin/python3 -c 'import cryptography' 2>/dev/null; then
	echo "FAIL handshake_tcp: needs python3-cryptography for /usr/bin/python3 (run 'make deps')"
	exit 1
fi

node="$T_TMP/hs_node"
peer=(/usr/bin/python3 "$ROOT_DIR/tests/tools/hs_peer.py")
if ! "$ROOT_DIR/tests/tools/build-c-tool.sh" hs_node "$node" "$TNGWG_BUILD"; then
	echo "FAIL handshake_tcp: cannot build tests/tools/hs_node.c against $TNGWG_BUILD/libtngwg.a"
	exit 1
fi

MARK=565
ns_new a >/dev/null
ns_new b >/dev/null
A="$T_PREFIX-a"
B="$T_PREFIX-b"
ip -n "$A" link add veth-hs type veth peer name veth-hs netns "$B"
ip -n "$A" addr add 10.78.0.1/24 dev veth-hs
ip -n "$B" addr add 10.78.0.2/24 dev veth-hs
ip -n "$A" addr add fd78::1/64 dev veth-hs nodad
ip -n "$B" addr add fd78::2/64 dev veth-hs nodad
ip -n "$A" link set veth-hs up
ip -n "$B" link set veth-hs up

# count_marks NS: nft counters of handshake packets the namespace sends, by mark
count_marks() {
	ip netns exec "$1" nft -f - <<-NFT
	table inet hs_test {
		counter marked {}
		counter unmarked {}
		chain out {
			type filter hook output priority 0; policy accept;
			tcp dport 7000-7099 meta mark $MARK counter name marked
			tcp sport 7000-7099 meta mark $MARK counter name marked
			tcp dport 7000-7099 meta mark != $MARK counter name unmarked
			tcp sport 7000-7099 meta mark != $MARK counter name unmarked
		}
	}
	NFT
}

packets() { # NS COUNTER
	ip netns exec "$1" nft list counter inet hs_test "$2" | sed -n 's/.*packets \([0-9]*\).*/\1/p'
}

# listen NAME CMD...: a node in B waiting for one handshake, output in $T_TMP/NAME
listen() {
	local name=$1; shift
	bg "$B" "$@" >"$T_TMP/$name" 2>"$T_TMP/$name.err"
	wait_for 10 grep -q '^listening' "$T_TMP/$name"
}

# initiate NAME CMD...: a node in A handshaking with B, output in $T_TMP/NAME; then waits for
# the outcome of listener LISTENER
initiate() {
	local name=$1 listener=$2; shift 2
	ip netns exec "$A" "$@" >"$T_TMP/$name" 2>"$T_TMP/$name.err"
	[ -z "$listener" ] || wait_for 10 grep -q '^done\|^failed' "$T_TMP/$listener"
}

field() { sed -n "s/^$2 .*$3=\([^ ]*\).*/\1/p" "$T_TMP/$1"; }
both() { echo "A: $(cat "$T_TMP/$1" "$T_TMP/$1.err") B: $(cat "$T_TMP/$2" "$T_TMP/$2.err")"; }

# check_agreed TEST A B A_WG_PORT B_WG_PORT: both done, same PSK, each has the other's key and
# port, both verified the other
check_agreed() {
	local t=$1 a=$2 b=$3
	local psk_a psk_b
	psk_a=$(field "$a" done psk)
	psk_b=$(field "$b" done psk)
	if [ -n "$psk_a" ] && [ "$psk_a" = "$psk_b" ] &&
		[ "$(field "$a" done peer_key)" = "$(field "$b" node own_key)" ] &&
		[ "$(field "$b" done peer_key)" = "$(field "$a" node own_key)" ] &&
		[ "$(field "$a" done peer_port)" = "$5" ] && [ "$(field "$b" done peer_port)" = "$4" ] &&
		[ "$(field "$a" done attested)" = 1 ] && [ "$(field "$b" done attested)" = 1 ]; then
		pass "$t"
	else
		fail "$t" "$(both "$a" "$b")"
	fi
}

# check_refused TEST A A_BY_PEER B B_BY_PEER REASON: both failed for REASON, as seen by each
check_refused() {
	if [ "$(field "$2" failed reason)" = "$6" ] && [ "$(field "$2" failed by_peer)" = "$3" ] &&
		[ "$(field "$4" failed reason)" = "$6" ] && [ "$(field "$4" failed by_peer)" = "$5" ]; then
		pass "$1"
	else
		fail "$1" "$(both "$2" "$4")"
	fi
}

count_marks "$A"
count_marks "$B"
attested=(--attest --require)

# 1. both attest and require: same PSK, keys exchanged, every packet marked
listen b1 "$node" --bind 10.78.0.2 --port 7001 --mark $MARK "${attested[@]}" --wg-port 51002
initiate a1 b1 "$node" --bind 10.78.0.1 --port 7001 --connect 10.78.0.2 --mark $MARK \
	"${attested[@]}" --wg-port 51001
check_agreed attested_handshake_done a1 b1 51001 51002
ma=$(packets "$A" marked); mb=$(packets "$B" marked)
ua=$(packets "$A" unmarked); ub=$(packets "$B" unmarked)
if [ "${ma:-0}" -gt 0 ] && [ "${mb:-0}" -gt 0 ] && [ "$ua" = 0 ] && [ "$ub" = 0 ]; then
	pass sockets_carry_bypass_mark
else
	fail sockets_carry_bypass_mark "marked A=$ma B=$mb, unmarked A=$ua B=$ub"
fi

# 2. a rule dropping unmarked handshake traffic (what steering does to unmarked packets)
ip netns exec "$A" nft add rule inet hs_test out tcp dport 7002 meta mark != $MARK drop
listen b2 "$node" --bind 10.78.0.2 --port 7002 --mark $MARK "${attested[@]}"
initiate a2 b2 "$node" --bind 10.78.0.1 --port 7002 --connect 10.78.0.2 --mark $MARK "${attested[@]}"
if grep -q '^done' "$T_TMP/a2" && grep -q '^done' "$T_TMP/b2"; then
	pass marked_node_passes_drop_rule
else
	fail marked_node_passes_drop_rule "$(both a2 b2)"
fi
initiate a3 "" "$node" --bind 10.78.0.1 --port 7002 --connect 10.78.0.2 "${attested[@]}" \
	--deadline-ms 1500
if [ "$(field a3 failed reason)" = timeout ]; then
	pass unmarked_node_is_stopped
else
	fail unmarked_node_is_stopped "A: $(cat "$T_TMP/a3" "$T_TMP/a3.err")"
fi

# 3. B requires evidence, A will not attest: both report why
listen b4 "$node" --bind 10.78.0.2 --port 7004 --mark $MARK "${attested[@]}"
initiate a4 b4 "$node" --bind 10.78.0.1 --port 7004 --connect 10.78.0.2 --mark $MARK
check_refused refusal_reported_both_sides a4 1 b4 0 attestation_required

# 4. the independent implementation as initiator, then as responder
listen b5 "$node" --bind 10.78.0.2 --port 7005 --mark $MARK "${attested[@]}" --wg-port 51005
initiate a5 b5 "${peer[@]}" --connect 10.78.0.2 --port 7005 "${attested[@]}" --wg-port 51015
check_agreed interop_python_initiator a5 b5 51015 51005
listen b6 "${peer[@]}" --listen 10.78.0.2 --port 7006 "${attested[@]}" --wg-port 51016
initiate a6 b6 "$node" --bind 10.78.0.1 --port 7006 --connect 10.78.0.2 --mark $MARK \
	"${attested[@]}" --wg-port 51006
check_agreed interop_python_responder a6 b6 51006 51016

# 5. over IPv6, the listener on every address (dual-stack): marked as well
before="$(packets "$A" unmarked) $(packets "$B" unmarked) $(packets "$B" marked)"
listen b8 "$node" --port 7008 --mark $MARK "${attested[@]}" --wg-port 51008
initiate a8 b8 "$node" --bind fd78::1 --port 7008 --connect fd78::2 --mark $MARK "${attested[@]}" \
	--wg-port 51018
check_agreed ipv6_handshake_done a8 b8 51018 51008
read -r ua ub mb <<<"$before"
if [ "$(packets "$A" unmarked)" = "$ua" ] && [ "$(packets "$B" unmarked)" = "$ub" ] &&
	[ "$(packets "$B" marked)" -gt "$mb" ]; then
	pass ipv6_sockets_carry_bypass_mark
else
	fail ipv6_sockets_carry_bypass_mark "A unmarked, B unmarked, B marked: before $before, after\
 $(packets "$A" unmarked) $(packets "$B" unmarked) $(packets "$B" marked)"
fi

# 6. evidence bound to a key other than the one announced: the C node refuses it
listen b7 "$node" --bind 10.78.0.2 --port 7007 --mark $MARK "${attested[@]}"
initiate a7 b7 "${peer[@]}" --connect 10.78.0.2 --port 7007 "${attested[@]}" --bind-other-key
check_refused evidence_for_another_key_refused a7 1 b7 0 verification_failed

finish
