#!/usr/bin/env bash
# `make demo`: four nodes in network namespaces run the TNG scenario "mesh node with two-way RA"
# (configs/mesh-two-way-ra.json: port 9001 captured on ingress and egress, attest + verify, policy
# "default") with the stand-in AA and AS. Nodes 1-3 are trusted; node 4's AA reports an svn the AS
# does not accept. The demo shows, step by step, what tng-wg guarantees, then removes everything.
# Needs root and a build (the Makefile builds first); TNGWG may name another tng-wg binary.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/mesh.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (network namespaces, nftables, TUN)" >&2
	exit 1
fi
if [ ! -x "$(mesh_tngwg)" ]; then
	echo "demo: $(mesh_tngwg) is missing; run 'make demo' (it builds first)" >&2
	exit 1
fi

trap mesh_destroy EXIT
trap 'exit 130' INT TERM

failures=0
step() { printf '\n== %s\n' "$*"; }
ok() { printf '  \342\234\223 %s\n' "$*"; }
bad() { printf '  \342\234\227 %s\n' "$*"; failures=$((failures + 1)); }
# expect TEXT CMD...: CMD should succeed.
expect() { local t=$1; shift; if "$@"; then ok "$t"; else bad "$t"; fi; }
no_namespaces_left() { ! ip netns list | grep -q "^$MESH_PREFIX-"; }
die() { bad "$*"; mesh_logs 10; exit 1; }

config="$here/configs/mesh-two-way-ra.json"
trusted_svn=1
untrusted_svn=2
marker_protected="tngwg-demo-9001-$RANDOM$RANDOM"
marker_clear="tngwg-demo-9002-$RANDOM$RANDOM"

step "Topology: 4 nodes on a bridge ($MESH_SUBNET.1-4), stand-in AS at $MESH_AS_URL"
mesh_create 4 || die "cannot create the namespaces"
mesh_set_reference_values "{\"default\": {\"svn\": [\"$trusted_svn\"]}}"
mesh_start_as || die "the stand-in AS did not start"
ok "AS accepts svn $trusted_svn for policy \"default\""
for k in 1 2 3 4; do
	svn=$trusted_svn
	[ "$k" -eq 4 ] && svn=$untrusted_svn
	mesh_start "$k" "$config" --svn "$svn" || die "node $k did not start"
	ok "node $k: tng-wg up with the scenario config, AA reports svn $svn"
done
for k in 1 2 3 4; do
	mesh_echo_server "$k" tcp 9001 && mesh_echo_server "$k" tcp 9002 ||
		die "cannot start the echo services on node $k"
done
ok "every node runs an echo service on 9001 (protected) and 9002 (not configured)"
mesh_capture_start || die "cannot capture on the bridge"
ok "capturing every frame on the hub bridge"

step "Port 9001 between trusted nodes: through the attested WireGuard overlay"
for pair in 1:2 2:3 3:1; do
	from=${pair%:*} to=${pair#*:}
	expect "node $from -> node $to:9001 (TCP echo)" mesh_reaches "$from" "$to" tcp 9001 "$marker_protected"
done

step "Port 9002 is not configured: it goes in the clear, as before"
expect "node 1 -> node 2:9002 (TCP echo)" mesh_reaches 1 2 tcp 9002 "$marker_clear"

step "The untrusted node (svn $untrusted_svn) on 9001"
expect "node 4 -> node 1:9001 is refused" mesh_refused 4 1 tcp 9001 "$marker_protected"
expect "node 1 -> node 4:9001 is refused" mesh_refused 1 4 tcp 9001 "$marker_protected"
expect "node 1 holds node 4 as failed: the AS did not affirm its evidence" \
	mesh_peer_error_has 1 4 not-affirming

step "What the bridge saw"
mesh_capture_stop
expect "the text sent on 9002 is on the wire" mesh_capture_has "$marker_clear"
expect "the text sent on 9001 is not: it travelled encrypted" mesh_capture_lacks "$marker_protected"

step "tng-wg show on node 1"
mesh_node_exec 1 "$(mesh_tngwg)" show | sed 's/^/    /'

step "wg show tngwg0 on node 1 (WireGuard's own tool, through the UAPI socket)"
mesh_node_exec 1 wg show tngwg0 | sed 's/^/    /'

step "Tearing down"
mesh_destroy
expect "namespaces, bridge, daemons and stand-ins removed" no_namespaces_left
echo
if [ "$failures" -eq 0 ]; then
	echo "demo: every check passed"
else
	echo "demo: $failures check(s) failed"
fi
[ "$failures" -eq 0 ]
