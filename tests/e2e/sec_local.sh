#!/usr/bin/env bash
# What a local unprivileged user can and cannot do to a node (node 1, the no_ra config):
#   - the control socket and the WireGuard UAPI socket answer root only: `tng-wg show` and
#     `wg show` as nobody are refused, and the sockets give group and others no access;
#   - `up --log-file` does not follow a symbolic link (one planted where the log goes would let
#     the root daemon append to any file) nor write into a FIFO: refused with the reason, the
#     link's target untouched.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT_DIR/netns-scripts/mesh.sh"
mesh_for_test
require_cmd setpriv mkfifo

config=$ROOT_DIR/netns-scripts/configs/mesh-no-ra.json

as_nobody() { mesh_node_exec 1 setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
owner_only() { [[ "$(mesh_node_exec 1 stat -c %a "$1")" == [0-7]00 ]]; }

sockets_root_only() {
	check sec_local.show_refused_to_nobody not as_nobody "$TNGWG" show tngwg0
	check sec_local.wg_refused_to_nobody not as_nobody wg show tngwg0
	check sec_local.show_works_for_root mesh_node_exec 1 "$TNGWG" show tngwg0
	check sec_local.control_socket_owner_only owner_only /run/tng-wg/tngwg0.sock
	check sec_local.uapi_socket_owner_only owner_only /run/wireguard/tngwg0.sock
}

# `up --log-file PATH` on node 2 is refused with REASON and no daemon starts.
log_file_refused() {
	local name=$1 path=$2 reason=$3 out=$T_TMP/$1.out
	# Into a file, not $(...): a daemon stuck opening the log would hold a pipe open for ever.
	mesh_node_exec 2 timeout 20 "$TNGWG" up -d --log-file "$path" "$(mesh_write_config 2 "$config")" >"$out" 2>&1
	echo "$name: $(cat "$out")" >&2
	check "sec_local.${name}_refused" grep -qF "cannot use $path as the log file: $reason" "$out"
	check "sec_local.${name}_no_daemon" test -z "$(mesh_node_daemons 2)"
}

log_file_checks() {
	printf 'precious\n' >"$T_TMP/victim"
	ln -s "$T_TMP/victim" "$T_TMP/link.log"
	log_file_refused symlink_log "$T_TMP/link.log" "it is a symbolic link"
	check sec_local.symlink_target_untouched test "$(cat "$T_TMP/victim")" = precious
	mkfifo "$T_TMP/fifo.log"
	log_file_refused fifo_log "$T_TMP/fifo.log" "not a regular file"
	mesh_node_exec 2 "$TNGWG" up -d --log-file "$T_TMP/node2.log" "$(mesh_write_config 2 "$config")" >&2
	check sec_local.regular_log_used wait_for 5 grep -q 'tngwg0 up' "$T_TMP/node2.log"
}

not() { ! "$@"; }

if mesh_create 2 && mesh_start_node 1 "$config"; then
	pass sec_local.setup
	sockets_root_only
	log_file_checks
else
	fail sec_local.setup "the mesh did not come up"
fi
mesh_finish
