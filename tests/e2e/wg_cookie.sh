#!/usr/bin/env bash
# The cookie mechanism of a tng-wg daemon under a handshake flood, against an independent client
# (tests/tools/wgcraft.py): past the load limit, initiations with a valid mac1 but no mac2 are
# answered with cookie replies that decrypt under the protocol's cookie key; initiations then
# carrying a mac2 made with that cookie are admitted to the per-source rate limiter, which holds
# them to its burst (rx_ratelimited). The tunnel with the real peer keeps working afterwards.
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT_DIR/netns-scripts/wg-pair.sh"
require_root
require_cmd wg wireguard-go ping /usr/bin/python3
CRAFT="$TESTS_DIR/tools/wgcraft.py"

pair_new go tng ab || { fail setup "could not bring up the pair"; pair_finish; }
check "tunnel_up" pair_ping a "${PAIR_INNER4[b]}"

cookies0=$(pair_stat b rx_cookie_replies_sent)
limited0=$(pair_stat b rx_ratelimited)
if out=$(pair_exec a /usr/bin/python3 "$CRAFT" cookie_exchange --to "${PAIR_OUTER4[b]}:${PAIR_PORT[b]}" \
	--responder-key "${PAIR_PUB[b]}" --count 200 --mac2-count 20 2>&1); then
	pass "cookie_reply_decrypted_by_independent_client"
else
	fail "cookie_reply_decrypted_by_independent_client" "$out"
fi

cookies=$(pair_stat b rx_cookie_replies_sent)
[ "$cookies" -gt "$cookies0" ] && pass "flood_answered_with_cookie_replies" ||
	fail "flood_answered_with_cookie_replies" "rx_cookie_replies_sent stayed at $cookies"
# A message with a valid mac2 under load reaches the rate limiter: past its burst it is counted
# as rate-limited (an invalid mac2 would have drawn another cookie reply instead).
limited_above() { [ "$(pair_stat b rx_ratelimited)" -gt "$1" ]; }
wait_for 5 limited_above "$limited0" && pass "mac2_messages_reach_the_rate_limiter" ||
	fail "mac2_messages_reach_the_rate_limiter" "rx_ratelimited stayed at $limited0"

check "tunnel_still_up" pair_ping a "${PAIR_INNER4[b]}"
pair_finish
