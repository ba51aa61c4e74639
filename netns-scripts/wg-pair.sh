# A two-node WireGuard rig: namespaces "a" and "b" joined by a veth (outer 10.9.0.1-2/24 and
# fd09::1-2/64), one userspace WireGuard daemon in each (tng-wg or wireguard-go), configured with the
# real `wg`, inner addresses 192.168.241.1-2/24 and fd00::1-2/112.
#
# Source it after tests/lib/common.sh (which owns namespaces, processes and cleanup), then:
#   pair_new IMPL_A IMPL_B [ENDPOINT_SIDES]   IMPL is "tng", "go", or "none" (the test brings that
#                                             side's interface up itself); ENDPOINT_SIDES ("ab" by default)
#                                             names the sides told the other's endpoint, so "a" makes
#                                             a the only side able to initiate
#   pair_add_side SIDE PEER NS IMPL INNER4 INNER6 OUTER4 OUTER6 PORT
#                              declare one more side (pair_new declares a and b), e.g. a second
#                              tunnel between the same namespaces; then pair_start, pair_configure
#   pair_exec SIDE CMD...      run CMD in SIDE's namespace
#   pair_wg SIDE ARGS...       run `wg ARGS` there
#   pair_ping SIDE ADDR [N]    N (3) pings from SIDE answered
#   pair_handshake SIDE        SIDE's latest handshake time with its peer (0 = never)
#   pair_wait_next_second T    sleep until the clock is past second T (handshake times are seconds)
#   pair_stat SIDE COUNTER     a counter from `tng-wg stats` (tng sides only)
#   pair_log SIDE              the file collecting a tng-wg daemon's stderr
#   pair_daemon_pid SIDE       the daemon's PID; pair_pid_gone PID: it has exited
#   pair_teardown              end both daemons and delete the namespaces, for a fresh pair_new;
#                              a sanitizer report in a tng-wg daemon's stderr is a failure
#   pair_finish                pair_teardown, then common.sh's finish: the way to end a test
#   pair_start SIDE / pair_configure SIDE   (re)start a daemon / (re)apply its config and addresses
#   pair_transfer_start FROM TO ADDR FILE [PORT] / pair_transfer_wait [SECS] [PORT]
#                              send FILE over TCP to ADDR in TO; true when it arrived intact
# State lives in the associative arrays PAIR_NS, PAIR_IF, PAIR_IMPL, PAIR_KEY (private, base64),
# PAIR_PUB, PAIR_INNER4, PAIR_INNER6, PAIR_OUTER4, PAIR_OUTER6, PAIR_PORT, PAIR_CONF, indexed by
# side; PAIR_KNOWS_ENDPOINT[SIDE]=0 leaves the peer's endpoint out of SIDE's config.
# PAIR_OUTER_FAMILY=6 (set before pair_new) makes the endpoints IPv6.

declare -A PAIR_NS PAIR_IF PAIR_IMPL PAIR_KEY PAIR_PUB PAIR_INNER4 PAIR_INNER6 PAIR_OUTER4 PAIR_OUTER6 \
	PAIR_PORT PAIR_CONF PAIR_PEER PAIR_KNOWS_ENDPOINT
PAIR_OUTER_FAMILY=${PAIR_OUTER_FAMILY:-4}
PAIR_VETH=veth0
# The daemons daemonize, so they are found and ended through their namespaces.
on_cleanup pair_teardown

pair_other() { echo "${PAIR_PEER[$1]}"; }
pair_exec() { local side=$1; shift; ip netns exec "${PAIR_NS[$side]}" "$@"; }
pair_wg() { local side=$1; shift; pair_exec "$side" wg "$@"; }

# SIDE PEER NS IMPL INNER4 INNER6 OUTER4 OUTER6 PORT: declares a WireGuard side in namespace NS,
# running IMPL, whose only peer is side PEER and which others reach at OUTER4/OUTER6 on PORT.
pair_add_side() {
	local side=$1
	PAIR_PEER[$side]=$2
	PAIR_NS[$side]=$3
	PAIR_IMPL[$side]=$4
	PAIR_INNER4[$side]=$5
	PAIR_INNER6[$side]=$6
	PAIR_OUTER4[$side]=$7
	PAIR_OUTER6[$side]=$8
	PAIR_PORT[$side]=$9
	PAIR_KNOWS_ENDPOINT[$side]=1
	PAIR_IF[$side]="${T_PREFIX}${side}"
	PAIR_KEY[$side]=$(wg genkey)
	PAIR_PUB[$side]=$(echo "${PAIR_KEY[$side]}" | wg pubkey)
	PAIR_CONF[$side]="$T_TMP/${PAIR_IF[$side]}.conf"
}

pair_new() {
	local impl_a=$1 impl_b=$2 endpoint_sides=${3:-ab}
	local side
	for side in a b; do
		ns_new "$side" >/dev/null # not in $(...): its registration for cleanup must persist
	done
	pair_add_side a b "$T_PREFIX-a" "$impl_a" 192.168.241.1 fd00::1 10.9.0.1 fd09::1 51821
	pair_add_side b a "$T_PREFIX-b" "$impl_b" 192.168.241.2 fd00::2 10.9.0.2 fd09::2 51822
	for side in a b; do
		[[ "$endpoint_sides" == *"$side"* ]] || PAIR_KNOWS_ENDPOINT[$side]=0
	done
	ip link add "$PAIR_VETH" netns "${PAIR_NS[a]}" type veth peer name "$PAIR_VETH" netns "${PAIR_NS[b]}" ||
		return 1
	for side in a b; do
		pair_exec "$side" ip addr add "${PAIR_OUTER4[$side]}/24" dev "$PAIR_VETH" &&
			pair_exec "$side" ip addr add "${PAIR_OUTER6[$side]}/64" dev "$PAIR_VETH" nodad &&
			pair_exec "$side" ip link set "$PAIR_VETH" up || return 1
	done
	for side in a b; do
		[ "${PAIR_IMPL[$side]}" = none ] && continue
		pair_start "$side" && pair_configure "$side" || return 1
	done
}

pair_teardown() {
	local side pid log ns
	for side in "${!PAIR_NS[@]}"; do
		if pid=$(pair_daemon_pid "$side"); then
			kill "$pid" 2>/dev/null
			wait_for 10 pair_pid_gone "$pid"
		fi
		rm -f "/var/run/wireguard/${PAIR_IF[$side]}.sock"
		log=$(pair_log "$side")
		if sanitizer_reported "$log" >/dev/null; then
			fail "sanitizer_clean.${PAIR_IF[$side]}" "$(grep -m 3 -E "$SANITIZER_REPORT" "$log")"
			sed 's/^/    /' "$log"
		fi
		rm -f "$log"
	done
	for ns in $(printf '%s\n' "${PAIR_NS[@]}" | sort -u); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	PAIR_NS=()
}

# Ends the test: the teardown's sanitizer verdicts must be printed before finish, since the
# cleanup trap runs silently.
pair_finish() {
	local job
	for job in $(jobs -p); do kill "$job" 2>/dev/null; done # this shell's own helpers
	wait 2>/dev/null
	pair_teardown
	finish
}

# The file collecting a tng-wg daemon's stderr (sanitizer reports included), across restarts.
pair_log() { echo "$T_TMP/${PAIR_IF[$1]}.log"; }

# Writes SIDE's wg config: its key and port, the other side as its only peer.
pair_write_conf() {
	local side=$1 other
	other=$(pair_other "$side")
	{
		echo "[Interface]"
		echo "PrivateKey = ${PAIR_KEY[$side]}"
		echo "ListenPort = ${PAIR_PORT[$side]}"
		echo "[Peer]"
		echo "PublicKey = ${PAIR_PUB[$other]}"
		echo "AllowedIPs = ${PAIR_INNER4[$other]}/32, ${PAIR_INNER6[$other]}/128"
		if [ "${PAIR_KNOWS_ENDPOINT[$side]}" = 1 ]; then
			if [ "$PAIR_OUTER_FAMILY" = 6 ]; then
				echo "Endpoint = [${PAIR_OUTER6[$other]}]:${PAIR_PORT[$other]}"
			else
				echo "Endpoint = ${PAIR_OUTER4[$other]}:${PAIR_PORT[$other]}"
			fi
		fi
	} >"${PAIR_CONF[$side]}"
}

pair_start() {
	local side=$1 ifname=${PAIR_IF[$1]}
	local sock="/var/run/wireguard/$ifname.sock"
	case "${PAIR_IMPL[$side]}" in
	tng) # TNGWG_LOG keeps the daemon's stderr open once it detaches.
		pair_exec "$side" env TNGWG_LOG="${TNGWG_LOG:-warn}" "$TNGWG" userspace "$ifname" \
			2>>"$(pair_log "$side")" || return 1 ;;
	go) pair_exec "$side" wireguard-go "$ifname" >/dev/null 2>&1 || return 1 ;;
	*) echo "pair_start: unknown implementation '${PAIR_IMPL[$side]}'" >&2; return 1 ;;
	esac
	wait_for 10 test -S "$sock" || { echo "pair_start: no $sock" >&2; return 1; }
}

pair_configure() {
	local side=$1 ifname=${PAIR_IF[$1]}
	pair_write_conf "$side"
	# No router solicitations into the tunnel: a tunnel has no router, and one sent seconds after
	# link-up is an unroutable packet the counters of a test would see at a random moment.
	pair_exec "$side" sysctl -qw "net.ipv6.conf.$ifname.router_solicitations=0"
	pair_wg "$side" setconf "$ifname" "${PAIR_CONF[$side]}" &&
		pair_exec "$side" ip addr add "${PAIR_INNER4[$side]}/24" dev "$ifname" &&
		pair_exec "$side" ip addr add "${PAIR_INNER6[$side]}/112" dev "$ifname" nodad &&
		pair_exec "$side" ip link set "$ifname" up
}

# True once PID has exited; a zombie counts as gone (daemons are reparented to an init that may
# reap them late).
pair_pid_gone() {
	local state
	state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 0
	[ -z "$state" ] || [ "$state" = Z ]
}

# The process in SIDE's namespace whose command line names its interface.
pair_daemon_pid() {
	local side=$1 pid
	for pid in $(ip netns pids "${PAIR_NS[$side]}" 2>/dev/null); do
		if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qw -- "${PAIR_IF[$side]}"; then
			echo "$pid"
			return 0
		fi
	done
	return 1
}

pair_handshake() {
	pair_wg "$1" show "${PAIR_IF[$1]}" latest-handshakes | awk '{ print $2; exit }'
}

# Waits until the wall clock has left second $1, so that a new handshake shows a later time.
pair_wait_next_second() { while [ "$(date +%s)" -le "$1" ]; do sleep 0.1; done; }

pair_stat() {
	pair_exec "$1" "$TNGWG" stats "${PAIR_IF[$1]}" | awk -F= -v k="$2" '$1 == k { print $2; found = 1 } END { exit !found }'
}

pair_ping() { # SIDE ADDR [COUNT]: true when the pings are answered
	pair_exec "$1" ping -q -n -c "${3:-3}" -i 0.2 -W 2 "$2" >/dev/null 2>&1
}

# Transfers in flight, keyed by their TCP port (5001 unless given).
declare -A PAIR_XFER_RX PAIR_XFER_TX PAIR_XFER_OUT PAIR_XFER_SRC
pair_transfer_start() {
	local from=$1 to=$2 addr=$3 file=$4 port=${5:-5001}
	PAIR_TRANSFER_OUT="$T_TMP/received.$port" # the latest transfer's output, for progress checks
	PAIR_XFER_OUT[$port]=$PAIR_TRANSFER_OUT
	PAIR_XFER_SRC[$port]=$file
	local listen="TCP4-LISTEN" target="TCP4:$addr:$port"
	if [[ "$addr" == *:* ]]; then
		listen="TCP6-LISTEN"
		target="TCP6:[$addr]:$port"
	fi
	pair_exec "$to" socat -u "$listen:$port,reuseaddr" "CREATE:$PAIR_TRANSFER_OUT" &
	PAIR_XFER_RX[$port]=$!
	track_pid $!
	wait_for 10 sh -c "ip netns exec '${PAIR_NS[$to]}' ss -Hltn | grep -q ':$port '"
	pair_exec "$from" socat -u "OPEN:$file" "$target,connect-timeout=10" &
	PAIR_XFER_TX[$port]=$!
	track_pid $!
}

# Waits for the transfer on PORT (5001) to end, at most SECS (120); true when the received bytes
# hash the same as the sent file.
pair_transfer_wait() {
	local secs=${1:-120} port=${2:-5001} deadline
	local rx=${PAIR_XFER_RX[$port]} tx=${PAIR_XFER_TX[$port]} out=${PAIR_XFER_OUT[$port]}
	deadline=$((SECONDS + secs))
	while kill -0 "$rx" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
	kill "$rx" "$tx" 2>/dev/null
	wait "$rx" "$tx" 2>/dev/null
	[ -f "$out" ] || return 1
	local sent got
	sent=$(sha256sum <"${PAIR_XFER_SRC[$port]}" | cut -d' ' -f1)
	got=$(sha256sum <"$out" | cut -d' ' -f1)
	rm -f "$out"
	[ "$sent" = "$got" ]
}
