#!/usr/bin/env bash
# A node whose AA reports an svn the AS does not accept gets no tunnel, in either direction, while
# the trusted nodes still reach each other; a plain host without tng-wg cannot reach a protected
# port in plaintext (it still reaches an unprotected one).
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT_DIR/netns-scripts/mesh.sh"
mesh_for_test

config=$ROOT_DIR/netns-scripts/configs/mesh-two-way-ra.json
marker="tngwg-untrusted-marker-$RANDOM$RANDOM"
clear="tngwg-plain-$RANDOM$RANDOM"
# A plain host sends in plaintext by definition; what matters is that nobody answers it.
plain="tngwg-plain-to-9001-$RANDOM$RANDOM"

# Nodes 1 and 2 are trusted (svn 1), node 3 is not (svn 2); p1 is a plain host.
setup() {
	mesh_create 3 && mesh_add_plain 1 && mesh_start_as || return 1
	mesh_set_reference_values '{"default": {"svn": ["1"]}}' || return 1
	local k svn
	for k in 1 2 3; do
		svn=1
		[ "$k" = 3 ] && svn=2
		mesh_start "$k" "$config" --svn "$svn" &&
			mesh_echo_server "$k" tcp 9001 && mesh_echo_server "$k" udp 9001 &&
			mesh_echo_server "$k" tcp 9002 || return 1
	done
	mesh_capture_start
}

no_peer() { [ -z "$(mesh_peer "$1" "$2" state)" ]; }

if setup; then
	pass mesh_untrusted.setup
	check mesh_untrusted.trusted_1_to_2 mesh_reaches 1 2 tcp 9001 "$marker"
	check mesh_untrusted.trusted_2_to_1 mesh_reaches 2 1 tcp 9001 "$marker"
	check mesh_untrusted.untrusted_3_to_1_refused mesh_refused 3 1 tcp 9001 "$marker"
	check mesh_untrusted.1_to_untrusted_3_refused mesh_refused 1 3 tcp 9001 "$marker"
	check mesh_untrusted.untrusted_3_to_2_refused mesh_refused 3 2 tcp 9001 "$marker"
	check mesh_untrusted.untrusted_3_to_1_udp_refused mesh_refused 3 1 udp 9001 "$marker"
	check mesh_untrusted.1_to_untrusted_3_udp_refused mesh_refused 1 3 udp 9001 "$marker"
	# Each side saw the other's evidence fail the AS's policy, and nothing was installed.
	check mesh_untrusted.1_failed_3 wait_for 20 mesh_peer_is 1 3 failed
	check mesh_untrusted.1_says_not_affirming mesh_peer_error_has 1 3 not-affirming
	check mesh_untrusted.3_failed_1 wait_for 20 mesh_peer_is 3 1 failed
	check mesh_untrusted.3_not_in_wg mesh_wg_lacks 1 3
	check mesh_untrusted.plain_host_reaches_9002 mesh_reaches p1 1 tcp 9002 "$clear"
	check mesh_untrusted.plain_host_9001_refused mesh_refused p1 1 tcp 9001 "$plain"
	check mesh_untrusted.plain_host_9001_udp_refused mesh_refused p1 1 udp 9001 "$plain"
	check mesh_untrusted.no_peer_for_plain_host no_peer 1 p1
	# The refusals above were not mere slowness: the trusted path still works afterwards.
	check mesh_untrusted.trusted_1_to_2_again mesh_reaches 1 2 tcp 9001 "$marker"
	mesh_capture_stop
	check mesh_untrusted.capture_saw_9002 mesh_capture_has "$clear"
	check mesh_untrusted.marker_never_in_plaintext mesh_capture_lacks "$marker"
else
	fail mesh_untrusted.setup "the mesh did not come up"
fi
mesh_finish
