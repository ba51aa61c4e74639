#!/usr/bin/env bash
# A tng-wg daemon killed mid-stream (SIGKILL, leaving its socket file behind) and started again
# with its config reapplied by `wg setconf`: a ping loop running across the restart gets answers
# again, whether the restarted side is the one sending (it initiates at once) or the one answering
# (the survivor's keys are stale and it must notice and handshake again), and a transfer retried
# afterwards arrives intact.
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT_DIR/netns-scripts/wg-pair.sh"
require_root
require_cmd wg socat ss sha256sum ping

PAYLOAD="$T_TMP/payload"
head -c 8388608 /dev/urandom >"$PAYLOAD"

replies() { grep -c 'bytes from' "$PING_LOG"; }
replies_above() { [ "$(replies)" -gt "$1" ]; }

pair_new tng tng ab || { fail setup "could not bring up the pair"; finish; }
PING_LOG="$T_TMP/ping.log"
pair_exec a ping -n -i 0.2 -W 1 "${PAIR_INNER4[b]}" >"$PING_LOG" 2>&1 &
track_pid $!
wait_for 10 replies_above 0 && pass "ping_loop_answered" || fail "ping_loop_answered"

restart_case() {
	local t=$1 side=$2 secs=$3 pid hs
	pid=$(pair_daemon_pid "$side")
	hs=$(pair_handshake a)
	pair_wait_next_second "$hs"
	kill -9 "$pid"
	wait_for 5 pair_pid_gone "$pid" && pass "$t.killed" || fail "$t.killed"
	check "$t.stale_socket_left" test -S "/var/run/wireguard/${PAIR_IF[$side]}.sock"
	check "$t.restarted" pair_start "$side"
	check "$t.reconfigured" pair_configure "$side"
	local seen
	seen=$(replies)
	wait_for "$secs" replies_above "$seen" &&
		pass "$t.ping_loop_answered_again" || fail "$t.ping_loop_answered_again" "no reply in $secs s"
	[ "$(pair_handshake a)" -gt "$hs" ] && pass "$t.new_handshake" || fail "$t.new_handshake"
}

# The pinging side restarts: its first packet starts a handshake.
restart_case "sender_restarted" a 15
# The answering side restarts: a keeps sending under its old keys until, with nothing coming
# back, it handshakes again (after KEEPALIVE + REKEY_TIMEOUT, 15 s).
restart_case "responder_restarted" b 40

pair_transfer_start b a "${PAIR_INNER6[a]}" "$PAYLOAD"
check "transfer_after_restarts_sha256" pair_transfer_wait 60
pair_finish
