#!/usr/bin/env bash
# The attested handshake over real TCP between two namespaces A (10.78.0.1) -- veth -- B
# (10.78.0.2), driven by tests/tools/hs_node.c: both sides attest and verify and agree on the PSK
# and each other's WireGuard key; every handshake packet either side sends carries the bypass
# mark (nft counters on the output hooks, none unmarked); an nft rule that drops unmarked
# handshake traffic, as the steering rules would steer it, stops a node without the mark and
# not a node with it; a refusal (peer will not attest) is reported on both sides.
. "$(dirname "$0")/../lib/common.sh"
require_root
require_cmd nft ip cc pkg-config

tool="$T_TMP/hs_node"
flags=(-std=c11 -D_GNU_SOURCE -I"$ROOT_DIR")
case "$TNGWG_BUILD" in */asan) flags+=(-fsanitize=address,undefined) ;; esac
# shellcheck disable=SC2046
if ! cc "${flags[@]}" -o "$tool" "$ROOT_DIR/tests/tools/hs_node.c" "$TNGWG_BUILD/libtngwg.a" \
	$(pkg-config --libs libsodium openssl libmnl libnftables libcjson libcurl libprotobuf-c) -lm; then
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

# listen NAME PORT ARGS...: a node in B waiting for one handshake, output in $T_TMP/NAME
listen() {
	local name=$1 port=$2; shift 2
	bg "$B" "$tool" --bind 10.78.0.2 --port "$port" "$@" >"$T_TMP/$name" 2>"$T_TMP/$name.err"
	wait_for 10 grep -q '^listening' "$T_TMP/$name"
}

# initiate NAME PORT ARGS...: a node in A handshaking with B, output in $T_TMP/NAME
initiate() {
	local name=$1 port=$2; shift 2
	ip netns exec "$A" "$tool" --bind 10.78.0.1 --port "$port" --connect 10.78.0.2 "$@" \
		>"$T_TMP/$name" 2>"$T_TMP/$name.err"
}

field() { sed -n "s/^$2 .*$3=\([^ ]*\).*/\1/p" "$T_TMP/$1"; }

count_marks "$A"
count_marks "$B"

# 1. both attest and require: same PSK, keys exchanged, every packet marked
listen b1 7001 --mark $MARK --attest --require --wg-port 51002
initiate a1 7001 --mark $MARK --attest --require --wg-port 51001
wait_for 10 grep -q '^done\|^failed' "$T_TMP/b1"
if grep -q '^done' "$T_TMP/a1" && grep -q '^done' "$T_TMP/b1"; then
	pass attested_handshake_done
else
	fail attested_handshake_done "A: $(cat "$T_TMP/a1" "$T_TMP/a1.err") B: $(cat "$T_TMP/b1" "$T_TMP/b1.err")"
fi
psk_a=$(field a1 done psk)
psk_b=$(field b1 done psk)
if [ -n "$psk_a" ] && [ "$psk_a" = "$psk_b" ]; then pass same_psk; else fail same_psk "A $psk_a B $psk_b"; fi
if [ "$(field a1 done peer_key)" = "$(field b1 node own_key)" ] &&
	[ "$(field b1 done peer_key)" = "$(field a1 node own_key)" ] &&
	[ "$(field a1 done peer_port)" = 51002 ] && [ "$(field b1 done peer_port)" = 51001 ]; then
	pass keys_and_ports_exchanged
else
	fail keys_and_ports_exchanged "$(cat "$T_TMP/a1" "$T_TMP/b1")"
fi
if [ "$(field a1 done attested)" = 1 ] && [ "$(field b1 done attested)" = 1 ]; then
	pass both_attested
else
	fail both_attested "$(cat "$T_TMP/a1" "$T_TMP/b1")"
fi
ma=$(packets "$A" marked); mb=$(packets "$B" marked)
ua=$(packets "$A" unmarked); ub=$(packets "$B" unmarked)
if [ "${ma:-0}" -gt 0 ] && [ "${mb:-0}" -gt 0 ] && [ "$ua" = 0 ] && [ "$ub" = 0 ]; then
	pass sockets_carry_bypass_mark
else
	fail sockets_carry_bypass_mark "marked A=$ma B=$mb, unmarked A=$ua B=$ub"
fi

# 2. a rule dropping unmarked handshake traffic (what steering does to unmarked packets)
ip netns exec "$A" nft add rule inet hs_test out tcp dport 7002 meta mark != $MARK drop
listen b2 7002 --mark $MARK --attest --require
initiate a2 7002 --mark $MARK --attest --require
wait_for 10 grep -q '^done\|^failed' "$T_TMP/b2"
if grep -q '^done' "$T_TMP/a2" && grep -q '^done' "$T_TMP/b2"; then
	pass marked_node_passes_drop_rule
else
	fail marked_node_passes_drop_rule "A: $(cat "$T_TMP/a2") B: $(cat "$T_TMP/b2")"
fi
initiate a3 7002 --attest --require --deadline-ms 1500
if [ "$(field a3 failed reason)" = timeout ]; then
	pass unmarked_node_is_stopped
else
	fail unmarked_node_is_stopped "A: $(cat "$T_TMP/a3" "$T_TMP/a3.err")"
fi

# 3. B requires evidence, A will not attest: both report why
listen b4 7004 --mark $MARK --attest --require
initiate a4 7004 --mark $MARK
wait_for 10 grep -q '^done\|^failed' "$T_TMP/b4"
if [ "$(field a4 failed reason)" = attestation_required ] && [ "$(field a4 failed by_peer)" = 1 ] &&
	[ "$(field b4 failed reason)" = attestation_required ] && [ "$(field b4 failed by_peer)" = 0 ]; then
	pass refusal_reported_both_sides
else
	fail refusal_reported_both_sides "A: $(cat "$T_TMP/a4") B: $(cat "$T_TMP/b4")"
fi

finish
