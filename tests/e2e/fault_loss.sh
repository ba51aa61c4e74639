#!/usr/bin/env bash
# An attested tunnel over a lossy underlay. The hub's bridge drops each frame between the nodes at
# random (nftables numgen), both ways; the nodes start with the loss already in place, so the
# attested handshake (over TCP) and WireGuard's handshake (over UDP, retried on its own schedule)
# both run through it. Two nodes, scenario config:
#   - 10% loss: the tunnel comes up on its own and 100 MiB from node 1 arrive at node 2 byte-exact
#     (SHA-256), and as many frames as the loss predicts were dropped on the way;
#   - 30% loss: node 2 restarts under a new key; node 1's packets afterwards bring the tunnel back
#     through the loss (both handshakes again) and messages cross it; then 100 MiB cross the
#     tunnel byte-exact, as UDP on the protected port with the sender repeating what is not
#     acknowledged (tests/tools/udp_transfer.c), and node 2's WireGuard counted them received.
#     TCP is not the vehicle there: at 30% loss both ways its retransmission timer backs off to
#     seconds and a transfer stalls for minutes, over the bare bridge as much as through the tunnel.
# The nodes' TCP keeps a 2 ms minimum retransmission timeout (tcp_rto_min_us): the veth round trip
# is a tenth of a millisecond, and the default 200 ms floor would only make the test slow. Frames
# leave the nodes one by one (gso_max_segs 1), as a NIC would put them on a real wire; otherwise a
# drop would take a whole batch of UDP segments at once.
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT_DIR/netns-scripts/mesh.sh"
mesh_for_test
require_cmd sha256sum

transfer_tool=$T_TMP/udp_transfer
if ! "$ROOT_DIR/tests/tools/build-c-tool.sh" udp_transfer "$transfer_tool" "$TNGWG_BUILD"; then
	echo "FAIL fault_loss: cannot build tests/tools/udp_transfer.c against $TNGWG_BUILD/libtngwg.a"
	exit 1
fi

config=$ROOT_DIR/netns-scripts/configs/mesh-two-way-ra.json

# Drop PERCENT of the frames the hub's bridge forwards between its ports (node to node).
set_loss() {
	mesh_node_exec hub nft -f - <<-EOF
		table bridge tngwg_fault
		delete table bridge tngwg_fault
		table bridge tngwg_fault {
			chain lose {
				type filter hook forward priority 0;
				numgen random mod 100 < $1 counter drop
			}
		}
	EOF
}

dropped_frames() {
	mesh_node_exec hub nft list table bridge tngwg_fault | sed -nE 's/.*counter packets ([0-9]+) .*/\1/p'
}

setup() {
	local k
	mesh_create 2 && mesh_start_as || return 1
	for k in 1 2; do
		mesh_node_exec "$k" ip link set eth0 gso_max_segs 1 &&
			mesh_node_exec "$k" sysctl -qw net.ipv4.tcp_rto_min_us=2000 || return 1
	done
	set_loss 10 && mesh_start 1 "$config" && mesh_start 2 "$config"
}

# Send MiB of random data from node 1 to a sink on node 2's port 9001; the sink's SHA-256 must be
# the data's. NAME names the files and the sink.
transfer_exact() {
	local name=$1 mib=$2 src=$T_TMP/$1.src got=$T_TMP/$1.got
	head -c "${mib}M" /dev/urandom >"$src" || return 1
	mesh_bg 2 "sink-$name" sh -c "socat -u TCP4-LISTEN:9001,reuseaddr - | sha256sum >$got.part && mv $got.part $got"
	mesh_wait "$MESH_WAIT" mesh_listening 2 tcp 9001 || return 1
	mesh_node_exec 1 timeout 300 socat -u "OPEN:$src" "TCP4:$(mesh_ip 2):9001,connect-timeout=120" || return 1
	mesh_wait 60 test -s "$got" || return 1
	[ "$(sha256sum <"$src")" = "$(cat "$got")" ] || { mesh_log "$name: the received data differ"; return 1; }
	rm -f "$src"
}

# Send MiB of random data from node 1 to node 2's port 9001 over UDP, repeated until acknowledged;
# what node 2 wrote must be the data.
udp_transfer_exact() {
	local mib=$1 src=$T_TMP/udp.src got=$T_TMP/udp.got
	head -c "${mib}M" /dev/urandom >"$src" || return 1
	mesh_bg 2 udp-sink "$transfer_tool" recv 9001 "$got" 300
	sleep 0.3
	mesh_node_exec 1 "$transfer_tool" send "$(mesh_ip 2)" 9001 "$src" 300 || return 1
	mesh_wait 30 udp_sink_done || return 1
	cmp -s "$src" "$got" || { mesh_log "udp: the received data differ"; return 1; }
	rm -f "$src" "$got"
}

udp_sink_done() { [ -z "$(mesh_pids_named udp-sink)" ]; }

# Bytes node K's WireGuard received from its one peer.
received_bytes() { mesh_node_exec "$1" wg show tngwg0 transfer | awk '{ print $2 }'; }

# Each attempt of mesh_reaches may lose its frames; give the handshakes their retry schedule.
reaches_through_loss() { MESH_WAIT=120 mesh_reaches 1 2 tcp 9001 "tngwg-loss-$RANDOM"; }

dropped_at_least() { [ "$(dropped_frames)" -ge "$1" ]; }

ten_percent() {
	check fault_loss.10pct_100mib_exact transfer_exact 10pct 100
	check fault_loss.10pct_tunnel_up mesh_peer_is 1 2 up
	# 100 MiB is about 75,000 frames of data one way; a tenth of them is well over 3,000.
	check fault_loss.10pct_frames_dropped dropped_at_least 3000
}

thirty_percent() {
	local old_key
	old_key=$(mesh_peer 1 2 public_key)
	set_loss 30 && mesh_stop_node 2 && mesh_start_node 2 "$config" && mesh_echo_server 2 tcp 9001 ||
		{ fail fault_loss.30pct_setup "restart failed"; return; }
	check fault_loss.30pct_tunnel_back reaches_through_loss
	check fault_loss.30pct_tunnel_up mesh_peer_is 1 2 up
	check fault_loss.30pct_new_key test "$(mesh_peer 1 2 public_key)" != "$old_key"
	local before
	before=$(received_bytes 2)
	check fault_loss.30pct_100mib_exact udp_transfer_exact 100
	check fault_loss.30pct_100mib_through_tunnel test "$(($(received_bytes 2) - before))" -ge $((100 << 20))
	# 100 MiB are about 87,000 datagrams one way; 30% of them and of what is sent again is well
	# over 20,000.
	check fault_loss.30pct_frames_dropped dropped_at_least 20000
	check fault_loss.30pct_tunnel_still_up mesh_peer_is 1 2 up
}

if setup; then
	pass fault_loss.setup
	ten_percent
	thirty_percent
else
	fail fault_loss.setup "mesh did not start"
fi
mesh_finish
