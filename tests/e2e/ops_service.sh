#!/usr/bin/env bash
# Running tng-wg as a service:
#   - `make install PREFIX=...` puts the binary, the systemd unit tng-wg@.service and the docs
#     there; `systemd-analyze verify` finds nothing to say about the unit (and does about a broken
#     copy), which is Type=notify, reloads with SIGHUP, restarts on failure and is hardened;
#   - the daemon speaks systemd's notify protocol: READY=1 once up, RELOADING=1 then READY=1 on
#     SIGHUP, STOPPING=1 on SIGTERM (a datagram socket stands in for the service manager);
#   - with TNGWG_LOG_FORMAT=json every log line is a JSON object with time, level, subsystem and
#     message, and a peer's events carry its address, state and reason.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT_DIR/netns-scripts/mesh.sh"
mesh_for_test
require_cmd systemd-analyze make jq

config=$ROOT_DIR/netns-scripts/configs/mesh-no-ra.json
prefix=$T_TMP/prefix
unit=$prefix/lib/systemd/system/tng-wg@.service

installed() {
	make -s -C "$ROOT_DIR" install PREFIX="$prefix" VARIANT="$(basename "$TNGWG_BUILD")" >"$T_TMP/install.log" 2>&1 &&
		[ -x "$prefix/bin/tng-wg" ] && [ -L "$prefix/bin/tng-wg-userspace" ] && [ -f "$unit" ] &&
		[ -f "$prefix/share/doc/tng-wg/README.md" ]
}

# systemd-analyze verify on a copy named as an instance: no message at all.
verifies_clean() {
	cp "$1" "$T_TMP/tng-wg@node.service"
	systemd-analyze verify "$T_TMP/tng-wg@node.service" >"$T_TMP/verify.out" 2>&1 && [ ! -s "$T_TMP/verify.out" ]
}

unit_checks() {
	check ops_service.installed installed
	check ops_service.unit_verifies verifies_clean "$unit"
	sed 's/^Type=notify/Typ=notify/' "$unit" >"$T_TMP/broken.service"
	check ops_service.broken_unit_noticed not verifies_clean "$T_TMP/broken.service"
	local line
	for line in "Type=notify" "ExecStart=$prefix/bin/tng-wg up /etc/tng-wg/%i.json" \
		'ExecReload=/bin/kill -HUP $MAINPID' "Restart=on-failure" "NoNewPrivileges=yes" \
		"ProtectSystem=strict" "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW" "DeviceAllow=/dev/net/tun rw"; do
		check "ops_service.unit_has_${line%%=*}" grep -qxF "$line" "$unit"
	done
}

notify_listener() { # SOCKET: prints each datagram on one line
	mesh_bg 1 notify /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    print(s.recv(4096).decode().replace("\n", " "), flush=True)' "$1"
	mesh_wait 10 grep -q listening "$MESH_DIR/notify.log"
}

notified() { grep -q "$1" "$MESH_DIR/notify.log"; }
notified_after() { grep -A100 "$1" "$MESH_DIR/notify.log" | grep -q "$2"; }

service_protocol() {
	notify_listener "$T_TMP/notify.sock" || { fail ops_service.listener "no notify socket"; return; }
	local cfg pid
	cfg=$(mesh_write_config 1 "$config")
	mesh_bg 1 node1-fg env NOTIFY_SOCKET="$T_TMP/notify.sock" TNGWG_LOG_FORMAT=json "$TNGWG" up "$cfg"
	check ops_service.ready_notified wait_for 10 notified '^READY=1 STATUS=up$'
	pid=$(mesh_node_daemons 1)
	check ops_service.sighup_sent kill -HUP "$pid"
	check ops_service.reloading_notified wait_for 5 notified '^RELOADING=1$'
	check ops_service.ready_again wait_for 5 notified_after '^RELOADING=1$' '^READY=1$'
	mesh_start_node 2 "$config" && mesh_echo_server 2 tcp 9001
	check ops_service.traffic mesh_reaches 1 2 tcp 9001 "tngwg-service-$RANDOM"
	check ops_service.sigterm_sent kill -TERM "$pid"
	check ops_service.stopping_notified wait_for 10 notified '^STOPPING=1$'
	check ops_service.stopped wait_for 10 no_daemon 1
}

json_logs() {
	local log=$MESH_DIR/node1-fg.log
	check ops_service.json_lines_only jq -e -s 'length > 3 and all(.[]; (.time | test("^[0-9-]+T[0-9:.]+Z$")) and
		(.level | IN("error", "warn", "info", "debug")) and (.subsystem | type == "string") and
		(.message | type == "string"))' "$log"
	check ops_service.json_peer_event jq -e -s --arg a "$(mesh_ip 2)" \
		'any(.[]; .peer == $a and .state == "up" and .reason == "attested")' "$log"
}

not() { ! "$@"; }
no_daemon() { [ -z "$(mesh_node_daemons "$1")" ]; }

unit_checks
if mesh_create 2; then
	pass ops_service.setup
	service_protocol
	json_logs
else
	fail ops_service.setup "the mesh did not come up"
fi
mesh_finish
